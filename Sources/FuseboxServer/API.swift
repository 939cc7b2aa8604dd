import Foundation
import FuseboxController
import FuseboxCore
import FuseboxHistory
import FuseboxOCPP
import Hummingbird

/// The REST API (docs/openapi.yaml, served at /api/openapi.yaml). Reads are GET;
/// changes are PUT (set), DELETE (clear) or POST (an action); every body is
/// JSON but a script's source. Bad input is a 4xx naming the field and what was
/// expected, and nothing is applied when it is.
struct API {
    let feed: SiteFeed
    let accounts: Accounts
    /// Slows each failed login down (the per-address lockout comes on top).
    let failedLoginDelay: Duration
    let openAPI: String
    let proxies: TrustedProxies
    /// The server itself speaks HTTPS: the session cookie is then `Secure`.
    let https: Bool

    func addPublicRoutes(to router: RecordedRoutes<Router<FuseboxRequestContext>>) {
        router.get("/api/health") { _, _ -> Response in
            json(APIBody.Status(status: "ok"))
        }
        router.post("/api/login") { request, context -> Response in
            var request = request
            guard request.headers[.contentType]?.hasPrefix("application/json") == true else {
                // A cross-site form can post text/plain or a form, never JSON without a preflight.
                throw APIError(.unsupportedMediaType, "send the login as application/json", expected: "application/json")
            }
            let body = try await JSONBody.read(&request, context: context)
            try body.only(["user", "password"])
            let user = try body.string("user"), password = try body.string("password", maxLength: 200, secret: true)
            let outcome: Result<(id: String, session: Accounts.Session), Accounts.LoginFailure>
            let client = proxies.client(connection: context.clientAddress, headers: request.headers)
            do throws(Accounts.LoginFailure) {
                outcome = .success(try await accounts.login(user: user, password: password, from: client))
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let (id, session)):
                var response = json(APIBody.Session(user: session.user, role: session.role.rawValue, csrf: session.csrf, expires: session.expires))
                response.setCookie(Cookie(name: Authentication.cookie, value: id, maxAge: Int(accounts.sessionLifetime),
                                          path: "/", secure: proxies.https(connection: context.clientAddress, headers: request.headers, direct: https),
                                          httpOnly: true, sameSite: .strict))
                return response
            case .failure(.wrongCredentials):
                try await Task.sleep(for: failedLoginDelay)
                throw APIError(.unauthorized, "wrong user or password")
            case .failure(.tooMany(let retryAfter)):
                var e = APIError(.tooManyRequests, "too many failed logins from this address; try again in \(retryAfter) s")
                e.headers[.retryAfter] = String(retryAfter)
                throw e
            }
        }
    }

    func addRoutes(to api: RecordedRoutes<RouterGroup<FuseboxRequestContext>>) {
        api.get("session") { _, context -> Response in
            switch context.identity {
            case .session(_, let s)?: json(APIBody.Session(user: s.user, role: s.role.rawValue, csrf: s.csrf, expires: s.expires))
            case .token(let t)?: json(APIBody.TokenSession(token: t.name, scope: t.scope.rawValue))
            case nil: throw APIError(.unauthorized, "not logged in")
            }
        }
        api.post("logout") { _, context -> Response in
            var response = json(APIBody.Status(status: "logged out"))
            if case .session(let id, _)? = context.identity { await accounts.logout(id) }
            response.setCookie(Cookie(name: Authentication.cookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        api.get("openapi.yaml") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: openAPI)))
        }

        // Live status and the chargers.
        api.get("status") { _, _ -> Response in
            guard let body = feed.statusJSON else { throw APIError(.serviceUnavailable, "the controller has not finished its first cycle yet") }
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
        }
        api.get("chargers") { _, _ -> Response in try encode(try currentStatus().chargers) }
        api.get("chargers/:id") { _, context -> Response in try encode(try charger(context)) }
        // The OCPP endpoint's stations: the configured ones, and those asking to join (docs/ocpp.md).
        api.get("ocpp/stations") { _, _ -> Response in
            guard let ocpp = feed.ocpp else { throw APIError(.notFound, "this site has no OCPP endpoint (an ocpp section in site.yaml)") }
            return try encode(ocpp.list)
        }
        api.put("chargers/:id/limit") { request, context -> Response in
            guard case .chargerLimit(let id, let amps?, let ttl) = try await command(.chargerLimit(charger(context).id), request, context) else {
                throw APIError(.badRequest, "amps: expected a number", field: "amps")
            }
            return json(APIBody.ChargerLimit(charger: id, amps: amps, ttl: ttl))
        }
        api.delete("chargers/:id/limit") { _, context -> Response in
            let id = try charger(context).id
            try await control.apply(.chargerLimit(id: id, amps: nil, ttl: 0), by: context.who)
            return json(APIBody.ChargerLimitCleared(charger: id))
        }
        api.put("chargers/:id/priority") { request, context -> Response in
            guard case .chargerPriority(let id, let priority) = try await command(.chargerPriority(charger(context).id), request, context) else {
                throw APIError(.badRequest, "priority: expected a whole number", field: "priority")
            }
            return json(APIBody.ChargerPriority(charger: id, priority: priority))
        }
        api.put("chargers/:id/enabled") { request, context -> Response in
            guard case .chargerEnabled(let id, let on) = try await command(.chargerEnabled(charger(context).id), request, context) else {
                throw APIError(.badRequest, "enabled: expected true or false", field: "enabled")
            }
            return json(APIBody.ChargerEnabled(charger: id, enabled: on))
        }

        // The site limit and the ripple mode (the "cloud REST" signal path).
        api.get("site/limit") { _, _ -> Response in
            let s = try currentStatus()
            return json(APIBody.SiteLimit(amps: .init(s.siteLimit), until: .init(s.siteLimitUntil), fuse: s.grid.limit))
        }
        api.put("site/limit") { request, context -> Response in
            guard case .siteLimit(let amps?, let ttl) = try await command(.siteLimit, request, context) else {
                throw APIError(.badRequest, "amps: expected a number", field: "amps")
            }
            return json(APIBody.LimitSet(amps: amps, ttl: ttl))
        }
        api.delete("site/limit") { _, context -> Response in
            try await control.apply(.siteLimit(amps: nil, ttl: 0), by: context.who)
            return json(APIBody.LimitCleared())
        }
        api.get("ripple") { _, _ -> Response in
            let s = try currentStatus()
            return json(APIBody.Ripple(mode: s.ripple, remote: .init(s.rippleRemote)))
        }
        api.put("ripple") { request, context -> Response in
            guard case .ripple(let mode?, let ttl) = try await command(.ripple, request, context) else {
                throw APIError(.badRequest, "mode: expected a ripple mode", field: "mode")
            }
            return json(APIBody.RippleSet(mode: mode.rawValue, ttl: ttl))
        }
        api.delete("ripple") { _, context -> Response in
            try await control.apply(.ripple(mode: nil, ttl: 0), by: context.who)
            return json(APIBody.RippleCleared())
        }

        // History, sessions, events.
        api.get("history") { request, _ -> Response in
            let (from, to) = try range(request, defaultSpan: 3600)
            let resolution = try query(request, "resolution").map { try seconds($0, field: "resolution") } ?? defaultResolution(from: from, to: to)
            let points = try store().samples(from: from, to: to, resolution: resolution)
            return try encode(points.map(HistoryPoint.init))
        }
        api.get("history/chargers/:id") { request, context -> Response in
            let id = try parameter(context, "id")
            let (from, to) = try range(request, defaultSpan: 3600)
            let resolution = try query(request, "resolution").map { try seconds($0, field: "resolution") } ?? defaultResolution(from: from, to: to)
            let points = try store().chargerSamples(id, from: from, to: to, resolution: resolution)
            return try encode(points)
        }
        api.get("sessions") { request, _ -> Response in
            let (from, to) = try range(request, defaultSpan: 30 * 86_400)
            let sessions = try store().sessions(from: from, to: to, charger: query(request, "charger"))
            if query(request, "format") == "csv" { return csv(sessions) }
            return try encode(sessions.map(SessionRecord.init))
        }
        api.get("sessions.csv") { request, _ -> Response in
            let (from, to) = try range(request, defaultSpan: 30 * 86_400)
            return csv(try store().sessions(from: from, to: to, charger: query(request, "charger")))
        }
        api.get("events") { request, _ -> Response in
            let (from, to) = try range(request, defaultSpan: 7 * 86_400)
            let limit = try query(request, "limit").map { text -> Int in
                guard let n = Int(text), (1...10_000).contains(n) else { throw APIError.badField("limit", expected: "a whole number from 1 to 10000", got: text) }
                return n
            } ?? 200
            return try encode(try store().events(from: from, to: to, limit: limit))
        }

        // Scripts.
        api.get("scripts") { _, _ -> Response in try encode(await feed.scripts.list()) }
        api.get("scripts/:kind/:name") { _, context -> Response in
            let (kind, name) = try script(context)
            do {
                let text = try await feed.scripts.source(kind, name)
                return Response(status: .ok, headers: [.contentType: "text/x-lua; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
            } catch { throw scriptError(error) }
        }
        api.put("scripts/:kind/:name") { request, context -> Response in
            var request = request
            let (kind, name) = try script(context)
            let buffer = try await request.collectBody(upTo: context.maxUploadSize)
            let source = String(decoding: buffer.readableBytesView, as: UTF8.self)
            guard !source.isEmpty else { throw APIError(.badRequest, "the body is the script's Lua source; it is empty", field: "body", expected: "Lua source") }
            do { try await feed.scripts.upload(kind, name, source: source) } catch { throw scriptError(error) }
            await feed.cycle.noteChange(name, "\(kind.rawValue) \(name): running the new version", by: context.who)
            return json(APIBody.Script(kind: kind.rawValue, name: name, status: "running the new version"))
        }
        api.post("scripts/:kind/:name/reload") { _, context -> Response in
            let (kind, name) = try script(context)
            do { try await feed.scripts.reload(kind, name) } catch { throw scriptError(error) }
            await feed.cycle.noteChange(name, "\(kind.rawValue) \(name): reloaded", by: context.who)
            return json(APIBody.Script(kind: kind.rawValue, name: name, status: "reloaded"))
        }
        api.post("scripts/:kind/:name/rollback") { _, context -> Response in
            let (kind, name) = try script(context)
            do { try await feed.scripts.rollback(kind, name) } catch { throw scriptError(error) }
            await feed.cycle.noteChange(name, "\(kind.rawValue) \(name): rolled back", by: context.who)
            return json(APIBody.Script(kind: kind.rawValue, name: name, status: "rolled back"))
        }
        api.post("scripts/:kind/:name/shipped") { _, context -> Response in
            let (kind, name) = try script(context)
            do { try await feed.scripts.restoreShipped(kind, name) } catch { throw scriptError(error) }
            await feed.cycle.noteChange(name, "\(kind.rawValue) \(name): running the shipped version", by: context.who)
            return json(APIBody.Script(kind: kind.rawValue, name: name, status: "running the shipped version"))
        }

        // API tokens.
        api.get("tokens") { _, _ -> Response in
            try encode(await accounts.listTokens().map { APIBody.Token(id: $0.id, name: $0.name, scope: $0.scope.rawValue, created: String($0.created)) })
        }
        api.post("tokens") { request, context -> Response in
            var request = request
            let body = try await JSONBody.read(&request, context: context)
            try body.only(["name", "scope"])
            let name = try body.string("name", maxLength: 80)
            let scope = body.has("scope") ? try body.choice("scope", Accounts.Scope.allCases.map(\.rawValue)) : "read"
            let (token, secret) = try await accounts.createToken(name: name, scope: Accounts.Scope(rawValue: scope) ?? .read)
            await feed.cycle.noteChange("tokens", "token \(ConfigReader.quoted(token.name)) (\(token.scope.rawValue)) made", by: context.who)
            return json(APIBody.TokenCreated(id: token.id, name: token.name, scope: token.scope.rawValue, token: secret), status: .created)
        }
        api.delete("tokens/:id") { _, context -> Response in
            let id = try parameter(context, "id")
            guard try await accounts.revokeToken(id: id) else { throw APIError(.notFound, "no token with id \(ConfigReader.quoted(id))", field: "id") }
            await feed.cycle.noteChange("tokens", "token \(id) revoked", by: context.who)
            return json(APIBody.TokenRevoked(id: id))
        }
    }

    // MARK: - helpers

    /// A path parameter as the client meant it: `a%20b` is the id "a b".
    func parameter(_ context: FuseboxRequestContext, _ name: String) throws -> String {
        let raw = try context.parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }

    /// A command from a request's body, checked and applied as every command is (`SiteControl`).
    func command(_ target: SiteCommand.Target, _ request: Request, _ context: FuseboxRequestContext) async throws -> SiteCommand {
        var request = request
        let command = try SiteCommand(target, try await JSONBody.read(&request, context: context))
        try await control.apply(command, by: context.who)
        return command
    }

    var control: SiteControl { SiteControl(cycle: feed.cycle) }

    func currentStatus() throws -> LiveStatus {
        guard let s = feed.status else { throw APIError(.serviceUnavailable, "the controller has not finished its first cycle yet") }
        return s
    }

    func charger(_ context: FuseboxRequestContext) throws -> LiveStatus.Charger {
        let id = try parameter(context, "id")
        guard let c = try currentStatus().chargers.first(where: { $0.id == id }) else {
            throw APIError(.notFound, "no charger with id \(ConfigReader.quoted(id))", field: "id", expected: "one of \(feed.cycle.roster.map(\.settings.id).joined(separator: ", "))")
        }
        return c
    }

    func script(_ context: FuseboxRequestContext) throws -> (ScriptManager.Kind, String) {
        let kindText = try parameter(context, "kind")
        guard let kind = ScriptManager.Kind(rawValue: kindText) else {
            throw APIError(.notFound, "no script kind \(ConfigReader.quoted(kindText))", field: "kind", expected: "policy or driver")
        }
        return (kind, try parameter(context, "name"))
    }

    func scriptError(_ error: Error) -> APIError {
        guard let f = error as? ScriptManager.Failure else { return APIError(.internalServerError, "\(error)") }
        let status: HTTPResponse.Status = switch f.status {
        case 404: .notFound
        case 409: .conflict
        case 422: .unprocessableContent
        default: .internalServerError
        }
        return APIError(status, f.description)
    }

    func store() throws -> HistoryStore {
        guard let h = feed.history else { throw APIError(.notFound, "this controller keeps no history") }
        return h
    }

    func query(_ request: Request, _ key: String) -> String? {
        request.uri.queryParameters[Substring(key)].map(String.init)
    }

    /// `from` and `to`: seconds since 1970 or ISO 8601; `to` defaults to now, `from` to `to - defaultSpan`.
    /// Now is the site's own clock, the time of its last cycle (the wall clock
    /// before the first): a simulated site runs ahead of the wall, and what it
    /// recorded last must still be in the range.
    func range(_ request: Request, defaultSpan: Double) throws -> (Double, Double) {
        let now = feed.status?.time ?? Date().timeIntervalSince1970
        let to = try query(request, "to").map { try time($0, field: "to") } ?? now + 1
        let from = try query(request, "from").map { try time($0, field: "from") } ?? to - defaultSpan
        guard from < to else { throw APIError(.badRequest, "from must be before to", field: "from", expected: "a time before to") }
        return (from, to)
    }

    /// A time a history can hold (`HistoryStore.times`; docs/openapi.yaml declares the range).
    func time(_ text: String, field: String) throws -> Double {
        let expected = HistoryStore.timesExpected + " or an ISO 8601 time such as 2026-11-25T08:00:00Z"
        if let n = Double(text) {
            guard HistoryStore.times.contains(n) else { throw APIError.badField(field, expected: expected, got: text.prefix(40)) }
            return n
        }
        if let d = ISO8601DateFormatter().date(from: text), HistoryStore.times.contains(d.timeIntervalSince1970) { return d.timeIntervalSince1970 }
        throw APIError.badField(field, expected: expected, got: text.prefix(40))
    }

    /// About 500 points over the range, within what the history answers.
    func defaultResolution(from: Double, to: Double) -> Double {
        min(HistoryStore.resolutionRange.upperBound, max(1, (to - from) / 500))
    }

    func seconds(_ text: String, field: String) throws -> Double {
        guard let n = Double(text), n >= 0.01, n <= 86_400 * 31 else {
            throw APIError.badField(field, expected: "seconds from 0.01 to 2678400", got: text)
        }
        return n
    }

    func csv(_ sessions: [ChargingSession]) -> Response {
        Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"sessions.csv\""],
                 body: .init(byteBuffer: ByteBuffer(string: HistoryCSV.sessions(sessions))))
    }
}

struct HistoryPoint: Encodable {
    var time: Double, current: [Double], peak: [Double], ev: [Double], pv: Double, budget: [Double], limit: [Double]
    init(_ p: SamplePoint) {
        time = p.time; current = p.current.array; peak = p.peak.array; ev = p.ev.array; pv = p.pvPower
        budget = p.budget.array; limit = p.limit.array
    }
}

struct SessionRecord: Encodable {
    var id: Int64, charger: String, start: Double, end: Double?, energy: Double, peakPower: Double
    init(_ s: ChargingSession) {
        id = s.id; charger = s.charger; start = s.start; end = s.end; energy = s.energy; peakPower = s.peakPower
    }
}

/// An answer from one of the `APIBody` types.
func json<T: Encodable>(_ body: T, status: HTTPResponse.Status = .ok) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    // (These types hold strings and numbers only: encoding them cannot fail.)
    let data = (try? encoder.encode(body)) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

func encode<T: Encodable>(_ value: T) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data = try encoder.encode(value)
    return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

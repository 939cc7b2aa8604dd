import Foundation
import FuseboxController
import FuseboxCore
import Hummingbird

/// The configuration over REST, the page's Setup: read it, change it (applied
/// live at the next cycle), test a device, list and restore earlier versions.
/// Every change goes through `SiteSetup`, as SIGHUP does.
struct SetupAPI {
    let feed: SiteFeed

    func addRoutes(to api: RecordedRoutes<RouterGroup<FuseboxRequestContext>>) {
        api.get("config") { _, _ -> Response in
            let setup = try self.setup()
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: await setup.document())))
        }
        api.put("config") { request, context -> Response in
            let setup = try self.setup()
            var request = request
            let body = try await request.collectBody(upTo: context.maxUploadSize)
            let accept = try acceptSilent(request)
            return answer(await setup.save(json: Data(body.readableBytesView), by: context.who, acceptSilent: accept))
        }
        api.get("config/drivers") { _, _ -> Response in
            json(try await self.setup().driverNames())
        }
        api.get("config/versions") { _, _ -> Response in
            let setup = try self.setup()
            return json(setup.versions.list().reversed().map {
                APIBody.ConfigVersion(number: $0.number, saved: $0.saved, by: .init($0.by), change: $0.change)
            })
        }
        api.post("config/versions/:number/restore") { _, context -> Response in
            let setup = try self.setup()
            let text = context.parameters.get("number") ?? ""
            guard let number = Int(text), number > 0 else {
                throw APIError(.notFound, "no version \(ConfigReader.quoted(text))", field: "number", expected: "a version number from GET /api/config/versions")
            }
            return answer(await setup.restore(number, by: context.who))
        }
        api.get("config/commissioning") { _, _ -> Response in
            return json(try await self.setup().commissioning ?? SiteSetup.noCheck)
        }
        api.post("config/commissioning") { request, context -> Response in
            let setup = try self.setup()
            var request = request
            let body = try await JSONBody.read(&request, context: context)
            try body.only(["stations"])
            let stations = body.has("stations") ? try body.bool("stations") : false
            guard let report = await setup.startCommissioning(stations: stations, by: context.who) else {
                throw APIError(.conflict, "a commissioning check is running; GET /api/config/commissioning shows how far it is")
            }
            return json(report, status: .accepted)
        }
        api.post("config/find") { request, context -> Response in
            let setup = try self.setup()
            var request = request
            let members = try await JSONBody.members(&request, context: context, expected: "{ hosts, ports, units }")
            var hosts: [String] = [], ports = [502], units = [1, 255]
            for (key, v) in members {
                switch (key, v) {
                case ("hosts", .array(let items)):
                    hosts = try items.map { item in
                        guard case .string(let s) = item else { throw APIError.badField("hosts", expected: "a list of addresses", got: JSONField(item)) }
                        return s
                    }
                case ("hosts", .string(let s)):
                    hosts = s.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" }).map(String.init)
                case ("ports", .array(let items)), ("units", .array(let items)):
                    let numbers = try items.map { item in
                        guard case .number(let n) = item, n == n.rounded(), abs(n) < 1e6 else {
                            throw APIError.badField(key, expected: "a list of whole numbers", got: JSONField(item))
                        }
                        return Int(n)
                    }
                    if key == "ports" { ports = numbers } else { units = numbers }
                case ("hosts", _), ("ports", _), ("units", _):
                    throw APIError.badField(key, expected: key == "hosts" ? "a list of addresses, or one text" : "a list of whole numbers", got: JSONField(v))
                default:
                    throw APIError(.badRequest, "\(key): unknown field; expected hosts, ports, units", field: key, expected: "hosts, ports, units")
                }
            }
            let report: DeviceFinder.Report
            do throws(DeviceFinder.Refused) { report = try await setup.find(DeviceFinder.Request(hosts: hosts, ports: ports, units: units)) } catch {
                throw APIError(.badRequest, error.description, field: error.field)
            }
            return json(report)
        }
        api.post("config/test") { request, context -> Response in
            let setup = try self.setup()
            var request = request
            let members = try await JSONBody.members(&request, context: context, expected: "a meter or charger as site.yaml gives one")
            let (test, problems) = await setup.test(tree: SiteSetup.tree(.object(members)), path: "device")
            guard let test else { return refused(422, "the device's settings are refused", problems: problems, tests: []) }
            return json(test)
        }
    }

    private func setup() throws -> SiteSetup {
        guard let setup = feed.setup else {
            throw APIError(.notFound, "this controller has no configuration file to change (it runs a simulation)")
        }
        return setup
    }

    private func acceptSilent(_ request: Request) throws -> Bool {
        guard let value = request.uri.queryParameters.get("accept_silent") else { return false }
        guard value == "true" || value == "false" else {
            throw APIError(.badRequest, "accept_silent: expected true or false, got \(ConfigReader.quoted(value))", field: "accept_silent", expected: "true or false")
        }
        return value == "true"
    }

    private func answer(_ o: SiteSetup.Outcome) -> Response {
        guard o.status == 200 else {
            let why = switch o.status {
            case 409 where !o.tests.isEmpty: "a device of the new configuration does not answer; the configuration in force stays (save with accept_silent=true to apply it anyway)"
            case 409: "another change is under way; the configuration in force stays"
            case 404: "no such version"
            case 500: "the configuration could not be written; the configuration in force stays"
            case 503: "the controller stopped"
            default: "the configuration is refused; the configuration in force stays"
            }
            return refused(o.status, why, problems: o.problems, tests: o.tests)
        }
        return json(APIBody.ConfigApplied(version: .init(o.version?.number), applied: .init(o.applied), change: o.change,
                                          restart_needed: o.restartNeeded, tests: o.tests))
    }

    private func refused(_ status: Int, _ why: String, problems: [String], tests: [DeviceTest]) -> Response {
        json(APIBody.ConfigRefused(error: why, problems: problems.map(APIBody.Problem.init), tests: tests),
             status: HTTPResponse.Status(code: status))
    }
}

extension APIBody {
    struct ConfigVersion: Encodable { var number: Int; var saved: Double; var by: Null<String>; var change: String }
    struct ConfigApplied: Encodable {
        var status = "applied"
        var version: Null<Int>
        var applied: Null<Double>
        var change: String
        var restart_needed: [String]
        var tests: [DeviceTest]
    }
    struct ConfigRefused: Encodable { var error: String; var problems: [Problem]; var tests: [DeviceTest] }

    /// One problem of a configuration: the key path it is about (`chargers[2].port`) and the message, as `fusebox check` prints it.
    struct Problem: Encodable {
        var field: String
        var message: String

        /// "chargers[2].port: expected ..." -> field chargers[2].port; "" when the text names none.
        init(_ text: String) {
            if let colon = text.range(of: ": "), !text[..<colon.lowerBound].contains(" ") {
                field = String(text[..<colon.lowerBound])
            } else {
                field = ""
            }
            message = text
        }
    }
}

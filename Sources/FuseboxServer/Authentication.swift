import Foundation
import HTTPTypes
import Hummingbird

/// Every request past this middleware is authenticated: a session cookie or a
/// bearer token. A state-changing request that the cookie authenticates must
/// also carry the session's X-CSRF-Token: a page on another site can make the
/// browser send the cookie (SameSite=Strict aside), but it cannot read the token.
struct Authentication: RouterMiddleware {
    typealias Context = FuseboxRequestContext
    let accounts: Accounts
    static let cookie = "fusebox_session"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            guard let secret = Self.bearer(header), let token = await accounts.token(forSecret: secret) else {
                throw APIError(.unauthorized, "the bearer token is not valid (revoked, or never issued)")
            }
            let needed = Self.scope(needed: request.method, path: request.uri.path)
            guard token.scope >= needed else {
                throw APIError(.forbidden, "this token's scope is \(token.scope.rawValue); \(request.method.rawValue) \(request.uri.path) needs \(needed.rawValue)",
                               expected: needed.rawValue)
            }
            context.identity = .token(token)
        } else if let id = request.cookies[Self.cookie]?.value, let session = await accounts.session(id) {
            if ![.get, .head, .options].contains(request.method) && request.headers[.csrfToken] != session.csrf {
                throw APIError(.forbidden, "a change through the session cookie needs the session's X-CSRF-Token header")
            }
            let needed = Self.scope(needed: request.method, path: request.uri.path)
            guard session.role >= needed else {
                throw APIError(.forbidden, "\(session.user) is a viewer: \(request.method.rawValue) \(request.uri.path) changes the site, which needs the installer's account",
                               expected: needed.rawValue)
            }
            context.identity = .session(id: id, session)
        } else {
            throw APIError(.unauthorized, "log in first (POST /api/login), or send Authorization: Bearer <token>")
        }
        return try await next(request, context)
    }

    /// The secret of `Authorization: Bearer <secret>`; the scheme's name is
    /// case-insensitive (RFC 9110), so `bearer` works too.
    static func bearer(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let secret = parts[1].trimmingCharacters(in: .whitespaces)
        return secret.isEmpty ? nil : secret
    }

    /// What a request needs of a token: scripts, tokens and the configuration are
    /// admin's (reading the list of scripts and the configuration aside), every
    /// other change control's, a read read's.
    static func scope(needed method: HTTPRequest.Method, path: String) -> Accounts.Scope {
        let segments = path.split(separator: "/")
        let area = segments.count > 1 ? segments[1] : ""
        if area == "tokens" { return .admin }
        if area == "scripts" { return method == .get && segments.count == 2 ? .read : .admin }
        if area == "logout" { return .read }
        // The configuration: anyone may read it (its secrets hidden), only the installer change it.
        if area == "config" { return method == .get ? .read : .admin }
        return [.get, .head, .options].contains(method) ? .read : .control
    }
}

extension HTTPField.Name {
    static let csrfToken = Self("X-CSRF-Token")!
}

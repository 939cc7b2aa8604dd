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
            guard header.hasPrefix("Bearer "), let token = await accounts.token(forSecret: String(header.dropFirst(7))) else {
                throw APIError(.unauthorized, "the bearer token is not valid (revoked, or never issued)")
            }
            context.identity = .token(token)
        } else if let id = request.cookies[Self.cookie]?.value, let session = await accounts.session(id) {
            if ![.get, .head, .options].contains(request.method) && request.headers[.csrfToken] != session.csrf {
                throw APIError(.forbidden, "a change through the session cookie needs the session's X-CSRF-Token header")
            }
            context.identity = .session(id: id, session)
        } else {
            throw APIError(.unauthorized, "log in first (POST /api/login), or send Authorization: Bearer <token>")
        }
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    static let csrfToken = Self("X-CSRF-Token")!
}

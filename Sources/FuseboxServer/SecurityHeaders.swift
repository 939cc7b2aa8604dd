import HTTPTypes
import Hummingbird

/// Headers on every answer, errors included: a strict Content-Security-Policy
/// (scripts, styles and connections from this server only; no inline script,
/// no inline style attribute, no framing), so that text which slipped into the
/// page as markup still could not run; and no sniffing of content types.
struct SecurityHeaders: RouterMiddleware {
    typealias Context = FuseboxRequestContext

    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    static func add(to headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.xFrameOptions] = "DENY"
        headers[.referrerPolicy] = "no-referrer"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            Self.add(to: &response.headers)
            return response
        } catch var error as APIError {
            Self.add(to: &error.headers)
            throw error
        }
    }
}

extension HTTPField.Name {
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}

import HTTPTypes
import FuseboxCore
import Hummingbird
import Synchronization

/// The methods each path takes, as the routes were added. Hummingbird answers
/// a known path with an unknown method as if the path were unknown (404); with
/// this table such a request is answered 405 with `Allow`, as HTTP says.
final class RouteTable: Sendable {
    private let routes = Mutex<[(segments: [Substring], method: HTTPRequest.Method)]>([])

    func add(_ path: String, _ method: HTTPRequest.Method) {
        routes.withLock { $0.append((path.split(separator: "/"), method)) }
    }

    /// The methods of every route whose pattern (`:name` matches any one segment) fits `path`.
    func methods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        return routes.withLock { table in
            var found: [HTTPRequest.Method] = []
            for route in table where route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy({ $0.hasPrefix(":") || $0 == $1 }) {
                if !found.contains(route.method) { found.append(route.method) }
            }
            return found
        }
    }
}

/// Routes added to a router or a group, each also written in the table.
struct RecordedRoutes<Methods: RouterMethods<FuseboxRequestContext>> {
    typealias Handler = @Sendable (Request, FuseboxRequestContext) async throws -> Response
    let methods: Methods
    /// The group's path, for the table: "/api/".
    let prefix: String
    let table: RouteTable

    @discardableResult func get(_ path: String, use handler: @escaping Handler) -> Self { on(path, .get, handler) }
    @discardableResult func put(_ path: String, use handler: @escaping Handler) -> Self { on(path, .put, handler) }
    @discardableResult func post(_ path: String, use handler: @escaping Handler) -> Self { on(path, .post, handler) }
    @discardableResult func delete(_ path: String, use handler: @escaping Handler) -> Self { on(path, .delete, handler) }

    private func on(_ path: String, _ method: HTTPRequest.Method, _ handler: @escaping Handler) -> Self {
        table.add(prefix + path, method)
        methods.on(RouterPath(path), method: method, use: handler)
        return self
    }
}

/// Every error the server answers is JSON, as docs/openapi.yaml says: the
/// framework's own (a body over the limit, no such route) included, which
/// would otherwise come with an empty body.
struct JSONErrors: RouterMiddleware {
    typealias Context = FuseboxRequestContext
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let refusal as CommandRefusal {
            throw APIError(refusal)
        } catch let error as any HTTPResponseError {
            if error.status == .notFound {
                let allowed = routes.methods(for: request.uri.path)
                if !allowed.isEmpty && !allowed.contains(request.method) {
                    let names = allowed.map(\.rawValue).sorted().joined(separator: ", ")
                    var e = APIError(.methodNotAllowed, "\(request.uri.path) takes \(names), not \(request.method.rawValue)",
                                     expected: names)
                    e.headers[.allow] = names
                    throw e
                }
                throw APIError(.notFound, "no such page or API path: \(request.uri.path)")
            }
            if error.status == .contentTooLarge {
                throw APIError(.contentTooLarge, "the body is larger than \(context.maxUploadSize) bytes", field: "body")
            }
            throw APIError(error.status, error.status.reasonPhrase)
        }
    }
}

import FuseboxCore
import Hummingbird
import NIOCore

/// The request context: who is asking (after `Authentication`) and from where.
public struct FuseboxRequestContext: RequestContext, RemoteAddressRequestContext {
    public enum Identity: Sendable {
        /// A browser session (the cookie); `csrf` must come back on changes.
        case session(id: String, Accounts.Session)
        /// An API client's bearer token.
        case token(Accounts.Token)
    }

    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The address failed logins are counted against.
    public var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }

    /// Who is asking, for the events that record a change: "admin on the page", "token 'portal'".
    public var who: String? {
        switch identity {
        case .session(_, let s)?: "\(s.user) on the page"
        case .token(let t)?: "token \(ConfigReader.quoted(t.name))"
        case nil: nil
        }
    }

    /// Uploaded scripts and JSON bodies stay small.
    public var maxUploadSize: Int { 1 << 20 }
}

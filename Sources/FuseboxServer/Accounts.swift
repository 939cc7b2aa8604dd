import Crypto
import Foundation
import FuseboxCore
import HummingbirdBcrypt

/// Who may use the page and the API: the installer, with a password (the site's
/// serial number unless a bcrypt hash is configured), viewers who see
/// everything and change nothing (`http.viewers`), browser sessions, and
/// bearer tokens for API clients (stored as SHA-256 hashes in a file, so a
/// copy of the file lets nobody in). Failed logins are slowed per address:
/// from the fifth in a row, the address waits 2, 4, 8 ... up to 300 s.
public actor Accounts {
    public struct Session: Sendable {
        public var user: String
        /// What the account may do, as a token's scope: the installer's is
        /// `admin`, a viewer's (the site owner) `read`.
        public var role: Scope
        /// Must come back in X-CSRF-Token with every state-changing request the
        /// session cookie authenticates: another site's page cannot read it.
        public var csrf: String
        public var expires: Double
    }

    /// What a token may do; each scope includes the ones before it.
    public enum Scope: String, Sendable, Codable, CaseIterable, Comparable {
        /// Watch: every GET.
        case read
        /// Steer: limits, the ripple mode, priorities, enabled.
        case control
        /// Everything: scripts, tokens (and setup).
        case admin

        public static func < (a: Scope, b: Scope) -> Bool {
            allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
        }
    }

    public struct Token: Sendable, Codable, Equatable {
        public var id: String
        public var name: String
        public var created: Double
        public var scope: Scope
        var hash: String

        init(id: String, name: String, created: Double, scope: Scope, hash: String) {
            self.id = id
            self.name = name
            self.created = created
            self.scope = scope
            self.hash = hash
        }

        enum CodingKeys: String, CodingKey { case id, name, created, scope, hash }

        /// A token kept by a version without scopes steers, as it did, but
        /// makes no tokens and changes no scripts: that takes a new admin token.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            name = try c.decode(String.self, forKey: .name)
            created = try c.decode(Double.self, forKey: .created)
            scope = try c.decodeIfPresent(Scope.self, forKey: .scope) ?? .control
            hash = try c.decode(String.self, forKey: .hash)
        }
    }

    public enum LoginFailure: Error, Sendable {
        case wrongCredentials
        /// Too many failures from this address; retry after this many seconds.
        case tooMany(retryAfter: Int)
    }

    public let user: String
    private let passwordHash: String?
    /// Viewers' bcrypt hashes by user name.
    private let viewers: [String: String]
    private let serial: String
    private let tokenFile: String?
    public nonisolated let sessionLifetime: Double
    private var sessions: [String: Session] = [:]
    private var failures: [String: (count: Int, until: Double)] = [:]
    private var tokens: [Token] = []

    public init(user: String, passwordHash: String?, serial: String, tokenFile: String?,
                viewers: [(user: String, passwordHash: String)] = [], sessionLifetime: Double = 86_400) {
        self.user = user
        self.passwordHash = passwordHash
        self.viewers = Dictionary(viewers.map { ($0.user, $0.passwordHash) }, uniquingKeysWith: { first, _ in first })
        self.serial = serial
        self.tokenFile = tokenFile
        self.sessionLifetime = sessionLifetime
        if let tokenFile, let data = FileManager.default.contents(atPath: tokenFile) {
            tokens = (try? JSONDecoder().decode([Token].self, from: data)) ?? []
        }
    }

    /// A new session for the right user and password; the session's id goes in the cookie.
    public func login(user: String, password: String, from address: String, now: Double = Date().timeIntervalSince1970)
        throws(LoginFailure) -> (id: String, session: Session) {
        if let f = failures[address], f.until > now { throw .tooMany(retryAfter: Int((f.until - now).rounded(.up))) }
        let role: Scope
        if user == self.user, checkPassword(password) {
            role = .admin
        } else if user != self.user, let hash = viewers[user], Bcrypt.verify(password, hash: hash) {
            role = .read
        } else {
            let count = (failures[address]?.count ?? 0) + 1
            let wait = count >= 5 ? min(300, pow(2, Double(count - 4))) : 0
            failures[address] = (count, now + wait)
            throw .wrongCredentials
        }
        failures[address] = nil
        sessions = sessions.filter { $0.value.expires > now }
        let session = Session(user: user, role: role, csrf: Self.randomToken(), expires: now + sessionLifetime)
        let id = Self.randomToken()
        sessions[id] = session
        return (id, session)
    }

    private func checkPassword(_ password: String) -> Bool {
        if let passwordHash { return Bcrypt.verify(password, hash: passwordHash) }
        // No hash configured: the serial number, compared in constant time.
        guard !serial.isEmpty else { return false }
        let a = Array(password.utf8), b = Array(serial.utf8)
        var diff = a.count ^ b.count
        for i in 0..<max(a.count, b.count) { diff |= Int((i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)) }
        return diff == 0
    }

    public func session(_ id: String, now: Double = Date().timeIntervalSince1970) -> Session? {
        guard let s = sessions[id], s.expires > now else { return nil }
        return s
    }

    public func logout(_ id: String) { sessions[id] = nil }

    /// A new API token; its secret is returned this once and kept only as a hash.
    public func createToken(name: String, scope: Scope, now: Double = Date().timeIntervalSince1970) throws -> (Token, String) {
        let secret = "fbx_" + Self.randomToken()
        let token = Token(id: String(Self.randomToken().prefix(12)), name: name, created: now, scope: scope, hash: Self.hash(secret))
        tokens.append(token)
        try save()
        return (token, secret)
    }

    public func revokeToken(id: String) throws -> Bool {
        guard tokens.contains(where: { $0.id == id }) else { return false }
        tokens.removeAll { $0.id == id }
        try save()
        return true
    }

    public func listTokens() -> [Token] { tokens }

    public func token(forSecret secret: String) -> Token? {
        let h = Self.hash(secret)
        return tokens.first { $0.hash == h }
    }

    private func save() throws {
        guard let tokenFile else { return }
        try DurableFile.write(JSONEncoder().encode(tokens), to: tokenFile)
    }

    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func randomToken() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }
}

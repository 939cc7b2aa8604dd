import Foundation
import FuseboxServer
import FuseboxTesting
import Testing

@Suite("Accounts: passwords, lockout, tokens")
struct AccountsTests {
    @Test("a bcrypt hash from fusebox password-hash logs in; the serial then does not")
    func bcrypt() async throws {
        let child = try ChildProcess([Expectation.fuseboxBinary(from: #filePath), "password-hash"])
        child.process.standardInput.flatMap { $0 as? Pipe }?.fileHandleForWriting.write(Data("garage door 7\n".utf8))
        let hash = try #require(await child.line(prefix: "$2", within: 60), "\(child.errorOutput)")
        let accounts = Accounts(user: "admin", passwordHash: hash, serial: "SE1", tokenFile: nil)
        #expect(try await accounts.login(user: "admin", password: "garage door 7", from: "a").session.user == "admin")
        await #expect(throws: Accounts.LoginFailure.self) { try await accounts.login(user: "admin", password: "SE1", from: "b") }
    }

    @Test("tokens survive a restart as hashes, and a revoked one is gone for good")
    func tokens() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString).json").path
        let first = Accounts(user: "admin", passwordHash: nil, serial: "SE1", tokenFile: file)
        let (token, secret) = try await first.createToken(name: "portal", scope: .admin)
        let stored = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!stored.contains(secret), "the secret itself is never stored")
        let second = Accounts(user: "admin", passwordHash: nil, serial: "SE1", tokenFile: file)
        #expect(await second.token(forSecret: secret)?.id == token.id)
        #expect(try await second.revokeToken(id: token.id))
        let third = Accounts(user: "admin", passwordHash: nil, serial: "SE1", tokenFile: file)
        #expect(await third.token(forSecret: secret) == nil)
    }
}

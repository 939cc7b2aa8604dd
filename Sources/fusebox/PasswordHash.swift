import ArgumentParser
import Foundation
import HummingbirdBcrypt

/// `fusebox password-hash`: a bcrypt hash for site.yaml's http.password_hash,
/// from the password on standard input (so it stays out of the shell history).
struct PasswordHash: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "password-hash",
                                                    abstract: "Print a bcrypt hash of the password read from standard input.")

    func run() async throws {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("expected the password on standard input")
        }
        print(Bcrypt.hash(line, cost: 12))
    }
}

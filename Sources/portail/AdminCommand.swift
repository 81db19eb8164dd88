import ArgumentParser
import Foundation
import PortailApp
import PortailStore

struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Administer the federation's staff.",
        subcommands: [CreateFederationAdmin.self, SetPassword.self]
    )

    struct CreateFederationAdmin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-federation-admin",
            abstract: "Create a federation administrator (or find it) and print a new API token, shown once."
        )

        @Argument(help: "The administrator's e-mail address.")
        var email: String

        @Option(help: "The administrator's name.")
        var name = ""

        func validate() throws {
            guard email.range(of: #"^[^@\s]+@[^@\s]+\.[^@\s]+$"#, options: .regularExpression) != nil else {
                throw ValidationError("\(email) is not an e-mail address")
            }
        }

        func run() async throws {
            let token = try await Runtime.withDatabase { database in
                return try await database.owner.withConnection { c in
                    let id = try await StaffRepository.createStaff(c, email: email, name: name, federationAdmin: true, logger: database.logger)
                    let expires = Date().addingTimeInterval(Double(StaffRepository.defaultTokenDays) * 86400)
                    return try await StaffRepository.issueToken(c, staff: id, label: "bootstrap", expiresAt: expires, logger: database.logger).secret
                }
            }
            print("Federation administrator \(email). API token (shown once, keep it secret; valid \(StaffRepository.defaultTokenDays) days,"
                  + " create the next one with POST /api/tokens):\n\(token)")
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password",
            abstract: "Set a staff member's back-office password (read from standard input) and close their sessions."
        )

        @Argument(help: "The staff member's e-mail address.")
        var email: String

        func run() async throws {
            let password = (readLine(strippingNewline: true) ?? "")
            if let weakness = Passwords.weakness(of: password) { throw ValidationError(weakness) }
            let hash = try await Passwords.hash(password)
            let done = try await Runtime.withDatabase { database in
                return try await database.owner.withConnection { c in
                    try await StaffSignIn.ownerSetPassword(c, email: email, hash: hash, logger: database.logger)
                }
            }
            guard done else { throw ValidationError("there is no active staff member \(email)") }
            print("Password of \(email) set: sign in at /admin/ (managers and federation administrators then enrol a TOTP app).")
        }
    }
}

import ArgumentParser
import Foundation
import PortailApp
import PortailStore
import PostgresNIO

@main
struct Portail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portail",
        abstract: "Portail Famille: the family portal of a federation of leisure centers (ALSH).",
        subcommands: [ServeCommand.self, DemoCommand.self, MigrateCommand.self, CentersCommand.self, AdminCommand.self, PaymentsCommand.self, LedgerCommand.self]
    )

    /// Like ArgumentParser's main, but a usage error (bad flag, missing argument) exits with status 2.
    static func main() async {
        JSONLogHandler.bootstrap(environment: Runtime.environment)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            if error is PSQLError {
                // The driver's description hides the server's words; a person needs them to act.
                FileHandle.standardError.write(Data("Error: PostgreSQL: \(Migrator.message(of: error))\n".utf8))
                Foundation.exit(1)
            }
            exit(withError: error)
        }
    }
}

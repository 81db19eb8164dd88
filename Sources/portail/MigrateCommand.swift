import ArgumentParser
import PortailApp
import PortailStore

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the database migrations and exit."
    )

    func run() async throws {
        let logger = Runtime.logger()
        let (settings, embedded) = try Bootstrap.database(environment: Runtime.environment, dataDirectory: Runtime.dataDirectory, logger: logger)
        defer { embedded?.stop() }
        let applied = try await Database(settings: settings, logger: logger).run { try await $0.migrate() }
        print(applied.isEmpty ? "The schema is up to date." : "Applied: \(applied.joined(separator: ", "))")
    }
}

import Foundation
import Logging
import PortailStore

/// One throwaway PostgreSQL cluster per test process (the same launcher as the demo), a template
/// database migrated once, and a fresh copy of it for each test (CREATE DATABASE ... TEMPLATE).
public actor TestCluster {
    public static let shared = TestCluster()

    private var embedded: EmbeddedPostgres?
    private var counter = 0
    private static let template = "portail_template"

    /// Settings for a new, migrated, empty database of its own.
    public func freshDatabase() async throws -> DatabaseSettings {
        let cluster = try await started()
        counter += 1
        let name = "t_\(counter)"
        // The template may still have a connection closing from its migration: retry briefly.
        var attempt = 0
        while true {
            do {
                try cluster.execute("CREATE DATABASE \(name) TEMPLATE \(Self.template) OWNER \(EmbeddedPostgres.ownerRole)")
                break
            } catch {
                attempt += 1
                if attempt > 50 { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return cluster.settings(database: name)
    }

    public static var logger: Logger {
        var logger = Logger(label: "portail.tests")
        logger.logLevel = .warning
        return logger
    }

    private func started() async throws -> EmbeddedPostgres {
        if let embedded { return embedded }
        let directory = NSTemporaryDirectory() + "portail-test-\(getpid())"
        let cluster = EmbeddedPostgres(directory: directory, logger: Self.logger)
        try cluster.start(database: Self.template)
        TestClusterCleanup.register(cluster)
        let database = Database(settings: cluster.settings(database: Self.template), logger: Self.logger)
        try await database.run { try await $0.migrate() }
        embedded = cluster
        return cluster
    }
}

/// Stops the test cluster and removes its folder when the test process exits.
enum TestClusterCleanup {
    nonisolated(unsafe) static var cluster: EmbeddedPostgres?

    static func register(_ cluster: EmbeddedPostgres) {
        Self.cluster = cluster
        atexit {
            guard let cluster = TestClusterCleanup.cluster else { return }
            cluster.stop()
            try? FileManager.default.removeItem(atPath: cluster.directory)
        }
    }
}

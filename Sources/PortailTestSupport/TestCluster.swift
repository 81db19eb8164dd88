import Foundation
import Logging
import PortailStore

/// One throwaway PostgreSQL cluster per test process (the same launcher as the demo), a template
/// database migrated once, and a fresh copy of it for each test (CREATE DATABASE ... TEMPLATE).
public actor TestCluster {
    public static let shared = TestCluster()

    /// Started once: tests ask concurrently, and the actor is reentrant across the start's awaits.
    private var starting: Task<EmbeddedPostgres, any Error>?
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
        if let starting { return try await starting.value }
        let task = Task { try await Self.startCluster() }
        starting = task
        return try await task.value
    }

    private static func startCluster() async throws -> EmbeddedPostgres {
        removeClustersOfDeadRuns()
        let directory = NSTemporaryDirectory() + "portail-test-\(getpid())"
        let cluster = EmbeddedPostgres(directory: directory, logger: logger)
        try cluster.start(database: template)
        TestClusterCleanup.register(cluster)
        let database = Database(settings: cluster.settings(database: template), logger: logger)
        try await database.run { try await $0.migrate() }
        return cluster
    }
}

extension TestCluster {
    /// A test process that crashed left its cluster running: stop and remove those whose process is gone.
    static func removeClustersOfDeadRuns() {
        let temp = NSTemporaryDirectory()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temp)) ?? []
        for name in names where name.hasPrefix("portail-test-") {
            guard let pid = Int32(name.dropFirst("portail-test-".count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            let stale = EmbeddedPostgres(directory: temp + name, logger: logger)
            stale.stopAnyway()
            try? FileManager.default.removeItem(atPath: temp + name)
        }
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

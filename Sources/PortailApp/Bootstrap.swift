import Foundation
import Logging
import PortailConfig
import PortailDomain
import PortailStore

/// Start-up steps shared by `serve`, `demo` and the tests: find the database, migrate, import the
/// center files, and build the directory of served centers.
public enum Bootstrap {
    /// The database from DATABASE_URL / DATABASE_OWNER_URL, or else an embedded cluster in `dataDirectory`.
    /// PORTAIL_DB_POOL sets the request pool's size per instance (default 20; with the embedded cluster,
    /// three per core of this machine: `DatabaseSettings.localAppPoolSize`), PORTAIL_DB_LOCK_TIMEOUT
    /// how many seconds a request waits for a row lock before it is answered "try again" (default 10).
    public static func database(
        environment: [String: String], dataDirectory: String, logger: Logger
    ) throws -> (settings: DatabaseSettings, embedded: EmbeddedPostgres?) {
        var pool: Int?
        if let text = environment["PORTAIL_DB_POOL"], !text.isEmpty {
            guard let size = Int(text), (1...500).contains(size) else {
                throw ConfigurationError("PORTAIL_DB_POOL must be a number of connections from 1 to 500, found \"\(text)\"")
            }
            pool = size
        }
        var lockTimeout: Int?
        if let text = environment["PORTAIL_DB_LOCK_TIMEOUT"], !text.isEmpty {
            guard let seconds = Double(text), (0.1...14).contains(seconds) else {
                throw ConfigurationError("PORTAIL_DB_LOCK_TIMEOUT must be a number of seconds from 0.1 to 14 (under the 15 s a statement may run), found \"\(text)\"")
            }
            lockTimeout = Int((seconds * 1000).rounded())
        }
        switch environment["PORTAIL_DB_PREPARED"] ?? "" {
        case "", "on": PreparedStatements.enabled = true
        case "off": PreparedStatements.enabled = false
        case let other: throw ConfigurationError("PORTAIL_DB_PREPARED is on (named prepared statements, the default) or off (behind a PgBouncer older than 1.21), found \"\(other)\"")
        }
        if var settings = try DatabaseSettings.fromEnvironment(environment) {
            settings.appPoolSize = pool ?? settings.appPoolSize
            settings.lockTimeoutMilliseconds = lockTimeout ?? settings.lockTimeoutMilliseconds
            return (settings, nil)
        }
        let embedded = EmbeddedPostgres(directory: dataDirectory, logger: logger)
        try embedded.start()
        var settings = embedded.settings()
        // The cluster shares this machine's cores with the server: a pool sized to them.
        settings.appPoolSize = pool ?? DatabaseSettings.localAppPoolSize()
        settings.lockTimeoutMilliseconds = lockTimeout ?? settings.lockTimeoutMilliseconds
        return (settings, embedded)
    }

    /// Reads the centers again from the database (after an import or a suspension through the API), so
    /// that the change is served at once; the file problems found at start stay reported.
    public static func reload(_ directory: CenterDirectory, database: Database) async throws {
        let version = try await CenterRepository.version(database)
        let records = try await CenterRepository.loadAll(database)
        let failures = directory.snapshot.failures.filter { failure in !records.contains { $0.center.code == failure.code && $0.state == "active" } }
        directory.replace(with: CenterDirectory.Snapshot(records: records, failures: failures, version: version))
    }

    /// Reads the center files, imports the valid ones whose text changed since their last import (what
    /// staff changed through the API since stays), and returns what to serve: the centers as stored
    /// and every file or import that failed (served centers are never stopped by another's error).
    public static func loadCenters(
        files: [String], catalog: CenterCatalog? = nil, paymentRules: [PaymentTypeRule], environment: [String: String],
        database: Database, logger: Logger
    ) async throws -> CenterDirectory.Snapshot {
        // `serve` has read them already, before the database was touched: they are not read twice.
        let catalog = catalog ?? CenterCatalog.load(files: files, paymentRules: paymentRules, environment: environment)
        var failures = catalog.failures
        for failure in catalog.failures {
            for issue in failure.issues { logger.error("center file error: \(issue)") }
        }
        let outcomes = try await CenterImporter(database: database).importCenters(
            catalog.centers.map { CenterImporter.Source(center: $0.center, file: $0.file, text: $0.text, skipIfUnchanged: true) }, dryRun: false
        )
        for outcome in outcomes {
            if let refusal = outcome.refusal {
                logger.error("center \(outcome.code) not imported: \(refusal)")
                let file = catalog.centers.first { $0.center.code == outcome.code }?.file ?? outcome.code
                failures.append(.init(file: file, code: outcome.code,
                                      issues: [ConfigIssue(file: file, line: 1, column: 1, path: "", message: "import refused: \(refusal)")]))
            } else if outcome.applied {
                logger.info("center \(outcome.code) imported: \(outcome.diff.changes.count) change(s)")
                for change in outcome.diff.changes { logger.info("  \(outcome.code): \(change.description)") }
            }
        }
        let version = try await CenterRepository.version(database)
        let records = try await CenterRepository.loadAll(database)
        // A center whose file is broken keeps being served from what was imported before, and reported.
        return CenterDirectory.Snapshot(records: records, failures: failures, version: version)
    }
}

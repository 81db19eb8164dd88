import Foundation
import Logging
import PostgresNIO

/// Applies the SQL files of `Migrations/` in order, once each, under an advisory lock.
public struct Migrator: Sendable {
    public struct Migration: Sendable {
        public var version: String
        public var sql: String
    }

    public struct MigrationError: Error, CustomStringConvertible {
        public var file: String
        public var message: String
        public var description: String { "migration \(file) failed and was rolled back: \(message)" }
    }

    /// An arbitrary constant shared by every instance of the portal.
    static let lockKey: Int64 = 0x504F_5254_4149_4C  // "PORTAIL"

    public let migrations: [Migration]

    public init(migrations: [Migration] = Migrator.bundled()) {
        self.migrations = migrations
    }

    /// The files shipped as resources, sorted by name ("0001_roles.sql" ...).
    public static func bundled() -> [Migration] {
        guard let folder = Bundle.module.url(forResource: "Migrations", withExtension: nil),
              let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return names.filter { $0.hasSuffix(".sql") }.sorted().compactMap { name in
            guard let sql = try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8) else { return nil }
            return Migration(version: String(name.dropLast(4)), sql: sql)
        }
    }

    /// Applies the missing migrations; returns the versions applied now.
    @discardableResult
    public func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        // Poll instead of waiting on pg_advisory_lock: a blocking wait can deadlock against DDL of another instance.
        while try await !tryLock(connection, logger: logger) {
            logger.info("another instance is migrating; waiting")
            try await Task.sleep(for: .milliseconds(200))
        }
        do {
            let applied = try await applyPending(connection, logger: logger)
            try await unlock(connection, logger: logger)
            return applied
        } catch {
            try? await unlock(connection, logger: logger)
            throw error
        }
    }

    private func applyPending(_ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
            """, logger: logger)
        var done = Set<String>()
        for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger).decode(String.self) {
            done.insert(version)
        }
        var applied: [String] = []
        for migration in migrations where !done.contains(migration.version) {
            logger.info("applying migration \(migration.version)")
            try await connection.query("BEGIN", logger: logger)
            do {
                // PostgresNIO sends one statement per query: run the file statement by statement.
                for statement in SQLSplitter.split(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO schema_migrations (version) VALUES (\(migration.version))", logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw MigrationError(file: migration.version + ".sql", message: Self.message(of: error))
            }
            applied.append(migration.version)
        }
        return applied
    }

    private func tryLock(_ connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("SELECT pg_try_advisory_lock(\(Self.lockKey))", logger: logger)
        var locked = false
        for try await value in rows.decode(Bool.self) { locked = value }
        return locked
    }

    private func unlock(_ connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
        for try await _ in rows.decode(Bool.self) {}
    }

    /// PostgreSQL's own words (message, detail, hint) rather than the driver's generic description.
    public static func message(of error: Error) -> String {
        if let psql = error as? PSQLError, let server = psql.serverInfo {
            var text = server[.message] ?? "\(psql)"
            if let detail = server[.detail] { text += " (\(detail))" }
            if let hint = server[.hint] { text += " Hint: \(hint)" }
            if let position = server[.position] { text += " [at character \(position)]" }
            return text
        }
        return String(reflecting: error)
    }
}

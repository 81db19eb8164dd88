import Foundation
import PostgresNIO

/// Where the database is and with which roles: the owner runs migrations and imports, the application
/// role serves requests under row-level security.
public struct DatabaseSettings: Sendable {
    public var owner: PostgresClient.Configuration
    public var app: PostgresClient.Configuration
    /// For logs: where the data lives, without passwords.
    public var description: String
    /// Connections per instance: serving, and migrations and imports.
    public var appPoolSize = DatabaseSettings.defaultAppPoolSize
    /// For a database elsewhere (`DATABASE_URL`): about three per core of a server of 6 to 8 cores. Far past
    /// what its cores serve, PostgreSQL's backends take turns on them instead of working (docs/benchmarks.md:
    /// with 150 connections on 2 cores, 4,475 parents of the opening-day rush got an error; with 12 to 40, none).
    public static let defaultAppPoolSize = 20
    /// The pool for a cluster on this machine (the embedded one): three connections per core, at least 4.
    /// PostgreSQL's backends then share the cores with the server itself, and each connection beyond that
    /// only adds a backend waiting for a core: on 2 cores, at 16 parents at once, a pool of 6 served Mon
    /// compte, Mes factures and the grid with a p99 of 10 to 15 ms against 16 to 177 ms with 20, and as many
    /// pages a second or more (docs/benchmarks.md, "The pool's size for the pages").
    public static func localAppPoolSize(cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        max(4, 3 * cores)
    }
    public var ownerPoolSize = 4
    /// How long a request's statement waits for a row lock, and runs at most, in milliseconds: past
    /// either, PostgreSQL rolls the transaction back and the request is answered 503 "try again".
    public var lockTimeoutMilliseconds = 10_000
    public var statementTimeoutMilliseconds = 15_000
    /// A streaming replica for the reads that tolerate a few seconds of lag (`Database.withReplica`);
    /// nil: they read the primary.
    public var replica: PostgresClient.Configuration?

    public init(owner: PostgresClient.Configuration, app: PostgresClient.Configuration, description: String) {
        self.owner = owner
        self.app = app
        self.description = description
    }

    public enum SettingsError: Error, CustomStringConvertible {
        case invalidURL(String, String)
        case missingOwnerURL

        public var description: String {
            switch self {
            case .invalidURL(let variable, let reason):
                "\(variable) is not a usable PostgreSQL URL (\(reason)); expected postgres://USER:PASSWORD@HOST:PORT/DATABASE"
            case .missingOwnerURL:
                "DATABASE_URL is set but DATABASE_OWNER_URL is not: the portal migrates and imports as the tables' owner "
                    + "and serves as a role without ownership (see docs/operations.md)"
            }
        }
    }

    /// From `DATABASE_URL` (application role) and `DATABASE_OWNER_URL` (schema owner); nil when neither is set.
    public static func fromEnvironment(_ environment: [String: String]) throws -> DatabaseSettings? {
        guard let appURL = environment["DATABASE_URL"], !appURL.isEmpty else { return nil }
        guard let ownerURL = environment["DATABASE_OWNER_URL"], !ownerURL.isEmpty else { throw SettingsError.missingOwnerURL }
        let app = try configuration(from: appURL, variable: "DATABASE_URL")
        let owner = try configuration(from: ownerURL, variable: "DATABASE_OWNER_URL")
        let host = URLComponents(string: appURL)?.host ?? "socket"
        var settings = DatabaseSettings(owner: owner, app: app, description: "PostgreSQL at \(host)")
        if let replicaURL = environment["DATABASE_REPLICA_URL"], !replicaURL.isEmpty {
            settings.replica = try configuration(from: replicaURL, variable: "DATABASE_REPLICA_URL")
        }
        return settings
    }

    /// Parses postgres://user:password@host:port/database?sslmode=require (or ?host=/socket/dir).
    public static func configuration(from text: String, variable: String) throws -> PostgresClient.Configuration {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw SettingsError.invalidURL(variable, "it must start with postgres://")
        }
        guard let user = url.user, !user.isEmpty else { throw SettingsError.invalidURL(variable, "no user name") }
        let database = String(url.path.dropFirst())
        guard !database.isEmpty else { throw SettingsError.invalidURL(variable, "no database name") }
        let query = Dictionary((url.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        let password = url.password?.removingPercentEncoding
        if let socketDir = query["host"], socketDir.hasPrefix("/") {
            return .init(unixSocketPath: socketDir + "/.s.PGSQL.\(url.port ?? 5432)", username: user, password: password, database: database)
        }
        guard let host = url.host, !host.isEmpty else { throw SettingsError.invalidURL(variable, "no host") }
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "disable" {
        case "disable": tls = .disable
        case "require", "verify-ca", "verify-full": tls = .require(.clientDefault)
        case "prefer", "allow": tls = .prefer(.clientDefault)
        case let other: throw SettingsError.invalidURL(variable, "unknown sslmode \(other)")
        }
        return .init(host: host, port: url.port ?? 5432, username: user, password: password, database: database, tls: tls)
    }
}

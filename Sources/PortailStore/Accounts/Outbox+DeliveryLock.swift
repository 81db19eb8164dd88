import Logging
import PostgresNIO

extension Outbox {
    /// Both keys of the session lock that one instance takes to deliver one center's outbox.
    static let deliveryLockSpace: Int32 = 0x4D41_494C  // "MAIL"
    static func deliveryLockKey(_ center: Int64) -> Int32 { Int32(truncatingIfNeeded: center) }

    /// Runs `body` while this instance alone delivers the outbox of `center`; nil, without running it,
    /// when another instance does. The lock belongs to a database session, not to a transaction, so that
    /// mails are sent with no transaction open; an instance that dies mid-delivery ends its session,
    /// which frees the lock, and the mails it had not marked sent go with the next pass of any instance.
    /// It is taken on the owner's pool, which reaches PostgreSQL directly: behind a PgBouncer in
    /// transaction pooling (the serving pool), the unlock could reach another server session.
    public static func withDeliveryLock<T: Sendable>(
        _ database: Database, center: Int64, _ body: () async throws -> T
    ) async throws -> T? {
        let logger = database.logger
        return try await database.owner.withConnection { connection -> T? in
            let taken = try await connection.first(
                "SELECT pg_try_advisory_lock(\(deliveryLockSpace), \(deliveryLockKey(center)))",
                (Bool.self), logger: logger
            )
            guard taken == true else { return nil }
            let unlock = "SELECT pg_advisory_unlock(\(deliveryLockSpace), \(deliveryLockKey(center)))" as PostgresQuery
            do {
                let value = try await body()
                try await connection.run(unlock, logger: logger)
                return value
            } catch {
                try? await connection.run(unlock, logger: logger)
                throw error
            }
        }
    }
}

extension Outbox {
    /// Mails of every center still to send (not those given up after 10 attempts), for the dashboards
    /// (the owner's connection sees every center).
    public static func pendingCount(_ database: Database) async throws -> Int {
        try await database.owner.withConnection { c in
            try await c.first("SELECT count(*)::int FROM mail_outbox WHERE sent_at IS NULL AND attempts < 10", (Int.self), logger: database.logger) ?? 0
        }
    }
}

import Foundation
import Logging
import PostgresNIO

/// The key-value store each payment provider keeps its own references in, per center and provider
/// (`payment_provider_references`): session ids, transaction counters, tokens. Each call is its own
/// short transaction, so that a provider talking to its bank never holds a database connection.
public struct ProviderReferenceRepository: Sendable {
    let database: Database
    let center: Int64
    let provider: String

    public init(database: Database, center: Int64, provider: String) {
        self.database = database
        self.center = center
        self.provider = provider
    }

    public func value(for key: String) async throws -> String? {
        try await database.withCenter(center) { [center, provider] c in
            try await c.first("""
                SELECT value FROM payment_provider_references WHERE center_id = \(center) AND provider = \(provider) AND key = \(key)
                """, (String.self), logger: database.logger)
        }
    }

    public func set(_ value: String, for key: String) async throws {
        try await database.withCenter(center) { [center, provider] c in
            try await c.run("""
                INSERT INTO payment_provider_references (center_id, provider, key, value) VALUES (\(center), \(provider), \(key), \(value))
                ON CONFLICT (center_id, provider, key) DO UPDATE SET value = excluded.value, updated_at = now()
                """, logger: database.logger)
        }
    }

    /// 1, 2, 3 ... atomically: the row lock of the upsert orders concurrent callers on every instance.
    public func next(_ counter: String) async throws -> Int {
        try await database.withCenter(center) { [center, provider] c in
            try await c.first("""
                INSERT INTO payment_provider_references (center_id, provider, key, value) VALUES (\(center), \(provider), \("counter:" + counter), '1')
                ON CONFLICT (center_id, provider, key) DO UPDATE
                    SET value = (payment_provider_references.value::bigint + 1)::text, updated_at = now()
                RETURNING value::bigint
                """, (Int.self), logger: database.logger)!
        }
    }
}

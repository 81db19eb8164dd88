import Foundation
import Logging
import PostgresNIO

/// The audit log: who did what, when, at which center. Every write goes through `record`, which
/// encodes `after` as JSON (never built by hand).
public enum AuditLog {
    public static func record(
        _ c: PostgresConnection, center: Int64, actor: String, action: String, subject: String,
        before: (any Encodable & Sendable)? = nil, after: some Encodable & Sendable, logger: Logger
    ) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(after), as: UTF8.self)
        let old = try before.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try await c.run("""
            INSERT INTO audit_log (center_id, actor, action, subject, before, after)
            VALUES (\(center), \(actor), \(action), \(subject), \(old)::jsonb, \(json)::jsonb)
            """, logger: logger)
    }

    /// The newest entries of a center; `actor` (part of who did it, any case) and `action` narrow them.
    public static func entries(
        _ c: PostgresConnection, center: Int64, actor: String? = nil, action: String? = nil, limit: Int, logger: Logger
    ) async throws -> [(at: Date, actor: String, action: String, subject: String, before: String?, after: String?)] {
        try await c.all("""
            SELECT at, actor, action, subject, before::text, after::text FROM audit_log
            WHERE center_id = \(center)
              AND (\(actor)::text IS NULL OR position(lower(\(actor)::text) IN lower(actor)) > 0)
              AND (\(action)::text IS NULL OR action = \(action)::text)
            ORDER BY id DESC LIMIT \(limit)
            """, (Date, String, String, String, String?, String?).self, logger: logger).map { (at: $0.0, actor: $0.1, action: $0.2, subject: $0.3, before: $0.4, after: $0.5) }
    }

    /// The kinds of action a center's log holds, for the filter of the back office's journal.
    public static func actions(_ c: PostgresConnection, center: Int64, logger: Logger) async throws -> [String] {
        try await c.all("SELECT DISTINCT action FROM audit_log WHERE center_id = \(center) ORDER BY action", (String.self), logger: logger)
    }
}

import Foundation
import Logging
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailStore

/// The schema can be distributed by center (docs/operations.md, "Beyond one primary"): every table that
/// holds a center's rows is keyed by `center_id` first, and every foreign key between two such tables
/// starts with `center_id` on both sides, so that a center's rows and the rows they point at live on the
/// same node (Citus co-location); the federation's tables (centers, staff, tokens…) have no `center_id`
/// key and become reference tables, copied to every node.
@Suite struct DistributionTests {
    /// Federation tables with a nullable center_id that names a center, not a tenant key: reference tables.
    static let federationTables: Set = ["api_tokens", "staff_invitations"]
    /// What would change before distributing: the audit log keeps federation-wide entries (center_id NULL)
    /// beside the centers'; split them into a reference table and key the rest (center_id, id).
    static let toChange: Set = ["audit_log"]

    @Test func everyTenantTableAndForeignKeyStartsWithTheCenter() async throws {
        try await CenterImportScaleTests.withDatabase { database in
            try await database.migrate()
            try await database.owner.withConnection { c in
                let logger = database.logger
                // Tables with a center_id column, and whether their primary key starts with it.
                let tenant = try await c.all("""
                    SELECT t.relname,
                           coalesce((SELECT a.attname = 'center_id' FROM pg_index i
                                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                                     WHERE i.indrelid = t.oid AND i.indisprimary), false)
                    FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
                    WHERE n.nspname = 'public' AND t.relkind = 'r' AND t.relname <> 'centers'
                      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'center_id' AND NOT a.attisdropped)
                    ORDER BY 1
                    """, (String, Bool).self, logger: logger)
                #expect(tenant.count >= 20, "\(tenant)")
                let unkeyed = tenant.filter { !$0.1 && !Self.federationTables.contains($0.0) && !Self.toChange.contains($0.0) }.map(\.0)
                #expect(unkeyed.isEmpty, "tenant tables whose primary key does not start with center_id: \(unkeyed)")
                // Foreign keys from one tenant table to another: center_id first on both sides.
                let names = tenant.map(\.0).filter { !Self.federationTables.contains($0) }
                let crossing = try await c.all("""
                    SELECT f.conname, src.relname, dst.relname
                    FROM pg_constraint f
                    JOIN pg_class src ON src.oid = f.conrelid
                    JOIN pg_class dst ON dst.oid = f.confrelid
                    JOIN pg_attribute sa ON sa.attrelid = f.conrelid AND sa.attnum = f.conkey[1]
                    JOIN pg_attribute da ON da.attrelid = f.confrelid AND da.attnum = f.confkey[1]
                    WHERE f.contype = 'f' AND src.relname = ANY(\(names)) AND dst.relname = ANY(\(names))
                      AND NOT (sa.attname = 'center_id' AND da.attname = 'center_id')
                    ORDER BY 1
                    """, (String, String, String).self, logger: logger)
                #expect(crossing.isEmpty, "foreign keys between tenant tables that do not start with center_id: \(crossing)")
            }
        }
    }
}

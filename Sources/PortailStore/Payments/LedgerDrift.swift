import Logging
import PostgresNIO

/// What the database keeps of the ledger (each invoice's amount still due, `open_invoices`; each family's
/// sums, `family_totals`) checked against the documents added up again, and written again for a family
/// whose documents were fixed by hand (migration 0046). The owner's work, for `portail ledger`, the restore
/// drill and the tests: it reads every document of the federation, never for a page.
public enum LedgerDrift {
    /// A kept row that differs from the documents, is missing (`kept` nil) or should not be there
    /// (`fromLedger` nil).
    public struct Row: Sendable, Equatable {
        /// "open_invoices" or "family_totals".
        public var keptIn: String
        public var centerID: Int64
        public var familyID: Int64
        /// "invoice 42" or "family".
        public var rowOf: String
        public var kept: String?
        public var fromLedger: String?
    }

    /// Every kept row that disagrees with the ledger, of every center (`center` nil) or of one. For one
    /// center, the view is read in a transaction set to it: the owner's row-level policies then show each
    /// table's rows of that center only, so that its documents alone are added up (filtered after the view's
    /// full joins, every center's would be).
    public static func rows(_ database: Database, center: Int64? = nil) async throws -> [Row] {
        let logger = database.logger
        return try await database.owner.withConnection { c in
            try await Database.transaction(on: c, center: center, logger: logger, access: .readOnly) { c in
                try await c.all("""
                    SELECT kept_in, center_id, family_id, row_of, kept, from_ledger FROM ledger_drift
                    WHERE \(center)::bigint IS NULL OR center_id = \(center)
                    ORDER BY center_id, family_id, kept_in, row_of
                    """, (String, Int64, Int64, String, String?, String?).self, logger: logger)
                    .map { Row(keptIn: $0.0, centerID: $0.1, familyID: $0.2, rowOf: $0.3, kept: $0.4, fromLedger: $0.5) }
            }
        }
    }

    /// Writes a family's kept rows again from its documents, the kept tables locked against writes meanwhile
    /// (`portail_rebuild_ledger_totals`); how many of them differed (0: they agreed, nothing was written);
    /// nil when the center has no such family.
    public static func rebuild(_ database: Database, center: Int64, family: Int64) async throws -> Int? {
        do {
            let differed: Int? = try await database.owner.withConnection { c in
                try await c.first("SELECT portail_rebuild_ledger_totals(\(center), \(family))", (Int.self), logger: database.logger)
            }
            return differed ?? 0
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "P0002" {
            return nil
        }
    }
}

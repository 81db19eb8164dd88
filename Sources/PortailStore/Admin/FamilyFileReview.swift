import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// The staff's side of the family file (issue 15, item 4): the queue of changes to the items the center
/// validates, each accepted or refused with a note (a refused document counts as missing again, and the
/// family is told by e-mail), and the file of any family of the center.
public enum FamilyFileReview {
    public struct Change: Sendable, Encodable {
        public var id: Int64
        public var familyId: Int64
        public var family: String
        public var childId: Int64?
        public var child: String?
        public var item: String
        public var summary: String
        public var changedAt: Date
        public var documentId: Int64?
        public var decision: String?
        public var decidedAt: Date?
        public var decidedBy: String?
        public var note: String
    }

    public enum Decision: String, Sendable, CaseIterable {
        case accepted, refused
    }

    public enum Outcome: Sendable {
        case decided(Change)
        case alreadyDecided(Change)
        case notFound
    }

    static let columns = """
        x.id, x.family_id, f.name, x.child_id, ch.first_name, x.item, x.summary, x.changed_at, x.document_id, x.decision, x.decided_at,
        x.decided_by, x.note
        """
    static let joins = """
        FROM family_file_changes x
        JOIN families f ON f.center_id = x.center_id AND f.id = x.family_id
        LEFT JOIN children ch ON ch.center_id = x.center_id AND ch.id = x.child_id
        """
    typealias Row = (Int64, Int64, String, Int64?, String?, String, String, Date, Int64?, String?, Date?, String?, String)

    static func change(_ r: Row) -> Change {
        Change(id: r.0, familyId: r.1, family: r.2, childId: r.3, child: r.4, item: r.5, summary: r.6, changedAt: r.7, documentId: r.8,
               decision: r.9, decidedAt: r.10, decidedBy: r.11, note: r.12)
    }

    /// The queue (oldest first) or the decided changes (newest first), of the center or of one family.
    public static func changes(
        _ c: PostgresConnection, center: Int64, pending: Bool, family: Int64? = nil, offset: Int = 0, limit: Int = 50, logger: Logger
    ) async throws -> (changes: [Change], total: Int) {
        let rows = try await c.all("""
            SELECT \(unescaped: columns), count(*) OVER ()::int \(unescaped: joins)
            WHERE x.center_id = \(center) AND (x.decision IS NULL) = \(pending) AND (\(family)::bigint IS NULL OR x.family_id = \(family))
            ORDER BY CASE WHEN \(pending) THEN x.changed_at END, x.changed_at DESC, x.id
            OFFSET \(offset) LIMIT \(limit)
            """, (Int64, Int64, String, Int64?, String?, String, String, Date, Int64?, String?, Date?, String?, String, Int).self, logger: logger)
        return (rows.map { change(($0.0, $0.1, $0.2, $0.3, $0.4, $0.5, $0.6, $0.7, $0.8, $0.9, $0.10, $0.11, $0.12)) }, rows.first?.13 ?? 0)
    }

    /// Accepts or refuses a change of the queue. The family's row is taken first, as the family's own
    /// writes do; a document follows the decision; a refusal is e-mailed to the family with its note.
    public static func decide(
        _ c: PostgresConnection, center: Int64, id: Int64, decision: Decision, note: String, actor: String, logger: Logger
    ) async throws -> Outcome {
        guard let family = try await c.first("""
            SELECT family_id FROM family_file_changes WHERE center_id = \(center) AND id = \(id)
            """, (Int64.self), logger: logger) else { return .notFound }
        try await FamilyFile.lockFamily(c, center: center, family: family, logger: logger)
        guard try await c.first("""
            UPDATE family_file_changes SET decision = \(decision.rawValue), decided_at = now(), decided_by = \(actor), note = \(note)
            WHERE center_id = \(center) AND id = \(id) AND decision IS NULL RETURNING id
            """, (Int64.self), logger: logger) != nil else {
            return try await one(c, center: center, id: id, logger: logger).map(Outcome.alreadyDecided) ?? .notFound
        }
        guard let change = try await one(c, center: center, id: id, logger: logger) else { return .notFound }
        if let document = change.documentId {
            try await c.run("""
                UPDATE family_documents SET state = \(decision.rawValue) WHERE center_id = \(center) AND id = \(document) AND state = 'pending'
                """, logger: logger)
        }
        // A family that signed up: approved, it may book; refused, its account is closed.
        let signUp = change.item == "sign_up"
        if signUp && decision == .accepted, let email = try await c.first("""
            UPDATE families SET approved_at = now() WHERE center_id = \(center) AND id = \(family) RETURNING email
            """, (String.self), logger: logger) {
            try await Outbox.enqueue(c, center: center, to: email, subject: "Votre inscription au portail famille est validée", body: """
                Bonjour,

                L'accueil de loisirs a validé l'inscription de votre famille : vous pouvez réserver dès que votre dossier est complet.
                """, logger: logger)
        }
        try await AuditLog.record(c, center: center, actor: actor, action: "family_file.\(decision.rawValue)", subject: "famille \(family)",
                                  after: ["change": String(id), "note": note], logger: logger)
        if decision == .refused, signUp, let email = try await c.first("""
            SELECT email FROM families WHERE center_id = \(center) AND id = \(family) AND erased_at IS NULL
            """, (String.self), logger: logger) {
            // Refused, the account is erased (its address is free again: whoever owns it may sign up or be
            // invited by the staff); one that booked or paid in between is closed instead.
            do {
                _ = try await FamilyPrivacy.erase(c, center: center, family: family, today: LocalDate(Date(), in: TimeZone(identifier: "Europe/Paris")!),
                                                  actor: actor, logger: logger)
            } catch is FamilyPrivacy.Refusal {
                try await c.run("UPDATE families SET state = 'deactivated' WHERE center_id = \(center) AND id = \(family)", logger: logger)
                try await AccountRepository.voidLinksAndSessions(c, center: center, family: family, logger: logger)
            }
            try await Outbox.enqueue(c, center: center, to: email, subject: "Votre inscription au portail famille", body: """
                Bonjour,

                L'accueil de loisirs n'a pas pu accepter l'inscription de votre famille au portail.
                \(note.isEmpty ? "" : "\nMotif : \(note)\n")
                Pour toute question, contactez l'accueil.
                """, logger: logger)
        } else if decision == .refused, let email = try await c.first("""
            SELECT email FROM families WHERE center_id = \(center) AND id = \(family) AND state = 'active' AND erased_at IS NULL
            """, (String.self), logger: logger) {
            try await Outbox.enqueue(c, center: center, to: email, subject: "Votre dossier famille : une modification à reprendre", body: """
                Bonjour,

                L'équipe de l'accueil de loisirs n'a pas pu valider cette modification de votre dossier :
                \(change.summary)
                \(note.isEmpty ? "" : "\nMotif : \(note)\n")
                Connectez-vous au portail (Mon dossier) pour la reprendre.
                """, logger: logger)
        }
        return .decided(change)
    }

    static func one(_ c: PostgresConnection, center: Int64, id: Int64, logger: Logger) async throws -> Change? {
        try await c.first("""
            SELECT \(unescaped: columns) \(unescaped: joins) WHERE x.center_id = \(center) AND x.id = \(id)
            """, Row.self, logger: logger).map(change)
    }
}

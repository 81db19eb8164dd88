import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// The family file (dossier famille, issue 15, item 4) as parents keep it: contacts, the other guardians
/// and the people allowed to pick the children up, each child's health form and authorisations, and
/// documents. A change to an item the center validates goes to its staff's queue (`family_file_changes`);
/// the audit log names what changed, never the health details themselves.
public enum FamilyFile {
    public enum PersonKind: String, Sendable { case guardian, pickup }

    public struct Person: Sendable {
        public var id: Int64
        public var kind: PersonKind
        public var firstName: String
        public var lastName: String
        public var relation: String
        public var email: String
        public var phone: String
        public init(id: Int64 = 0, kind: PersonKind, firstName: String, lastName: String, relation: String, email: String, phone: String) {
            self.id = id
            self.kind = kind
            self.firstName = firstName
            self.lastName = lastName
            self.relation = relation
            self.email = email
            self.phone = phone
        }
    }

    public struct Contacts: Sendable, Equatable {
        public var addressLines: [String]
        public var postcode: String
        public var city: String
        public var phone: String
        public init(addressLines: [String], postcode: String, city: String, phone: String) {
            self.addressLines = addressLines
            self.postcode = postcode
            self.city = city
            self.phone = phone
        }
        public var done: Bool { !addressLines.isEmpty && !postcode.isEmpty && !city.isEmpty && !phone.isEmpty }
    }

    /// A child's health form and authorisations (nil: not answered yet).
    public struct ChildFile: Sendable, Equatable {
        public var doctor = ""
        public var doctorPhone = ""
        public var allergies = ""
        public var pai = false
        public var paiDetails = ""
        public var diet = ""
        public var vaccinationsOK = false
        public var notes = ""
        public var imageRights: Bool?
        public var outings: Bool?
        public var goesHomeAlone: Bool?
        public init() {}

        /// The health fields, by their French name, to say which ones changed.
        var healthFields: [(String, String)] {
            [("médecin", doctor), ("téléphone du médecin", doctorPhone), ("allergies", allergies), ("PAI", pai ? "oui" : "non"),
             ("précisions du PAI", paiDetails), ("régime", diet), ("vaccinations", vaccinationsOK ? "oui" : "non"), ("autres informations", notes)]
        }
        var authorisationFields: [(String, String)] {
            [("droit à l'image", imageRights.map { $0 ? "oui" : "non" } ?? ""), ("sorties", outings.map { $0 ? "oui" : "non" } ?? ""),
             ("rentrer seul", goesHomeAlone.map { $0 ? "oui" : "non" } ?? "")]
        }
    }

    public struct Child: Sendable {
        public var id: Int64
        public var firstName: String
        public var file: ChildFile
        public var healthSavedAt: Date?
        public var authorisationsDone: Bool { file.imageRights != nil && file.outings != nil && file.goesHomeAlone != nil }
    }

    public struct Document: Sendable {
        public var id: Int64
        public var kind: FamilyFileRules.DocumentKind
        public var childID: Int64?
        public var filename: String
        public var contentType: String
        public var size: Int
        /// received (no validation asked), pending, accepted, refused.
        public var state: String
        public var uploadedAt: Date
    }

    public struct View: Sendable {
        public var email: String
        public var contacts: Contacts
        public var people: [Person]
        public var children: [Child]
        public var documents: [Document]
        public var confirmedAt: Date?
        /// The family's changes still waiting for the staff.
        public var pending: Int
        /// Created by the family itself (self sign-up), and approved by the staff.
        public var signedUpAt: Date?
        public var approvedAt: Date?

        public var snapshot: FamilyFileSnapshot {
            var snapshot = FamilyFileSnapshot(
                contactsDone: contacts.done, guardians: people.filter { $0.kind == .guardian }.count, pickup: people.filter { $0.kind == .pickup }.count,
                children: children.map { .init(id: $0.id, firstName: $0.firstName, healthDone: $0.healthSavedAt != nil, authorisationsDone: $0.authorisationsDone) },
                documents: documents.map { .init(kind: $0.kind, childID: $0.childID, refused: $0.state == "refused") },
                confirmedAt: confirmedAt
            )
            snapshot.awaitingApproval = signedUpAt != nil && approvedAt == nil
            return snapshot
        }
    }

    /// People of each kind a family may list; documents it may hold at once.
    public static let peoplePerKind = 10
    public static let documentsPerFamily = 20
    /// The largest document, in bytes.
    public static let maxDocumentSize = 5 * 1024 * 1024

    public enum Refusal: Error, Sendable, Equatable {
        case tooManyPeople
        case tooManyDocuments
        case unknownChild
    }

    /// The whole file, in five queries.
    public static func load(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> View? {
        guard let (email, lines, postcode, city, phone, confirmed, signedUp, approved) = try await c.first("""
            SELECT email, address_lines, postcode, city, phone, file_confirmed_at, signed_up_at, approved_at
            FROM families WHERE center_id = \(center) AND id = \(family)
            """, (String, [String], String, String, String, Date?, Date?, Date?).self, logger: logger) else { return nil }
        let people = try await c.all("""
            SELECT id, kind, first_name, last_name, relation, email, phone FROM guardians
            WHERE center_id = \(center) AND family_id = \(family) ORDER BY kind, id
            """, (Int64, String, String, String, String, String, String).self, logger: logger).map {
            Person(id: $0.0, kind: PersonKind(rawValue: $0.1) ?? .guardian, firstName: $0.2, lastName: $0.3, relation: $0.4, email: $0.5, phone: $0.6)
        }
        let children = try await c.all("""
            SELECT ch.id, ch.first_name, coalesce(f.doctor, ''), coalesce(f.doctor_phone, ''), coalesce(f.allergies, ''), coalesce(f.pai, false),
                   coalesce(f.pai_details, ''), coalesce(f.diet, ''), coalesce(f.vaccinations_ok, false), coalesce(f.notes, ''), f.health_saved_at,
                   f.image_rights, f.outings, f.goes_home_alone
            FROM children ch LEFT JOIN child_files f ON f.center_id = ch.center_id AND f.child_id = ch.id
            WHERE ch.center_id = \(center) AND ch.family_id = \(family) ORDER BY ch.birth_date, ch.id
            """, (Int64, String, String, String, String, Bool, String, String, Bool, String, Date?, Bool?, Bool?, Bool?).self, logger: logger).map { row in
            var file = ChildFile()
            (file.doctor, file.doctorPhone, file.allergies, file.pai, file.paiDetails, file.diet, file.vaccinationsOK, file.notes) =
                (row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9)
            (file.imageRights, file.outings, file.goesHomeAlone) = (row.11, row.12, row.13)
            return Child(id: row.0, firstName: row.1, file: file, healthSavedAt: row.10)
        }
        let documents = try await c.all("""
            SELECT id, kind, child_id, filename, content_type, size, state, uploaded_at FROM family_documents
            WHERE center_id = \(center) AND family_id = \(family) AND state <> 'removed' ORDER BY id
            """, (Int64, String, Int64?, String, String, Int, String, Date).self, logger: logger).map {
            Document(id: $0.0, kind: FamilyFileRules.DocumentKind(rawValue: $0.1) ?? .insurance, childID: $0.2, filename: $0.3, contentType: $0.4,
                     size: $0.5, state: $0.6, uploadedAt: $0.7)
        }
        let pending = try await c.first("""
            SELECT count(*)::int FROM family_file_changes WHERE center_id = \(center) AND family_id = \(family) AND decision IS NULL
            """, (Int.self), logger: logger) ?? 0
        return View(email: email, contacts: Contacts(addressLines: lines, postcode: postcode, city: city, phone: phone), people: people,
                    children: children, documents: documents, confirmedAt: confirmed, pending: pending, signedUpAt: signedUp, approvedAt: approved)
    }

    /// Whether the family may book now under `rules`, and what its file lacks.
    public static func gaps(_ c: PostgresConnection, center: Int64, family: Int64, rules: FamilyFileRules?, now: Date, logger: Logger) async throws -> [FamilyFileGap] {
        guard let rules, rules.asksAnything,
              let view = try await load(c, center: center, family: family, logger: logger) else { return [] }
        return rules.gaps(view.snapshot, now: now)
    }

    // MARK: writing (each takes the family's row first, as every writer of the family does)

    public static func saveContacts(_ c: PostgresConnection, center: Int64, family: Int64, _ contacts: Contacts, rules: FamilyFileRules?, logger: Logger) async throws {
        guard let before = try await lock(c, center: center, family: family, logger: logger)?.contacts, before != contacts else { return }
        try await c.run("""
            UPDATE families SET address_lines = \(contacts.addressLines), postcode = \(contacts.postcode), city = \(contacts.city), phone = \(contacts.phone)
            WHERE center_id = \(center) AND id = \(family)
            """, logger: logger)
        var changed: [String] = []
        if before.addressLines != contacts.addressLines { changed.append("adresse") }
        if before.postcode != contacts.postcode || before.city != contacts.city { changed.append("code postal et commune") }
        if before.phone != contacts.phone { changed.append("téléphone") }
        try await changedItem(c, center: center, family: family, item: .contacts, summary: "Coordonnées : " + changed.joined(separator: ", "),
                              rules: rules, logger: logger)
    }

    @discardableResult
    public static func addPerson(_ c: PostgresConnection, center: Int64, family: Int64, _ person: Person, rules: FamilyFileRules?, logger: Logger) async throws -> Int64 {
        _ = try await lock(c, center: center, family: family, logger: logger)
        let count = try await c.first("""
            SELECT count(*)::int FROM guardians WHERE center_id = \(center) AND family_id = \(family) AND kind = \(person.kind.rawValue)
            """, (Int.self), logger: logger) ?? 0
        guard count < peoplePerKind else { throw Refusal.tooManyPeople }
        let id = try await c.first("""
            INSERT INTO guardians (center_id, family_id, kind, first_name, last_name, relation, email, phone)
            VALUES (\(center), \(family), \(person.kind.rawValue), \(person.firstName), \(person.lastName), \(person.relation), \(person.email), \(person.phone))
            RETURNING id
            """, (Int64.self), logger: logger)!
        let what = person.kind == .guardian ? "Responsable ajouté" : "Personne autorisée ajoutée"
        try await changedItem(c, center: center, family: family, item: person.kind == .guardian ? .guardians : .pickup,
                              summary: "\(what) : \(person.firstName) \(person.lastName) (\(person.relation))", rules: rules, logger: logger)
        return id
    }

    /// False when the person is not one of the family's.
    public static func removePerson(_ c: PostgresConnection, center: Int64, family: Int64, id: Int64, rules: FamilyFileRules?, logger: Logger) async throws -> Bool {
        _ = try await lock(c, center: center, family: family, logger: logger)
        guard let (kind, first, last) = try await c.first("""
            DELETE FROM guardians WHERE center_id = \(center) AND family_id = \(family) AND id = \(id) RETURNING kind, first_name, last_name
            """, (String, String, String).self, logger: logger) else { return false }
        let guardian = kind == PersonKind.guardian.rawValue
        try await changedItem(c, center: center, family: family, item: guardian ? .guardians : .pickup,
                              summary: "\(guardian ? "Responsable retiré" : "Personne autorisée retirée") : \(first) \(last)", rules: rules, logger: logger)
        return true
    }

    /// Saves a child's health form and authorisations; false when the child is not the family's.
    public static func saveChild(_ c: PostgresConnection, center: Int64, family: Int64, child: Int64, _ file: ChildFile, rules: FamilyFileRules?, logger: Logger) async throws -> Bool {
        guard let view = try await lock(c, center: center, family: family, logger: logger),
              let current = view.children.first(where: { $0.id == child }) else { return false }
        try await c.run("""
            INSERT INTO child_files (center_id, child_id, doctor, doctor_phone, allergies, pai, pai_details, diet, vaccinations_ok, notes,
                                     health_saved_at, image_rights, outings, goes_home_alone, updated_at)
            VALUES (\(center), \(child), \(file.doctor), \(file.doctorPhone), \(file.allergies), \(file.pai), \(file.paiDetails), \(file.diet),
                    \(file.vaccinationsOK), \(file.notes), now(), \(file.imageRights), \(file.outings), \(file.goesHomeAlone), now())
            ON CONFLICT (center_id, child_id) DO UPDATE SET doctor = excluded.doctor, doctor_phone = excluded.doctor_phone,
                allergies = excluded.allergies, pai = excluded.pai, pai_details = excluded.pai_details, diet = excluded.diet,
                vaccinations_ok = excluded.vaccinations_ok, notes = excluded.notes, health_saved_at = now(),
                image_rights = excluded.image_rights, outings = excluded.outings, goes_home_alone = excluded.goes_home_alone, updated_at = now()
            """, logger: logger)
        let health = zip(current.file.healthFields, file.healthFields).filter { $0.0.1 != $0.1.1 }.map(\.0.0)
        let authorisations = zip(current.file.authorisationFields, file.authorisationFields).filter { $0.0.1 != $0.1.1 }.map(\.0.0)
        if !health.isEmpty || current.healthSavedAt == nil {
            try await changedItem(c, center: center, family: family, child: child, item: .health,
                                  summary: "Fiche sanitaire de \(current.firstName)"
                                      + (current.healthSavedAt == nil ? " remplie" : " : " + health.joined(separator: ", ")),
                                  rules: rules, logger: logger)
        }
        if !authorisations.isEmpty {
            try await changedItem(c, center: center, family: family, child: child, item: .authorisations,
                                  summary: "Autorisations de \(current.firstName) : " + zip(file.authorisationFields, current.file.authorisationFields)
                                      .filter { $0.0.1 != $0.1.1 }.map { "\($0.0.0) \($0.0.1)" }.joined(separator: ", "),
                                  rules: rules, logger: logger)
        }
        return true
    }

    /// Stores a document; the content type comes from its first bytes, never from the browser.
    public static func addDocument(
        _ c: PostgresConnection, center: Int64, family: Int64, kind: FamilyFileRules.DocumentKind, child: Int64?, filename: String,
        contentType: String, data: [UInt8], rules: FamilyFileRules?, logger: Logger
    ) async throws -> Int64 {
        guard let view = try await lock(c, center: center, family: family, logger: logger) else { throw Refusal.unknownChild }
        let childName: String?
        if let child {
            guard let found = view.children.first(where: { $0.id == child }) else { throw Refusal.unknownChild }
            childName = found.firstName
        } else {
            childName = nil
        }
        guard view.documents.count < documentsPerFamily else { throw Refusal.tooManyDocuments }
        let validated = rules?.validation.contains(.documents) == true
        let id = try await c.first("""
            INSERT INTO family_documents (center_id, family_id, child_id, kind, filename, content_type, size, content, state)
            VALUES (\(center), \(family), \(child), \(kind.rawValue), \(filename), \(contentType), \(data.count), \(ByteBuffer(bytes: data)),
                    \(validated ? "pending" : "received"))
            RETURNING id
            """, (Int64.self), logger: logger)!
        try await changedItem(c, center: center, family: family, child: child, document: id, item: .documents,
                              summary: "Document déposé : \(documentLabel(kind))\(childName.map { " de \($0)" } ?? "") (\(filename))", rules: rules, logger: logger)
        return id
    }

    /// One of the family's documents, to show it back to the family.
    public static func document(_ c: PostgresConnection, center: Int64, family: Int64, id: Int64, logger: Logger) async throws -> (filename: String, contentType: String, data: ByteBuffer)? {
        try await c.first("""
            SELECT filename, content_type, content FROM family_documents
            WHERE center_id = \(center) AND family_id = \(family) AND id = \(id) AND state <> 'removed'
            """, (String, String, ByteBuffer).self, logger: logger).map { (filename: $0.0, contentType: $0.1, data: $0.2) }
    }

    /// Takes a document out of the file (its content is erased); false when it is not one of the family's.
    public static func removeDocument(_ c: PostgresConnection, center: Int64, family: Int64, id: Int64, logger: Logger) async throws -> Bool {
        _ = try await lock(c, center: center, family: family, logger: logger)
        guard try await c.first("""
            UPDATE family_documents SET state = 'removed', content = ''::bytea
            WHERE center_id = \(center) AND family_id = \(family) AND id = \(id) AND state <> 'removed' RETURNING id
            """, (Int64.self), logger: logger) != nil else { return false }
        // A removed document no longer waits for the staff.
        try await c.run("""
            UPDATE family_file_changes SET decision = 'refused', decided_at = now(), decided_by = 'famille', note = 'retiré par la famille'
            WHERE center_id = \(center) AND document_id = \(id) AND decision IS NULL
            """, logger: logger)
        try await AuditLog.record(c, center: center, actor: "famille \(family)", action: "family_file.document_removed", subject: "famille \(family)",
                                  after: ["document": String(id)], logger: logger)
        return true
    }

    /// "Je confirme que mon dossier est à jour".
    public static func confirm(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws {
        try await c.run("UPDATE families SET file_confirmed_at = now() WHERE center_id = \(center) AND id = \(family)", logger: logger)
        try await AuditLog.record(c, center: center, actor: "famille \(family)", action: "family_file.confirmed", subject: "famille \(family)",
                                  after: ["confirmed": "true"], logger: logger)
    }

    public static func documentLabel(_ kind: FamilyFileRules.DocumentKind) -> String {
        switch kind {
        case .vaccinations: "carnet de vaccination"
        case .insurance: "attestation d'assurance"
        case .caf: "attestation CAF (quotient familial)"
        }
    }

    // MARK: helpers

    private static func lock(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> View? {
        try await lockFamily(c, center: center, family: family, logger: logger)
        return try await load(c, center: center, family: family, logger: logger)
    }

    /// Takes the family's row until the commit for a write to its file, its children, its links or its
    /// staff queue. NO KEY: those writers wait for one another (and for payments' FOR UPDATE), while
    /// bookings still insert rows that point at the family (a foreign key's check takes KEY SHARE).
    public static func lockFamily(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws {
        try await c.run("SELECT 1 FROM families WHERE center_id = \(center) AND id = \(family) FOR NO KEY UPDATE", logger: logger)
    }

    /// The audit log's line, and the staff's queue when the center validates this item.
    private static func changedItem(
        _ c: PostgresConnection, center: Int64, family: Int64, child: Int64? = nil, document: Int64? = nil, item: FamilyFileRules.Item,
        summary: String, rules: FamilyFileRules?, logger: Logger
    ) async throws {
        if rules?.validation.contains(item) == true {
            try await c.run("""
                INSERT INTO family_file_changes (center_id, family_id, child_id, document_id, item, summary)
                VALUES (\(center), \(family), \(child), \(document), \(item.rawValue), \(summary))
                """, logger: logger)
        }
        // The audit log keeps the kind of change and whose, not names, file names or health words (the
        // queue's row holds the summary, and an erasure empties it).
        try await AuditLog.record(c, center: center, actor: "famille \(family)", action: "family_file.\(item.rawValue)", subject: "famille \(family)",
                                  after: ["child": child.map(String.init) ?? "", "document": document.map(String.init) ?? ""], logger: logger)
    }
}

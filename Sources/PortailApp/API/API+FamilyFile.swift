import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The family file through the admin API (issue 15, item 4): a family's file, its documents, and the
/// queue of changes the center validates, each accepted or refused by any staff member of the center.
extension PortailRoutes {
    struct FamilyFileBody: Encodable {
        struct Person: Encodable { let id: Int64; let kind: String; let firstName: String; let lastName: String; let relation: String; let email: String; let phone: String }
        struct Child: Encodable {
            let id: Int64; let firstName: String; let healthSavedAt: Date?
            let doctor: String; let doctorPhone: String; let allergies: String; let pai: Bool; let paiDetails: String; let diet: String
            let vaccinationsUpToDate: Bool; let notes: String; let imageRights: Bool?; let outings: Bool?; let goesHomeAlone: Bool?
        }
        struct Document: Encodable { let id: Int64; let kind: String; let childId: Int64?; let filename: String; let contentType: String; let size: Int; let state: String; let uploadedAt: Date }
        let addressLines: [String]; let postcode: String; let city: String; let phone: String
        let people: [Person]; let children: [Child]; let documents: [Document]
        let confirmedAt: Date?; let pendingChanges: Int; let missing: [String]

        init(_ view: FamilyFile.View, missing: [FamilyFileGap]) {
            addressLines = view.contacts.addressLines; postcode = view.contacts.postcode; city = view.contacts.city; phone = view.contacts.phone
            people = view.people.map { Person(id: $0.id, kind: $0.kind.rawValue, firstName: $0.firstName, lastName: $0.lastName, relation: $0.relation, email: $0.email, phone: $0.phone) }
            children = view.children.map { c in
                Child(id: c.id, firstName: c.firstName, healthSavedAt: c.healthSavedAt, doctor: c.file.doctor, doctorPhone: c.file.doctorPhone,
                      allergies: c.file.allergies, pai: c.file.pai, paiDetails: c.file.paiDetails, diet: c.file.diet, vaccinationsUpToDate: c.file.vaccinationsOK,
                      notes: c.file.notes, imageRights: c.file.imageRights, outings: c.file.outings, goesHomeAlone: c.file.goesHomeAlone)
            }
            documents = view.documents.map { Document(id: $0.id, kind: $0.kind.rawValue, childId: $0.childID, filename: $0.filename, contentType: $0.contentType, size: $0.size, state: $0.state, uploadedAt: $0.uploadedAt) }
            confirmedAt = view.confirmedAt; pendingChanges = view.pending; self.missing = missing.map(FamilyFileModel.words)
        }
    }

    struct FamilyFileDecision: Decodable {
        let decision: String
        let note: String?
    }

    func addFamilyFileAPIRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/centers/:code/family-file/changes") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let query = request.uri.queryParameters
                let (page, perPage) = try Self.paging(request)
                let pending: Bool
                switch query["state"].map(String.init) ?? "pending" {
                case "pending": pending = true
                case "decided": pending = false
                default: throw Self.invalid("Invalid state", "state is pending (the queue, oldest first) or decided (newest first).")
                }
                let family = try Self.identifier(query["family_id"], "family_id")
                let (changes, total) = try await database.withCenter(record.id) { c in
                    try await FamilyFileReview.changes(c, center: record.id, pending: pending, family: family, offset: (page - 1) * perPage, limit: perPage,
                                                       logger: database.logger)
                }
                struct Page: Encodable { let changes: [FamilyFileReview.Change]; let page: Int; let perPage: Int; let total: Int }
                return try API.json(Page(changes: changes, page: page, perPage: perPage, total: total))
            }
        }

        router.post("/api/centers/:code/family-file/changes/:change") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                guard let id = context.parameters.get("change").flatMap({ Int64($0) }) else { throw APIProblem.notFound("Change ids are whole numbers.") }
                var request = request
                let body = try await Self.decode(FamilyFileDecision.self, &request)
                guard let decision = FamilyFileReview.Decision(rawValue: body.decision) else {
                    throw Self.invalid("Invalid decision", "decision is accepted or refused.")
                }
                let note = (body.note ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                guard note.count <= 500 else { throw Self.invalid("Note too long", "note holds 500 characters at most.") }
                if decision == .refused && note.isEmpty {
                    throw Self.invalid("Note required", "A refusal says why in note: the family reads it in the e-mail it receives.")
                }
                switch try await database.withCenter(record.id, { c in
                    try await FamilyFileReview.decide(c, center: record.id, id: id, decision: decision, note: note, actor: "staff:\(staff.email)",
                                                      logger: database.logger)
                }) {
                case .decided(let change): return try API.json(change)
                case .alreadyDecided(let change):
                    throw APIProblem(status: .conflict, title: "Already decided", detail: "Change \(id) was \(change.decision ?? "decided") by \(change.decidedBy ?? "someone").")
                case .notFound: throw APIProblem.notFound("There is no change \(id) of a family file at this center.")
                }
            }
        }

        router.get("/api/centers/:code/families/:family/file") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let id = try familyID(context)
                guard let (view, missing) = try await database.withCenter(record.id, { c -> (FamilyFile.View, [FamilyFileGap])? in
                    guard let view = try await FamilyFile.load(c, center: record.id, family: id, logger: database.logger) else { return nil }
                    return (view, record.center.familyFile?.gaps(view.snapshot, now: Date()) ?? [])
                }) else { throw APIProblem.notFound("There is no family \(id) at this center.") }
                return try API.json(FamilyFileBody(view, missing: missing))
            }
        }

        router.get("/api/centers/:code/families/:family/documents/:document") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let family = try familyID(context)
                guard let id = context.parameters.get("document").flatMap({ Int64($0) }),
                      let document = try await database.withCenter(record.id, { c in
                          try await FamilyFile.document(c, center: record.id, family: family, id: id, logger: database.logger)
                      }) else { throw APIProblem.notFound("This family has no document with this id.") }
                return Pages.familyDocument(document.data, contentType: document.contentType, id: id)
            }
        }
    }
}

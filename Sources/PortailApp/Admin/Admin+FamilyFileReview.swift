import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The family file in the back office (issue 15, item 4): "Dossiers à vérifier" (the queue of changes the
/// center validates, each accepted or refused with a note e-mailed to the family), a family's whole file
/// read-only, and its documents. Any staff member of the center decides, as through the admin API.
extension PortailRoutes {
    struct AdminFileQueueModel {
        struct Row {
            let id: Int64
            let family: String
            let familyLink: String
            let child: String?
            let summary: String
            let at: String
            let documentLink: String?
            let decision: String?
            let note: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let pending: [Row]
        let hasPending: Bool
        let decided: [Row]
        let hasDecided: Bool
        let notice: String?
        let error: String?
        let validated: String
    }

    struct AdminFamilyFileModel {
        struct Line {
            let label: String
            let value: String
        }
        struct Child {
            let name: String
            let lines: [Line]
        }
        struct Document {
            let label: String
            let filename: String
            let state: String
            let link: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let family: Int64
        let name: String
        let contacts: [Line]
        let people: [Line]
        let hasPeople: Bool
        let children: [Child]
        let documents: [Document]
        let hasDocuments: Bool
        let missing: [String]
        let hasMissing: Bool
        let confirmed: String
    }

    func addAdminFamilyFileReviewRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/centres/:code/dossiers", use: admin { admin, context, request in
            let (_, record, _) = try await staffCenter(admin, context: context)
            let notice = request.uri.queryParameters["etat"].flatMap { ["accepte": "La modification est acceptée.", "refuse": "La modification est refusée ; la famille est prévenue par e-mail."][String($0)] }
            return try await fileQueuePage(admin, record: record, notice: notice, context: context)
        })

        router.post("/admin/centres/:code/dossiers/:change", use: admin { admin, context, _ in
            let (session, record, _) = try await staffCenter(admin, context: context)
            guard let id = context.parameters.get("change").flatMap({ Int64($0) }) else { throw HTTPError(.notFound) }
            guard let decision = FamilyFileReview.Decision(rawValue: admin.form["decision"] ?? "") else {
                return try await fileQueuePage(admin, record: record, error: "Choisissez d'accepter ou de refuser.", context: context, status: .unprocessableContent)
            }
            let note = Self.field(admin.form["note"], limit: 500)
            if decision == .refused && note.isEmpty {
                return try await fileQueuePage(admin, record: record, error: "Pour refuser, dites pourquoi : la famille lit ce motif dans l'e-mail qu'elle reçoit.",
                                               context: context, status: .unprocessableContent)
            }
            switch try await database.withCenter(record.id, { c in
                try await FamilyFileReview.decide(c, center: record.id, id: id, decision: decision, note: note, actor: "staff:\(session.email)", logger: context.logger)
            }) {
            case .decided: return Pages.redirect("/admin/centres/\(record.center.code)/dossiers?etat=\(decision == .accepted ? "accepte" : "refuse")")
            case .alreadyDecided(let change):
                return try await fileQueuePage(admin, record: record, error: "Cette modification a déjà été traitée par \(change.decidedBy ?? "quelqu'un").",
                                               context: context, status: .conflict)
            case .notFound: throw HTTPError(.notFound)
            }
        })

        router.get("/admin/centres/:code/familles/:family/dossier", use: admin { admin, context, _ in
            let (_, record, _) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            guard let view = try await database.withCenter(record.id, { c in
                try await FamilyFile.load(c, center: record.id, family: id, logger: context.logger)
            }), let name = try await database.withCenter(record.id, { c in
                try await FamilyAdministration.detail(c, center: record.id, family: id, logger: context.logger)?.name
            }) else { throw HTTPError(.notFound) }
            let zone = record.center.zone
            func yesNo(_ value: Bool?) -> String { value.map { $0 ? "oui" : "non" } ?? "pas de réponse" }
            let names = Dictionary(uniqueKeysWithValues: view.children.map { ($0.id, $0.firstName) })
            let missing = (record.center.familyFile?.gaps(view.snapshot, now: Date()) ?? []).map(FamilyFileModel.words)
            return adminPage("admin-family-file", AdminFamilyFileModel(
                page: admin.chrome, code: record.center.code, centerName: record.center.name, family: id, name: name,
                contacts: [.init(label: "Adresse", value: (view.contacts.addressLines + ["\(view.contacts.postcode) \(view.contacts.city)"]).joined(separator: ", ")),
                           .init(label: "Téléphone", value: view.contacts.phone), .init(label: "E-mail", value: view.email)],
                people: view.people.map { .init(label: ($0.kind == .guardian ? "Responsable" : "Autorisé(e) à venir chercher") + " – \($0.relation)",
                                                value: "\($0.firstName) \($0.lastName), \([$0.phone, $0.email].filter { !$0.isEmpty }.joined(separator: ", "))") },
                hasPeople: !view.people.isEmpty,
                children: view.children.map { child in
                    let f = child.file
                    return .init(name: child.firstName, lines: [
                        .init(label: "Fiche sanitaire", value: child.healthSavedAt.map { "remplie le \(French.dateTime($0, in: zone))" } ?? "pas remplie"),
                        .init(label: "Médecin", value: [f.doctor, f.doctorPhone].filter { !$0.isEmpty }.joined(separator: ", ")),
                        .init(label: "Allergies", value: f.allergies), .init(label: "PAI", value: f.pai ? "oui – \(f.paiDetails)" : "non"),
                        .init(label: "Régime", value: f.diet), .init(label: "Vaccinations à jour", value: f.vaccinationsOK ? "oui" : "non"),
                        .init(label: "Autres informations", value: f.notes), .init(label: "Droit à l'image", value: yesNo(f.imageRights)),
                        .init(label: "Sorties", value: yesNo(f.outings)), .init(label: "Rentre seul(e)", value: yesNo(f.goesHomeAlone)),
                    ])
                },
                documents: view.documents.map { d in
                    .init(label: FamilyFile.documentLabel(d.kind).capitalizedFirst + (d.childID.flatMap { names[$0] }.map { " de \($0)" } ?? ""),
                          filename: d.filename, state: FamilyFileModel.documentState[d.state] ?? d.state,
                          link: "/admin/centres/\(record.center.code)/familles/\(id)/documents/\(d.id)")
                },
                hasDocuments: !view.documents.isEmpty, missing: missing, hasMissing: !missing.isEmpty,
                confirmed: view.confirmedAt.map { "Confirmé à jour par la famille le \(French.dateTime($0, in: zone))." } ?? "Jamais confirmé par la famille."
            ), admin)
        })

        router.get("/admin/centres/:code/familles/:family/documents/:document", use: admin { admin, context, _ in
            let (_, record, _) = try await staffCenter(admin, context: context)
            let family = try familyParameter(context)
            guard let id = context.parameters.get("document").flatMap({ Int64($0) }),
                  let document = try await database.withCenter(record.id, { c in
                      try await FamilyFile.document(c, center: record.id, family: family, id: id, logger: context.logger)
                  }) else { throw HTTPError(.notFound) }
            return Pages.familyDocument(document.data, contentType: document.contentType, id: id)
        })
    }

    func fileQueuePage(_ admin: AdminRequest, record: CenterRecord, notice: String? = nil, error: String? = nil, context: AppRequestContext,
                       status: HTTPResponse.Status = .ok) async throws -> Response {
        let (pending, decided) = try await database.withCenter(record.id) { c in
            (try await FamilyFileReview.changes(c, center: record.id, pending: true, limit: 200, logger: context.logger).changes,
             try await FamilyFileReview.changes(c, center: record.id, pending: false, limit: 20, logger: context.logger).changes)
        }
        let code = record.center.code, zone = record.center.zone
        func row(_ change: FamilyFileReview.Change) -> AdminFileQueueModel.Row {
            .init(id: change.id, family: change.family, familyLink: "/admin/centres/\(code)/familles/\(change.familyId)/dossier", child: change.child,
                  summary: change.summary, at: French.dateTime(change.decidedAt ?? change.changedAt, in: zone),
                  documentLink: change.documentId.map { "/admin/centres/\(code)/familles/\(change.familyId)/documents/\($0)" },
                  decision: change.decision.map { ($0 == "accepted" ? "acceptée" : "refusée") + " par \(change.decidedBy ?? "")" }, note: change.note)
        }
        let validated = record.center.familyFile?.validation.map(FamilyFileModel.itemWords) ?? []
        return adminPage("admin-family-file-queue", AdminFileQueueModel(
            page: admin.chrome, code: code, centerName: record.center.name, pending: pending.map(row), hasPending: !pending.isEmpty,
            decided: decided.map(row), hasDecided: !decided.isEmpty, notice: notice, error: error,
            validated: validated.isEmpty ? "Cet accueil ne demande de vérifier aucune modification (family_file.validation de son fichier)."
                : "Cet accueil vérifie les modifications de : " + validated.joined(separator: ", ") + "."
        ), admin, status: status)
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore

extension PortailRoutes {
    /// "Mon dossier" (issue 15, item 4): the family keeps its file itself — contacts, the other guardians
    /// and the people allowed to pick the children up, each child's health form and authorisations,
    /// documents — and confirms it is up to date. What the center requires (`family_file:` in its file)
    /// is asked before the booking grid.
    func addFamilyFileRoutes(to router: Router<AppRequestContext>) {
        router.get("/dossier") { request, context in
            let notice = request.uri.queryParameters["ok"].flatMap { FamilyFileModel.notices[String($0)] }
            return try await familyFilePage(context, notice: notice)
        }

        router.post("/dossier/coordonnees") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            let form = FamilyFileForms.Contacts(context.form)
            guard form.errors.isEmpty, let contacts = form.value else {
                return try await familyFilePage(context, errors: form.errors, contactsForm: form, status: .unprocessableContent)
            }
            try await database.withCenter(record.id) { c in
                try await FamilyFile.saveContacts(c, center: record.id, family: family, contacts, rules: record.center.familyFile, logger: context.logger)
            }
            return Pages.redirect("\(context.basePath)/dossier?ok=coordonnees#coordonnees")
        }

        router.post("/dossier/personnes") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            let form = FamilyFileForms.Person(context.form)
            guard form.errors.isEmpty, let person = form.value else {
                return try await familyFilePage(context, errors: form.errors, personForm: form, status: .unprocessableContent)
            }
            do {
                try await database.withCenter(record.id) { c in
                    try await FamilyFile.addPerson(c, center: record.id, family: family, person, rules: record.center.familyFile, logger: context.logger)
                }
            } catch FamilyFile.Refusal.tooManyPeople {
                return try await familyFilePage(context, errors: ["Vous avez déjà \(FamilyFile.peoplePerKind) personnes de ce type : retirez-en une d'abord."],
                                                personForm: form, status: .conflict)
            }
            return Pages.redirect("\(context.basePath)/dossier?ok=personne#personnes")
        }

        router.post("/dossier/personnes/retirer") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard let id = context.form["personne"].flatMap({ Int64($0) }) else { throw HTTPError(.badRequest) }
            let removed = try await database.withCenter(record.id) { c in
                try await FamilyFile.removePerson(c, center: record.id, family: family, id: id, rules: record.center.familyFile, logger: context.logger)
            }
            guard removed else { throw HTTPError(.notFound) }
            return Pages.redirect("\(context.basePath)/dossier?ok=retire#personnes")
        }

        router.get("/dossier/enfants/:enfant") { _, context in
            try await childFilePage(context)
        }

        router.post("/dossier/enfants/:enfant") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard let child = context.parameters.get("enfant").flatMap({ Int64($0) }) else { throw HTTPError(.notFound) }
            let form = FamilyFileForms.Child(context.form)
            guard form.errors.isEmpty else { return try await childFilePage(context, form: form, status: .unprocessableContent) }
            let saved = try await database.withCenter(record.id) { c in
                try await FamilyFile.saveChild(c, center: record.id, family: family, child: child, form.value, rules: record.center.familyFile, logger: context.logger)
            }
            guard saved else { throw HTTPError(.notFound) }
            return Pages.redirect("\(context.basePath)/dossier?ok=enfant#enfants")
        }

        router.post("/dossier/documents") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            let upload = FamilyFileForms.Upload(context.form, files: context.files)
            guard upload.errors.isEmpty, let file = upload.file, let kind = upload.kind else {
                return try await familyFilePage(context, errors: upload.errors, status: .unprocessableContent)
            }
            do {
                _ = try await database.withCenter(record.id) { c in
                    try await FamilyFile.addDocument(c, center: record.id, family: family, kind: kind, child: upload.child, filename: file.name,
                                                     contentType: file.type, data: file.bytes, rules: record.center.familyFile, logger: context.logger)
                }
            } catch FamilyFile.Refusal.unknownChild {
                throw HTTPError(.notFound)
            } catch FamilyFile.Refusal.tooManyDocuments {
                return try await familyFilePage(context, errors: ["Votre dossier contient déjà \(FamilyFile.documentsPerFamily) documents : retirez-en un d'abord."],
                                                status: .conflict)
            }
            return Pages.redirect("\(context.basePath)/dossier?ok=document#documents")
        }

        router.get("/dossier/documents/:document") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard let id = context.parameters.get("document").flatMap({ Int64($0) }),
                  let document = try await database.withCenter(record.id, { c in
                      try await FamilyFile.document(c, center: record.id, family: family, id: id, logger: context.logger)
                  }) else { throw HTTPError(.notFound) }
            return Pages.familyDocument(document.data, contentType: document.contentType, id: id)
        }

        router.post("/dossier/documents/retirer") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard let id = context.form["document"].flatMap({ Int64($0) }) else { throw HTTPError(.badRequest) }
            let removed = try await database.withCenter(record.id) { c in
                try await FamilyFile.removeDocument(c, center: record.id, family: family, id: id, logger: context.logger)
            }
            guard removed else { throw HTTPError(.notFound) }
            return Pages.redirect("\(context.basePath)/dossier?ok=document-retire#documents")
        }

        router.post("/dossier/confirmer") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            try await database.withCenter(record.id) { c in
                try await FamilyFile.confirm(c, center: record.id, family: family, logger: context.logger)
            }
            return Pages.redirect("\(context.basePath)/dossier?ok=confirme")
        }
    }

    /// "Mon dossier", with the forms as posted when one was refused.
    func familyFilePage(
        _ context: AppRequestContext, notice: String? = nil, errors: [String] = [], contactsForm: FamilyFileForms.Contacts? = nil,
        personForm: FamilyFileForms.Person? = nil, childForm: FamilyFileForms.NewChild? = nil, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let record = try context.requireCenter
        let family = try context.requireFamily
        guard let view = try await database.withCenter(record.id, { c in
            try await FamilyFile.load(c, center: record.id, family: family, logger: context.logger)
        }) else { throw RedirectToLogin(base: context.basePath) }
        let model = FamilyFileModel(context, view: view, rules: record.center.familyFile, notice: notice, errors: errors,
                                    contactsForm: contactsForm, personForm: personForm, childForm: childForm)
        return templates.page("family-file", model, status: status)
    }

    func childFilePage(_ context: AppRequestContext, form: FamilyFileForms.Child? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let record = try context.requireCenter
        let family = try context.requireFamily
        guard let id = context.parameters.get("enfant").flatMap({ Int64($0) }),
              let view = try await database.withCenter(record.id, { c in
                  try await FamilyFile.load(c, center: record.id, family: family, logger: context.logger)
              }),
              let child = view.children.first(where: { $0.id == id }) else { throw HTTPError(.notFound) }
        return templates.page("family-file-child", ChildFileModel(context, child: child, form: form), status: status)
    }

    /// What the family's file lacks before booking at this center (nothing when the center asks nothing).
    func familyFileGaps(_ context: AppRequestContext, record: CenterRecord, family: Int64) async throws -> [FamilyFileGap] {
        guard let rules = record.center.familyFile else { return [] }
        return try await database.withCenterReading(record.id) { c in
            try await FamilyFile.gaps(c, center: record.id, family: family, rules: rules, now: Date(), logger: context.logger)
        }
    }

    /// "Avant de réserver, complétez votre dossier": the wizard's first word when the file lacks something.
    func familyFileGapsPage(_ context: AppRequestContext, _ gaps: [FamilyFileGap], status: HTTPResponse.Status = .ok) -> Response {
        templates.page("family-file-gaps", FamilyFileGapsModel(page: PageChrome(context), gaps: gaps.map(FamilyFileModel.words)), status: status)
    }
}

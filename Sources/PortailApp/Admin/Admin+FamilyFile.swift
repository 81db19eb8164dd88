import Foundation
import Hummingbird
import PortailDomain
import PortailStore
import PostgresNIO

/// Keeping family files at the office: create a family (it receives its activation link by e-mail),
/// change its details (the audit log keeps before and after; the login e-mail is the managers'), add a
/// child or a QF with its dates, send the activation link again. The same code as the admin API
/// (`createFamily`, `updateFamily`, `FamilyAdministration`).
extension PortailRoutes {
    struct AdminFamilyFormModel {
        struct Choice {
            let value: String
            let label: String
            let selected: Bool
        }
        struct ChildRow {
            let index: Int
            let first: String
            let last: String
            let born: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let creating: Bool
        let family: Int64
        let action: String
        let back: String
        let name: String
        let email: String
        let emailLocked: Bool
        let phone: String
        let address: String
        let postcode: String
        let city: String
        /// The family's postcode and city as the form first showed them: a save that leaves them so does not
        /// record them for the residents' priority, even if the family changed its own meanwhile.
        let shownPostcode: String
        let shownCity: String
        let categories: [Choice]
        let hasCategories: Bool
        let priority: Bool
        let children: [ChildRow]
        let quotient: String
        let errors: [String]
        let hasErrors: Bool
    }

    func addAdminFamilyFileRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/centres/:code/nouvelle-famille", use: admin { admin, context, _ in
            let (_, record, role) = try await staffCenter(admin, context: context)
            return adminPage("admin-family-form", familyFormModel(admin, record: record, role: role, family: nil, form: nil), admin)
        })

        router.post("/admin/centres/:code/nouvelle-famille", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            let form = admin.form
            func again(_ errors: [String], status: HTTPResponse.Status = .unprocessableContent) -> Response {
                adminPage("admin-family-form", familyFormModel(admin, record: record, role: role, family: nil, form: form, errors: errors), admin, status: status)
            }
            var errors: [String] = []
            let name = Self.field(form["nom"])
            if name.isEmpty { errors.append("Indiquez le nom de la famille (NOM Prénom du parent).") }
            let email = InputLimits.email(form["email"] ?? "")
            if email == nil { errors.append("Indiquez l'adresse e-mail du parent, par exemple parent@example.org : le lien d'activation y est envoyé.") }
            var children: [(String, String, LocalDate)] = []
            for index in 1...3 {
                let first = Self.field(form["enfant\(index)_prenom"]), last = Self.field(form["enfant\(index)_nom"])
                let bornText = Self.field(form["enfant\(index)_naissance"])
                if first.isEmpty && last.isEmpty && bornText.isEmpty { continue }
                guard !first.isEmpty, let born = PeriodForm.date(bornText) else {
                    errors.append("Enfant \(index) : indiquez son prénom et sa date de naissance (par exemple 02/09/2018)."); continue
                }
                children.append((first.uppercased(), last.isEmpty ? String(name.split(separator: " ").first ?? "").uppercased() : last.uppercased(), born))
            }
            let quotientText = Self.field(form["quotient"])
            let quotient = Int(quotientText)
            if !quotientText.isEmpty, !(0...100_000).contains(quotient ?? -1) { errors.append("Le quotient familial est un nombre entier, par exemple 720.") }
            let changes = contactChanges(form, record: record, errors: &errors)
            guard errors.isEmpty, let email else { return again(errors) }
            var id: Int64?
            do {
                id = try await database.withCenter(record.id) { c -> Int64? in
                    guard let id = try await createFamily(c, record: record, email: email, name: name, children: children,
                                                          quotient: quotientText.isEmpty ? nil : quotient, actor: "staff:\(session.email)") else { return nil }
                    _ = try await updateFamily(c, record: record, family: id, changes: changes, actor: "staff:\(session.email)")
                    return id
                }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                id = nil  // created at the same moment by another request (a double click)
            }
            guard let id else { return again(["Une famille de cet accueil utilise déjà \(email) : cherchez-la dans « Familles »."], status: .conflict) }
            return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=creee")
        })

        router.get("/admin/centres/:code/familles/:family/modifier", use: admin { admin, context, _ in
            let (_, record, role) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            guard let family = try await database.withCenter(record.id, { c in
                      try await FamilyAdministration.detail(c, center: record.id, family: id, logger: context.logger)
                  }) else { return familyNotFound }
            return adminPage("admin-family-form", familyFormModel(admin, record: record, role: role, family: family, form: nil), admin)
        })

        router.post("/admin/centres/:code/familles/:family/modifier", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            guard let family = try await database.withCenter(record.id, { c in
                      try await FamilyAdministration.detail(c, center: record.id, family: id, logger: context.logger)
                  }) else { return familyNotFound }
            let form = admin.form
            var errors: [String] = []
            var changes = contactChanges(form, record: record, errors: &errors)
            // The form shows the family's own postcode and city: saved as the form showed them (the phone changed,
            // say), they are neither recorded for the residents' priority nor written over an address the family
            // changed since. Typed anew they are; the family's own are confirmed by "Retenir l'adresse indiquée
            // par la famille".
            let shown = (form["code_postal_affiche"].map { Self.field($0, limit: 10) } ?? family.postcode,
                         form["ville_affichee"].map { Self.field($0, limit: 100) } ?? family.city)
            if changes.postcode == shown.0 && changes.city == shown.1 { (changes.postcode, changes.city) = (nil, nil) }
            let name = Self.field(form["nom"])
            if name.isEmpty { errors.append("Indiquez le nom de la famille.") } else { changes.name = name }
            // The login e-mail hands the account to whoever reads it: managers only, as in the API.
            if let typed = form["email"], typed.trimmingCharacters(in: .whitespaces).lowercased() != family.email.lowercased() {
                if role == "staff" {
                    errors.append("Changer l'adresse de connexion d'une famille est réservé aux responsables.")
                } else if let email = InputLimits.email(typed) {
                    changes.email = email
                } else {
                    errors.append("L'adresse e-mail s'écrit par exemple parent@example.org.")
                }
            }
            guard errors.isEmpty else {
                return adminPage("admin-family-form", familyFormModel(admin, record: record, role: role, family: family, form: form, errors: errors),
                                 admin, status: .unprocessableContent)
            }
            do {
                // Nil for a family whose data was erased: nothing to edit any more.
                guard try await database.withCenter(record.id, { c in
                    try await updateFamily(c, record: record, family: id, changes: changes, actor: "staff:\(session.email)")
                }) != nil else { return familyNotFound }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                return adminPage("admin-family-form", familyFormModel(admin, record: record, role: role, family: family, form: form,
                                                                      errors: ["Une autre famille de cet accueil utilise déjà cette adresse e-mail."]),
                                 admin, status: .conflict)
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=modifiee")
        })

        // A child, a QF with its dates, the activation link again: from the family's page.
        router.post("/admin/centres/:code/familles/:family/enfants", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            let first = Self.field(admin.form["prenom"]), last = Self.field(admin.form["nom_enfant"])
            guard !first.isEmpty, !last.isEmpty, let born = PeriodForm.date(Self.field(admin.form["naissance"])) else {
                return try await familyPage(admin, record: record, role: role, family: id, fileError: "Indiquez le prénom, le nom et la date de naissance de l'enfant (par exemple 02/09/2018).",
                                            context: context, status: .unprocessableContent)
            }
            let added = try await database.withCenter(record.id) { c -> Bool in
                guard try await FamilyAdministration.detail(c, center: record.id, family: id, logger: context.logger) != nil else { return false }
                _ = try await FamilyAdministration.addChild(c, center: record.id, family: id, firstName: first.uppercased(), lastName: last.uppercased(),
                                                            birthDate: born, actor: "staff:\(session.email)", logger: context.logger)
                return true
            }
            return added ? Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=enfant") : familyNotFound
        })

        router.post("/admin/centres/:code/familles/:family/quotients", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            func refuse(_ message: String, _ status: HTTPResponse.Status = .unprocessableContent) async throws -> Response {
                try await familyPage(admin, record: record, role: role, family: id, fileError: message, context: context, status: status)
            }
            guard let quotient = Int(Self.field(admin.form["qf"])), (0...100_000).contains(quotient) else {
                return try await refuse("Le quotient familial est un nombre entier, par exemple 720.")
            }
            guard let from = PeriodForm.date(Self.field(admin.form["qf_du"])), (1900...2200).contains(from.year) else {
                return try await refuse("Indiquez à partir de quand le QF vaut (par exemple 01/01/2027).")
            }
            let toText = Self.field(admin.form["qf_au"])
            let to = PeriodForm.date(toText)
            if !toText.isEmpty && (to.map { !(1900...2200).contains($0.year) } ?? true) { return try await refuse("La fin de validité du QF s'écrit par exemple 31/12/2027, ou reste vide.") }
            if let to, to < from { return try await refuse("La fin de validité du QF est avant son début.") }
            let source = ["CAF", "MSA", "impots", "autre"].contains(admin.form["qf_source"] ?? "") ? admin.form["qf_source"]! : "CAF"
            do {
                let found = try await database.withCenter(record.id) { c -> Bool in
                    guard try await FamilyAdministration.detail(c, center: record.id, family: id, logger: context.logger) != nil else { return false }
                    try await FamilyAdministration.addQuotient(c, center: record.id, family: id, quotient: quotient, from: from, to: to, source: source,
                                                               actor: "staff:\(session.email)", logger: context.logger)
                    return true
                }
                guard found else { return familyNotFound }
            } catch let overlap as FamilyAdministration.QuotientOverlap {
                return try await refuse("Un QF valable à partir du \(LocalDate(iso: overlap.validFrom)?.french ?? overlap.validFrom) couvre déjà une partie de ces dates : donnez des dates après lui.", .conflict)
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=qf")
        })

        // A child's name or birth date corrected (the audit log keeps before and after).
        router.post("/admin/centres/:code/familles/:family/enfants/:child", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            guard let child = context.parameters.get("child").flatMap(Int64.init), child > 0 else { return familyNotFound }
            let first = Self.field(admin.form["prenom"]), last = Self.field(admin.form["nom_enfant"])
            guard !first.isEmpty, !last.isEmpty, let born = PeriodForm.date(Self.field(admin.form["naissance"])), (1990...2200).contains(born.year) else {
                return try await familyPage(admin, record: record, role: role, family: id,
                                            fileError: "Indiquez le prénom, le nom et la date de naissance de l'enfant (par exemple 02/09/2018).",
                                            context: context, status: .unprocessableContent)
            }
            let changed = try await database.withCenter(record.id) { c in
                try await FamilyAdministration.updateChild(c, center: record.id, family: id, child: child, firstName: first.uppercased(),
                                                           lastName: last.uppercased(), birthDate: born, actor: "staff:\(session.email)", logger: context.logger)
            }
            return changed ? Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=enfant-modifie") : familyNotFound
        })

        // Deactivated: no login, its sessions end; its reservations and ledger stay. Reactivated: as before.
        for (action, active) in [("desactiver", false), ("reactiver", true)] {
            router.post(RouterPath("/admin/centres/:code/familles/:family/\(action)"), use: admin { admin, context, _ in
                let (session, record, _) = try await staffCenter(admin, context: context)
                let id = try familyParameter(context)
                let done = try await database.withCenter(record.id) { c in
                    try await FamilyAdministration.setState(c, center: record.id, family: id, active: active, actor: "staff:\(session.email)", logger: context.logger)
                }
                return done ? Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=\(active ? "reactivee" : "desactivee")") : familyNotFound
            })
        }

        // The postcode and city the family wrote in its file become the ones the residents' priority reads, once
        // the office has seen a proof of address (any staff of the center, as saving the address does).
        router.post("/admin/centres/:code/familles/:family/adresse-residence", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            // The address the page showed, which the staff checked: one the family changed since is not recorded.
            let shown = (postcode: Self.field(admin.form["code_postal"], limit: 10), city: Self.field(admin.form["ville"], limit: 100))
            let done = try await database.withCenter(record.id) { c in
                try await FamilyAdministration.recordResidentAddress(c, center: record.id, family: id, postcode: shown.postcode, city: shown.city,
                                                                     actor: "staff:\(session.email)", logger: context.logger)
            }
            switch done {
            case .recorded: return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=adresse-retenue")
            case .changed:
                return try await familyPage(admin, record: record, role: role, family: id,
                                            fileError: "La famille vient de changer l'adresse de son dossier : vérifiez la nouvelle ci-dessous avant de la retenir.",
                                            context: context, status: .conflict)
            case .notFound: return familyNotFound
            }
        })

        // RGPD: the family's data as a JSON file, and the erasure of its personal data (managers).
        router.get("/admin/centres/:code/familles/:family/donnees.json", use: admin { admin, context, _ in
            let (_, record, _) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            guard let export = try await database.withCenter(record.id, { c in
                      try await FamilyPrivacy.export(c, center: record.id, family: id, logger: context.logger)
                  }) else { return familyNotFound }
            var response = try API.json(export)
            response.headers[.contentDisposition] = "attachment; filename=\"famille-\(record.center.code)-\(id).json\""
            return response
        })

        router.post("/admin/centres/:code/familles/:family/effacer", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            let id = try familyParameter(context)
            func refuse(_ message: String, _ status: HTTPResponse.Status = .conflict) async throws -> Response {
                try await familyPage(admin, record: record, role: role, family: id, fileError: message, context: context, status: status)
            }
            guard admin.form["confirme"] == "oui" else { return try await refuse("Cochez la case de confirmation pour effacer la famille.", .unprocessableContent) }
            do {
                guard try await database.withCenter(record.id, { c in
                    try await FamilyPrivacy.erase(c, center: record.id, family: id, today: LocalDate(clock(), in: record.center.zone),
                                                  actor: "staff:\(session.email)", logger: context.logger)
                }) else { return familyNotFound }
            } catch FamilyPrivacy.Refusal.recordsKeptUntil(let day) {
                return try await refuse("Des factures ou des paiements nomment cette famille : ces pièces comptables sont gardées 10 ans ; "
                                        + "ses données pourront être effacées à partir du \(day.french). En attendant, vous pouvez désactiver son compte.")
            } catch FamilyPrivacy.Refusal.reservationsToCome {
                return try await refuse("La famille a des réservations à venir ou à payer : annulez-les d'abord.")
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=effacee")
        })

        router.post("/admin/centres/:code/familles/:family/invitation", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            let state = try await database.withCenter(record.id) { c -> String? in
                guard let family = try await AccountRepository.family(c, center: record.id, id: id, logger: context.logger) else { return nil }
                guard family.state == "invited" else { return family.state }
                try await sendInvitation(c, record: record, family: id, email: family.email)
                try await AuditLog.record(c, center: record.id, actor: "staff:\(session.email)", action: "family.invite", subject: family.email,
                                          after: ["state": "invited"], logger: context.logger)
                return "invited"
            }
            switch state {
            case nil: return familyNotFound
            case "invited": return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=invitation")
            default:
                return try await familyPage(admin, record: record, role: role, family: id,
                                            fileError: "La famille a déjà choisi son mot de passe (ou son compte est désactivé) : elle peut utiliser « Mot de passe oublié ? ».",
                                            context: context, status: .conflict)
            }
        })
    }

    static func field(_ text: String?, limit: Int = InputLimits.name) -> String {
        String((text ?? "").trimmingCharacters(in: .whitespacesAndNewlines).prefix(limit))
    }

    /// The contact fields of the family form: phone, address, category, priority mark.
    func contactChanges(_ form: FormFields, record: CenterRecord, errors: inout [String]) -> FamilyChanges {
        var changes = FamilyChanges()
        changes.phone = Self.field(form["telephone"], limit: 40)
        changes.addressLines = Array(Self.field(form["adresse"], limit: 600).split(whereSeparator: \.isNewline).map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }.prefix(4))
        changes.postcode = Self.field(form["code_postal"], limit: 10)
        changes.city = Self.field(form["ville"], limit: 100)
        let categories = Set(record.center.tariffs.flatMap(\.categories.keys))
        let category = form["categorie"] ?? ""
        if !category.isEmpty && !categories.contains(category) { errors.append("Choisissez une catégorie de la liste.") }
        changes.category = category
        changes.priorityMarked = form["prioritaire"] == "oui"
        return changes
    }

    func familyFormModel(_ admin: AdminRequest, record: CenterRecord, role: String, family: FamilyDetail?, form: FormFields?,
                         errors: [String] = []) -> AdminFamilyFormModel {
        let base = "/admin/centres/\(record.center.code)"
        func value(_ name: String, _ stored: String) -> String { form?[name] ?? stored }
        let category = form?["categorie"] ?? family?.category ?? ""
        let categories = Array(Set(record.center.tariffs.flatMap(\.categories.keys))).sorted()
        return AdminFamilyFormModel(
            page: admin.chrome, code: record.center.code, centerName: record.center.name, creating: family == nil, family: family?.id ?? 0,
            action: family.map { "\(base)/familles/\($0.id)/modifier" } ?? "\(base)/nouvelle-famille",
            back: family.map { "\(base)/familles/\($0.id)" } ?? "\(base)/familles",
            name: value("nom", family?.name ?? ""), email: value("email", family?.email ?? ""), emailLocked: family != nil && role == "staff",
            phone: value("telephone", family?.phone ?? ""), address: value("adresse", family?.addressLines.joined(separator: "\n") ?? ""),
            postcode: value("code_postal", family?.postcode ?? ""), city: value("ville", family?.city ?? ""),
            shownPostcode: value("code_postal_affiche", family?.postcode ?? ""), shownCity: value("ville_affichee", family?.city ?? ""),
            categories: [.init(value: "", label: "aucune (grille générale)", selected: category.isEmpty)]
                + categories.map { .init(value: $0, label: $0, selected: $0 == category) },
            hasCategories: !categories.isEmpty,
            priority: form.map { $0["prioritaire"] == "oui" } ?? family?.priorityMarked ?? false,
            children: family == nil ? (1...3).map { i in
                .init(index: i, first: form?["enfant\(i)_prenom"] ?? "", last: form?["enfant\(i)_nom"] ?? "", born: form?["enfant\(i)_naissance"] ?? "")
            } : [],
            quotient: form?["quotient"] ?? "", errors: errors, hasErrors: !errors.isEmpty
        )
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore
import PostgresNIO

/// Families and children through the admin API: list, create (invited by e-mail), read, edit, QF
/// with validity dates, deactivate and reactivate.
extension PortailRoutes {
    struct FamilyInput: Decodable {
        struct Child: Decodable {
            let firstName: String
            let lastName: String
            let birthDate: String
        }
        let email: String
        let name: String
        let children: [Child]?
        let quotient: Int?
    }

    struct ChildInput: Decodable {
        let firstName: String?
        let lastName: String?
        let birthDate: String?
    }

    struct QuotientInput: Decodable {
        let quotient: Int
        let validFrom: String
        let validTo: String?
        let source: String?
    }

    static func invalid(_ title: String, _ detail: String) -> APIProblem {
        APIProblem(status: .unprocessableContent, title: title, detail: detail)
    }

    static func checkEmail(_ email: String) throws {
        guard InputLimits.email(email) == email else {
            throw invalid("Invalid e-mail", "email must be an e-mail address such as parent@example.org, of at most \(InputLimits.email) characters.")
        }
    }

    static func date(_ text: String, _ field: String) throws -> LocalDate {
        guard let day = LocalDate(iso: text) else { throw invalid("Invalid date", "\(field) must be written YYYY-MM-DD, found \(text).") }
        return day
    }

    static func name(_ text: String?, _ field: String) throws -> String? {
        guard let text else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 200 else { throw invalid("Invalid \(field)", "\(field) must be between 1 and 200 characters.") }
        return trimmed
    }

    /// The family id of the path, or a 404 that says which.
    func familyID(_ context: AppRequestContext) throws -> Int64 {
        guard let id = context.parameters.get("family").flatMap({ Int64($0) }) else { throw APIProblem.notFound("Family ids are whole numbers.") }
        return id
    }

    /// The family `id` of the center, or a 404 that names it.
    @discardableResult
    func requireFamily(_ c: PostgresConnection, _ record: CenterRecord, _ id: Int64) async throws -> FamilyAccount {
        guard let family = try await AccountRepository.family(c, center: record.id, id: id, logger: database.logger) else {
            throw APIProblem.notFound("There is no family \(id) at this center.")
        }
        return family
    }

    /// E-mails the family a link to choose its password (valid 7 days).
    func sendInvitation(_ c: PostgresConnection, record: CenterRecord, family: Int64, email: String) async throws {
        let portal = publicAddress.base(of: record.center)
        try await FamilyAdministration.touch(c, center: record.id, family: family, logger: database.logger)
        let token = try await AccountRepository.issueToken(c, center: record.id, family: family, purpose: "activation", validFor: Self.activationValidity, logger: database.logger)
        try await Outbox.enqueue(c, center: record.id, to: email, subject: "\(record.center.name) – votre compte famille", body: """
            Bonjour,

            Votre compte famille du portail de \(record.center.name) est prêt. Pour choisir votre mot de passe, ouvrez ce lien (valable 7 jours) :
            \(portal)/activation?jeton=\(token)

            Si vous avez déjà un identifiant sur un portail famille de la fédération, vous pouvez aussi vous connecter \
            avec votre adresse et votre mot de passe habituels.

            \(record.center.coordinates.name)
            """, logger: database.logger)
    }

    /// Creates a family invited by e-mail (a link to choose its password, valid 7 days), with its children
    /// and its QF from today, audited: the admin API and the back office. Nil when the e-mail is taken.
    func createFamily(_ c: PostgresConnection, record: CenterRecord, email: String, name: String, children: [(String, String, LocalDate)],
                      quotient: Int?, actor: String) async throws -> Int64? {
        if try await AccountRepository.family(c, center: record.id, email: email, logger: database.logger) != nil { return nil }
        let id = try await AccountRepository.createFamily(c, center: record.id, email: email, name: name, passwordHash: nil,
                                                          state: "invited", category: nil, logger: database.logger)
        for (first, last, birth) in children {
            try await AccountRepository.addChild(c, center: record.id, family: id, firstName: first, lastName: last, birthDate: birth, logger: database.logger)
        }
        if let quotient {
            try await AccountRepository.addQuotient(c, center: record.id, family: id, quotient: quotient, from: LocalDate(Date(), in: record.center.zone), to: nil,
                                                    logger: database.logger)
        }
        try await sendInvitation(c, record: record, family: id, email: email)
        try await AuditLog.record(c, center: record.id, actor: actor, action: "family.create", subject: email, after: ["name": name], logger: database.logger)
        return id
    }

    /// Changes a family's details (the audit log keeps before and after); when its login e-mail changes,
    /// the old address hears of it. Nil for a family that is not the center's. A unique violation
    /// (23505) means the e-mail is another family's.
    func updateFamily(_ c: PostgresConnection, record: CenterRecord, family id: Int64, changes: FamilyChanges, actor: String) async throws -> FamilyDetail? {
        let before = try await FamilyAdministration.detail(c, center: record.id, family: id, logger: database.logger)
        let after = try await FamilyAdministration.update(c, center: record.id, family: id, changes: changes, actor: actor, logger: database.logger)
        if let before, let after, before.email.lowercased() != after.email.lowercased() {
            // The old address hears of it: a change it did not ask for is a takeover to report.
            try await Outbox.enqueue(c, center: record.id, to: before.email, subject: "\(record.center.name) – adresse de connexion modifiée", body: """
                Bonjour,

                L'adresse de connexion de votre compte famille vient d'être changée par l'accueil de loisirs. \
                Les liens envoyés auparavant ne sont plus valables.
                Si vous n'êtes pas à l'origine de ce changement, contactez l'accueil de loisirs : \(record.center.coordinates.phone).

                \(record.center.coordinates.name)
                """, logger: database.logger)
        }
        return after
    }

    func addFamilyRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/centers/:code/families") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let families = try await database.withCenter(record.id) { c in
                    try await AccountRepository.families(c, center: record.id, logger: database.logger)
                }
                return try API.json(["families": families])
            }
        }

        // A family created by staff gets an activation link by e-mail.
        router.post("/api/centers/:code/families") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                var request = request
                let input = try await Self.decode(FamilyInput.self, &request)
                try Self.checkEmail(input.email)
                let name = try Self.name(input.name, "name")!
                let children = try (input.children ?? []).map { child -> (String, String, LocalDate) in
                    (try Self.name(child.firstName, "first_name")!, try Self.name(child.lastName, "last_name")!, try Self.date(child.birthDate, "birth_date"))
                }
                if let qf = input.quotient, !(0...100_000).contains(qf) { throw Self.invalid("Invalid QF", "quotient must be between 0 and 100000.") }
                let id = try await database.withCenter(record.id) { c in
                    try await createFamily(c, record: record, email: input.email, name: name, children: children, quotient: input.quotient,
                                           actor: "staff:\(staff.email)")
                }
                guard let id else {
                    throw APIProblem(status: .conflict, title: "Family exists", detail: "A family account already uses \(input.email) at this center.")
                }
                return try API.json(["id": id], status: .created)
            }
        }

        router.get("/api/centers/:code/families/:family") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let id = try familyID(context)
                guard let family = try await database.withCenter(record.id, { c in
                    try await FamilyAdministration.detail(c, center: record.id, family: id, logger: database.logger)
                }) else { throw APIProblem.notFound("There is no family \(id) at this center.") }
                return try API.json(family)
            }
        }

        router.patch("/api/centers/:code/families/:family") { request, context in
            try await API.handle(request, database) { staff in
                let (record, role) = try await accessibleCenter(context, staff)
                let id = try familyID(context)
                var request = request
                var changes = try await Self.decode(FamilyChanges.self, &request)
                if let email = changes.email {
                    try Self.checkEmail(email)
                    // The e-mail is the family's login: changing it hands the account to whoever reads it.
                    guard role != "staff" else {
                        throw APIProblem.forbidden("Changing a family's e-mail needs the manager role at center \(record.center.code).")
                    }
                }
                changes.name = try Self.name(changes.name, "name")
                let categories = Set(record.center.tariffs.flatMap(\.categories.keys))
                if let category = changes.category, !category.isEmpty, !categories.contains(category) {
                    throw Self.invalid("Unknown category", "category must be one of the tariff categories of this center (\(categories.sorted().joined(separator: ", "))), or empty for the default prices.")
                }
                do {
                    guard let family = try await database.withCenter(record.id, { c -> FamilyDetail? in
                        try await updateFamily(c, record: record, family: id, changes: changes, actor: "staff:\(staff.email)")
                    }) else { throw APIProblem.notFound("There is no family \(id) at this center.") }
                    return try API.json(family)
                } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                    throw APIProblem(status: .conflict, title: "E-mail in use", detail: "Another family of this center already uses \(changes.email ?? "this e-mail").")
                }
            }
        }

        router.post("/api/centers/:code/families/:family/children") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let id = try familyID(context)
                var request = request
                let input = try await Self.decode(ChildInput.self, &request)
                guard let first = try Self.name(input.firstName, "first_name"), let last = try Self.name(input.lastName, "last_name"),
                      let birth = input.birthDate else {
                    throw Self.invalid("Missing field", "A child needs first_name, last_name and birth_date.")
                }
                let birthDate = try Self.date(birth, "birth_date")
                let child = try await database.withCenter(record.id) { c in
                    try await requireFamily(c, record, id)
                    return try await FamilyAdministration.addChild(c, center: record.id, family: id, firstName: first, lastName: last, birthDate: birthDate,
                                                                   actor: "staff:\(staff.email)", logger: database.logger)
                }
                return try API.json(["id": child], status: .created)
            }
        }

        router.patch("/api/centers/:code/families/:family/children/:child") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let id = try familyID(context)
                guard let child = context.parameters.get("child").flatMap({ Int64($0) }) else { throw APIProblem.notFound("Child ids are whole numbers.") }
                var request = request
                let input = try await Self.decode(ChildInput.self, &request)
                let first = try Self.name(input.firstName, "first_name"), last = try Self.name(input.lastName, "last_name")
                let birth = try input.birthDate.map { try Self.date($0, "birth_date") }
                guard try await database.withCenter(record.id, { c in
                    try await FamilyAdministration.updateChild(c, center: record.id, family: id, child: child, firstName: first, lastName: last,
                                                               birthDate: birth, actor: "staff:\(staff.email)", logger: database.logger)
                }) else { throw APIProblem.notFound("Family \(id) has no child \(child).") }
                return Response(status: .noContent)
            }
        }

        // A QF with its validity; the open-ended one before it ends the day before.
        router.post("/api/centers/:code/families/:family/quotients") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let id = try familyID(context)
                var request = request
                let input = try await Self.decode(QuotientInput.self, &request)
                guard (0...100_000).contains(input.quotient) else { throw Self.invalid("Invalid QF", "quotient must be between 0 and 100000.") }
                let from = try Self.date(input.validFrom, "valid_from")
                let to = try input.validTo.map { try Self.date($0, "valid_to") }
                if let to, to < from { throw Self.invalid("Invalid dates", "valid_to (\(to.iso)) is before valid_from (\(from.iso)).") }
                let source = input.source ?? "CAF"
                guard ["CAF", "MSA", "impots", "autre"].contains(source) else {
                    throw Self.invalid("Invalid source", "source must be CAF, MSA, impots or autre.")
                }
                let family = try await database.withCenter(record.id) { c in
                    try await requireFamily(c, record, id)
                    do {
                        try await FamilyAdministration.addQuotient(c, center: record.id, family: id, quotient: input.quotient, from: from, to: to,
                                                                   source: source, actor: "staff:\(staff.email)", logger: database.logger)
                    } catch let overlap as FamilyAdministration.QuotientOverlap {
                        throw APIProblem(status: .conflict, title: "QF dates overlap", detail: overlap.message)
                    }
                    return try await FamilyAdministration.detail(c, center: record.id, family: id, logger: database.logger)!
                }
                return try API.json(family, status: .created)
            }
        }

        for (action, active) in [("deactivate", false), ("reactivate", true)] {
            router.post(RouterPath("/api/centers/:code/families/:family/\(action)")) { request, context in
                try await API.handle(request, database) { staff in
                    let (record, _) = try await accessibleCenter(context, staff)
                    let id = try familyID(context)
                    guard let family = try await database.withCenter(record.id, { c in
                        guard try await FamilyAdministration.setState(c, center: record.id, family: id, active: active, actor: "staff:\(staff.email)", logger: database.logger) else { return nil as FamilyDetail? }
                        return try await FamilyAdministration.detail(c, center: record.id, family: id, logger: database.logger)
                    }) else { throw APIProblem.notFound("There is no family \(id) at this center.") }
                    return try API.json(family)
                }
            }
        }

        // RGPD: everything the center holds about a family, and the erasure of its personal data.
        router.get("/api/centers/:code/families/:family/export") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let id = try familyID(context)
                guard let export = try await database.withCenter(record.id, { c in
                    try await FamilyPrivacy.export(c, center: record.id, family: id, logger: database.logger)
                }) else { throw APIProblem.notFound("There is no family \(id) at this center.") }
                return try API.json(export)
            }
        }

        router.post("/api/centers/:code/families/:family/erase") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                let id = try familyID(context)
                do {
                    guard try await database.withCenter(record.id, { c in
                        try await FamilyPrivacy.erase(c, center: record.id, family: id, today: LocalDate(Date(), in: record.center.zone),
                                                      actor: "staff:\(staff.email)", logger: database.logger)
                    }) else { throw APIProblem.notFound("There is no family \(id) at this center.") }
                } catch FamilyPrivacy.Refusal.recordsKeptUntil(let day) {
                    throw APIProblem(status: .conflict, title: "Records to keep",
                                     detail: "Invoices or payments name this family: accounting records are kept 10 years, so its data can be erased from \(day.iso).")
                } catch FamilyPrivacy.Refusal.reservationsToCome {
                    throw APIProblem(status: .conflict, title: "Reservations to come", detail: "The family has reservations to come or to pay: cancel them first.")
                }
                return try API.json(["erased": true])
            }
        }

        // The activation link again, for a family that has not chosen its password yet.
        router.post("/api/centers/:code/families/:family/invitation") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let id = try familyID(context)
                try await database.withCenter(record.id) { c in
                    let family = try await requireFamily(c, record, id)
                    guard family.state == "invited" else {
                        throw APIProblem(status: .conflict, title: "Not invited",
                                         detail: family.state == "active" ? "The family has chosen its password; it can use « Mot de passe oublié ? » on the login page."
                                             : "The family is deactivated: reactivate it first.")
                    }
                    try await sendInvitation(c, record: record, family: id, email: family.email)
                    try await AuditLog.record(c, center: record.id, actor: "staff:\(staff.email)", action: "family.invite", subject: family.email, after: ["state": "invited"], logger: database.logger)
                }
                return Response(status: .accepted)
            }
        }
    }
}

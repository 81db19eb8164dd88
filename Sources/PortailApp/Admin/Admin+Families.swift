import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The back office's families: a search by name, e-mail or child, and a family's page (contact, children,
/// QF, reservations, balance), for every member of the center's staff.
extension PortailRoutes {
    struct AdminFamiliesModel {
        struct Found {
            let id: Int64
            let name: String
            let email: String
            let children: String
            let inactive: Bool
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let query: String
        let families: [Found]
        let searched: Bool
        let more: Bool
        let hasFamilies: Bool
    }

    struct AdminFamilyModel {
        struct Child {
            let id: Int64
            let name: String
            let born: String
            let age: Int
            let first: String
            let last: String
            let iso: String
        }
        struct Quotient {
            let quotient: Int
            let valid: String
        }
        struct Reservation {
            let number: String
            let child: String
            let period: String
            let days: String
            let state: String
            let total: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let family: Int64
        let name: String
        let email: String
        let phone: String?
        let address: [String]
        let inactive: Bool
        let category: String?
        let children: [Child]
        let quotients: [Quotient]
        let reservations: [Reservation]
        let moreReservations: Bool
        let invoiced: String
        let paid: String
        let due: String
        let credit: String
        let hasCredit: Bool
        let hasChildren: Bool
        let hasQuotients: Bool
        let hasReservations: Bool
        /// "Saisir un règlement": managers only, as the API.
        let canRecordPayments: Bool
        let payment: PaymentForm
        /// What the family file's forms (details, child, QF, activation link) did, or what to fix.
        let fileNotice: String?
        let fileError: String?
        let invited: Bool
        let today: String
        /// The refund form's one-time key.
        let refundKey: String
        /// Who logs in to the family; managers give and designate, any staff removes.
        let members: [Member]
        let canManageMembers: Bool
        let invoicesBillingOnly: Bool
        /// Where the center declares its residents: the address its priority reads.
        let resident: ResidentAddress?
    }

    /// The address the staff recorded, which the residents' priority reads, and the family's own when it differs
    /// (written in its file, not yet confirmed).
    struct ResidentAddress {
        let address: String
        let isResident: Bool
        let familyAddress: String?
        let familyWouldBeResident: Bool
        /// The family's own postcode and city, which the confirmation posts back: it records them only if unchanged.
        let familyPostcode: String
        let familyCity: String
    }

    struct Member {
        let person: Int64
        let email: String
        let billing: Bool
        let ownAddress: Bool
        let hasLoggedIn: Bool
    }

    /// The office payment form: the means, and the family's open invoices with what the payment would give
    /// each by default (the oldest first), which the user may change.
    struct PaymentForm {
        struct Method {
            let code: String
            let label: String
            let selected: Bool
        }
        struct OpenInvoice {
            let number: String
            let lacks: String
            let field: String
            let value: String
        }
        let id: Int64
        let amount: String
        let methods: [Method]
        let reference: String
        let bank: String
        let invoices: [OpenInvoice]
        let hasInvoices: Bool
        let key: String
        let error: String?
        let notice: String?
    }

    static let familyPageSize = 50

    func addAdminFamilyRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/centres/:code/familles", use: admin { admin, context, request in
            let (_, record, _) = try await staffCenter(admin, context: context)
            let query = String((request.uri.queryParameters["q"].map(String.init) ?? "").prefix(100))
            let found = try await database.withCenter(record.id) { c in
                try await FamilyAdministration.search(c, center: record.id, query: query, limit: Self.familyPageSize + 1, logger: context.logger)
            }
            return adminPage("admin-families", AdminFamiliesModel(
                page: admin.chrome, code: record.center.code, centerName: record.center.name, query: query,
                families: found.prefix(Self.familyPageSize).map {
                    .init(id: $0.id, name: $0.name, email: $0.email, children: $0.children.joined(separator: ", "), inactive: $0.state != "active")
                },
                searched: !query.isEmpty, more: found.count > Self.familyPageSize, hasFamilies: !found.isEmpty
            ), admin)
        })

        router.get("/admin/centres/:code/familles/:family", use: admin { admin, context, request in
            let (_, record, role) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            // The banner names a payment of this family only (never text from the address).
            var notice: String?
            if let number = request.uri.queryParameters["reglement"].map(String.init), number.count <= 40 {
                let payment = try await database.withCenter(record.id) { c in
                    try await LedgerQueries.payment(c, center: record.id, family: id, number: number, logger: context.logger)
                }
                if payment != nil { notice = "Règlement \(number) enregistré." }
            }
            let fileNotice: String? = switch request.uri.queryParameters["etat"].map(String.init) {
            case "creee": "Famille créée : elle reçoit par e-mail le lien pour choisir son mot de passe (valable 7 jours)."
            case "modifiee": "Fiche enregistrée (le journal garde l'avant et l'après)."
            case "enfant": "Enfant ajouté."
            case "qf": "Quotient familial enregistré."
            case "invitation": "Lien d'activation renvoyé par e-mail."
            case "enfant-modifie": "Enfant modifié (le journal garde l'avant et l'après)."
            case "desactivee": "Compte désactivé : la famille ne peut plus se connecter ; ses réservations et ses factures restent."
            case "reactivee": "Compte réactivé."
            case "adresse-retenue": "Adresse retenue pour la priorité des résidents (le journal garde l'avant et l'après)."
            case "effacee": "Les données personnelles de la famille sont effacées ; ses réservations et ses pièces comptables gardent leurs numéros et montants."
            case "avoir-utilise": "Avoir utilisé sur la facture."
            case "rembourse": "Remboursement enregistré : il apparaît dans « Mes factures » de la famille."
            case "acces": "Accès donné : la personne reçoit un e-mail pour se connecter."
            case "acces-retire": "Accès retiré : la personne ne peut plus entrer dans cette famille."
            case "payeur": "Payeur désigné."
            default: nil
            }
            return try await familyPage(admin, record: record, role: role, family: id, notice: notice, fileNotice: fileNotice, context: context)
        })

        // "Saisir un règlement": a payment at the office, allocated as the form says (by default the oldest
        // open invoices first); what is left is the family's credit. The form's one-time key makes a double
        // click one payment.
        router.post("/admin/centres/:code/familles/:family/reglements", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            guard role != "staff" else {
                return adminProblem("Réservé aux responsables", "Saisir un règlement est réservé aux responsables de l'accueil.", status: .forbidden)
            }
            let form = admin.form
            func refuse(_ message: String) async throws -> Response {
                try await familyPage(admin, record: record, role: role, family: id, error: message, submitted: form, context: context, status: .unprocessableContent)
            }
            guard let amount = Money(parsing: form["montant"] ?? ""), (1...10_000_000).contains(amount.cents) else {
                return try await refuse("Indiquez le montant reçu, par exemple 50,00 (entre 0,01 € et 100 000 €).")
            }
            guard let method = OfficePayments.methods.first(where: { $0.code == form["moyen"] }) else {
                return try await refuse("Choisissez le moyen de paiement.")
            }
            let number = (form["numero"] ?? "").trimmingCharacters(in: .whitespaces)
            let bank = (form["banque"] ?? "").trimmingCharacters(in: .whitespaces)
            guard number.count <= 60, bank.count <= 60, !InputLimits.hasNUL(number + bank) else {
                return try await refuse("Le numéro et la banque tiennent en 60 caractères chacun.")
            }
            if method.code == "cheque" && number.isEmpty { return try await refuse("Indiquez le numéro du chèque.") }
            // The allocation as the form says: one field per open invoice; all empty means "the oldest first".
            var allocations: [(invoice: String, amount: Money)] = []
            var given = false
            for field in form.fields where field.name.hasPrefix("facture_") {
                let text = field.value.trimmingCharacters(in: .whitespaces)
                guard !text.isEmpty else { continue }
                given = true
                guard let part = Money(parsing: text), (0...10_000_000).contains(part.cents) else {
                    return try await refuse("Le montant pour la facture \(field.name.dropFirst(8)) n'est pas un montant : écrivez par exemple 25,00.")
                }
                if part.cents > 0 { allocations.append((String(field.name.dropFirst(8)), part)) }
                guard allocations.count <= 100 else { return try await refuse("Trop de factures à la fois.") }
            }
            let allocatedTotal = allocations.reduce(0) { $0 + $1.amount.cents }
            guard allocatedTotal <= amount.cents else {
                return try await refuse("Les montants répartis (\(Money(cents: allocatedTotal))) dépassent le montant reçu (\(amount)).")
            }
            let key = form["cle"] ?? ""
            guard SecretToken.looksValid(key) else { return try await refuse("Le formulaire a expiré : recommencez la saisie.") }
            let reference = [number, bank].filter { !$0.isEmpty }.joined(separator: " ")
            let recorded: String?
            do {
                recorded = try await database.withCenter(record.id) { c -> String? in
                    if let stored = try await StaffRepository.idempotent(c, center: record.id, key: "admin-payment:" + key, logger: context.logger) {
                        return stored.body
                    }
                    guard try await FamilyAdministration.detail(c, center: record.id, family: id, logger: context.logger) != nil else { return nil }
                    let payment = try await OfficePayments.record(
                        c, center: record.center, centerID: record.id, family: id, amount: amount, method: method.code,
                        label: "Paiement n° \(reference) (par \(method.label))", allocations: given ? allocations : nil, logger: context.logger)
                    struct Recorded: Encodable, Sendable { let amount_cents: Int; let method: String; let reference: String }
                    try await AuditLog.record(c, center: record.id, actor: "staff:\(session.email)", action: "payment.record", subject: payment.number,
                                              after: Recorded(amount_cents: amount.cents, method: method.code, reference: reference), logger: context.logger)
                    try await StaffRepository.remember(c, center: record.id, key: "admin-payment:" + key, status: 201, body: payment.number, logger: context.logger)
                    return payment.number
                }
            } catch let refusal as OfficePayments.Refusal {
                // Nothing was recorded (the transaction rolled back): the form again, with what to fix.
                return try await refuse(refusal.french)
            }
            guard let recorded else { return familyNotFound }
            return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?reglement=\(recorded)")
        })
    }

    /// The family id of the route's address, or the family page's 404 (the same for any id that is not a
    /// family of the center: the page's own lookup answers that).
    func familyParameter(_ context: AppRequestContext) throws -> Int64 {
        guard let id = context.parameters.get("family").flatMap(Int64.init), id > 0 else { throw AdminRefusal(response: familyNotFound) }
        return id
    }

        var familyNotFound: Response {
        adminProblem("Famille inconnue", "Il n'y a pas de famille à cette adresse dans cet accueil.", status: .notFound)
    }

    /// A family's page, with the office payment form (filled as `submitted` when it is shown again with `error`).
    func familyPage(_ admin: AdminRequest, record: CenterRecord, role: String, family id: Int64, notice: String? = nil, error: String? = nil,
                    submitted: FormFields? = nil, fileNotice: String? = nil, fileError: String? = nil, context: AppRequestContext,
                    status: HTTPResponse.Status = .ok) async throws -> Response {
        let loaded = try await database.withCenter(record.id) { c -> (FamilyDetail, LedgerTotals, [ReservationSummary], Int, [(id: Int64, number: String, lacks: Money)], MembersBody)? in
            guard let family = try await FamilyAdministration.detail(c, center: record.id, family: id, logger: context.logger) else { return nil }
            let totals = try await LedgerQueries.totals(c, center: record.id, family: id, logger: context.logger)
            let reservations = try await ReservationQueries.page(c, center: record.id, family: id, offset: 0, limit: 20, logger: context.logger)
            let open = try await OfficePayments.openInvoices(c, center: record.id, family: id, logger: context.logger)
            return (family, totals, reservations.rows, reservations.total, open, try await membersBody(c, record: record, family: id))
        }
        guard let (family, totals, reservations, total, open, members) = loaded else { return familyNotFound }
        let zone = record.center.zone
        let today = LocalDate(clock(), in: zone)
        let credit = Money(cents: max(0, totals.paid.cents - totals.allocated.cents))
        let method = submitted?["moyen"] ?? "cheque"
        let form = PaymentForm(
            id: family.id, amount: submitted?["montant"] ?? "",
            methods: OfficePayments.methods.map { .init(code: $0.code, label: $0.label.capitalized, selected: $0.code == method) },
            reference: submitted?["numero"] ?? "", bank: submitted?["banque"] ?? "",
            invoices: open.map { .init(number: $0.number, lacks: $0.lacks.description, field: "facture_\($0.number)", value: submitted?["facture_\($0.number)"] ?? "") },
            hasInvoices: !open.isEmpty, key: SecretToken.generate(), error: error, notice: notice
        )
        return adminPage("admin-family", AdminFamilyModel(
            page: admin.chrome, code: record.center.code, centerName: record.center.name, family: family.id, name: family.name, email: family.email,
            phone: family.phone.isEmpty ? nil : family.phone,
            address: family.addressLines + [[family.postcode, family.city].filter { !$0.isEmpty }.joined(separator: " ")].filter { !$0.isEmpty },
            inactive: family.state == "deactivated", category: family.category,
            children: family.children.compactMap { child in
                LocalDate(iso: child.birthDate).map { born in
                    .init(id: child.id, name: "\(child.firstName) \(child.lastName)", born: born.french, age: born.age(on: today),
                          first: child.firstName, last: child.lastName, iso: born.iso)
                }
            },
            quotients: family.quotients.map { q in
                .init(quotient: q.quotient, valid: "du \(LocalDate(iso: q.validFrom)?.french ?? q.validFrom)"
                      + (q.validTo.map { " au \(LocalDate(iso: $0)?.french ?? $0)" } ?? ", sans fin"))
            },
            reservations: reservations.map { r in
                .init(number: String(format: "%05d", r.number), child: r.childFirstName, period: r.periodLabel,
                      days: r.firstDay == r.lastDay ? r.firstDay.french : "du \(r.firstDay.french) au \(r.lastDay.french)",
                      state: French.state(r.state).words, total: r.total.description)
            },
            moreReservations: total > reservations.count,
            invoiced: totals.invoiced.description, paid: totals.paid.description, due: totals.due.description,
            credit: credit.description, hasCredit: credit.cents > 0,
            hasChildren: !family.children.isEmpty, hasQuotients: !family.quotients.isEmpty, hasReservations: !reservations.isEmpty,
            canRecordPayments: role != "staff", payment: form,
            fileNotice: fileNotice, fileError: fileError, invited: family.state == "invited", today: today.french, refundKey: SecretToken.generate(),
            members: members.members.map { .init(person: $0.personId, email: $0.email, billing: $0.billingContact, ownAddress: $0.ownAddress,
                                                 hasLoggedIn: $0.hasLoggedIn) },
            canManageMembers: role != "staff", invoicesBillingOnly: members.invoicesBillingOnly,
            resident: record.center.residents.map { residents in
                let recorded = [family.residentPostcode, family.residentCity].filter { !$0.isEmpty }.joined(separator: " ")
                let own = [family.postcode, family.city].filter { !$0.isEmpty }.joined(separator: " ")
                let differs = family.postcode != family.residentPostcode || family.city != family.residentCity
                return .init(address: recorded.isEmpty ? "aucune" : recorded,
                             isResident: residents.includes(postcode: family.residentPostcode, city: family.residentCity),
                             familyAddress: differs ? (own.isEmpty ? "aucune" : own) : nil,
                             familyWouldBeResident: residents.includes(postcode: family.postcode, city: family.city),
                             familyPostcode: family.postcode, familyCity: family.city)
            }
        ), admin, status: status)
    }
}

extension OfficePayments.Refusal {
    var french: String {
        switch self {
        case .unknownInvoice(let number): "La famille n'a pas de facture \(number)."
        case .tooMuchFor(let number, let lacks):
            lacks.cents == 0 ? "La facture \(number) est déjà réglée." : "La facture \(number) n'attend plus que \(lacks)."
        }
    }
}

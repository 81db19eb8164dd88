import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// Money at the office beyond "Saisir un règlement": a family's credit applied to one of its open
/// invoices, a refund of its credit (transfer, cheque, cash), the online payments the bank's
/// notifications flagged with their resolution, and the monthly exports. Managers move money, as in
/// the API; the same store functions (`OfficePayments.applyCredit`, `LedgerRepository.refund`,
/// `PaymentReview`, `LedgerQueries`).
extension PortailRoutes {
    struct AdminPaymentsModel {
        struct Flagged {
            let reference: String
            let family: String
            let familyID: Int64
            let provider: String
            let amount: String
            let received: String
            let flag: String
            let at: String
            let resolution: String?
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let flagged: [Flagged]
        let unmatched: [Flagged]
        let hasFlagged: Bool
        let hasUnmatched: Bool
        let canResolve: Bool
        let all: Bool
        let notice: String?
        let error: String?
    }

    struct AdminExportsModel {
        struct Month {
            let value: String
            let label: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let months: [Month]
    }

    static let flagNames = [
        "amount_mismatch": "montant différent de celui attendu", "refund_due": "payé après que ses places ont été libérées : à rembourser",
        "double_payment": "payé deux fois", "review": "à vérifier (banque)",
    ]
    static let refundMethods = [("virement", "virement"), ("cheque", "chèque"), ("especes", "espèces")]
    static let frenchMonths = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"]

    func addAdminMoneyRoutes(to router: Router<AppRequestContext>) {
        // The family's credit on one of its open invoices.
        router.post("/admin/centres/:code/familles/:family/avoir", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            let id = try familyParameter(context)
            let number = String((admin.form["facture"] ?? "").prefix(40))
            let applied = try await database.withCenter(record.id) { c in
                try await OfficePayments.applyCredit(c, center: record.id, family: id, invoice: number, actor: "staff:\(session.email)", logger: context.logger)
            }
            guard let applied else {
                return try await familyPage(admin, record: record, role: role, family: id, fileError: "La famille n'a pas de facture ouverte \(number).",
                                            context: context, status: .unprocessableContent)
            }
            guard applied.cents > 0 else {
                return try await familyPage(admin, record: record, role: role, family: id, fileError: "La famille n'a pas d'avoir disponible.",
                                            context: context, status: .conflict)
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=avoir-utilise")
        })

        // A refund of the family's credit; the form's one-time key makes a double click one refund.
        router.post("/admin/centres/:code/familles/:family/remboursements", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            let id = try familyParameter(context)
            func refuse(_ message: String, _ status: HTTPResponse.Status = .unprocessableContent) async throws -> Response {
                try await familyPage(admin, record: record, role: role, family: id, fileError: message, context: context, status: status)
            }
            guard let amount = Money(parsing: admin.form["rembourse"] ?? ""), (1...10_000_000).contains(amount.cents) else {
                return try await refuse("Indiquez le montant à rembourser, par exemple 20,00.")
            }
            guard let method = Self.refundMethods.first(where: { $0.0 == admin.form["rembourse_moyen"] }) else { return try await refuse("Choisissez le moyen du remboursement.") }
            let reference = Self.field(admin.form["rembourse_reference"], limit: 200)
            let key = admin.form["rembourse_cle"] ?? ""
            guard SecretToken.looksValid(key) else { return try await refuse("Le formulaire a expiré : recommencez.") }
            do {
                let done = try await database.withCenter(record.id) { c -> Bool in
                    if try await StaffRepository.idempotent(c, center: record.id, key: "admin-refund:" + key, logger: context.logger) != nil { return true }
                    guard try await FamilyAdministration.detail(c, center: record.id, family: id, logger: context.logger) != nil else { return false }
                    let refund = try await LedgerRepository.refund(amount: amount, method: method.0, reference: reference, center: record.center, centerID: record.id,
                                                                   family: id, actor: "staff:\(session.email)", c, logger: context.logger)
                    try await StaffRepository.remember(c, center: record.id, key: "admin-refund:" + key, status: 201, body: refund.number, logger: context.logger)
                    return true
                }
                guard done else { return familyNotFound }
            } catch let refusal as RefundRefusal {
                return try await refuse("La famille a \(refusal.available) d'avoir : remboursez au plus ce montant.", .conflict)
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=rembourse")
        })

        router.get("/admin/centres/:code/paiements", use: admin { admin, context, request in
            let (_, record, role) = try await staffCenter(admin, context: context)
            let notice = request.uri.queryParameters["etat"] == "resolu" ? "Résolution enregistrée." : nil
            return try await paymentsPage(admin, record: record, role: role, all: request.uri.queryParameters["tous"] == "oui", notice: notice, context: context)
        })

        router.post("/admin/centres/:code/paiements/:reference/resoudre", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            let reference = String((context.parameters.get("reference") ?? "").prefix(100))
            let resolution = Self.field(admin.form["resolution"], limit: InputLimits.name)
            guard !resolution.isEmpty else {
                return try await paymentsPage(admin, record: record, role: role, all: false, error: "Dites ce qui a été fait (remboursé, gardé en avoir, erreur de la banque…).",
                                              context: context, status: .unprocessableContent)
            }
            guard try await database.withCenter(record.id, { c in
                try await PaymentReview.resolve(c, center: record.id, reference: reference, resolution: resolution, actor: "staff:\(session.email)", logger: context.logger)
            }) else {
                return try await paymentsPage(admin, record: record, role: role, all: false, error: "Ce paiement n'est plus à résoudre (déjà résolu ?).", context: context, status: .conflict)
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/paiements?etat=resolu")
        })

        router.get("/admin/centres/:code/exports", use: admin { admin, context, _ in
            let (_, record, _) = try await staffCenter(admin, context: context)
            let today = LocalDate(clock(), in: record.center.zone)
            let months = (0..<13).map { back -> AdminExportsModel.Month in
                let index = today.year * 12 + today.month - 1 - back
                let (year, month) = (index / 12, index % 12 + 1)
                return .init(value: "\(year)-\(Digits.pad(month, 2))", label: "\(Self.frenchMonths[month - 1]) \(year)")
            }
            return adminPage("admin-exports", AdminExportsModel(page: admin.chrome, code: record.center.code, centerName: record.center.name, months: months), admin)
        })

        router.get("/admin/centres/:code/exports/factures-paiements.csv", use: admin { admin, context, request in
            let (_, record, _) = try await staffCenter(admin, context: context)
            let text = request.uri.queryParameters["mois"].map(String.init) ?? ""
            let parts = text.split(separator: "-").compactMap { Int($0) }
            guard text.count == 7, parts.count == 2, (2000...2100).contains(parts[0]), (1...12).contains(parts[1]) else {
                return adminProblem("Mois inconnu", "Choisissez le mois dans la page des exports.", status: .badRequest)
            }
            return try ledgerExport(record, year: parts[0], month: parts[1],
                                filename: "factures-paiements-\(record.center.code)-\(parts[0])-\(Digits.pad(parts[1], 2)).csv")
        })

        router.get("/admin/centres/:code/exports/soldes.csv", use: admin { admin, context, _ in
            let (_, record, _) = try await staffCenter(admin, context: context)
            return try balancesExport(record)
        })
    }

    func paymentsPage(_ admin: AdminRequest, record: CenterRecord, role: String, all: Bool, notice: String? = nil, error: String? = nil,
                      context: AppRequestContext, status: HTTPResponse.Status = .ok) async throws -> Response {
        let (flagged, unmatched) = try await database.withCenter(record.id) { c in
            (try await PaymentReview.flagged(c, center: record.id, includeResolved: all, logger: context.logger),
             try await PaymentReview.unmatched(c, center: record.id, includeResolved: all, logger: context.logger))
        }
        let zone = record.center.zone
        return adminPage("admin-payments", AdminPaymentsModel(
            page: admin.chrome, code: record.center.code, centerName: record.center.name,
            flagged: flagged.map {
                .init(reference: $0.reference, family: $0.family, familyID: $0.familyId, provider: $0.provider, amount: Money(cents: $0.amountCents).description,
                      received: Money(cents: $0.receivedCents).description, flag: Self.flagNames[$0.flag] ?? $0.flag, at: French.dateTime($0.updatedAt, in: zone),
                      resolution: $0.resolution)
            },
            unmatched: unmatched.map {
                .init(reference: $0.reference, family: "", familyID: 0, provider: $0.providerStatus, amount: $0.amountCents.map { Money(cents: $0).description } ?? "?",
                      received: $0.amountCents.map { Money(cents: $0).description } ?? "?", flag: "payé à la banque pour aucune réservation du portail",
                      at: French.dateTime($0.receivedAt, in: zone), resolution: $0.resolution)
            },
            hasFlagged: !flagged.isEmpty, hasUnmatched: !unmatched.isEmpty, canResolve: role != "staff", all: all, notice: notice, error: error
        ), admin, status: status)
    }
}

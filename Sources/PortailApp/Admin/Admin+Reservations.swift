import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// A family's reservation in the back office: its days, and the cancellation of some or all of them
/// (managers, as in the API): a page says what is cancelled and the credit it gives before it is done;
/// the credit note names the days (`LedgerRepository.cancelDays`, the same code as every cancellation).
extension PortailRoutes {
    struct AdminReservationModel {
        struct Day {
            let day: String
            let iso: String
            let units: String
            let price: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let family: Int64
        let familyName: String
        let number: String
        let child: String
        let period: String
        let state: String
        let total: String
        let invoice: String?
        let days: [Day]
        let canCancel: Bool
        let notice: String?
        let error: String?
    }

    struct AdminCancellationModel {
        let page: AdminChrome
        let code: String
        let centerName: String
        let family: Int64
        let number: String
        let child: String
        let period: String
        let days: [String]
        let whole: Bool
        let amount: String
        let invoiced: Bool
        let isos: [String]
    }

    func addAdminReservationRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/centres/:code/familles/:family/reservations/:number", use: admin { admin, context, request in
            let (_, record, role) = try await staffCenter(admin, context: context)
            var notice: String?
            switch request.uri.queryParameters["etat"] {
            case "annule": notice = "Annulation enregistrée."
            case "reserve": notice = "Réservation enregistrée et confirmée."
            default: break
            }
            return try await reservationPage(admin, record: record, role: role, context: context, notice: notice)
        })

        router.post("/admin/centres/:code/familles/:family/reservations/:number/annulation", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else {
                return adminProblem("Réservé aux responsables", "Annuler une réservation est réservé aux responsables de l'accueil.", status: .forbidden)
            }
            guard let family = context.parameters.get("family").flatMap(Int64.init), let number = context.parameters.get("number").flatMap(Int.init),
                  family > 0, number > 0 else { return reservationNotFound }
            let chosen = Set(admin.form.all("jour").prefix(400).compactMap(LocalDate.init(iso:)))
            let found = try await database.withCenter(record.id) { c in
                try await ReservationQueries.reservation(c, center: record.id, family: family, number: number, logger: context.logger)
            }
            guard let (summary, lines) = found else { return reservationNotFound }
            guard summary.state == "confirmed" else {
                return try await reservationPage(admin, record: record, role: role, context: context, error: "Seule une réservation confirmée s'annule.")
            }
            let booked = Set(lines.map(\.day))
            guard !chosen.isEmpty, chosen.isSubset(of: booked) else {
                let error = admin.form["etape"] == "enregistrer" && !chosen.isEmpty
                    ? "Ces jours ne sont plus réservés : la page a peut-être été envoyée deux fois. Voici la réservation telle qu'elle est."
                    : "Cochez les jours à annuler (des jours de cette réservation)."
                return try await reservationPage(admin, record: record, role: role, context: context, error: error)
            }
            let amount = lines.filter { chosen.contains($0.day) }.reduce(Money.zero) { $0 + $1.price }
            guard admin.form["etape"] == "enregistrer" else {
                let invoice = try await database.withCenter(record.id) { c in
                    try await ReservationQueries.ledger(c, center: record.id, reservation: summary.id, logger: context.logger).invoice
                }
                return adminPage("admin-cancellation", AdminCancellationModel(
                    page: admin.chrome, code: record.center.code, centerName: record.center.name, family: family, number: French.number(number),
                    child: summary.childFirstName, period: summary.periodLabel,
                    days: chosen.sorted().map { day in
                        "\(French.weekdayLong(day)) \(day.french) : " + lines.filter { $0.day == day }.map { record.center.designation(forKey: $0.priceKey, plural: false) }.joined(separator: ", ")
                    },
                    whole: chosen == booked, amount: amount.description, invoiced: invoice != nil, isos: chosen.sorted().map(\.iso)
                ), admin)
            }
            do {
                _ = try await database.withCenter(record.id) { c in
                    try await LedgerRepository.cancelDays(chosen, number: number, family: family, now: nil, center: record.center, centerID: record.id,
                                                          actor: "staff:\(session.email)", c, logger: context.logger)
                }
            } catch is CancellationRefusal {
                return try await reservationPage(admin, record: record, role: role, context: context,
                                                 error: "Ces jours ne sont plus réservés : la page a peut-être été envoyée deux fois. Voici la réservation telle qu'elle est.")
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(family)/reservations/\(French.number(number))?etat=annule")
        })
    }

    var reservationNotFound: Response {
        adminProblem("Réservation inconnue", "Cette famille n'a pas de réservation à cette adresse.", status: .notFound)
    }

    func reservationPage(_ admin: AdminRequest, record: CenterRecord, role: String, context: AppRequestContext,
                         notice: String? = nil, error: String? = nil) async throws -> Response {
        guard let family = context.parameters.get("family").flatMap(Int64.init), let number = context.parameters.get("number").flatMap(Int.init),
              family > 0, number > 0 else { return reservationNotFound }
        let loaded = try await database.withCenter(record.id) { c -> (FamilyDetail, ReservationSummary, [ReservationLine], String?, (number: String, total: Money)?)? in
            guard let detail = try await FamilyAdministration.detail(c, center: record.id, family: family, logger: context.logger),
                  let (summary, lines) = try await ReservationQueries.reservation(c, center: record.id, family: family, number: number, logger: context.logger)
            else { return nil }
            let ledger = try await ReservationQueries.ledger(c, center: record.id, reservation: summary.id, logger: context.logger)
            return (detail, summary, lines, ledger.invoice, ledger.lastCreditNote)
        }
        guard let (detail, summary, lines, invoice, note) = loaded else { return reservationNotFound }
        let center = record.center
        let days = Array(Set(lines.map(\.day))).sorted().map { day in
            AdminReservationModel.Day(
                day: "\(French.weekdayLong(day)) \(day.french)", iso: day.iso,
                units: lines.filter { $0.day == day }.map { center.designation(forKey: $0.priceKey, plural: false) }.joined(separator: ", "),
                price: lines.filter { $0.day == day }.reduce(Money.zero) { $0 + $1.price }.description)
        }
        return adminPage("admin-reservation", AdminReservationModel(
            page: admin.chrome, code: center.code, centerName: center.name, family: family, familyName: detail.name,
            number: French.number(number), child: summary.childFirstName, period: summary.periodLabel, state: French.state(summary.state).words,
            total: summary.total.description, invoice: invoice, days: days,
            canCancel: role != "staff" && summary.state == "confirmed" && !days.isEmpty,
            notice: notice.map { text in note.map { "\(text) Avoir \($0.number) de \($0.total)." } ?? text }, error: error
        ), admin, status: error == nil ? .ok : .unprocessableContent)
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore

extension PortailRoutes {
    /// GET /panier, POST /panier/retirer, POST /panier/paiement; GET /reservations/{numéro}.
    func addCartRoutes(to router: Router<AppRequestContext>) {
        router.get("/panier") { request, context in
            try await cartPage(context, added: request.uri.queryParameters["ajout"].flatMap { Int($0) }, notice: nil)
        }

        router.post("/panier/retirer") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard let number = context.form["numero"].flatMap({ Int($0) }) else { throw HTTPError(.badRequest) }
            let removed = try await database.withCenter(record.id) { c in
                try await BookingRepository.removeFromCart(c, center: record.center, centerID: record.id, family: family, number: number, logger: context.logger)
            }
            let notice = removed ? "La réservation \(French.number(number)) a été retirée du panier ; ses places sont libérées."
                                 : "Cette réservation n'est plus dans votre panier."
            return try await cartPage(context, added: nil, notice: notice)
        }

        router.get("/reservations/:numero") { request, context in
            try await reservationPage(context, confirmed: request.uri.queryParameters["confirmee"] != nil, cancelling: false)
        }
    }

    /// A reservation of the family; `cancelling`: the page asks to confirm its cancellation (what is
    /// cancelled, the credit it gives, until when), and nothing is cancelled before the parent says yes.
    func reservationPage(_ context: AppRequestContext, confirmed: Bool, cancelling: Bool, chosen: Set<LocalDate> = []) async throws -> Response {
        let record = try context.requireCenter
        let family = try context.requireFamily
        guard let number = context.parameters.get("numero").flatMap({ Int($0) }) else { throw HTTPError(.notFound) }
        let found = try await database.withCenter(record.id) { c in
            try await ReservationQueries.reservation(c, center: record.id, family: family, number: number, logger: context.logger)
        }
        // Another family's or another center's number: the same 404 as an unknown one.
        guard let (summary, lines) = found else { return Pages.notFound() }
        let center = record.center
        let now = Date()
        let cancellable: String? = {
            guard summary.state == "confirmed", let rule = center.period(summary.periodCode)?.cancellation else { return nil }
            let first = lines.map(\.day).min() ?? summary.firstDay
            let limit = rule.deadline(for: first, in: center.zone)
            return limit > now ? French.dateTime(limit, in: center.zone) : nil
        }()
        // Day by day: each day until its own deadline.
        let rule = center.period(summary.periodCode)?.cancellation
        let days = Array(Set(lines.map(\.day))).sorted()
        let dayChoices = summary.state == "confirmed" && rule != nil ? days.filter { rule!.deadline(for: $0, in: center.zone) > now }.map { day in
            ReservationDetailModel.DayChoice(iso: day.iso, label: "\(French.weekdayLong(day)) \(day.french)",
                                             price: lines.filter { $0.day == day }.reduce(Money.zero) { $0 + $1.price }.description)
        } : []
        let picked = chosen.filter { d in dayChoices.contains { $0.iso == d.iso } }.sorted()
        if cancelling && cancellable == nil && dayChoices.isEmpty { return Pages.redirect("\(context.basePath)/reservations/\(French.number(number))") }
        let model = ReservationDetailModel(
            page: PageChrome(context),
            cancelUntil: cancellable,
            cancelling: cancelling,
            notice: confirmed && summary.state == "confirmed"
                ? "Votre réservation est confirmée. Elle est facturée : réglez-la à l'accueil de loisirs (chèque, espèces, CESU, chèques vacances)." : nil,
            row: ReservationRow(summary, center: center, base: context.basePath),
            lines: lines.map { .init(day: $0.day.french, designation: center.designation(forKey: $0.priceKey, plural: false), price: $0.price.description) },
            total: summary.total.description,
            payment: summary.state == "pending_payment"
                ? "En attente de paiement" + (summary.cartExpiresAt.map { " avant \(French.dateTime($0, in: center.zone))" } ?? "")
                : summary.state == "confirmed" ? "Facturée" : "Aucun paiement",
            cancellableDays: dayChoices, canCancelDays: !dayChoices.isEmpty && days.count > 1,
            chosenDays: picked.map { day in
                "\(French.weekdayLong(day)) \(day.french) : " + lines.filter { $0.day == day }.map { center.designation(forKey: $0.priceKey, plural: false) }.joined(separator: ", ")
            },
            chosenISO: picked.map(\.iso),
            chosenTotal: lines.filter { picked.contains($0.day) }.reduce(Money.zero) { $0 + $1.price }.description,
            partial: !picked.isEmpty && picked.count < days.count
        )
        return templates.page("reservation", model)
    }

    func addCancellationRoutes(to router: Router<AppRequestContext>) {
        // A parent cancels a confirmed reservation before the period's cancellation deadline: credit note.
        // First the page that says what would be cancelled; only its "Oui" cancels.
        router.get("/reservations/:numero/annuler") { _, context in
            try await reservationPage(context, confirmed: false, cancelling: true)
        }
        router.post("/reservations/:numero/annuler") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard let number = context.parameters.get("numero").flatMap({ Int($0) }) else { throw HTTPError(.notFound) }
            // Some days only: the days ticked, asked again on a page that names them and the credit.
            let days = Set(context.form.all("jour").prefix(400).compactMap(LocalDate.init(iso:)))
            guard context.form["confirmer"] == "oui" else {
                if !days.isEmpty { return try await reservationPage(context, confirmed: false, cancelling: true, chosen: days) }
                return Pages.redirect("\(context.basePath)/reservations/\(French.number(number))/annuler")
            }
            do {
                let note = try await database.withCenter(record.id) { c in
                    days.isEmpty
                        ? try await LedgerRepository.cancel(number: number, family: family, now: Date(), center: record.center, centerID: record.id,
                                                            actor: "family:\(family)", c, logger: context.logger)
                        : try await LedgerRepository.cancelDays(days, number: number, family: family, now: Date(), center: record.center,
                                                                centerID: record.id, actor: "family:\(family)", c, logger: context.logger)
                }
                return Pages.redirect("\(context.basePath)/factures" + (note.map { "?annulation=\($0.number)" } ?? ""))
            } catch CancellationRefusal.pastDeadline(let days) {
                return Pages.problem(title: "Annulation impossible", message: "Le délai d'annulation est dépassé pour : \(days.map(\.french).joined(separator: ", ")). Contactez l'accueil de loisirs.",
                                     base: context.basePath, status: .conflict)
            } catch CancellationRefusal.notCancellable {
                return Pages.notFound()
            }
        }
    }

    /// The cart; `added` is a reservation number from the address, named only if it is in this cart.
    func cartPage(_ context: AppRequestContext, added: Int?, notice: String?) async throws -> Response {
        let record = try context.requireCenter
        let family = try context.requireFamily
        let cart = try await database.withCenter(record.id) { c in
            try await ReservationQueries.cart(c, center: record.id, family: family, logger: context.logger)
        }
        let inCart = added.flatMap { number in cart.first { $0.0.number == number } }.map { French.number($0.0.number) }
        return templates.page("cart", CartModel(page: PageChrome(context), center: record.center, cart: cart, added: inCart, notice: notice))
    }
}

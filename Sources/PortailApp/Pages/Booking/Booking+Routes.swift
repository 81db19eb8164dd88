import Foundation
import Hummingbird
import PortailDomain
import PortailStore
import PostgresNIO

extension PortailRoutes {
    /// The booking wizard: child → period → grid → recap → cart.
    func addBookingRoutes(to router: Router<AppRequestContext>) {
        router.get("/reservations/nouvelle") { request, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            let center = record.center
            let now = clock()
            let logger = context.logger
            let query = request.uri.queryParameters
            // A grid's address (a child and a period that has opened for some family, is not over and no
            // waiting room holds now) reads the grid with the family's children, in one statement; it is
            // shown only if the checks below find that child and that period open to it.
            let askedChild = query["enfant"].flatMap { Int64($0) }, askedPeriod = query["periode"].flatMap { center.period(String($0)) }
            let ahead = askedChild != nil && askedPeriod.map { period in
                let openings = period.openings(in: center.zone)
                return period.isOpenForBooking(at: now, in: center.zone, opensAt: nil) && (openings.isEmpty || openings.contains { $0 <= now })
                    && !center.waitingRoomStands(for: period, at: now)
            } == true
            func readGrid(_ c: PostgresConnection) async throws -> BookingRepository.GridReads? {
                try await BookingRepository.gridReads(c, center: record.id, periodCode: askedPeriod!.code, childID: askedChild!, family: family,
                                                      placesLeft: database.placesLeft, logger: logger)
            }
            // Where the center checks neither the family's standing nor its file, the grid's statement is all
            // the page reads: it sets its center itself, one round trip outside any transaction.
            let aloneReads = ahead && !center.checksFamiliesBeforeBooking ? try await database.withoutTransaction(record.id) { try await readGrid($0) } : nil
            let children: [ChildRecord], standing: PriorityStanding, gaps: [FamilyFileGap], aheadReads: BookingRepository.GridReads?
            if let aloneReads {
                (children, standing, gaps, aheadReads) = (aloneReads.children, .none, [], aloneReads)
            } else {
                (children, standing, gaps, aheadReads) = try await database.withCenterReading(record.id) { c in
                    let aheadReads = ahead ? try await readGrid(c) : nil
                    let children = if let aheadReads { aheadReads.children }
                                   else { try await AccountRepository.children(c, center: record.id, family: family, logger: logger) }
                    return (children,
                            try await PriorityQueries.standing(c, center: center, centerID: record.id, family: family, logger: logger),
                            try await FamilyFile.gaps(c, center: record.id, family: family, rules: center.familyFile, now: now, logger: logger),
                            aheadReads)
                }
            }
            // The center's requirements of the family file come first: before any grid, what is missing.
            guard gaps.isEmpty else { return familyFileGapsPage(context, gaps) }
            let today = LocalDate(now, in: center.zone)
            // Step 1, skipped when the family has one child.
            let chosen = query["enfant"].flatMap { id in children.first { String($0.id) == String(id) } }
                ?? (children.count == 1 ? children[0] : nil)
            guard let child = chosen else {
                return templates.page("booking-child", ChooseChildModel(
                    page: PageChrome(context),
                    children: children.map { .init(id: $0.id, name: $0.firstName, age: "\($0.age(on: today)) ans", checked: false) },
                    hasChildren: !children.isEmpty
                ))
            }
            // Open for this family now (perhaps in its priority window), or later: those say when.
            let openings = PeriodOpening.periods(center, for: child, standing: standing, at: now)
            let (open, upcoming) = (openings.filter(\.isOpen), openings.filter { !$0.isOpen })
            let periods = open.map(\.period)
            // Before its opening, a period behind a waiting room lets the family take its place in the line
            // (from `queue_before_minutes` before): first come, first served from the opening on.
            if let code = query["periode"].map(String.init), !periods.contains(where: { $0.code == code }),
               let early = upcoming.first(where: { $0.period.code == code })?.period,
               let room = try await waitingRoom(context, period: early, childID: child.id, now: now) {
                return room
            }
            guard let periodCode = query["periode"].map(String.init), let period = periods.first(where: { $0.code == periodCode }) else {
                return templates.page("booking-period", ChoosePeriodModel(
                    page: PageChrome(context), childID: child.id, childName: child.firstName,
                    periods: open.map {
                        .init(code: $0.period.code, label: $0.period.label, dates: "du \($0.period.startsOn.french) au \($0.period.endsOn.french)",
                              checked: periods.count == 1, opening: $0.words)
                    },
                    hasPeriods: !periods.isEmpty, canChangeChild: children.count > 1,
                    upcoming: upcoming.map {
                        .init(label: $0.period.label, dates: "du \($0.period.startsOn.french) au \($0.period.endsOn.french)", opening: $0.words ?? "",
                              queue: center.waitingRoomStands(for: $0.period, at: clock())
                                  ? "\(context.basePath)/reservations/nouvelle?enfant=\(child.id)&periode=\($0.period.code)" : nil)
                    },
                    hasUpcoming: !upcoming.isEmpty
                ))
            }
            let notice = query["liste"] == "ok"
                ? "\(child.firstName) est inscrit(e) sur la liste d'attente. Si une place se libère, elle lui est réservée dans votre panier et vous êtes prévenu par e-mail."
                : nil
            if let room = try await waitingRoom(context, period: period, childID: child.id, now: now) { return room }
            return try await gridPage(context, record: record, family: family, child: child, period: period, selected: [], error: nil, notice: notice,
                                      reads: child.id == askedChild && period.code == askedPeriod?.code ? aheadReads : nil)
        }

        // A full day's "liste d'attente" button: the child joins the line for that day and unit.
        router.post("/reservations/liste-attente") { _, context in
            let (record, family, child, period, _) = try await bookingInput(context)
            // A file the center requires comes first here too: a freed place would be booked into the cart.
            let gaps = try await familyFileGaps(context, record: record, family: family)
            guard gaps.isEmpty else { return familyFileGapsPage(context, gaps, status: .conflict) }
            if let room = try await waitingRoom(context, period: period, childID: child.id) { return room }
            guard let value = context.form["attente"], let asked = parseSelection([value]), let (day, units) = asked.first, let unit = units.first else {
                throw HTTPError(.badRequest)
            }
            let logger = context.logger
            let refusal: String
            do {
                _ = try await database.withCenter(record.id) { c in
                    try await WaitingList.join(c, center: record.center, centerID: record.id, family: family, child: child, period: period,
                                               day: day, unit: unit, now: Date(), logger: logger)
                }
                return Pages.redirect("\(context.basePath)/reservations/nouvelle?enfant=\(child.id)&periode=\(period.code)&liste=ok")
            } catch let error as WaitingRefusal {
                switch error {
                case .placesLeft: refusal = "Il reste de la place le \(day.french) : cochez la case pour le réserver."
                case .alreadyHeld: refusal = "\(child.firstName) a déjà une réservation le \(day.french)."
                case .alreadyWaiting: refusal = "\(child.firstName) est déjà sur la liste d'attente du \(day.french)."
                case .notBookable: refusal = "Le \(day.french) ne peut plus être réservé dans cette période."
                case .tooMany: refusal = "Votre famille est déjà sur \(WaitingList.familyLimit) listes d'attente : retirez-vous de celles dont vous n'avez plus besoin (Mon compte)."
                }
            }
            return try await gridPage(context, record: record, family: family, child: child, period: period, selected: [],
                                      error: refusal, status: .conflict)
        }

        router.post("/reservations/recapitulatif") { _, context in
            try await handleBooking(context) { record, request in
                let prepared = try await database.withCenterReading(record.id) { c in
                    try await BookingRepository.prepare(c, center: record.center, centerID: record.id, request: request, now: Date(), logger: context.logger)
                }
                return templates.page("booking-recap", recap(context, child: request.child, period: request.period, selection: request.selection,
                                                             lines: prepared.lines, total: prepared.total, repriced: prepared.repriced))
            }
        }

        router.post("/reservations/confirmer") { _, context in
            try await handleBooking(context, expiringCarts: true) { record, request in
                // A center without online payment confirms at once and invoices for payment at the office.
                let payOnline = paymentProvider(record.center) != nil
                let logger = context.logger
                let booked = try await database.withCenter(record.id) { c in
                    let booked = try await BookingRepository.book(c, center: record.center, centerID: record.id, request: request, now: Date(), logger: logger)
                    if !payOnline {
                        try await BookingRepository.confirm(c, center: record.id, reservations: [booked.reservationID], logger: logger)
                        _ = try await LedgerRepository.issueInvoice(for: [booked.reservationID], center: record.center, centerID: record.id,
                                                                    family: request.familyID, c, logger: logger)
                    }
                    return booked
                }
                let number = French.number(booked.number)
                return Pages.redirect(payOnline ? "\(context.basePath)/panier?ajout=\(number)" : "\(context.basePath)/reservations/\(number)?confirmee=1")
            }
        }
    }

    /// The shared part of the recap and the confirmation: the posted child, period and ticked days,
    /// back to the grid when nothing is ticked, and a worded page for a refusal.
    func handleBooking(
        _ context: AppRequestContext, expiringCarts: Bool = false, _ body: (CenterRecord, BookingRequest) async throws -> Response
    ) async throws -> Response {
        // The waiting room first, before any of the booking's work (the center's due carts expired, the
        // family's reads): a family still in line that posts costs the read of its place and no more.
        if let code = context.form["periode"], let asked = try context.requireCenter.center.period(code),
           let room = try await waitingRoom(context, period: asked, childID: context.form["enfant"].flatMap { Int64($0) }) {
            return room
        }
        // A period that opens later for this family gets as far as the booking's own check, which says when.
        let (record, family, child, period, selection) = try await bookingInput(context, orUpcoming: true, expiringCarts: expiringCarts)
        let gaps = try await familyFileGaps(context, record: record, family: family)
        guard gaps.isEmpty else { return familyFileGapsPage(context, gaps, status: .conflict) }
        guard let selection, !selection.isEmpty else {
            return try await gridPage(context, record: record, family: family, child: child, period: period, selected: [],
                                      error: "Cochez au moins un jour avant de valider.", status: .badRequest)
        }
        do {
            return try await body(record, BookingRequest(familyID: family, child: child, period: period, selection: selection))
        } catch BookingRefusal.invalidSelection(let why) {
            // A combination the grid cannot take: the grid again, every box as the parent ticked it.
            return try await gridPage(context, record: record, family: family, child: child, period: period, selected: Set(Self.values(selection)),
                                      error: "Sélection impossible : \(why)."
                                          + (why.contains("même place") ? " Une journée comprend déjà le matin et l'après-midi : décochez l'un ou l'autre." : "")
                                          + " Vos autres jours restent cochés.", status: .unprocessableContent)
        } catch let refusal as BookingRefusal {
            return refusalPage(context, refusal, child: child, period: period, selection: selection)
        }
    }

    /// The child and period of a posted step, both checked against the family and the periods open for
    /// it now (its priority window counts), or also those that open for it later (`orUpcoming`).
    /// With `expiringCarts` (before a booking), the center's carts past their hold are expired first, in
    /// this short transaction: the booking's own then frees only its family's (see `expireDueCarts`).
    func bookingInput(_ context: AppRequestContext, orUpcoming: Bool = false, expiringCarts: Bool = false) async throws -> (CenterRecord, Int64, ChildRecord, Period, [LocalDate: Set<String>]?) {
        let record = try context.requireCenter
        let family = try context.requireFamily
        let logger = context.logger
        func reads(_ c: PostgresConnection) async throws -> ([ChildRecord], PriorityStanding) {
            (try await AccountRepository.children(c, center: record.id, family: family, logger: logger),
             try await PriorityQueries.standing(c, center: record.center, centerID: record.id, family: family, logger: logger))
        }
        let (children, standing) = expiringCarts
            ? try await database.withCenter(record.id) { c in
                let read = try await reads(c)
                // Last, so that a day row freed here is held only until the commit that follows.
                try await BookingRepository.expireDueCartsWithoutWaiting(c, center: record.id, logger: logger)
                return read
            }
            : try await database.withCenterReading(record.id) { c in try await reads(c) }
        guard let child = children.first(where: { String($0.id) == context.form["enfant"] }),
              let period = PeriodOpening.periods(record.center, for: child, standing: standing, at: Date())
                .first(where: { ($0.isOpen || orUpcoming) && $0.period.code == context.form["periode"] })?.period
        else { throw HTTPError(.notFound) }
        return (record, family, child, period, parseSelection(context.form.all("jour")))
    }

    func gridPage(
        _ context: AppRequestContext, record: CenterRecord, family: Int64, child: ChildRecord, period: Period,
        selected: Set<String>, error: String?, notice: String? = nil, status: HTTPResponse.Status = .ok,
        reads readAlready: BookingRepository.GridReads? = nil
    ) async throws -> Response {
        let logger = context.logger
        let center = record.center
        let now = Date()
        let tariff = center.tariff(period.tariff)?.model(for: context.session?.familyCategory)
        // Read already, and priced without the family's quotient: nothing more to read.
        let reads: BookingRepository.GridReads, quotient: Int?
        if let readAlready, tariff?.usesQuotient != true {
            (reads, quotient) = (readAlready, nil)
        } else {
            (reads, quotient) = try await database.withCenterReading(record.id) { c in
                let read = if let readAlready { readAlready }
                           else { try await BookingRepository.gridReads(c, center: record.id, periodCode: period.code, childID: child.id,
                                                                        family: family, placesLeft: database.placesLeft, logger: logger) }
                guard let reads = read else { throw HTTPError(.notFound) }
                let quotient = tariff?.usesQuotient == true
                    ? try await AccountRepository.quotient(c, center: record.id, family: family, on: period.startsOn, logger: logger) : nil
                return (reads, quotient)
            }
        }
        let prices = tariff?.prices(quotient: quotient, siblingRank: 1) ?? [:]
        var model = GridModel(page: PageChrome(context), center: center, period: period, child: child, reads: reads,
                              prices: prices, selected: selected, now: now, error: error, notice: notice)
        // While the family books in its priority window, the heading says so.
        if !period.priorityWindows.isEmpty, let general = period.bookingOpensAt, now < general.instant(in: center.zone) {
            let standing = try await database.withCenterReading(record.id) { c in
                try await PriorityQueries.standing(c, center: record.id, family: family, logger: logger)
            }
            model.opening = PeriodOpening(period, center: center, standing: standing, now: now).gridWords
        }
        return templates.page("booking-grid", model, status: status)
    }

    func recap(_ context: AppRequestContext, child: ChildRecord, period: Period, selection: [LocalDate: Set<String>],
               lines: [PricingEngine.Line], total: Money, error: String? = nil, keepOthers: [String] = [],
               repriced: [RepricedLine] = []) -> RecapModel {
        let center = context.center!.center
        // Sibling prices: the brothers and sisters already in the cart on these days are priced again.
        let siblings = Dictionary(grouping: repriced.filter { $0.before != $0.after }, by: \.childID).values.map { lines in
            let before = lines.reduce(Money.zero) { $0 + $1.before }, after = lines.reduce(Money.zero) { $0 + $1.after }
            return "\(lines[0].childName) : \(before) → \(after)"
        }.sorted()
        return RecapModel(
            page: PageChrome(context), childID: child.id, childName: child.firstName, periodCode: period.code, periodLabel: period.label,
            lines: lines.map { .init(day: French.shortDay($0.day) + "/" + String($0.day.year), designation: center.designation(forKey: $0.key, plural: false), price: $0.price.description) },
            total: total.description,
            selection: Self.values(selection),
            error: error, keepOthers: keepOthers, canKeepOthers: !keepOthers.isEmpty,
            siblingNote: siblings.isEmpty ? nil
                : "Tarif dégressif : avec \(child.firstName), les réservations de votre panier pour les mêmes jours sont recalculées selon le rang de chaque enfant (l'aîné d'abord) — "
                  + siblings.joined(separator: " ; ") + "."
        )
    }

    static func values(_ selection: [LocalDate: Set<String>]) -> [String] {
        selection.keys.sorted().flatMap { day in selection[day]!.sorted().map { "\(day.iso):\($0)" } }
    }

    /// A refused booking, worded for the parent; when days filled up, offers to keep the others.
    func refusalPage(_ context: AppRequestContext, _ refusal: BookingRefusal, child: ChildRecord, period: Period,
                     selection: [LocalDate: Set<String>]) -> Response {
        let center = context.center!.center
        let days = { (list: [LocalDate]) in list.map(\.frenchDayMonth).joined(separator: ", ") }
        let message: String
        var keep: [String] = []
        var status: HTTPResponse.Status = .conflict
        switch refusal {
        case .full(let full):
            message = "Ces jours ne sont plus disponibles (complet) : \(days(full)). Rien n'a été réservé."
            keep = Self.values(selection.filter { !full.contains($0.key) })
        case .pastDeadline(let late):
            let limits = late.map { "le \($0.french) (réservable jusqu'au \(French.dateTime(period.deadline.deadline(for: $0, in: center.zone), in: center.zone)))" }
            message = "Le délai de réservation est dépassé pour " + limits.joined(separator: ", ") + "."
            keep = Self.values(selection.filter { !late.contains($0.key) })
        case .alreadyBooked(let booked):
            message = "\(child.firstName) est déjà inscrit(e) : \(days(booked))."
            keep = Self.values(selection.filter { !booked.contains($0.key) })
        case .invalidSelection(let why):
            message = "Sélection impossible : \(why)."
            status = .badRequest
        case .periodClosed:
            message = "Cette période n'est pas ouverte aux réservations pour \(child.firstName)."
        case .unpriced(let day, let units):
            message = "Aucun tarif ne couvre \(units.joined(separator: " + ")) le \(day.french) : contactez l'accueil de loisirs."
        case .cartFrozen:
            message = "Votre panier est en cours de paiement : attendez la fin du paiement pour ajouter une réservation."
        case .notOpenYet(let opens):
            message = "Les réservations de cette période ouvrent pour vous le \(opens.frenchDayMonth)."
        case .cartHoldsOffer(let until):
            message = "Votre panier contient une place proposée par la liste d'attente, gardée jusqu'au \(French.dateTime(until, in: center.zone)) : "
                + "payez-la ou retirez-la du panier avant de réserver d'autres jours."
        }
        let model = recap(context, child: child, period: period, selection: selection, lines: [], total: .zero, error: message, keepOthers: keep)
        return templates.page("booking-recap", model, status: status)
    }
}

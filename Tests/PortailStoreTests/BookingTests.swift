import Foundation
import Logging
import PortailConfig
import PortailDomain
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailStore

/// A fresh database with the small center imported; gives the database, the center and its id.
func withSmallCenter(places: Int, _ body: @Sendable (Database, Center, Int64) async throws -> Void) async throws {
    let settings = try await TestCluster.shared.freshDatabase()
    let catalog = CenterCatalog.parse(sources: [("petit.yaml", .success(TestCenters.small(places: places)))], paymentRules: [], environment: [:])
    let center = try #require(catalog.centers.first?.center, "\(catalog.allIssues)")
    try await Database(settings: settings, logger: TestCluster.logger).run { database in
        _ = try await CenterImporter(database: database).importCenters([(center, "petit.yaml")], dryRun: false)
        let id = try #require(try await CenterRepository.loadAll(database).first?.id)
        try await body(database, center, id)
    }
}

/// Creates `count` families with one child each (born 2019) and returns (family, child) pairs.
func makeFamilies(_ database: Database, center: Int64, count: Int, children: Int = 1) async throws -> [(Int64, [ChildRecord])] {
    try await database.withCenter(center) { c in
        var result: [(Int64, [ChildRecord])] = []
        for n in 0..<count {
            let family = try await AccountRepository.createFamily(c, center: center, email: "f\(n)@example.org", name: "F\(n)",
                                                                  passwordHash: nil, state: "active", category: nil, logger: database.logger)
            for k in 0..<children {
                try await AccountRepository.addChild(c, center: center, family: family, firstName: "C\(n)-\(k)", lastName: "F",
                                                     birthDate: LocalDate(iso: "201\(5 + k)-05-01")!, logger: database.logger)
            }
            result.append((family, try await AccountRepository.children(c, center: center, family: family, logger: database.logger)))
        }
        return result
    }
}

func book(_ database: Database, _ center: Center, _ id: Int64, family: Int64, child: ChildRecord, days: [LocalDate: Set<String>]) async throws -> BookedReservation {
    let request = BookingRequest(familyID: family, child: child, period: center.periods[0], selection: days)
    return try await database.withCenter(id) { c in
        try await BookingRepository.book(c, center: center, centerID: id, request: request, now: Date(), logger: database.logger)
    }
}

func remaining(_ database: Database, _ id: Int64, on day: LocalDate) async throws -> [String: Int] {
    try await database.withCenter(id) { c in
        let period = try await BookingRepository.periodID(c, center: id, code: "vacances", logger: database.logger)!
        return try await BookingRepository.availability(c, center: id, periodID: period, logger: database.logger)[day]?.remaining ?? [:]
    }
}

@Suite struct BookingTests {
    /// The grid's one statement (`gridReads`) reads what `availability`, `heldByChild` and the waiting list read apart.
    @Test func thePlacesAndWhatAChildHoldsReadInOneStatementAsApart() async throws {
        try await withSmallCenter(places: 2) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 4)
            let (a, b) = (center.periods[0].startsOn.adding(days: 2), center.periods[0].startsOn.adding(days: 3))
            _ = try await book(database, center, id, family: families[0].0, child: families[0].1[0], days: [a: ["journee"], b: ["journee"]])
            _ = try await book(database, center, id, family: families[1].0, child: families[1].1[0], days: [a: ["matin"]])
            // The afternoon of `a` is left to one; the morning is full, and two children wait for it.
            for waiter in families[2...] {
                _ = try await database.withCenter(id) { c in
                    try await WaitingList.join(c, center: center, centerID: id, family: waiter.0, child: waiter.1[0], period: center.periods[0],
                                               day: a, unit: "matin", now: Date(), logger: database.logger)
                }
            }
            try await database.withCenter(id) { c in
                let logger = database.logger
                let periodID = try #require(try await BookingRepository.periodID(c, center: id, code: "vacances", logger: logger))
                let apart = try await BookingRepository.availability(c, center: id, periodID: periodID, logger: logger).mapValues(\.remaining)
                #expect(apart[a] == ["matin": 0, "apres-midi": 1])
                #expect(apart[b] == ["matin": 1, "apres-midi": 1])
                for (family, children) in families {
                    let child = children[0]
                    let together = try #require(try await BookingRepository.gridReads(c, center: id, periodCode: "vacances", childID: child.id,
                                                                                       family: family, logger: logger))
                    #expect(together.availability.mapValues(\.remaining) == apart)
                    #expect(together.children == children)
                    let held = try await BookingRepository.heldByChild(c, center: id, childID: child.id, periodID: periodID, logger: logger)
                    #expect(together.held == held)
                    let waiting = try await WaitingList.select(c, center: id, .init(child: child.id, period: "vacances", states: [.waiting]), logger: logger).entries
                    #expect(together.waiting == Dictionary(grouping: waiting, by: \.day).mapValues { Dictionary(uniqueKeysWithValues: $0.map { ($0.unit, $0.rank ?? 0) }) })
                    switch family {
                    case families[0].0: #expect(held == [a: ["matin", "apres-midi"], b: ["matin", "apres-midi"]] && together.waiting.isEmpty)
                    case families[1].0: #expect(held == [a: ["matin"]] && together.waiting.isEmpty)
                    case families[2].0: #expect(held.isEmpty && together.waiting == [a: ["matin": 1]])
                    default: #expect(held.isEmpty && together.waiting == [a: ["matin": 2]])
                    }
                }
                #expect(try await BookingRepository.gridReads(c, center: id, periodCode: "inconnue", childID: families[0].1[0].id,
                                                              family: families[0].0, logger: logger) == nil)
                // Another family's child: the family's own children, and nothing of that child's days.
                let stranger = try #require(try await BookingRepository.gridReads(c, center: id, periodCode: "vacances", childID: families[0].1[0].id,
                                                                                 family: families[2].0, logger: logger))
                #expect(stranger.children == families[2].1 && stranger.held.isEmpty && stranger.waiting.isEmpty && stranger.availability.mapValues(\.remaining) == apart)
                let strangerWaiting = try #require(try await BookingRepository.gridReads(c, center: id, periodCode: "vacances", childID: families[2].1[0].id,
                                                                                        family: families[0].0, logger: logger))
                #expect(strangerWaiting.waiting.isEmpty && strangerWaiting.children == families[0].1)
            }
        }
    }

    /// 50 parents confirm the same day at once with 5 places left: exactly 5 get it.
    @Test func noDayIsEverOverbooked() async throws {
        try await withSmallCenter(places: 5) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 50)
            let target = center.periods[0].startsOn.adding(days: 2)
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for (family, children) in families {
                    group.addTask {
                        do {
                            _ = try await book(database, center, id, family: family, child: children[0], days: [target: ["journee"]])
                            return true
                        } catch BookingRefusal.full(let days) {
                            #expect(days == [target])
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 5)
            #expect(outcomes.filter { !$0 }.count == 45)
            // The database agrees: no place left, five reservations holding the day, counters consistent.
            #expect(try await remaining(database, id, on: target) == ["matin": 0, "apres-midi": 0])
            let held = try await database.owner.withConnection { c in
                try await c.first("""
                    SELECT count(*)::int FROM reservation_lines l JOIN reservations r ON r.center_id = l.center_id AND r.id = l.reservation_id
                    WHERE r.state = 'pending_payment' AND l.day = \(target.iso)::date
                    """, (Int.self), logger: database.logger)
            }
            #expect(held == 5)
        }
    }

    @Test func anUnpaidCartExpiresAndGivesItsPlacesBack() async throws {
        try await withSmallCenter(places: 3) { database, center, id in
            let (family, children) = try #require(try await makeFamilies(database, center: id, count: 1).first)
            let d = center.periods[0].startsOn
            let booked = try await book(database, center, id, family: family, child: children[0], days: [d: ["journee"], d.adding(days: 1): ["matin"]])
            #expect(booked.total == Money(cents: 1600))
            #expect(try await remaining(database, id, on: d) == ["matin": 2, "apres-midi": 2])
            #expect((booked.cartExpiresAt?.timeIntervalSinceNow ?? 0) > 29 * 60)
            // The hold runs out (as if 30 minutes had passed).
            try await database.owner.withConnection { c in
                try await c.run("UPDATE carts SET expires_at = now() - interval '1 second'", logger: database.logger)
            }
            // Counting places expires it first: correctness does not wait for the background job.
            #expect(try await remaining(database, id, on: d) == ["matin": 3, "apres-midi": 3])
            #expect(try await remaining(database, id, on: d.adding(days: 1)) == ["matin": 3, "apres-midi": 3])
            let state = try await database.withCenter(id) { c in
                try await ReservationQueries.reservation(c, center: id, family: family, number: booked.number, logger: database.logger)?.0.state
            }
            #expect(state == "expired")
            #expect(try await database.withCenter(id) { c in try await ReservationQueries.cart(c, center: id, family: family, logger: database.logger) }.isEmpty)
        }
    }

    @Test func removingALineFreesItsPlacesAtOnce() async throws {
        try await withSmallCenter(places: 2) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 3)
            let d = center.periods[0].startsOn
            let first = try await book(database, center, id, family: families[0].0, child: families[0].1[0], days: [d: ["journee"]])
            _ = try await book(database, center, id, family: families[1].0, child: families[1].1[0], days: [d: ["journee"]])
            await #expect(throws: BookingRefusal.full([d])) {
                _ = try await book(database, center, id, family: families[2].0, child: families[2].1[0], days: [d: ["journee"]])
            }
            let removed = try await database.withCenter(id) { c in
                try await BookingRepository.removeFromCart(c, center: center, centerID: id, family: families[0].0, number: first.number, logger: database.logger)
            }
            #expect(removed)
            _ = try await book(database, center, id, family: families[2].0, child: families[2].1[0], days: [d: ["journee"]])
            #expect(try await remaining(database, id, on: d) == ["matin": 0, "apres-midi": 0])
        }
    }

    @Test func refusalsTakeNothing() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 2, children: 2)
            let (family, children) = families[0]
            let d = center.periods[0].startsOn
            _ = try await book(database, center, id, family: family, child: children[0], days: [d: ["matin"]])
            // The same child cannot hold the morning twice, even inside a journée.
            await #expect(throws: BookingRefusal.alreadyBooked([d])) {
                _ = try await book(database, center, id, family: family, child: children[0], days: [d: ["journee"]])
            }
            // One full day among several refuses the whole request and takes none of the others.
            let other = families[1]
            await #expect(throws: BookingRefusal.full([d])) {
                _ = try await book(database, center, id, family: other.0, child: other.1[0], days: [d: ["matin"], d.adding(days: 1): ["matin"]])
            }
            #expect(try await remaining(database, id, on: d.adding(days: 1))["matin"] == 1)
            // Past the deadline (a day before the period's start is not open; today+1 is inside no period here).
            await #expect(throws: BookingRefusal.self) {
                _ = try await book(database, center, id, family: family, child: children[1], days: [d.adding(days: -3): ["matin"]])
            }
        }
    }

    @Test func siblingsBookedTheSameDayPayTheDegressivePrice() async throws {
        try await withSmallCenter(places: 10) { database, center, id in
            let (family, children) = try #require(try await makeFamilies(database, center: id, count: 1, children: 2).first)
            let d = center.periods[0].startsOn
            let oldest = try #require(children.min { $0.birthDate < $1.birthDate })
            let youngest = try #require(children.max { $0.birthDate < $1.birthDate })
            let first = try await book(database, center, id, family: family, child: oldest, days: [d: ["journee"]])
            let second = try await book(database, center, id, family: family, child: youngest, days: [d: ["journee"], d.adding(days: 1): ["journee"]])
            #expect(first.total == Money(cents: 1000))
            #expect(second.total == Money(cents: 800 + 1000))  // 2nd child on d, alone on d+1
            // Both reservations are in the same cart, with one deadline.
            #expect(first.cartExpiresAt == second.cartExpiresAt)
            let cart = try await database.withCenter(id) { c in try await ReservationQueries.cart(c, center: id, family: family, logger: database.logger) }
            #expect(cart.count == 2)
            #expect(cart.map(\.0.number) == [first.number, second.number])
        }
    }

    /// Issue 15, item 8: booking the younger child then the older one costs what the other order costs;
    /// the cart is priced again when a sibling joins it or leaves it, and a paid day keeps its price.
    @Test func siblingPricesDoNotDependOnTheOrderOfBooking() async throws {
        try await withSmallCenter(places: 10) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 3, children: 2)
            let d = center.periods[0].startsOn
            func older(_ f: Int) -> ChildRecord { families[f].1.min { $0.birthDate < $1.birthDate }! }
            func younger(_ f: Int) -> ChildRecord { families[f].1.max { $0.birthDate < $1.birthDate }! }
            func cart(_ f: Int) async throws -> [Int] {
                try await database.withCenter(id) { c in
                    try await c.all("""
                        SELECT total_cents::int FROM reservations WHERE center_id = \(id) AND family_id = \(families[f].0)
                          AND state IN ('pending_payment', 'confirmed') ORDER BY id
                        """, (Int.self), logger: database.logger)
                }
            }
            // Family 0: older first. Family 1: younger first, then the older joins the cart: the younger's
            // day is priced again at the 2nd child's price, and both carts cost the same.
            _ = try await book(database, center, id, family: families[0].0, child: older(0), days: [d: ["journee"]])
            _ = try await book(database, center, id, family: families[0].0, child: younger(0), days: [d: ["journee"]])
            let youngerFirst = try await book(database, center, id, family: families[1].0, child: younger(1), days: [d: ["journee"], d.adding(days: 1): ["journee"]])
            #expect(youngerFirst.total == Money(cents: 2000))
            let prepared = try await database.withCenter(id) { c in
                try await BookingRepository.prepare(c, center: center, centerID: id, request: BookingRequest(
                    familyID: families[1].0, child: older(1), period: center.periods[0], selection: [d: ["journee"]]), now: Date(), logger: database.logger)
            }
            #expect(prepared.repriced.map { [$0.before.cents, $0.after.cents, $0.rank] } == [[1000, 800, 2]])
            _ = try await book(database, center, id, family: families[1].0, child: older(1), days: [d: ["journee"]])
            #expect(try await cart(0) == [1000, 800])
            #expect(try await cart(1) == [800 + 1000, 1000])
            // The older leaves the cart: the younger is alone again on d and pays the 1st child's price.
            let removed = try await database.withCenter(id) { c in
                try await BookingRepository.removeFromCart(c, center: center, centerID: id, family: families[1].0, number: 4, logger: database.logger)
            }
            #expect(removed)
            #expect(try await cart(1) == [2000])

            // Family 2: the younger's day is paid (rank 1 kept), then the older is booked: it takes rank 2.
            let paid = try await book(database, center, id, family: families[2].0, child: younger(2), days: [d: ["journee"]])
            try await database.withCenter(id) { c in
                try await BookingRepository.confirm(c, center: id, reservations: [paid.reservationID], logger: database.logger)
            }
            let late = try await book(database, center, id, family: families[2].0, child: older(2), days: [d: ["journee"]])
            #expect(late.total == Money(cents: 800))
            #expect(try await cart(2) == [1000, 800])
        }
    }

    /// A sibling booked while the payment of the cart starts (two tabs, or two parents): one goes first,
    /// never a deadlock, and the attempt pays exactly what its reservations' lines cost.
    @Test func aSiblingBookedWhileThePaymentStartsNeverDeadlocksNorMisprices() async throws {
        try await withSmallCenter(places: 40) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 12, children: 2)
            let d = center.periods[0].startsOn
            for (family, children) in families {
                let younger = children.max { $0.birthDate < $1.birthDate }!, older = children.min { $0.birthDate < $1.birthDate }!
                _ = try await book(database, center, id, family: family, child: younger, days: [d: ["journee"]])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do { _ = try await book(database, center, id, family: family, child: older, days: [d: ["journee"]]) }
                        catch BookingRefusal.cartFrozen {}  // the payment went first: the cart is being paid
                    }
                    group.addTask {
                        try await database.withCenter(id) { c in
                            _ = try await PaymentRepository.begin(c, center: center, centerID: id, family: family, provider: "TEST", sessionLimit: 600,
                                                                  logger: database.logger)
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let (attempts, mismatched, lines) = try await database.withCenter(id) { c in
                try await c.first("""
                    SELECT (SELECT count(*)::int FROM payment_attempts),
                           (SELECT count(*)::int FROM payment_attempts a WHERE a.amount_cents <> (
                                SELECT sum(r.total_cents) FROM payment_attempt_reservations x
                                JOIN reservations r ON r.center_id = x.center_id AND r.id = x.reservation_id
                                WHERE x.center_id = a.center_id AND x.attempt_id = a.id)),
                           (SELECT count(*)::int FROM reservations r WHERE r.total_cents <> (
                                SELECT sum(l.price_cents) FROM reservation_lines l WHERE l.center_id = r.center_id AND l.reservation_id = r.id))
                    """, (Int, Int, Int).self, logger: database.logger)!
            }
            #expect(attempts == families.count)
            #expect(mismatched == 0)
            #expect(lines == 0)
        }
    }
}

@Suite struct LedgerTotalsTests {
    /// Invoices, payments and allocations recorded in several orders always give
    /// restant dû = invoices − allocations, and counts that match.
    @Test(arguments: [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]])
    func totalsAreConsistentWhateverTheOrder(order: [Int]) async throws {
        try await withSmallCenter(places: 10) { database, center, id in
            let (family, children) = try #require(try await makeFamilies(database, center: id, count: 1).first)
            let d = center.periods[0].startsOn
            // Two reservations (10 € and 20 €) to invoice, then payments of 15 € and 12 €.
            let a = try await book(database, center, id, family: family, child: children[0], days: [d: ["journee"]])
            let b = try await book(database, center, id, family: family, child: children[0], days: [d.adding(days: 1): ["journee"], d.adding(days: 2): ["journee"]])
            let totals = try await database.withCenter(id) { c in
                var invoices: [Int64: LedgerRepository.Issued] = [:]
                var payments: [Int64] = []
                for step in order {
                    switch step {
                    case 0: invoices[a.reservationID] = try await LedgerRepository.issueInvoice(for: [a.reservationID], center: center, centerID: id, family: family, c, logger: database.logger)
                    case 1: invoices[b.reservationID] = try await LedgerRepository.issueInvoice(for: [b.reservationID], center: center, centerID: id, family: family, c, logger: database.logger)
                    case 2: payments.append(try await LedgerRepository.recordPayment(center: center, centerID: id, family: family, amount: Money(cents: 1500), method: "cheque", provider: nil, label: "Chèque", attempt: nil, c, logger: database.logger).id)
                    default: payments.append(try await LedgerRepository.recordPayment(center: center, centerID: id, family: family, amount: Money(cents: 1200), method: "especes", provider: nil, label: "Espèces", attempt: nil, c, logger: database.logger).id)
                    }
                }
                // 10 € of the first payment to invoice A, 5 € to invoice B; 12 € to B.
                let first = invoices[a.reservationID]!.id, second = invoices[b.reservationID]!.id
                try await LedgerRepository.allocate(payment: payments[0], invoice: first, amount: Money(cents: 1000), center: id, c, logger: database.logger)
                try await LedgerRepository.allocate(payment: payments[0], invoice: second, amount: Money(cents: 500), center: id, c, logger: database.logger)
                try await LedgerRepository.allocate(payment: payments[1], invoice: second, amount: Money(cents: 1200), center: id, c, logger: database.logger)
                let totals = try await LedgerQueries.totals(c, center: id, family: family, logger: database.logger)
                let entries = try await LedgerQueries.entriesAndTotals(c, center: id, family: family, offset: 0, limit: 50, logger: database.logger)
                #expect("\(entries.totals)" == "\(totals)")
                // Pages of 3: a full page, the last one, one past the end; each says 4 in all, with the same totals.
                var pages: [(rows: [LedgerEntry], total: Int)] = []
                for offset in [0, 3, 6] {
                    let page = try await LedgerQueries.entriesAndTotals(c, center: id, family: family, offset: offset, limit: 3, logger: database.logger)
                    #expect("\(page.totals)" == "\(totals)")
                    pages.append((page.rows, page.total))
                }
                #expect(pages.map(\.rows.count) == [3, 1, 0] && pages.map(\.total) == [4, 4, 4])
                #expect(pages.flatMap(\.rows).map(\.number) == entries.rows.map(\.number))
                // All of the same instant here: by kind, then newest id first.
                let order = entries.rows.map { ($0.kind.rawValue, $0.id) }
                #expect(order.map(\.0) == order.map(\.0).sorted())
                #expect(zip(order, order.dropFirst()).allSatisfy { $0.0 != $1.0 || $0.1 > $1.1 })
                return (totals, entries)
            }
            let (sums, list) = totals
            #expect(sums.invoiced == Money(cents: 3000))
            #expect(sums.invoiceCount == 2)
            #expect(sums.paid == Money(cents: 2700))
            #expect(sums.paymentCount == 2)
            #expect(sums.due == Money(cents: 3000 - 2700))
            #expect(sums.unsettledCount == 1)
            #expect(list.total == 4)
            #expect(list.rows.filter { $0.kind == .invoice }.reduce(Money.zero) { $0 + $1.open } == sums.due)
            // Numbers are gap-free whatever the order.
            #expect(Set(list.rows.filter { $0.kind == .invoice }.map(\.number)) == ["PET00001", "PET00002"])
        }
    }
}

/// The totals the database keeps as the ledger is written (`family_totals`, `open_invoices`) are what adding up
/// every document of the family gives, through invoices, payments, allocations, a cancellation's credit note
/// and reversals, a refund and a family that has nothing yet.
@Suite struct KeptTotalsTests {
    /// Every document of the family added up, as Mon compte did before the totals were kept.
    static let addedUp = """
        SELECT inv.invoiced, inv.invoices, inv.due, inv.unsettled, pay.paid, pay.payments, pay.allocated FROM (
            SELECT coalesce(sum(i.total_cents - coalesce(cn.credited, 0)), 0)::bigint AS invoiced, count(*)::bigint AS invoices,
                   coalesce(sum(greatest(i.total_cents - coalesce(cn.credited, 0) - coalesce(a.allocated, 0), 0)), 0)::bigint AS due,
                   count(*) FILTER (WHERE i.total_cents - coalesce(cn.credited, 0) - coalesce(a.allocated, 0) > 0)::bigint AS unsettled
            FROM invoices i
            LEFT JOIN LATERAL (SELECT sum(cn.total_cents) AS credited FROM invoices cn
                               WHERE cn.center_id = i.center_id AND cn.credit_of = i.id AND cn.kind = 'credit_note') cn ON true
            LEFT JOIN LATERAL (SELECT sum(a.amount_cents) AS allocated FROM allocations a
                               WHERE a.center_id = i.center_id AND a.invoice_id = i.id) a ON true
            WHERE i.center_id = $1 AND i.family_id = $2 AND i.kind = 'invoice'
        ) inv, (
            SELECT coalesce(sum(p.amount_cents), 0)::bigint AS paid, count(*)::bigint AS payments,
                   coalesce(sum((SELECT sum(a.amount_cents) FROM allocations a
                                 WHERE a.center_id = p.center_id AND a.payment_id = p.id)), 0)::bigint AS allocated
            FROM payments p WHERE p.center_id = $1 AND p.family_id = $2
        ) pay
        """

    func expectKeptTotalsAddUp(_ c: PostgresConnection, center: Int64, families: [Int64], logger: Logger) async throws {
        for family in families {
            let kept = try await LedgerQueries.totals(c, center: center, family: family, logger: logger)
            var bindings = PostgresBindings()
            bindings.append(center)
            bindings.append(family)
            let row = try #require(try await c.all(PostgresQuery(unsafeSQL: Self.addedUp, binds: bindings), (Int, Int, Int, Int, Int, Int, Int).self, logger: logger).first)
            #expect("\(kept)" == "\(LedgerTotals(columns: [row.0, row.1, row.2, row.3, row.4, row.5, row.6]))", "family \(family)")
        }
    }

    @Test func theKeptTotalsAreWhatAddingUpTheLedgerGives() async throws {
        try await withSmallCenter(places: 10) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 3)
            let (family, child) = (families[0].0, families[0].1[0])
            let d = center.periods[0].startsOn
            let a = try await book(database, center, id, family: family, child: child, days: [d: ["journee"]])
            let b = try await book(database, center, id, family: family, child: child, days: [d.adding(days: 1): ["journee"], d.adding(days: 2): ["journee"]])
            let other = try await book(database, center, id, family: families[1].0, child: families[1].1[0], days: [d: ["matin"]])
            let logger = database.logger
            let all = families.map(\.0)
            try await database.withCenter(id) { c in
                try await expectKeptTotalsAddUp(c, center: id, families: all, logger: logger)
                try await BookingRepository.confirm(c, center: id, reservations: [a.reservationID, b.reservationID, other.reservationID], logger: logger)
                let invoiceA = try #require(try await LedgerRepository.issueInvoice(for: [a.reservationID], center: center, centerID: id, family: family, c, logger: logger))
                let invoiceB = try #require(try await LedgerRepository.issueInvoice(for: [b.reservationID], center: center, centerID: id, family: family, c, logger: logger))
                _ = try await LedgerRepository.issueInvoice(for: [other.reservationID], center: center, centerID: id, family: families[1].0, c, logger: logger)
                let cheque = try await LedgerRepository.recordPayment(center: center, centerID: id, family: family, amount: Money(cents: 2500), method: "cheque",
                                                                      provider: nil, label: "Chèque", attempt: nil, c, logger: logger).id
                try await LedgerRepository.allocate(payment: cheque, invoice: invoiceA.id, amount: invoiceA.total, center: id, c, logger: logger)
                try await LedgerRepository.allocate(payment: cheque, invoice: invoiceB.id, amount: Money(cents: 2500) - invoiceA.total, center: id, c, logger: logger)
                try await expectKeptTotalsAddUp(c, center: id, families: all, logger: logger)
                // Cancelling A: a credit note, and what the cheque gave A goes back to the family's credit (a reversal).
                _ = try await LedgerRepository.cancel(number: a.number, family: nil, now: nil, center: center, centerID: id, actor: "test", c, logger: logger)
                try await expectKeptTotalsAddUp(c, center: id, families: all, logger: logger)
                // Part of that credit is given back.
                _ = try await LedgerRepository.refund(amount: Money(cents: 300), method: "virement", reference: "", center: center, centerID: id,
                                                      family: family, actor: "test", c, logger: logger)
                try await expectKeptTotalsAddUp(c, center: id, families: all, logger: logger)
                let kept = try await LedgerQueries.totals(c, center: id, family: family, logger: logger)
                #expect(kept.invoiceCount == 2 && kept.paymentCount == 1 && kept.paid == Money(cents: 2500))
                #expect(kept.paid - kept.allocated == invoiceA.total - Money(cents: 300))
            }
        }
    }

    /// `ledger_drift` (migration 0046) names each kept row that a write around the triggers left wrong, and
    /// `LedgerDrift.rebuild` writes one family's rows again from its documents; the application role can do neither.
    @Test func aKeptRowWrittenAroundTheTriggersIsListedThenWrittenAgain() async throws {
        try await withSmallCenter(places: 10) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 2)
            let (a, b) = (families[0].0, families[1].0)
            let d = center.periods[0].startsOn
            let first = try await book(database, center, id, family: a, child: families[0].1[0], days: [d: ["journee"], d.adding(days: 1): ["journee"]])
            let second = try await book(database, center, id, family: b, child: families[1].1[0], days: [d: ["journee"]])
            let logger = database.logger
            let invoice = try await database.withCenter(id) { c in
                try await BookingRepository.confirm(c, center: id, reservations: [first.reservationID, second.reservationID], logger: logger)
                let invoice = try #require(try await LedgerRepository.issueInvoice(for: [first.reservationID], center: center, centerID: id, family: a, c, logger: logger))
                _ = try await LedgerRepository.issueInvoice(for: [second.reservationID], center: center, centerID: id, family: b, c, logger: logger)
                let cheque = try await LedgerRepository.recordPayment(center: center, centerID: id, family: a, amount: Money(cents: 500), method: "cheque",
                                                                      provider: nil, label: "Chèque", attempt: nil, c, logger: logger).id
                try await LedgerRepository.allocate(payment: cheque, invoice: invoice.id, amount: Money(cents: 500), center: id, c, logger: logger)
                return invoice
            }
            #expect(try await LedgerDrift.rows(database).isEmpty)
            // Written as the owner, around the triggers: A's totals and open invoice, B's amount due (kept as A's).
            try await database.owner.withConnection { c in
                try await c.run("UPDATE family_totals SET paid_cents = paid_cents + 100 WHERE center_id = \(id) AND family_id = \(a)", logger: logger)
                try await c.run("DELETE FROM open_invoices WHERE center_id = \(id) AND family_id = \(a)", logger: logger)
                try await c.run("UPDATE open_invoices SET due_cents = 1, family_id = \(a) WHERE center_id = \(id) AND family_id = \(b)", logger: logger)
            }
            let drift = try await LedgerDrift.rows(database)
            #expect(drift.map { "\($0.familyID) \($0.keptIn)" }.sorted() == ["\(a) family_totals", "\(a) open_invoices", "\(b) open_invoices"].sorted())
            let missing = try #require(drift.first { $0.familyID == a && $0.keptIn == "open_invoices" })
            #expect(missing.rowOf == "invoice \(invoice.id)" && missing.kept == nil && missing.fromLedger == String(invoice.total.cents - 500))
            #expect(drift.first { $0.familyID == b }?.kept == "1 (kept for family \(a))")
            // Read for the one center (its documents alone added up), the same rows; none for another center.
            #expect(try await LedgerDrift.rows(database, center: id).map { "\($0.familyID) \($0.keptIn) \($0.rowOf) \($0.kept ?? "-") \($0.fromLedger ?? "-")" }
                    == drift.map { "\($0.familyID) \($0.keptIn) \($0.rowOf) \($0.kept ?? "-") \($0.fromLedger ?? "-")" })
            #expect(try await LedgerDrift.rows(database, center: id + 1).isEmpty)
            // The application role reads none of it, and cannot write the kept rows through the function.
            for statement in ["SELECT count(*) FROM ledger_drift", "SELECT count(*) FROM family_totals_from_ledger",
                              "SELECT portail_rebuild_ledger_totals(\(id), \(a))"] {
                await #expect(throws: (any Error).self, "\(statement)") {
                    try await database.withCenter(id) { c in try await c.run(PostgresQuery(unsafeSQL: statement), logger: logger) }
                }
            }
            #expect(try await LedgerDrift.rebuild(database, center: id, family: a) == 2)
            #expect(try await LedgerDrift.rows(database).map(\.familyID) == [b])
            #expect(try await LedgerDrift.rebuild(database, center: id, family: a) == 0)
            #expect(try await LedgerDrift.rebuild(database, center: id, family: 999_999) == nil)
            #expect(try await LedgerDrift.rebuild(database, center: id, family: b) == 1)
            #expect(try await LedgerDrift.rows(database).isEmpty)
            try await database.withCenter(id) { c in
                try await expectKeptTotalsAddUp(c, center: id, families: [a, b], logger: logger)
            }
        }
    }
}

/// Behind a PgBouncer older than 1.21 (transaction pooling), `PORTAIL_DB_PREPARED=off` sends the hot
/// path's statements unnamed: nothing is prepared on the connection, and the answers are the same.
@Suite struct PreparedStatementSwitchTests {
    @Test func theHotPathRunsWithoutNamedStatementsWhenAsked() async throws {
        try await withSmallCenter(places: 3) { database, _, id in
            func run() async throws -> (Int64?, Int) {
                try await database.withCenter(id) { c in
                    let period = try await BookingRepository.periodID(c, center: id, code: "vacances", logger: database.logger)
                    let prepared = try await c.first("SELECT count(*)::int FROM pg_prepared_statements", (Int.self), logger: database.logger) ?? -1
                    return (period, prepared)
                }
            }
            PreparedStatements.enabled = false
            defer { PreparedStatements.enabled = true }
            // A connection of its own: the pool's others may hold statements prepared by earlier requests.
            let (unnamed, _) = try await run()
            let count = try await database.app.withConnection { c in
                try await c.query("BEGIN", logger: database.logger)
                _ = try await c.first("SELECT set_config('portail.center_id', \(String(id)), true)", (String.self), logger: database.logger)
                _ = try await c.row(BookingRepository.PeriodID(bindings: try .of(id, "vacances")), (Int64.self), logger: database.logger)
                let n = try await c.first("SELECT count(*)::int FROM pg_prepared_statements WHERE name LIKE '%PeriodID%'", (Int.self), logger: database.logger) ?? -1
                try await c.query("COMMIT", logger: database.logger)
                return n
            }
            #expect(count == 0)
            PreparedStatements.enabled = true
            let (named, _) = try await run()
            #expect(unnamed != nil && unnamed == named)
            let preparedNow = try await database.app.withConnection { c in
                try await c.query("BEGIN", logger: database.logger)
                _ = try await c.first("SELECT set_config('portail.center_id', \(String(id)), true)", (String.self), logger: database.logger)
                _ = try await c.row(BookingRepository.PeriodID(bindings: try .of(id, "vacances")), (Int64.self), logger: database.logger)
                let n = try await c.first("SELECT count(*)::int FROM pg_prepared_statements", (Int.self), logger: database.logger) ?? -1
                try await c.query("COMMIT", logger: database.logger)
                return n
            }
            #expect(preparedNow > 0)
        }
    }
}

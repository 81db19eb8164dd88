import Foundation
import PortailDomain
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailStore

@Suite struct AccountReadsTests {
    /// Mon compte's one statement (`ReservationQueries.account`) reads, page by page, what the reservations'
    /// page, the cart, the waiting lines and the ledger's totals read apart, for a family with some of each
    /// and for families with none.
    @Test func monComptesOneStatementReadsWhatItsPartsReadApart() async throws {
        try await withSmallCenter(places: 2) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 4)
            let logger = database.logger
            let d = center.periods[0].startsOn
            let (f0, c0) = (families[0].0, families[0].1[0])
            // The first family: four reservations, two confirmed and invoiced (one of them paid in part), two in its cart.
            var booked: [BookedReservation] = []
            let asked: [[LocalDate: Set<String>]] = [[d: ["journee"]], [d.adding(days: 1): ["journee"]], [d.adding(days: 2): ["matin"]],
                                                     [d.adding(days: 3): ["journee"]]]
            for days in asked {
                booked.append(try await book(database, center, id, family: f0, child: c0, days: days))
            }
            try await database.withCenter(id) { c in
                try await BookingRepository.confirm(c, center: id, reservations: [booked[0].reservationID, booked[1].reservationID], logger: logger)
                let invoice = try #require(try await LedgerRepository.issueInvoice(for: [booked[0].reservationID], center: center, centerID: id, family: f0, c, logger: logger))
                _ = try await LedgerRepository.issueInvoice(for: [booked[1].reservationID], center: center, centerID: id, family: f0, c, logger: logger)
                let payment = try await LedgerRepository.recordPayment(center: center, centerID: id, family: f0, amount: Money(cents: 500), method: "cheque",
                                                                       provider: nil, label: "Chèque", attempt: nil, c, logger: logger)
                try await LedgerRepository.allocate(payment: payment.id, invoice: invoice.id, amount: Money(cents: 500), center: id, c, logger: logger)
            }
            // The second family fills the first day; the third and fourth wait for it, in that order.
            _ = try await book(database, center, id, family: families[1].0, child: families[1].1[0], days: [d: ["journee"]])
            for waiter in families[2...] {
                _ = try await database.withCenter(id) { c in
                    try await WaitingList.join(c, center: center, centerID: id, family: waiter.0, child: waiter.1[0], period: center.periods[0],
                                               day: d, unit: "journee", now: Date(), logger: logger)
                }
            }

            try await database.withCenter(id) { c in
                for (family, _) in families {
                    // Pages of 3: a full page, the last one, one past the end.
                    for offset in [0, 3, 6] {
                        let together = try await ReservationQueries.account(c, center: id, family: family, offset: offset, limit: 3, logger: logger)
                        let page = try await ReservationQueries.page(c, center: id, family: family, offset: offset, limit: 3, logger: logger)
                        #expect(together.reservations.map { "\($0)" } == page.rows.map { "\($0)" })
                        #expect(together.total == page.total)
                        let cart = try await ReservationQueries.cartSummaries(c, center: id, family: family, logger: logger)
                        #expect(together.cart.map { "\($0)" } == cart.map { "\($0)" })
                        let waiting = try await WaitingList.select(c, center: id, .init(family: family, states: [.waiting, .offered]), logger: logger).entries
                        #expect(together.waiting.map { "\($0)" } == waiting.map { "\($0)" })
                        let totals = try await LedgerQueries.totals(c, center: id, family: family, logger: logger)
                        #expect("\(together.totals)" == "\(totals)")
                    }
                }
                let first = try await ReservationQueries.account(c, center: id, family: f0, offset: 0, limit: 3, logger: logger)
                #expect(first.total == 4 && first.reservations.map(\.number) == booked.reversed().prefix(3).map(\.number))
                #expect(first.cart.map(\.number) == [booked[2].number, booked[3].number])
                #expect(first.totals.invoiceCount == 2 && first.totals.paymentCount == 1 && first.totals.paid == Money(cents: 500)
                        && first.totals.due == first.totals.invoiced - Money(cents: 500) && first.totals.unsettledCount == 2)
                #expect(first.waiting.isEmpty)
                let ranks = try await [families[2].0, families[3].0].asyncMap { family in
                    try await ReservationQueries.account(c, center: id, family: family, offset: 0, limit: 3, logger: logger).waiting.map(\.rank)
                }
                #expect(ranks == [[1], [2]])
                let none = try await ReservationQueries.account(c, center: id, family: families[3].0, offset: 0, limit: 3, logger: logger)
                #expect(none.total == 0 && none.reservations.isEmpty && none.cart.isEmpty && none.totals.invoiceCount == 0 && none.totals.due == .zero)
            }
        }
    }

    /// The pages' one statements set their center themselves (`CenterStatement`): outside any transaction
    /// they read what they read inside one, the center they set lasts for that statement only, and inside a
    /// transaction set to another center they read nothing and leave its center as it was.
    @Test func aPagesStatementSetsItsCenterForItselfAlone() async throws {
        try await withSmallCenter(places: 2) { database, center, id in
            let family = try await makeFamilies(database, center: id, count: 1)[0]
            let logger = database.logger
            let d = center.periods[0].startsOn
            let booked = try await book(database, center, id, family: family.0, child: family.1[0], days: [d: ["journee"]])
            try await database.withCenter(id) { c in
                try await BookingRepository.confirm(c, center: id, reservations: [booked.reservationID], logger: logger)
                _ = try await LedgerRepository.issueInvoice(for: [booked.reservationID], center: center, centerID: id, family: family.0, c, logger: logger)
            }
            func reads(_ c: PostgresConnection) async throws -> String {
                let account = try await ReservationQueries.account(c, center: id, family: family.0, offset: 0, limit: 10, logger: logger)
                let ledger = try await LedgerQueries.entriesAndTotals(c, center: id, family: family.0, offset: 0, limit: 10, logger: logger)
                let grid = try await BookingRepository.gridReads(c, center: id, periodCode: center.periods[0].code, childID: family.1[0].id,
                                                                 family: family.0, logger: logger)
                return "\(account.reservations.map(\.number)) \(account.total) \(account.totals) | \(ledger.rows.map(\.number)) \(ledger.totals) | "
                    + "\(grid.map { ($0.held.keys.sorted(), $0.availability.count, $0.children.map(\.id)) } as Any)"
            }
            let inside = try await database.withCenter(id) { c in try await reads(c) }
            #expect(inside.contains("[\(booked.number)] 1"), "\(inside)")
            let held = try await database.withoutTransaction(id) { c in
                try await BookingRepository.gridReads(c, center: id, periodCode: center.periods[0].code, childID: family.1[0].id, family: family.0, logger: logger)?.held[d]
            }
            #expect(held?.isEmpty == false)
            let outside = try await database.withoutTransaction(id) { c in
                // Seven times on one connection: PostgreSQL's generic plan (from the sixth) sets its center first too.
                var read = try await reads(c)
                for _ in 1...6 {
                    let again = try await reads(c)
                    #expect(again == read)
                    read = again
                }
                // The center lasted for each statement alone: a statement of its own that does not set it sees nothing.
                let seen = try await c.first("SELECT count(*)::int FROM reservations", (Int.self), logger: logger)
                let setting = try await c.first("SELECT coalesce(current_setting('portail.center_id', true), '')", (String.self), logger: logger)
                #expect(seen == 0 && setting == "")
                return read
            }
            #expect(outside == inside)
            // In a transaction of another center: nothing read (Mon compte and Mes factures say so, the grid finds
            // no period), that center kept.
            try await database.withCenter(id + 1) { c in
                await #expect(throws: CenterStatement.NotSet.self) {
                    _ = try await ReservationQueries.account(c, center: id, family: family.0, offset: 0, limit: 10, logger: logger)
                }
                await #expect(throws: CenterStatement.NotSet.self) {
                    _ = try await LedgerQueries.entriesAndTotals(c, center: id, family: family.0, offset: 0, limit: 10, logger: logger)
                }
                let grid = try await BookingRepository.gridReads(c, center: id, periodCode: center.periods[0].code, childID: family.1[0].id,
                                                                 family: family.0, logger: logger)
                #expect(grid == nil)
                let setting = try await c.first("SELECT current_setting('portail.center_id')", (String.self), logger: logger)
                #expect(setting == String(id + 1))
            }
        }
    }
}

private extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

import Foundation
import Logging
import PortailDomain
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailStore

/// Waiting lists against a real database: ranks, places held back for the line, offers that take the
/// place, pass on when unpaid, and end when paid.
@Suite struct WaitingListTests {
    func join(_ database: Database, _ center: Center, _ id: Int64, _ family: (Int64, [ChildRecord]), _ day: LocalDate, _ unit: String) async throws -> WaitingEntry {
        try await database.withCenter(id) { c in
            try await WaitingList.join(c, center: center, centerID: id, family: family.0, child: family.1[0], period: center.periods[0],
                                       day: day, unit: unit, now: Date(), logger: database.logger)
        }
    }

    func entries(_ database: Database, _ id: Int64) async throws -> [Int64: WaitingEntry] {
        let all = try await database.withCenter(id) { c in try await WaitingList.select(c, center: id, .init(), logger: database.logger).entries }
        return Dictionary(uniqueKeysWithValues: all.map { ($0.familyID, $0) })
    }

    func pass(_ database: Database, _ center: Center, _ id: Int64) async throws -> [WaitingList.Offer] {
        try await WaitingList.offerFreedPlaces(database, center: center, centerID: id, logger: database.logger) { offer in
            (subject: "Place pour \(offer.childName)", body: "jusqu'au \(offer.expiresAt)")
        }
    }

    /// The family removes reservation `number` from its cart (the place frees at once).
    func remove(_ database: Database, _ center: Center, _ id: Int64, family: Int64, number: Int) async throws {
        _ = try await database.withCenter(id) { c in
            try await BookingRepository.removeFromCart(c, center: center, centerID: id, family: family, number: number, logger: database.logger)
        }
    }

    func mails(_ database: Database, _ id: Int64) async throws -> [Outbox.Mail] {
        try await database.withCenter(id) { c in try await Outbox.recent(c, center: id, logger: database.logger) }
    }

    @Test func aFreedPlaceGoesToTheFirstInLineThenToTheNextWhenTheOfferExpires() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 5)
            let (a, b, c, d, e) = (families[0], families[1], families[2], families[3], families[4])
            let day = center.periods[0].startsOn
            let first = try await book(database, center, id, family: a.0, child: a.1[0], days: [day: ["journee"]])
            try await database.withCenter(id) { c in
                try await BookingRepository.confirm(c, center: id, reservations: [first.reservationID], logger: database.logger)
            }

            // The day is full: b, c and d get in line, in that order; a matin waits behind the journées it shares a place with.
            #expect(try await join(database, center, id, b, day, "journee").rank == 1)
            #expect(try await join(database, center, id, c, day, "journee").rank == 2)
            #expect(try await join(database, center, id, d, day, "matin").rank == 3)
            await #expect(throws: WaitingRefusal.alreadyWaiting) { _ = try await join(database, center, id, b, day, "journee") }
            await #expect(throws: WaitingRefusal.alreadyHeld) { _ = try await join(database, center, id, a, day, "matin") }
            await #expect(throws: WaitingRefusal.placesLeft) { _ = try await join(database, center, id, b, day.adding(days: 1), "journee") }

            // The staff cancel a's day: the place is held back for the line, not left to a quicker parent.
            try await database.withCenter(id) { c in
                _ = try await LedgerRepository.cancel(number: first.number, family: nil, now: nil, center: center, centerID: id, actor: "test", c, logger: database.logger)
            }
            #expect(try await remaining(database, id, on: day) == ["matin": 0, "apres-midi": 0])
            await #expect(throws: BookingRefusal.full([day])) {
                _ = try await book(database, center, id, family: e.0, child: e.1[0], days: [day: ["matin"]])
            }

            // The pass offers it to b alone: a reservation in b's cart held about a day, and a mail.
            let offers = try await pass(database, center, id)
            #expect(offers.map(\.familyEmail) == ["f1@example.org"])
            let offer = try #require(offers.first)
            #expect(offer.expiresAt.timeIntervalSinceNow > 23 * 3600 && offer.expiresAt.timeIntervalSinceNow <= 24 * 3600 + 5)
            let cart = try await database.withCenter(id) { c in try await ReservationQueries.cart(c, center: id, family: b.0, logger: database.logger) }
            #expect(cart.map(\.0.number) == [offer.reservationNumber])
            #expect(try await mails(database, id).contains { $0.to == "f1@example.org" && $0.subject == "Place pour C1-0" })
            var line = try await entries(database, id)
            #expect(line[b.0]?.state == .offered && line[b.0]?.reservationNumber == offer.reservationNumber)
            #expect(line[c.0]?.rank == 1 && line[d.0]?.rank == 2)
            // Never more offers than free places: a second pass finds none.
            #expect(try await pass(database, center, id).isEmpty)

            // b does not pay: when the offer's hold runs out, the place goes to c.
            try await database.owner.withConnection { conn in
                try await conn.run("UPDATE carts SET expires_at = now() - interval '1 second' WHERE family_id = \(b.0)", logger: database.logger)
            }
            try await database.withCenter(id) { conn in _ = try await BookingRepository.expireDueCarts(conn, center: id, logger: database.logger) }
            let second = try await pass(database, center, id)
            #expect(second.map(\.familyEmail) == ["f2@example.org"])
            line = try await entries(database, id)
            #expect(line[b.0]?.state == .expired)
            #expect(line[c.0]?.state == .offered)
            #expect(line[d.0]?.rank == 1)

            // c pays: the offer ends as booked, d stays first in line, the day is exactly full.
            let reservation = try await database.withCenter(id) { conn in
                try await ReservationQueries.cart(conn, center: id, family: c.0, logger: database.logger).map(\.0.id)
            }
            try await database.withCenter(id) { conn in
                try await BookingRepository.confirm(conn, center: id, reservations: reservation, logger: database.logger)
            }
            #expect(try await pass(database, center, id).isEmpty)
            line = try await entries(database, id)
            #expect(line[c.0]?.state == .booked)
            #expect(line[d.0]?.state == .waiting && line[d.0]?.rank == 1)
            let taken = try await database.owner.withConnection { conn in
                try await conn.first("SELECT taken FROM day_capacities WHERE day = \(day.iso)::date AND unit = 'matin'", (Int.self), logger: database.logger)
            }
            #expect(taken == 1)

            // d leaves the line; the places it held back are free for everyone again once the day frees.
            let withdrawn = try await database.withCenter(id) { conn in
                try await WaitingList.withdraw(conn, center: id, family: d.0, id: line[d.0]!.id, logger: database.logger)
            }
            #expect(withdrawn)
            #expect(try await entries(database, id)[d.0]?.state == .withdrawn)
        }
    }

    /// A freed matin fits the matin waiting behind a journée that still cannot be served: it is offered
    /// to the matin; the journée keeps its rank.
    @Test func anOfferGoesToTheFirstInLineThatThePlaceFits() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 4)
            let day = center.periods[0].startsOn
            let morning = try await book(database, center, id, family: families[0].0, child: families[0].1[0], days: [day: ["matin"]])
            _ = try await book(database, center, id, family: families[1].0, child: families[1].1[0], days: [day: ["apres-midi"]])
            _ = try await join(database, center, id, families[2], day, "journee")
            _ = try await join(database, center, id, families[3], day, "matin")
            let removed = try await database.withCenter(id) { c in
                try await BookingRepository.removeFromCart(c, center: center, centerID: id, family: families[0].0, number: morning.number, logger: database.logger)
            }
            #expect(removed)
            let offers = try await pass(database, center, id)
            #expect(offers.map(\.familyEmail) == ["f3@example.org"])
            let line = try await entries(database, id)
            #expect(line[families[2].0]?.state == .waiting && line[families[2].0]?.rank == 1)
        }
    }

    /// A family whose file lacks what the center requires keeps its rank and is passed over: the freed
    /// place goes to the next in line.
    @Test func aFamilyWithAnIncompleteFileIsPassedOver() async throws {
        try await withSmallCenter(places: 1) { database, plain, id in
            var center = plain
            center.familyFile = FamilyFileRules(required: [.contacts])
            let families = try await makeFamilies(database, center: id, count: 4)
            let day = center.periods[0].startsOn
            let morning = try await book(database, center, id, family: families[0].0, child: families[0].1[0], days: [day: ["journee"]])
            _ = try await join(database, center, id, families[1], day, "journee")
            _ = try await join(database, center, id, families[2], day, "journee")
            try await database.withCenter(id) { c in
                try await FamilyFile.saveContacts(c, center: id, family: families[2].0, .init(addressLines: ["1 rue"], postcode: "06650", city: "Opio", phone: "0600000000"),
                                                  rules: center.familyFile, logger: database.logger)
            }
            try await remove(database, center, id, family: families[0].0, number: morning.number)
            let offers = try await pass(database, center, id)
            #expect(offers.map(\.familyEmail) == ["f2@example.org"])
            let line = try await entries(database, id)
            #expect(line[families[1].0]?.state == .waiting && line[families[1].0]?.rank == 1)
        }
    }

    /// Passed over for its incomplete file, an entry no longer holds the freed place back: a family
    /// booking the usual way takes it (before, every such booking was refused as full and the place
    /// stayed empty). Once the file is complete, the next pass offers the entry the next free place.
    @Test func anEntryPassedOverForItsFileHoldsNoPlaceBack() async throws {
        try await withSmallCenter(places: 1) { database, plain, id in
            var center = plain
            center.familyFile = FamilyFileRules(required: [.contacts])
            let families = try await makeFamilies(database, center: id, count: 3)
            let day = center.periods[0].startsOn
            let first = try await book(database, center, id, family: families[0].0, child: families[0].1[0], days: [day: ["journee"]])
            _ = try await join(database, center, id, families[1], day, "journee")
            try await remove(database, center, id, family: families[0].0, number: first.number)
            // While the entry fits the place and was not passed over yet, the place is held back for it.
            #expect(try await remaining(database, id, on: day)["matin"] == 0)
            #expect(try await pass(database, center, id).isEmpty)
            #expect(try await remaining(database, id, on: day)["matin"] == 1)
            let other = try await book(database, center, id, family: families[2].0, child: families[2].1[0], days: [day: ["journee"]])
            #expect(try await entries(database, id)[families[1].0]?.state == .waiting)

            // The file completed, the entry is offered the next place freed.
            try await database.withCenter(id) { c in
                try await FamilyFile.saveContacts(c, center: id, family: families[1].0, .init(addressLines: ["1 rue"], postcode: "06650", city: "Opio", phone: "0600000000"),
                                                  rules: center.familyFile, logger: database.logger)
            }
            try await remove(database, center, id, family: families[2].0, number: other.number)
            #expect(try await pass(database, center, id).map(\.familyEmail) == ["f1@example.org"])
            #expect(try await entries(database, id)[families[1].0]?.state == .offered)
        }
    }

    /// An offer never lengthens nor shortens the hold of an earlier offer in the family's cart: one made
    /// an hour later waits, its place kept, until the first is paid or removed, then gets its own full hold.
    @Test func aLaterOfferWaitsForTheEarlierOneInsteadOfSharingItsCart() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 3)
            let (monday, tuesday) = (center.periods[0].startsOn, center.periods[0].startsOn.adding(days: 1))
            let first = try await book(database, center, id, family: families[0].0, child: families[0].1[0], days: [monday: ["journee"]])
            let second = try await book(database, center, id, family: families[1].0, child: families[1].1[0], days: [tuesday: ["journee"]])
            _ = try await join(database, center, id, families[2], monday, "journee")
            _ = try await join(database, center, id, families[2], tuesday, "journee")
            let cartExpiry = {
                try await database.withCenter(id) { c in
                    try await c.first("SELECT expires_at FROM carts WHERE center_id = \(id) AND family_id = \(families[2].0) AND state = 'open'",
                                      (Date.self), logger: database.logger)
                }
            }
            try await remove(database, center, id, family: families[0].0, number: first.number)
            let start = Date()
            let offered = try await WaitingList.offerFreedPlaces(database, center: center, centerID: id, now: start, logger: database.logger) { _ in ("", "") }
            #expect(offered.map(\.day) == [monday])
            let held = try #require(try await cartExpiry())

            // An hour later Tuesday frees: the family's cart keeps Monday's hold, and Tuesday waits, held back for it.
            try await remove(database, center, id, family: families[1].0, number: second.number)
            let later = try await WaitingList.offerFreedPlaces(database, center: center, centerID: id, now: start.addingTimeInterval(3600),
                                                               logger: database.logger) { _ in ("", "") }
            #expect(later.isEmpty)
            #expect(abs(try #require(try await cartExpiry()).timeIntervalSince(held)) < 1)
            #expect(try await remaining(database, id, on: tuesday)["matin"] == 0)

            // Monday's offer removed, the next pass offers Tuesday with a hold of its own.
            try await remove(database, center, id, family: families[2].0, number: offered[0].reservationNumber)
            let next = try await WaitingList.offerFreedPlaces(database, center: center, centerID: id, now: start.addingTimeInterval(3600),
                                                              logger: database.logger) { _ in ("", "") }
            #expect(next.map(\.day) == [tuesday])
            #expect(abs(next[0].expiresAt.timeIntervalSince(held) - 3600) < 1)
        }
    }

    /// A place that no child in line can use is not held back: a journée waiting while the après-midi
    /// is full leaves a freed matin to anyone.
    @Test func aPlaceNobodyInLineCanUseIsLeftToEveryone() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 4)
            let day = center.periods[0].startsOn
            let morning = try await book(database, center, id, family: families[0].0, child: families[0].1[0], days: [day: ["matin"]])
            _ = try await book(database, center, id, family: families[1].0, child: families[1].1[0], days: [day: ["apres-midi"]])
            _ = try await join(database, center, id, families[2], day, "journee")
            try await remove(database, center, id, family: families[0].0, number: morning.number)
            #expect(try await remaining(database, id, on: day)["matin"] == 1)
            _ = try await book(database, center, id, family: families[3].0, child: families[3].1[0], days: [day: ["matin"]])
            #expect(try await pass(database, center, id).isEmpty)
        }
    }

    /// Offers and days booked the usual way never share a cart: an offer's long hold never covers other
    /// days. A family holding an offer books more after paying or removing it; an offer waits, keeping
    /// its place, until the family's other days are paid or expired.
    @Test func anOfferNeverSharesItsCartWithOtherDays() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 3)
            let (a, b, c) = (families[0], families[1], families[2])
            let day = center.periods[0].startsOn, other = day.adding(days: 3)
            let first = try await book(database, center, id, family: a.0, child: a.1[0], days: [day: ["journee"]])
            _ = try await join(database, center, id, b, day, "journee")
            _ = try await join(database, center, id, c, day, "journee")
            // b has a day of its own in its cart when the place frees: the offer waits, the place stays b's.
            _ = try await book(database, center, id, family: b.0, child: b.1[0], days: [other: ["matin"]])
            _ = try await database.withCenter(id) { conn in
                try await BookingRepository.removeFromCart(conn, center: center, centerID: id, family: a.0, number: first.number, logger: database.logger)
            }
            #expect(try await pass(database, center, id).isEmpty)
            #expect(try await entries(database, id)[b.0]?.state == .waiting)
            #expect(try await remaining(database, id, on: day)["matin"] == 0)
            // b's other day expires: the offer goes out, in a cart of its own.
            try await database.owner.withConnection { conn in
                try await conn.run("UPDATE carts SET expires_at = now() - interval '1 second' WHERE family_id = \(b.0)", logger: database.logger)
            }
            try await database.withCenter(id) { conn in _ = try await BookingRepository.expireDueCarts(conn, center: id, logger: database.logger) }
            let offers = try await pass(database, center, id)
            #expect(offers.map(\.familyEmail) == ["f1@example.org"])
            // b cannot add days to the cart that holds the offer.
            await #expect(throws: BookingRefusal.cartHoldsOffer(offers[0].expiresAt)) {
                _ = try await book(database, center, id, family: b.0, child: b.1[0], days: [other: ["apres-midi"]])
            }
        }
    }

    /// Entries of a day whose booking deadline has passed are closed, never offered.
    @Test func aDayPastItsDeadlineClosesItsLine() async throws {
        try await withSmallCenter(places: 1) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 2)
            let day = center.periods[0].startsOn
            let booked = try await book(database, center, id, family: families[0].0, child: families[0].1[0], days: [day: ["journee"]])
            _ = try await join(database, center, id, families[1], day, "journee")
            try await database.withCenter(id) { c in
                _ = try await BookingRepository.removeFromCart(c, center: center, centerID: id, family: families[0].0, number: booked.number, logger: database.logger)
            }
            let late = day.adding(days: 1).instant(at: LocalTime(hour: 8, minute: 0)!, in: center.zone)
            let offers = try await WaitingList.offerFreedPlaces(database, center: center, centerID: id, now: late, logger: database.logger) { _ in ("", "") }
            #expect(offers.isEmpty)
            #expect(try await entries(database, id)[families[1].0]?.state == .closed)
        }
    }
}

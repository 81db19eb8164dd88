import Foundation
import Logging
import PortailDomain
import PostgresNIO

extension WaitingList {
    /// A freed place offered to a family: whom to tell, and until when the place is held.
    public struct Offer: Sendable {
        public var entryID: Int64
        public var familyEmail: String
        public var childName: String
        public var day: LocalDate
        public var unit: String
        public var reservationNumber: Int
        public var total: Money
        public var expiresAt: Date
    }

    /// One pass over a center's waiting lists, safe on every instance at once:
    /// 1. offers whose reservation ended become booked (paid), expired or declined (removed from the cart);
    /// 2. entries whose day can no longer be booked are closed;
    /// 3. every waiting entry whose capacity units all have a free place, first in line first, gets the
    ///    place: a reservation in the family's cart held until the offer's deadline (the center's
    ///    `waitingListOfferHours`, never past the day's booking deadline), and an e-mail worded by `mail`,
    ///    queued in the same transaction.
    /// An offer takes its place, so there are never more offers out than free places. An unpaid offer
    /// expires with its cart, which frees the place for the next pass and the next in line.
    @discardableResult
    public static func offerFreedPlaces(
        _ database: Database, center: Center, centerID: Int64, now: Date = Date(), logger: Logger,
        mail: @escaping @Sendable (Offer) -> (subject: String, body: String)
    ) async throws -> [Offer] {
        let (candidates, freeAtStart) = try await database.withCenter(centerID) { c in
            try await settleOffers(c, center: centerID, logger: logger)
            try await closeDeadDays(c, center: center, centerID: centerID, now: now, logger: logger)
            // Waiting entries that a free place fits, in line order, and the free places of their days.
            let candidates = try await c.all("""
                SELECT w.id, w.period_id, w.day::text, w.capacity_units FROM waiting_list w
                WHERE w.center_id = \(centerID) AND w.state = 'waiting' AND \(unescaped: entryFits)
                ORDER BY w.id LIMIT 500
                """, (Int64, Int64, String, [String]).self, logger: logger)
            var free: [String: Int] = [:]
            for (period, day, unit, left) in try await c.all("""
                SELECT d.period_id, d.day::text, d.unit, d.places - d.taken FROM day_capacities d
                WHERE d.center_id = \(centerID) AND (d.period_id, d.day) IN (
                    SELECT w.period_id, w.day FROM waiting_list w WHERE w.center_id = \(centerID) AND w.state = 'waiting')
                """, (Int64, String, String, Int).self, logger: logger) {
                free["\(period)|\(day)|\(unit)"] = left
            }
            return (candidates, free)
        }
        var offers: [Offer] = []
        var free = freeAtStart
        for (id, period, day, capacity) in candidates {
            let keys = capacity.map { "\(period)|\(day)|\($0)" }
            // Each offer uses a free place: once a day's places are offered, the rest of its line waits
            // for the next pass without a transaction each.
            guard keys.allSatisfy({ (free[$0] ?? 0) > 0 }) else { continue }
            do {
                if let offer = try await offer(database, entry: id, center: center, centerID: centerID, now: now, logger: logger, mail: mail) {
                    offers.append(offer)
                }
                // Offered, or being offered by another instance: the place is this entry's either way.
                for key in keys { free[key, default: 0] -= 1 }
            } catch BookingRefusal.full {
                continue  // taken meanwhile; the entry keeps its rank
            } catch is FamilyFileIncomplete {
                // Passed over until its file is complete: the place goes to the next in line, or to anyone
                // booking the usual way (the entry no longer holds it back); looked at again each pass.
                try await database.withCenter(centerID) { c in
                    try await c.run("""
                        UPDATE waiting_list SET file_incomplete = true WHERE center_id = \(centerID) AND id = \(id) AND state = 'waiting'
                        """, logger: logger)
                }
                continue
            } catch BookingRefusal.cartFrozen {
                // The family's cart is being paid, or holds days booked the usual way: the places it
                // waits for stay with it until the next pass rather than going to the next in line.
                for key in keys { free[key, default: 0] -= 1 }
            } catch let refusal as BookingRefusal {
                // The child holds the day already, the day's deadline passed, the period closed or lost its
                // price: the entry can never be served.
                logger.info("waiting list entry \(id) closed: \(refusal)")
                try await database.withCenter(centerID) { c in
                    try await c.run("""
                        UPDATE waiting_list SET state = 'closed', ended_at = now() WHERE center_id = \(centerID) AND id = \(id) AND state = 'waiting'
                        """, logger: logger)
                }
            }
        }
        return offers
    }

    /// The family first in line lacks what the center requires of its file: it waits, the next is served.
    struct FamilyFileIncomplete: Error {}

    /// Offers the place to one entry, in a transaction of its own; nil when another instance got to it.
    static func offer(
        _ database: Database, entry id: Int64, center: Center, centerID: Int64, now: Date, logger: Logger,
        mail: @Sendable (Offer) -> (subject: String, body: String)
    ) async throws -> Offer? {
        try await database.withCenter(centerID) { c -> Offer? in
            guard let (family, childID, code, dayText, unit, email, familyState) = try await c.first("""
                SELECT w.family_id, w.child_id, p.code, w.day::text, w.unit, f.email, f.state
                FROM waiting_list w
                JOIN periods p ON p.center_id = w.center_id AND p.id = w.period_id
                JOIN families f ON f.center_id = w.center_id AND f.id = w.family_id
                WHERE w.center_id = \(centerID) AND w.id = \(id) AND w.state = 'waiting'
                FOR UPDATE OF w SKIP LOCKED
                """, (Int64, Int64, String, String, String, String, String).self, logger: logger) else { return nil }
            // A family whose file lacks what the center requires before booking keeps its rank and is
            // passed over, as its own booking would be refused.
            guard try await FamilyFile.gaps(c, center: centerID, family: family, rules: center.familyFile, now: now, logger: logger).isEmpty else {
                throw FamilyFileIncomplete()
            }
            let children = try await AccountRepository.children(c, center: centerID, family: family, logger: logger)
            guard familyState == "active", let child = children.first(where: { $0.id == childID }), let period = center.period(code),
                  let day = LocalDate(iso: dayText)
            else { throw BookingRefusal.periodClosed }
            let until = min(now.addingTimeInterval(Double(center.waitingListOfferHours) * 3600), period.deadline.deadline(for: day, in: center.zone))
            var request = BookingRequest(familyID: family, child: child, period: period, selection: [day: [unit]])
            request.offerHeldUntil = until
            let booked = try await BookingRepository.book(c, center: center, centerID: centerID, request: request, now: now, logger: logger)
            let expires = booked.cartExpiresAt ?? until
            try await c.run("""
                UPDATE waiting_list SET state = 'offered', offered_at = now(), offer_expires_at = \(expires), reservation_id = \(booked.reservationID),
                    file_incomplete = false
                WHERE center_id = \(centerID) AND id = \(id)
                """, logger: logger)
            let offer = Offer(entryID: id, familyEmail: email, childName: child.firstName, day: day, unit: unit,
                              reservationNumber: booked.number, total: booked.total, expiresAt: expires)
            let words = mail(offer)
            try await Outbox.enqueue(c, center: centerID, to: email, subject: words.subject, body: words.body, logger: logger)
            return offer
        }
    }

    /// Offers whose reservation was paid, expired or removed from the cart end with it; an expired
    /// offer paid late after all (the bank's notification came after the deadline) ends booked.
    static func settleOffers(_ c: PostgresConnection, center: Int64, logger: Logger) async throws {
        try await c.run("""
            UPDATE waiting_list w
            SET state = CASE r.state WHEN 'confirmed' THEN 'booked' WHEN 'expired' THEN 'expired' ELSE 'declined' END, ended_at = now()
            FROM reservations r
            WHERE w.center_id = \(center) AND r.center_id = w.center_id AND r.id = w.reservation_id
              AND ((w.state = 'offered' AND r.state <> 'pending_payment') OR (w.state = 'expired' AND r.state = 'confirmed'))
            """, logger: logger)
    }

    /// Entries of days that can no longer be booked (deadline passed, day or period closed) are closed:
    /// nobody waits for a day that cannot come.
    static func closeDeadDays(_ c: PostgresConnection, center: Center, centerID: Int64, now: Date, logger: Logger) async throws {
        let lines = try await c.all("""
            SELECT DISTINCT p.code, w.day::text FROM waiting_list w JOIN periods p ON p.center_id = w.center_id AND p.id = w.period_id
            WHERE w.center_id = \(centerID) AND w.state = 'waiting'
            """, (String, String).self, logger: logger)
        let dead = lines.filter { code, dayText in
            guard let period = center.period(code), let day = LocalDate(iso: dayText) else { return true }
            return period.closed || !period.openDays.contains(day) || !period.isBookable(day, at: now, in: center.zone)
        }
        guard !dead.isEmpty else { return }
        try await c.run("""
            UPDATE waiting_list w SET state = 'closed', ended_at = now()
            FROM periods p, unnest(\(dead.map(\.0))::text[], \(dead.map(\.1))::date[]) AS d(code, day)
            WHERE w.center_id = \(centerID) AND w.state = 'waiting' AND p.center_id = w.center_id AND p.id = w.period_id
              AND p.code = d.code AND w.day = d.day
            """, logger: logger)
    }
}

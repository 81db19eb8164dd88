import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// A line of the family's cart priced again because the children booked on its day changed.
public struct RepricedLine: Sendable, Hashable {
    public var reservationID: Int64
    public var childID: Int64
    public var childName: String
    public var day: LocalDate
    public var priceKey: String
    public var before: Money
    public var after: Money
    public var rank: Int
}

/// Sibling ranks that do not depend on the order children are booked in (`PricingEngine.ranks`): a day
/// paid or confirmed keeps the rank it was priced with; the family's open cart is priced again when a
/// sibling is added to it or removed from it, before payment.
extension BookingRepository {
    /// One of the family's lines on a day being priced.
    struct SiblingLine {
        var day: LocalDate
        var child: PricingEngine.Child
        var childName: String
        var rank: Int
        /// Paid, confirmed, or in a cart being paid: its price no longer changes.
        var fixed: Bool
        var reservationID: Int64
        var priceKey: String
        var price: Money
        var tariff: String
        /// The line was priced with the tariff's current version (only those are priced again).
        var currentVersion: Bool
        var firstDay: LocalDate
    }

    /// The family's lines (in the cart or confirmed) on `days`, in one query. A cart's line that cannot be
    /// priced again (an older tariff version, a tariff or price key gone) counts as fixed at its rank, so
    /// that no other child is ranked as if it had moved.
    static func siblingLines(
        _ c: PostgresConnection, center: Center, centerID: Int64, family: Int64, category: String?, days: [LocalDate], logger: Logger
    ) async throws -> [SiblingLine] {
        try await rawSiblingLines(c, center: centerID, family: family, days: days, logger: logger).map { line in
            var line = line
            let priceable = line.currentVersion
                && center.tariff(line.tariff)?.model(for: category).prices(quotient: nil, siblingRank: 1)[line.priceKey] != nil
            if !priceable { line.fixed = true }
            return line
        }
    }

    private static func rawSiblingLines(_ c: PostgresConnection, center: Int64, family: Int64, days: [LocalDate], logger: Logger) async throws -> [SiblingLine] {
        try await c.all("""
            SELECT l.day::text, ch.id, ch.birth_date::text, ch.first_name, coalesce(l.sibling_rank, 1)::int,
                   (r.state = 'confirmed' OR k.state IS DISTINCT FROM 'open'), r.id, l.price_key, l.price_cents, l.tariff,
                   coalesce(l.tariff_version = (SELECT max(t.version) FROM tariffs t WHERE t.center_id = l.center_id AND t.code = l.tariff), false),
                   r.first_day::text
            FROM reservation_lines l
            JOIN reservations r ON r.center_id = l.center_id AND r.id = l.reservation_id
            JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
            LEFT JOIN carts k ON k.center_id = r.center_id AND k.id = r.cart_id
            WHERE r.center_id = \(center) AND r.family_id = \(family) AND l.day = ANY(\(days.map(\.iso))::date[])
              AND (r.state = 'confirmed' OR (r.state = 'pending_payment' AND NOT \(unescaped: ReservationQueries.cartIsDue)))
            """, (String, Int64, String, String, Int, Bool, Int64, String, Int, String, Bool, String).self, logger: logger).map {
            SiblingLine(day: LocalDate(iso: $0.0)!, child: .init(id: $0.1, birthDate: LocalDate(iso: $0.2)!), childName: $0.3, rank: $0.4,
                        fixed: $0.5, reservationID: $0.6, priceKey: $0.7, price: Money(cents: $0.8), tariff: $0.9, currentVersion: $0.10,
                        firstDay: LocalDate(iso: $0.11)!)
        }
    }

    /// Each child's rank on each of `days`, `adding` the child being booked (if any).
    static func siblingRanks(_ lines: [SiblingLine], adding child: PricingEngine.Child?, on days: [LocalDate]) -> [LocalDate: [Int64: Int]] {
        let byDay = Dictionary(grouping: lines, by: \.day)
        var result: [LocalDate: [Int64: Int]] = [:]
        for day in days {
            let lines = byDay[day] ?? []
            var fixed: [Int64: Int] = [:]
            for line in lines where line.fixed { fixed[line.child.id] = fixed[line.child.id] ?? line.rank }
            var movable: [Int64: PricingEngine.Child] = [:]
            for line in lines where fixed[line.child.id] == nil { movable[line.child.id] = line.child }
            if let child, fixed[child.id] == nil { movable[child.id] = child }
            result[day] = fixed.merging(PricingEngine.ranks(fixed: Array(fixed.values), movable: Array(movable.values))) { a, _ in a }
        }
        return result
    }

    /// The cart's lines whose rank (and so price) changes under `ranks`, priced again with their tariff when
    /// it is still the current version (a line priced under an older version keeps its price).
    static func repricing(
        _ c: PostgresConnection, _ lines: [SiblingLine], ranks: [LocalDate: [Int64: Int]], center: Center, centerID: Int64, family: Int64,
        category: String?, logger: Logger
    ) async throws -> [RepricedLine] {
        let changing = lines.filter { line in
            guard !line.fixed, let rank = ranks[line.day]?[line.child.id] else { return false }
            return rank != line.rank
        }
        guard !changing.isEmpty else { return [] }
        var quotients: [LocalDate: Int?] = [:]
        for day in Set(changing.map(\.firstDay)) {
            quotients[day] = try await AccountRepository.quotient(c, center: centerID, family: family, on: day, logger: logger)
        }
        return changing.compactMap { line in
            let rank = ranks[line.day]![line.child.id]!
            guard let tariff = center.tariff(line.tariff),
                  let price = tariff.model(for: category).prices(quotient: quotients[line.firstDay] ?? nil, siblingRank: rank)[line.priceKey]
            else { return nil }
            return RepricedLine(reservationID: line.reservationID, childID: line.child.id, childName: line.childName, day: line.day,
                                priceKey: line.priceKey, before: line.price, after: price, rank: rank)
        }
    }

    /// Writes `repriced` to the lines of the family's open cart and their reservations' totals, the cart
    /// locked first (a payment starting locks it too: it prices either before or after, never halfway).
    static func applyRepricing(_ c: PostgresConnection, center: Int64, family: Int64, _ repriced: [RepricedLine], logger: Logger) async throws {
        guard !repriced.isEmpty, let cart = try await c.first("""
            SELECT id FROM carts WHERE center_id = \(center) AND family_id = \(family) AND state = 'open' FOR UPDATE
            """, (Int64.self), logger: logger) else { return }
        try await c.run("""
            UPDATE reservation_lines l SET price_cents = u.price, sibling_rank = u.rank
            FROM unnest(\(repriced.map(\.reservationID))::bigint[], \(repriced.map(\.day.iso))::date[], \(repriced.map(\.priceKey))::text[],
                        \(repriced.map { Int64($0.after.cents) })::bigint[], \(repriced.map(\.rank))::int[]) AS u(reservation, day, key, price, rank),
                 reservations r
            WHERE l.center_id = \(center) AND l.reservation_id = u.reservation AND l.day = u.day AND l.price_key = u.key
              AND r.center_id = l.center_id AND r.id = l.reservation_id AND r.cart_id = \(cart) AND r.state = 'pending_payment'
            """, logger: logger)
        try await c.run("""
            UPDATE reservations r SET total_cents = (
                SELECT sum(l.price_cents) FROM reservation_lines l WHERE l.center_id = r.center_id AND l.reservation_id = r.id)
            WHERE r.center_id = \(center) AND r.id = ANY(\(Array(Set(repriced.map(\.reservationID))))) AND r.cart_id = \(cart)
              AND r.state = 'pending_payment'
            """, logger: logger)
    }

    /// After a reservation leaves the cart: its siblings' days in the cart are ranked and priced again.
    static func repriceCart(_ c: PostgresConnection, center: Center, centerID: Int64, family: Int64, days: [LocalDate], logger: Logger) async throws {
        guard !days.isEmpty else { return }
        let category = try await AccountRepository.family(c, center: centerID, id: family, logger: logger)?.category
        let lines = try await siblingLines(c, center: center, centerID: centerID, family: family, category: category, days: days, logger: logger)
        guard lines.contains(where: { !$0.fixed }) else { return }
        let repriced = try await repricing(c, lines, ranks: siblingRanks(lines, adding: nil, on: days), center: center, centerID: centerID,
                                           family: family, category: category, logger: logger)
        try await applyRepricing(c, center: centerID, family: family, repriced, logger: logger)
    }
}

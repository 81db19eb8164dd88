import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// Where an entry of a waiting list stands (the `waiting_list.state` column).
public enum WaitingState: String, Sendable, Codable, CaseIterable {
    /// In line for the day and unit.
    case waiting
    /// A freed place is held for the child in the family's cart until the offer's deadline.
    case offered
    /// The offer was paid: the child has the day.
    case booked
    /// The offer's deadline passed unpaid: the place went to the next in line.
    case expired
    /// The family removed the offered day from its cart.
    case declined
    /// The family left the line.
    case withdrawn
    /// The day can no longer be booked (deadline passed, day or period closed), or the child holds it already.
    case closed
}

/// One child waiting for one day and unit.
public struct WaitingEntry: Sendable, Encodable {
    public var id: Int64
    public var familyID: Int64
    public var childID: Int64
    public var childName: String
    public var period: String
    public var day: LocalDate
    public var unit: String
    public var state: WaitingState
    /// 1 for the first in line; nil unless waiting.
    public var rank: Int?
    public var createdAt: Date
    /// Until when an offered place is held (nil unless offered or after an offer).
    public var offerExpiresAt: Date?
    /// The reservation that holds an offered place.
    public var reservationNumber: Int?
}

/// Why a family cannot join a waiting list, worded by the pages.
public enum WaitingRefusal: Error, Sendable, Equatable {
    /// A place is left: book it instead.
    case placesLeft
    /// The child already holds (or waits for) this day and unit.
    case alreadyHeld
    case alreadyWaiting
    /// The day's booking deadline has passed, or the period does not offer this day or unit.
    case notBookable
    /// The family already waits for `WaitingList.familyLimit` days and units.
    case tooMany
}

/// Waiting lists per day and unit. A place that frees up goes to the first child in line that it fits,
/// as an offer held in the family's cart; places of a day are held back from other families while
/// children wait for it (direct bookings see `places - taken - waiting`), so a freed place cannot be
/// taken by a quicker parent between its release and the offer.
public enum WaitingList {
    /// Lines a family may stand in at once: a summer of days for three children, not a whole calendar
    /// held back from everyone else.
    public static let familyLimit = 150

    /// SQL: the waiting entry `w` can be served by freed places (each capacity unit it needs has a place
    /// left on its day). One predicate for the places held back for the line and for the entries the
    /// offers go to, so that the grid, bookings and offers cannot disagree: a journée waiting while the
    /// après-midi is full holds no matin back, and gets no offer.
    /// A waiting entry `w` that holds a free place back from the families booking the usual way: one
    /// that the place fits, of a family the offer pass has not passed over for an incomplete file.
    static let holdsAPlaceBack = "NOT w.file_incomplete AND " + entryFits

    static let entryFits = """
        NOT EXISTS (
            SELECT 1 FROM unnest(w.capacity_units) AS need
            JOIN day_capacities f ON f.center_id = w.center_id AND f.period_id = w.period_id AND f.day = w.day AND f.unit = need
            WHERE f.taken >= f.places)
        """

    // MARK: joining and leaving

    /// Puts the child in line for `day` and `unit` (a booking unit of the period). Refused when a place
    /// is left, the day cannot be booked, or the child already holds or waits for it.
    public static func join(
        _ c: PostgresConnection, center: Center, centerID: Int64, family: Int64, child: ChildRecord, period: Period,
        day: LocalDate, unit: String, now: Date, logger: Logger
    ) async throws -> WaitingEntry {
        guard period.units.contains(unit), let capacity = center.unit(unit)?.capacityUnits,
              period.openDays.contains(day), period.isBookable(day, at: now, in: center.zone),
              let periodID = try await BookingRepository.periodID(c, center: centerID, code: period.code, logger: logger)
        else { throw WaitingRefusal.notBookable }
        try await BookingRepository.lockChild(c, center: centerID, child: child.id, family: family, logger: logger)
        let held = try await BookingRepository.heldByChild(c, center: centerID, childID: child.id, periodID: periodID, logger: logger)
        guard (held[day] ?? []).isDisjoint(with: capacity) else { throw WaitingRefusal.alreadyHeld }
        let standing = try await c.first("""
            SELECT count(*)::int FROM waiting_list WHERE center_id = \(centerID) AND family_id = \(family) AND state = 'waiting'
            """, (Int.self), logger: logger) ?? 0
        guard standing < familyLimit else { throw WaitingRefusal.tooMany }
        let left = try await BookingRepository.availability(c, center: centerID, periodID: periodID, logger: logger)[day]?.remaining ?? [:]
        guard capacity.contains(where: { (left[$0] ?? 0) <= 0 }) else { throw WaitingRefusal.placesLeft }
        guard let id = try await c.first("""
            INSERT INTO waiting_list (center_id, family_id, child_id, period_id, day, unit, capacity_units)
            VALUES (\(centerID), \(family), \(child.id), \(periodID), \(day.iso)::date, \(unit), \(capacity.sorted()))
            ON CONFLICT (center_id, child_id, day, unit) WHERE state IN ('waiting', 'offered') DO NOTHING
            RETURNING id
            """, (Int64.self), logger: logger)
        else { throw WaitingRefusal.alreadyWaiting }
        return try await select(c, center: centerID, Selection(id: id), logger: logger).entries[0]
    }

    /// The family leaves the line; true when the entry was waiting. An offered place is given back by
    /// removing it from the cart instead.
    public static func withdraw(_ c: PostgresConnection, center: Int64, family: Int64, id: Int64, logger: Logger) async throws -> Bool {
        try await c.first("""
            UPDATE waiting_list SET state = 'withdrawn', ended_at = now()
            WHERE center_id = \(center) AND family_id = \(family) AND id = \(id) AND state = 'waiting'
            RETURNING id
            """, (Int64.self), logger: logger) != nil
    }

    // MARK: reading

    /// What to read: every field narrows the list; nil fields do not.
    public struct Selection: Sendable {
        public var id: Int64?
        public var family: Int64?
        public var child: Int64?
        public var period: String?
        public var day: LocalDate?
        /// Empty: every state.
        public var states: [WaitingState] = []
        public var offset = 0
        public var limit = 500

        public init(id: Int64? = nil, family: Int64? = nil, child: Int64? = nil, period: String? = nil, day: LocalDate? = nil,
                    states: [WaitingState] = [], offset: Int = 0, limit: Int = 500) {
            self.id = id
            self.family = family
            self.child = child
            self.period = period
            self.day = day
            self.states = states
            self.offset = offset
            self.limit = limit
        }
    }

    /// The entries selected, by day, unit and place in line, with each waiting entry's rank (among the
    /// waiting entries of its day that need one of its capacity units) and how many match in all.
    public static func select(_ c: PostgresConnection, center: Int64, _ s: Selection, logger: Logger) async throws -> (entries: [WaitingEntry], total: Int) {
        var bindings = PostgresBindings()
        try bindings.append(center)
        try bindings.append(s.id)
        try bindings.append(s.family)
        try bindings.append(s.child)
        try bindings.append(s.period)
        try bindings.append(s.day?.iso)
        try bindings.append(s.states.map(\.rawValue))
        try bindings.append(s.offset)
        try bindings.append(s.limit)
        let rows = try await c.rows(Select(bindings: bindings),
                                    (Int64, Int64, Int64, String, String, String, String, String, Date, Date?, Int?, Int?, Int).self, logger: logger)
        let entries = rows.map { row in
            WaitingEntry(id: row.0, familyID: row.1, childID: row.2, childName: row.3, period: row.4, day: LocalDate(iso: row.5)!, unit: row.6,
                         state: WaitingState(rawValue: row.7) ?? .closed, rank: row.11, createdAt: row.8, offerExpiresAt: row.9, reservationNumber: row.10)
        }
        // Past the last page there is no row to carry the count: ask for the first row instead.
        if rows.isEmpty && s.offset > 0 {
            var first = s
            first.offset = 0
            first.limit = 1
            return (entries, try await select(c, center: center, first, logger: logger).total)
        }
        return (entries, rows.first?.12 ?? 0)
    }

    /// The place in its line (1 for the first) of the waiting entry `w`, among the waiting entries of its day
    /// that need one of its capacity units.
    static func rank(of w: String) -> String {
        """
        (SELECT count(*)::int FROM waiting_list o
         WHERE o.center_id = \(w).center_id AND o.period_id = \(w).period_id AND o.day = \(w).day AND o.state = 'waiting'
           AND o.id <= \(w).id AND o.capacity_units && \(w).capacity_units)
        """
    }

    /// The staff's lists, the API and the offers read it often: prepared once per connection (Mon compte and the
    /// grid read their lines in their own statements, `ReservationQueries.account` and `BookingRepository.gridReads`).
    struct Select: PreparedQuery {
        static let sql = """
            SELECT w.id, w.family_id, w.child_id, ch.first_name, p.code, w.day::text, w.unit, w.state, w.created_at, w.offer_expires_at, r.number,
                   CASE WHEN w.state = 'waiting' THEN \(rank(of: "w")) END,
                   count(*) OVER ()::int
            FROM waiting_list w
            JOIN periods p ON p.center_id = w.center_id AND p.id = w.period_id
            JOIN children ch ON ch.center_id = w.center_id AND ch.id = w.child_id
            LEFT JOIN reservations r ON r.center_id = w.center_id AND r.id = w.reservation_id
            WHERE w.center_id = $1
              AND ($2::bigint IS NULL OR w.id = $2)
              AND ($3::bigint IS NULL OR w.family_id = $3)
              AND ($4::bigint IS NULL OR w.child_id = $4)
              AND ($5::text IS NULL OR p.code = $5)
              AND ($6::date IS NULL OR w.day = $6::date)
              AND (cardinality($7::text[]) = 0 OR w.state = ANY($7::text[]))
            ORDER BY w.day, w.unit, w.id
            OFFSET $8 LIMIT $9
            """
        // Declared, not inferred from the first values: a filter left out is a null of the same type.
        static let bindingDataTypes: [PostgresDataType] = [.int8, .int8, .int8, .int8, .text, .text, .textArray, .int8, .int8]
        let bindings: PostgresBindings
    }
}

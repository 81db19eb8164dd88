import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// What a cell of the booking grid shows.
public struct DayAvailability: Sendable {
    /// Places left per capacity unit on the day.
    public var remaining: [String: Int]
}

/// A booking request: one child, one period, the ticked days and units.
public struct BookingRequest: Sendable {
    public var familyID: Int64
    public var child: ChildRecord
    public var period: Period
    public var selection: [LocalDate: Set<String>]
    /// Made by the center's staff for the family: past the booking window and the deadlines (never past
    /// the places), confirmed at once without a cart; the family pays at the office.
    public var byStaff: Bool
    /// Set when a freed place is offered to a child of the waiting list: the booking window no longer
    /// matters (the family joined the line while it was open), the places held back for the line are the
    /// child's to take, and the cart holds the place until this instant.
    public var offerHeldUntil: Date?

    public init(familyID: Int64, child: ChildRecord, period: Period, selection: [LocalDate: Set<String>], byStaff: Bool = false) {
        self.familyID = familyID
        self.child = child
        self.period = period
        self.selection = selection
        self.byStaff = byStaff
    }
}

/// Why a booking was refused, in terms a parent can act on (the pages word them in French).
public enum BookingRefusal: Error, Sendable, Equatable {
    /// These days have no place left for what was ticked; nothing was booked.
    case full([LocalDate])
    /// These days are past their deadline.
    case pastDeadline([LocalDate])
    /// The child already has these days (waiting for payment or confirmed).
    case alreadyBooked([LocalDate])
    /// The selection names days or units the period does not offer, or is empty.
    case invalidSelection(String)
    /// The period is not open for booking now, or not for this child's age.
    case periodClosed
    /// The tariff has no price for a combination.
    case unpriced(LocalDate, [String])
    /// The cart is being paid: nothing can be added until the payment ends.
    case cartFrozen
    /// The cart holds a place offered from the waiting list (until the offer's deadline): it is paid or
    /// removed before other days are added, so that the offer's long hold never covers them.
    case cartHoldsOffer(Date)
    /// Booking opens for this family at this time (its priority window's, or the general opening).
    case notOpenYet(LocalDateTime)
}

/// The result of putting a reservation in the cart.
public struct BookedReservation: Sendable {
    public var reservationID: Int64
    public var number: Int
    public var total: Money
    /// Nil for a staff booking, confirmed without a cart.
    public var cartExpiresAt: Date?
}

/// Reservations, carts and places. Every write that takes or frees places runs here, in the
/// transaction of the caller (a `Database.withCenter` block).
public enum BookingRepository {
    // MARK: reading

    public static func periodID(_ c: PostgresConnection, center: Int64, code: String, logger: Logger) async throws -> Int64? {
        try await c.row(PeriodID(bindings: try .of(center, code)), (Int64.self), logger: logger)
    }

    /// Every step of a booking reads these: prepared once per connection.
    struct PeriodID: PreparedQuery {
        static let sql = "SELECT id FROM periods WHERE center_id = $1 AND code = $2"
        let bindings: PostgresBindings
    }

    /// `r.state IN (…)` says again what `holdsItsDays` implies: it lets the partial index
    /// `reservations_child_period` find the child's reservations.
    struct HeldByChild: PreparedQuery {
        static let sql = "SELECT l.day::text, l.capacity_units " + from(child: "$2", period: "$3")
        let bindings: PostgresBindings

        static func from(child: String, period: String) -> String {
            """
            FROM reservation_lines l
            JOIN reservations r ON r.center_id = l.center_id AND r.id = l.reservation_id
            WHERE r.center_id = $1 AND r.child_id = \(child) AND r.period_id = \(period)
              AND r.state IN ('pending_payment', 'confirmed') AND \(ReservationQueries.holdsItsDays)
            """
        }
    }

    /// Places left per day and capacity unit of a period. Places still held by carts whose hold has run
    /// out count as free (the maintenance job or the next booking releases them): a read writes nothing.
    /// Places that children of the waiting list are waiting for are not left to others.
    public static func availability(_ c: PostgresConnection, center: Int64, periodID: Int64, logger: Logger) async throws -> [LocalDate: DayAvailability] {
        var result: [LocalDate: DayAvailability] = [:]
        for (day, unit, left) in try await c.rows(Availability(bindings: try .of(center, periodID)), (String, String, Int).self, logger: logger) {
            result[LocalDate(iso: day)!, default: DayAvailability(remaining: [:])].remaining[unit] = left
        }
        return result
    }

    /// Its `left` and `from` are the grid's (`GridStatement`); the booking and the staff read it whole.
    struct Availability: PreparedQuery {
        static let sql = "SELECT d.day::text, d.unit, " + left + " " + from(period: "$2")
        let bindings: PostgresBindings

        static let left = "greatest(d.places - d.taken + coalesce(due.held, 0) - coalesce(line.waiting, 0), 0)"
        static func from(period: String) -> String {
            """
            FROM day_capacities d
            LEFT JOIN (\(ReservationQueries.dueHolds(center: "$1", where: "r.period_id = \(period)"))) due
                ON due.period_id = d.period_id AND due.day = d.day AND due.unit = d.unit
            LEFT JOIN (
                SELECT w.day, cu AS unit, count(*)::int AS waiting
                FROM waiting_list w CROSS JOIN LATERAL unnest(w.capacity_units) AS cu
                WHERE w.center_id = $1 AND w.period_id = \(period) AND w.state = 'waiting'
                  AND \(WaitingList.holdsAPlaceBack)
                GROUP BY 1, 2
            ) line ON line.day = d.day AND line.unit = d.unit
            WHERE d.center_id = $1 AND d.period_id = \(period)
            """
        }
    }

    /// What a child's grid of a period shows, read in one statement from the period's code.
    public struct GridReads: Sendable {
        /// Places left per day and capacity unit (`availability`).
        public var availability: [LocalDate: DayAvailability] = [:]
        /// Capacity units the child holds per day (`heldByChild`).
        public var held: [LocalDate: Set<String>] = [:]
        /// The child's places in the waiting lines of the period: rank (1 for the first) by day and unit.
        public var waiting: [LocalDate: [String: Int]] = [:]
        /// The family's children, as `AccountRepository.children` reads them.
        public var children: [ChildRecord] = []

        public init() {}
    }

    /// The places left of a period (`availability`), what a child holds in it (`heldByChild`), where it
    /// waits (`WaitingList.select` of its waiting entries) and the family's children, read in one statement
    /// from the period's code: the grid's page and the office booking's. What the child holds and waits for
    /// is read only if it is one of `family`'s children. Nil when the center has no such period.
    ///
    /// With `placesLeft` (the families' grid), the places left come from it while fresh, and the statement
    /// reads only the child's days (`ChildGridStatement`); else it reads them all and keeps them there.
    public static func gridReads(_ c: PostgresConnection, center: Int64, periodCode: String, childID: Int64, family: Int64,
                                 placesLeft: PlacesLeftCache? = nil, logger: Logger) async throws -> GridReads? {
        var found = false
        var reads = GridReads()
        let cached = placesLeft?.fresh(center: center, period: periodCode)
        let stamp = cached == nil ? placesLeft?.stamp(center) : nil
        let bindings = try PostgresBindings.of(center, periodCode, childID, family)
        let rows = cached == nil
            ? try await c.rows(GridStatement(bindings: bindings), (Int, String?, [String]?, [Int]?, Int64?).self, logger: logger)
            : try await c.rows(ChildGridStatement(bindings: bindings), (Int, String?, [String]?, [Int]?, Int64?).self, logger: logger)
        for (kind, day, units, numbers, id) in rows {
            guard kind != 0 else { found = true; continue }
            if kind == 4, let id, let names = units, names.count == 2, let born = day.flatMap(LocalDate.init(iso:)) {
                reads.children.append(ChildRecord(id: id, firstName: names[0], lastName: names[1], birthDate: born))
                continue
            }
            guard let day = day.flatMap(LocalDate.init(iso:)), let units else { continue }
            switch kind {
            case 1: reads.availability[day] = DayAvailability(remaining: Dictionary(zip(units, numbers ?? [])) { first, _ in first })
            case 2: reads.held[day, default: []].formUnion(units)
            default: for (unit, rank) in zip(units, numbers ?? []) { reads.waiting[day, default: [:]][unit] = rank }
            }
        }
        guard found else { return nil }
        reads.children.sort { ($0.birthDate, $0.id) < ($1.birthDate, $1.id) }
        if let cached {
            reads.availability = cached
        } else if let placesLeft, let stamp {
            placesLeft.store(center: center, period: periodCode, stamp: stamp, days: reads.availability)
        }
        return reads
    }

    /// `Availability` (a row a day, its units and places left side by side), `HeldByChild`, the child's
    /// waiting entries of the period named by its code and the family's children, in one row shape: 0 the
    /// period exists, 1 a day's units and places left, 2 a day's capacity units the child holds, 3 a day's
    /// unit the child waits for and its rank, 4 a child of the family (birth date, first and last names, id).
    /// $1 the center, $2 the period's code, $3 the child, $4 its family.
    struct GridStatement: PreparedQuery {
        static let sql = CenterStatement.wrap([ChildGridStatement.periodExists, placesLeft, ChildGridStatement.childsDays, ChildGridStatement.children]
            .joined(separator: "\nUNION ALL\n"))
        static let placesLeft = """
            SELECT 1, d.day::text, array_agg(d.unit ORDER BY d.unit), array_agg(\(Availability.left) ORDER BY d.unit), NULL::bigint
            \(Availability.from(period: ChildGridStatement.period))
            GROUP BY d.day
            """
        let bindings: PostgresBindings
    }

    /// `GridStatement` without the places left (rows 0, 2, 3 and 4), when they are fresh in the cache.
    struct ChildGridStatement: PreparedQuery {
        static let sql = CenterStatement.wrap([periodExists, childsDays, children].joined(separator: "\nUNION ALL\n"))
        static let period = "(SELECT id FROM periods WHERE center_id = $1 AND code = $2)"
        /// The child, if it is the family's.
        static let child = "(SELECT id FROM children WHERE center_id = $1 AND id = $3 AND family_id = $4)"
        static let periodExists = "SELECT 0, NULL::text, NULL::text[], NULL::int[], NULL::bigint FROM periods WHERE center_id = $1 AND code = $2"
        static let childsDays = """
            SELECT 2, l.day::text, l.capacity_units, NULL::int[], NULL::bigint \(HeldByChild.from(child: child, period: period))
            UNION ALL
            SELECT 3, w.day::text, ARRAY[w.unit], ARRAY[\(WaitingList.rank(of: "w"))], NULL::bigint
            FROM waiting_list w
            WHERE w.center_id = $1 AND w.child_id = \(child) AND w.period_id = \(period) AND w.state = 'waiting'
            """
        static let children = "SELECT 4, birth_date::text, ARRAY[first_name, last_name], NULL::int[], id FROM children WHERE center_id = $1 AND family_id = $4"
        let bindings: PostgresBindings
    }

    /// Places and places taken per day and capacity unit of a period, for the staff; `forced` marks the
    /// days whose places were set below what was already taken. Places of carts whose hold ran out read as
    /// free, as in the grid: a read writes nothing.
    public static func capacities(_ c: PostgresConnection, center: Int64, periodID: Int64, logger: Logger) async throws -> [(day: String, unit: String, places: Int, taken: Int, forced: Bool)] {
        try await c.rows(Capacities(bindings: try .of(center, periodID)), (String, String, Int, Int, Bool).self, logger: logger)
            .map { (day: $0.0, unit: $0.1, places: $0.2, taken: $0.3, forced: $0.4) }
    }

    struct Capacities: PreparedQuery {
        static let sql = """
            SELECT d.day::text, d.unit, d.places, d.taken - coalesce(due.held, 0), d.forced
            FROM day_capacities d
            LEFT JOIN (\(ReservationQueries.dueHolds(center: "$1", where: "r.period_id = $2"))) due
                ON due.period_id = d.period_id AND due.day = d.day AND due.unit = d.unit
            WHERE d.center_id = $1 AND d.period_id = $2
            ORDER BY d.day, d.unit
            """
        let bindings: PostgresBindings
    }

    /// Capacity units a child already holds per day in a period (waiting for payment or confirmed).
    public static func heldByChild(_ c: PostgresConnection, center: Int64, childID: Int64, periodID: Int64, logger: Logger) async throws -> [LocalDate: Set<String>] {
        var held: [LocalDate: Set<String>] = [:]
        for (day, units) in try await c.rows(HeldByChild(bindings: try .of(center, childID, periodID)), (String, [String]).self, logger: logger) {
            held[LocalDate(iso: day)!, default: []].formUnion(units)
        }
        return held
    }

    // MARK: booking

    /// A checked and priced request, ready to take places.
    public struct PreparedBooking: Sendable {
        public var periodID: Int64
        public var tariff: Tariff
        public var lines: [PricingEngine.Line]
        public var total: Money
        /// Capacity units to take per day.
        public var needed: [LocalDate: [String]]
        /// The family's days in the cart priced again because this child joins them (sibling ranks).
        public var repriced: [RepricedLine]
    }

    /// Checks a request (window, age, days, units, deadlines, double booking) and prices it, without
    /// taking anything: the recap page shows this, and `book` does it again inside its transaction.
    public static func prepare(
        _ c: PostgresConnection, center: Center, centerID: Int64, request: BookingRequest, now: Date, logger: Logger
    ) async throws -> PreparedBooking {
        let zone = center.zone
        var period = request.period
        // Before the general opening each family books from its own opening (a priority window's, else
        // the general one), read here in the booking's transaction, never taken from the page; it then
        // stands for the general one in the checks below.
        if !request.byStaff, !period.closed, let general = period.bookingOpensAt, now < general.instant(in: zone) {
            let standing = period.priorityWindows.isEmpty ? PriorityStanding.none
                : try await PriorityQueries.standing(c, center: centerID, family: request.familyID, logger: logger)
            let opens = center.opening(of: period, for: standing) ?? general
            guard now >= opens.instant(in: zone) else { throw BookingRefusal.notOpenYet(opens) }
            period.bookingOpensAt = opens
        }
        guard request.byStaff || request.offerHeldUntil != nil ? !period.closed : period.isOpenForBooking(at: now, in: zone),
              center.ageGroup(period.ageGroup)?.admits(birthDate: request.child.birthDate, on: period.startsOn) == true
        else { throw BookingRefusal.periodClosed }
        let selection = request.selection.filter { !$0.value.isEmpty }
        guard !selection.isEmpty else { throw BookingRefusal.invalidSelection("aucun jour n'est coché") }
        let openDays = Set(period.openDays)
        for (day, units) in selection {
            guard openDays.contains(day) else { throw BookingRefusal.invalidSelection("le \(day.french) n'est pas un jour d'ouverture") }
            guard units.isSubset(of: Set(period.units)) else { throw BookingRefusal.invalidSelection("unité inconnue") }
        }
        let late = request.byStaff ? [] : selection.keys.filter { !period.isBookable($0, at: now, in: zone) }.sorted()
        guard late.isEmpty else { throw BookingRefusal.pastDeadline(late) }
        guard let periodID = try await periodID(c, center: centerID, code: period.code, logger: logger),
              let tariff = center.tariff(period.tariff)
        else { throw BookingRefusal.periodClosed }

        // Capacity units per day: what each ticked unit consumes. A child cannot hold a place twice.
        var needed: [LocalDate: [String]] = [:]
        for (day, units) in selection {
            let capacity = units.flatMap { center.unit($0)?.capacityUnits ?? [$0] }
            guard Set(capacity).count == capacity.count else {
                throw BookingRefusal.invalidSelection("le \(day.french), deux cases cochées demandent la même place")
            }
            needed[day] = capacity.sorted()
        }
        let held = try await heldByChild(c, center: centerID, childID: request.child.id, periodID: periodID, logger: logger)
        let duplicates = needed.filter { !(held[$0.key] ?? []).isDisjoint(with: $0.value) }.keys.sorted()
        guard duplicates.isEmpty else { throw BookingRefusal.alreadyBooked(duplicates) }

        // Price with the family's QF and category and the siblings booked on each day: the child takes a
        // rank left by the days already paid, and the cart's days of its siblings are ranked again with it.
        let family = try await AccountRepository.family(c, center: centerID, id: request.familyID, logger: logger)
        let firstDay = selection.keys.min()!
        let quotient = try await AccountRepository.quotient(c, center: centerID, family: request.familyID, on: firstDay, logger: logger)
        let days = Array(selection.keys)
        let siblings = try await siblingLines(c, center: center, centerID: centerID, family: request.familyID, category: family?.category,
                                              days: days, logger: logger)
        let ranks = siblingRanks(siblings, adding: .init(id: request.child.id, birthDate: request.child.birthDate), on: days)
        let lines: [PricingEngine.Line]
        do {
            lines = try PricingEngine.price(
                selection.map { PricingEngine.ChildDay(childID: request.child.id, day: $0.key, units: $0.value) },
                tariff: tariff, quotient: quotient, category: family?.category, ranks: ranks
            )
        } catch {
            throw BookingRefusal.unpriced(error.day, error.units)
        }
        let repriced = try await repricing(c, siblings, ranks: ranks, center: center, centerID: centerID, family: request.familyID,
                                           category: family?.category, logger: logger)
        return PreparedBooking(periodID: periodID, tariff: tariff, lines: lines, total: lines.reduce(Money.zero) { $0 + $1.price }, needed: needed,
                               repriced: repriced)
    }

    /// Prices the request and puts it in the family's open cart, taking its places in this transaction.
    /// Throws a `BookingRefusal` (and takes nothing) when any day cannot be had.
    public static func book(
        _ c: PostgresConnection, center: Center, centerID: Int64, request: BookingRequest, now: Date, logger: Logger
    ) async throws -> BookedReservation {
        try await expireDueCarts(c, center: centerID, family: request.familyID, logger: logger)
        try await lockChild(c, center: centerID, child: request.child.id, family: request.familyID, logger: logger)
        // The family's open cart, created with the center's hold time when there is none, and locked before
        // the booking is priced: two siblings booked at once from two tabs are ranked one after the other
        // (a payment starting locks the cart too, then its reservations). Staff bookings are confirmed
        // without one. A refusal below rolls a new cart back with everything else.
        let cart = request.byStaff ? nil : try await openCart(c, center: centerID, family: request.familyID, holdMinutes: center.cartHoldMinutes,
                                                              until: request.offerHeldUntil, logger: logger)
        let prepared = try await prepare(c, center: center, centerID: centerID, request: request, now: now, logger: logger)
        let (periodID, tariff, lines, total, needed) = (prepared.periodID, prepared.tariff, prepared.lines, prepared.total, prepared.needed)
        let firstDay = needed.keys.min()!, lastDay = needed.keys.max()!

        // The siblings' days already in the cart take their new prices first: nothing below waits on them.
        try await applyRepricing(c, center: centerID, family: request.familyID, prepared.repriced, logger: logger)

        // Then one statement takes every place, numbers the reservation and writes it with its lines, so
        // that the day rows (the opening day's hot rows) and the center's counter stay locked for that
        // statement and the commit only. The day rows are locked in (day, unit) order, so that concurrent
        // bookings never deadlock, and a place is taken only where one is left; the reservation is
        // written only when every place was taken. A day missing from the answer is full: the refusal
        // rolls the whole transaction back, so nothing is taken. The places children of the waiting list
        // wait for are theirs: only an offer to one of them, or the staff, may take them.
        let heldBack = !(request.byStaff || request.offerHeldUntil != nil)
        let wanted = needed.keys.sorted().flatMap { day in needed[day]!.map { (day.iso, $0) } }
        // A line's units and capacity units travel as comma-joined codes.
        let capacities = lines.map { line in line.units.flatMap { center.unit($0)?.capacityUnits ?? [$0] }.sorted().joined(separator: ",") }
        let (took, written, number) = try await c.first("""
            WITH took AS (
                UPDATE day_capacities d SET taken = d.taken + 1
                FROM (SELECT dc.day, dc.unit FROM day_capacities dc
                      JOIN unnest(\(wanted.map(\.0))::date[], \(wanted.map(\.1))::text[]) AS w(day, unit) ON w.day = dc.day AND w.unit = dc.unit
                      WHERE dc.center_id = \(centerID) AND dc.period_id = \(periodID)
                      ORDER BY dc.day, dc.unit FOR UPDATE OF dc) locked
                WHERE d.center_id = \(centerID) AND d.period_id = \(periodID) AND d.day = locked.day AND d.unit = locked.unit
                  AND d.taken + CASE WHEN \(heldBack) THEN (
                      SELECT count(*)::int FROM waiting_list w
                      WHERE w.center_id = d.center_id AND w.period_id = d.period_id AND w.day = d.day AND w.state = 'waiting'
                        AND d.unit = ANY(w.capacity_units) AND \(unescaped: WaitingList.holdsAPlaceBack)) ELSE 0 END < d.places
                RETURNING d.day::text || '|' || d.unit AS place
            ), numbered AS (
                INSERT INTO center_counters AS k (center_id, name, value)
                SELECT \(centerID), 'reservation', 1 WHERE (SELECT count(*) FROM took) = \(wanted.count)
                ON CONFLICT (center_id, name) DO UPDATE SET value = k.value + 1
                RETURNING value
            ), reservation AS (
                INSERT INTO reservations (center_id, number, family_id, child_id, period_id, cart_id, state, total_cents, first_day, last_day, created_at)
                SELECT \(centerID), value, \(request.familyID), \(request.child.id), \(periodID), \(cart?.id), \(cart == nil ? "confirmed" : "pending_payment"),
                       \(total.cents), \(firstDay.iso)::date, \(lastDay.iso)::date, \(now)
                FROM numbered
                RETURNING id, number
            ), written AS (
                INSERT INTO reservation_lines (center_id, reservation_id, day, price_key, units, capacity_units, price_cents, tariff, tariff_version,
                                               sibling_rank)
                SELECT \(centerID), r.id, l.day, l.key, string_to_array(l.units, ','), string_to_array(l.capacity, ','), l.price, \(tariff.code),
                       coalesce((SELECT max(version) FROM tariffs WHERE center_id = \(centerID) AND code = \(tariff.code)), 1), l.rank
                FROM reservation r,
                     unnest(\(lines.map(\.day.iso))::date[], \(lines.map(\.key))::text[], \(lines.map { $0.units.joined(separator: ",") })::text[],
                            \(capacities)::text[], \(lines.map { Int64($0.price.cents) })::bigint[], \(lines.map(\.rank))::int[])
                     AS l(day, key, units, capacity, price, rank)
            )
            SELECT coalesce((SELECT array_agg(place) FROM took), '{}'), (SELECT id FROM reservation), (SELECT number FROM reservation)
            """, ([String], Int64?, Int?).self, logger: logger)!
        let taken = Set(took)
        let full = needed.keys.sorted().filter { day in needed[day]!.contains { !taken.contains("\(day.iso)|\($0)") } }
        guard full.isEmpty else { throw BookingRefusal.full(full) }
        guard let reservationID = written, let number else { throw BookingRefusal.periodClosed }
        BusinessMetrics.booked(byStaff: request.byStaff)
        return BookedReservation(reservationID: reservationID, number: number, total: total, cartExpiresAt: cart?.expiresAt)
    }

    struct Cart {
        var id: Int64
        var expiresAt: Date
    }

    /// Locks the child's row until the commit: two tabs of the same family cannot book the same day
    /// twice, nor book it and join its waiting list at once.
    static func lockChild(_ c: PostgresConnection, center: Int64, child: Int64, family: Int64, logger: Logger) async throws {
        try await c.run("SELECT 1 FROM children WHERE center_id = \(center) AND id = \(child) AND family_id = \(family) FOR UPDATE", logger: logger)
    }

    /// The family's open cart, or a new one holding for `holdMinutes`; a place offered from the waiting
    /// list holds the cart at least `until` (the offer's deadline).
    static func openCart(_ c: PostgresConnection, center: Int64, family: Int64, holdMinutes: Int, until: Date? = nil, logger: Logger) async throws -> Cart {
        if let (id, expires, state) = try await c.first("""
            SELECT id, expires_at, state FROM carts WHERE center_id = \(center) AND family_id = \(family) AND state IN ('open', 'paying')
            ORDER BY id DESC LIMIT 1 FOR UPDATE
            """, (Int64, Date, String).self, logger: logger) {
            guard state == "open" else { throw BookingRefusal.cartFrozen }
            // Offers and other days never share a cart, so that an offer's long hold never covers days
            // booked the usual way: a booking waits for the offers to be paid or removed, an offer for
            // the other days to be paid or to expire.
            let (offers, others) = try await c.first("""
                SELECT count(w.id)::int, (count(*) - count(w.id))::int
                FROM reservations r
                LEFT JOIN waiting_list w ON w.center_id = r.center_id AND w.reservation_id = r.id AND w.state = 'offered'
                WHERE r.center_id = \(center) AND r.cart_id = \(id) AND r.state = 'pending_payment'
                """, (Int, Int).self, logger: logger) ?? (0, 0)
            guard let until else {
                guard offers == 0 else { throw BookingRefusal.cartHoldsOffer(expires) }
                return Cart(id: id, expiresAt: expires)
            }
            guard others == 0 else { throw BookingRefusal.cartFrozen }
            // An offer joins a cart of offers only with the same deadline (offered in the same pass, its
            // day's deadline not sooner). A later deadline would hold the earlier offers past what their
            // mails said, and keep the next in line waiting; an earlier one would be held past its own.
            // It waits for the next pass, its place kept, until those offers are paid or expire.
            if offers > 0 {
                guard abs(until.timeIntervalSince(expires)) < 1 else { throw BookingRefusal.cartFrozen }
                return Cart(id: id, expiresAt: expires)
            }
            // An empty cart: the offer's own hold.
            try await c.run("UPDATE carts SET expires_at = \(until) WHERE center_id = \(center) AND id = \(id)", logger: logger)
            return Cart(id: id, expiresAt: until)
        }
        let (id, expires) = try await c.first("""
            INSERT INTO carts (center_id, family_id, expires_at)
            VALUES (\(center), \(family), coalesce(\(until), now() + make_interval(mins => \(holdMinutes)::int)))
            RETURNING id, expires_at
            """, (Int64, Date).self, logger: logger)!
        return Cart(id: id, expiresAt: expires)
    }

    /// The next value of a gap-free per-center counter, in the caller's transaction.
    public static func nextNumber(_ c: PostgresConnection, center: Int64, counter: String, logger: Logger) async throws -> Int {
        try await c.first("""
            INSERT INTO center_counters AS k (center_id, name, value) VALUES (\(center), \(counter), 1)
            ON CONFLICT (center_id, name) DO UPDATE SET value = k.value + 1
            RETURNING value
            """, (Int.self), logger: logger)!
    }

    // MARK: freeing places

    /// Gives back the places of these reservations in one statement, locking the day rows in (day, unit)
    /// order as a booking does, so that the two never deadlock.
    static func releasePlaces(_ c: PostgresConnection, center: Int64, reservations: [Int64], logger: Logger) async throws {
        guard !reservations.isEmpty else { return }
        try await c.run("""
            WITH freed AS (
                SELECT r.period_id, l.day, cu AS unit, count(*)::int AS n
                FROM reservations r
                JOIN reservation_lines l ON l.center_id = r.center_id AND l.reservation_id = r.id
                CROSS JOIN LATERAL unnest(l.capacity_units) AS cu
                WHERE r.center_id = \(center) AND r.id = ANY(\(reservations))
                GROUP BY 1, 2, 3
            ), locked AS (
                SELECT dc.period_id, dc.day, dc.unit, f.n
                FROM day_capacities dc JOIN freed f ON f.period_id = dc.period_id AND f.day = dc.day AND f.unit = dc.unit
                WHERE dc.center_id = \(center)
                ORDER BY dc.day, dc.unit, dc.period_id FOR UPDATE OF dc
            )
            UPDATE day_capacities d SET taken = d.taken - locked.n
            FROM locked
            WHERE d.center_id = \(center) AND d.period_id = locked.period_id AND d.day = locked.day AND d.unit = locked.unit
            """, logger: logger)
    }

    /// Expires the carts past their hold: their reservations become "expirée" and free their places.
    /// Safe on every instance at once (SKIP LOCKED). Only writes call it, before they count places: a
    /// booking, a payment's start, an office booking, a period's edit and the maintenance job (reads count
    /// such carts' places as free instead: `ReservationQueries.dueHolds`).
    /// With `family`, only that family's: a booking expires its own family's cart in its transaction, and
    /// leaves the others' to a short transaction of their own (the confirmation's first one, the
    /// background job), so that it never holds a day row it freed for another family until its commit.
    @discardableResult
    public static func expireDueCarts(_ c: PostgresConnection, center: Int64, family: Int64? = nil, logger: Logger) async throws -> Int {
        // A payment attempt without news past the bank's session limit is dead: its cart is payable again
        // (and expires below if its hold has run out). A late payment is still honoured when it comes.
        let dead = try await c.all("""
            UPDATE payment_attempts SET state = 'expired', updated_at = now()
            WHERE center_id = \(center) AND state IN ('created', 'pending') AND live_until <= now()
              AND (\(family)::bigint IS NULL OR family_id = \(family))
            RETURNING cart_id
            """, (Int64?.self), logger: logger)
        for cart in Set(dead.compactMap { $0 }).sorted() {
            try await PaymentRepository.reopenCart(c, center: center, cart: cart, logger: logger)
        }
        let carts = try await c.all("""
            SELECT id FROM carts WHERE center_id = \(center) AND state = 'open' AND expires_at <= now()
              AND (\(family)::bigint IS NULL OR family_id = \(family))
            ORDER BY id FOR UPDATE SKIP LOCKED
            """, (Int64.self), logger: logger)
        guard !carts.isEmpty else { return 0 }
        let expired = try await c.all("""
            UPDATE reservations SET state = 'expired'
            WHERE center_id = \(center) AND cart_id = ANY(\(carts)) AND state = 'pending_payment'
            RETURNING id
            """, (Int64.self), logger: logger)
        try await releasePlaces(c, center: center, reservations: expired, logger: logger)
        try await c.run("UPDATE carts SET state = 'expired' WHERE center_id = \(center) AND id = ANY(\(carts))", logger: logger)
        return expired.count
    }

    /// `expireDueCarts` for a request on its way to book: it waits at most 200 ms for a row (on an opening
    /// day the day rows are hot) and, past that, leaves the carts to the next booking or the background
    /// job instead of failing the request over another family's cart. Run last in its transaction.
    public static func expireDueCartsWithoutWaiting(_ c: PostgresConnection, center: Int64, logger: Logger) async throws {
        try await c.run("SAVEPOINT expiring", logger: logger)
        do {
            try await c.run("SET LOCAL lock_timeout = '200ms'", logger: logger)
            try await expireDueCarts(c, center: center, logger: logger)
            try await c.run("RELEASE SAVEPOINT expiring", logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55P03" {
            try await c.run("ROLLBACK TO SAVEPOINT expiring", logger: logger)
        }
    }

    /// Removes a reservation from the family's open cart: it becomes "annulée" and its places are free at once;
    /// the siblings' days left in the cart are ranked and priced again without it.
    public static func removeFromCart(_ c: PostgresConnection, center: Center, centerID: Int64, family: Int64, number: Int, logger: Logger) async throws -> Bool {
        // The cart first, then its reservation, in the order a payment starting takes them.
        guard try await c.first("""
            SELECT id FROM carts WHERE center_id = \(centerID) AND family_id = \(family) AND state = 'open' FOR UPDATE
            """, (Int64.self), logger: logger) != nil else { return false }
        guard let id = try await c.first("""
            UPDATE reservations r SET state = 'cancelled'
            FROM carts k
            WHERE r.center_id = \(centerID) AND r.family_id = \(family) AND r.number = \(number) AND r.state = 'pending_payment'
              AND k.center_id = r.center_id AND k.id = r.cart_id AND k.state = 'open'
            RETURNING r.id
            """, (Int64.self), logger: logger) else { return false }
        try await releasePlaces(c, center: centerID, reservations: [id], logger: logger)
        let days = try await c.all("""
            SELECT DISTINCT day::text FROM reservation_lines WHERE center_id = \(centerID) AND reservation_id = \(id)
            """, (String.self), logger: logger).compactMap(LocalDate.init(iso:))
        try await repriceCart(c, center: center, centerID: centerID, family: family, days: days, logger: logger)
        return true
    }
}

extension BookingRepository {
    /// Confirms reservations waiting for payment and closes their carts as paid (the payment that
    /// justifies it is recorded by the caller, in the same transaction).
    public static func confirm(_ c: PostgresConnection, center: Int64, reservations: [Int64], at: Date? = nil, logger: Logger) async throws {
        try await c.run("""
            UPDATE reservations SET state = 'confirmed', created_at = coalesce(\(at), created_at)
            WHERE center_id = \(center) AND id = ANY(\(reservations)) AND state = 'pending_payment'
            """, logger: logger)
        try await c.run("""
            UPDATE carts SET state = 'paid' WHERE center_id = \(center) AND state IN ('open', 'paying')
              AND id IN (SELECT cart_id FROM reservations WHERE center_id = \(center) AND id = ANY(\(reservations)))
              AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.center_id = \(center) AND r.cart_id = carts.id AND r.state = 'pending_payment')
            """, logger: logger)
    }
}

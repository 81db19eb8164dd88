import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// What "Mon compte" shows of a family, read in one statement (`ReservationQueries.account`).
public struct AccountReads: Sendable {
    /// A page of the family's reservations, newest first (`ReservationQueries.page`).
    public var reservations: [ReservationSummary] = []
    /// The family's reservations in all.
    public var total = 0
    /// The reservations of its live cart, oldest first (`ReservationQueries.cartSummaries`).
    public var cart: [ReservationSummary] = []
    /// Its children's places in waiting lines and the places offered to them, by day, unit and place in line
    /// (`WaitingList.select` of the family's waiting and offered entries).
    public var waiting: [WaitingEntry] = []
    /// Its invoices and payments added up (`LedgerQueries.totals`).
    public var totals = LedgerTotals.zero
}

extension ReservationQueries {
    /// Mon compte's reads in one statement instead of four: a page of the reservations (`limit` from
    /// `offset`), how many there are, the cart, the waiting lines and the ledger's totals. Each part reads
    /// what its own query reads (`AccountReadsTests`).
    public static func account(_ c: PostgresConnection, center: Int64, family: Int64, offset: Int, limit: Int, logger: Logger) async throws -> AccountReads {
        var reads = AccountReads()
        let rows = try await c.rows(Account(bindings: try .of(center, family, limit, offset)),
                                    (Int, Int64?, Int?, String?, String?, String?, Date?, String?, String?, String?, Int?, Date?, [Int]?).self,
                                    logger: logger)
        // The totals' row is always there, but from a statement that set no center (`CenterStatement`).
        guard rows.contains(where: { $0.0 == 0 }) else { throw CenterStatement.NotSet() }
        for (kind, id, number, name, code, label, at, firstDay, lastDay, state, cents, expires, numbers) in rows {
            switch kind {
            case 0:
                reads.total = number ?? 0
                reads.totals = LedgerTotals(columns: numbers ?? [])
            case 1, 2:
                guard let id, let number, let name, let code, let label, let at, let first = firstDay.flatMap(LocalDate.init(iso:)),
                      let last = lastDay.flatMap(LocalDate.init(iso:)), let state, let cents else { continue }
                let summary = ReservationSummary(id: id, number: number, childFirstName: name, periodCode: code, periodLabel: label, createdAt: at,
                                                 firstDay: first, lastDay: last, state: state, total: Money(cents: cents), cartExpiresAt: expires)
                if kind == 1 { reads.reservations.append(summary) } else { reads.cart.append(summary) }
            default:
                guard let id, let name, let code, let unit = label, let at, let day = firstDay.flatMap(LocalDate.init(iso:)), let state else { continue }
                reads.waiting.append(WaitingEntry(id: id, familyID: family, childID: cents.map(Int64.init) ?? 0, childName: name, period: code, day: day,
                                                  unit: unit, state: WaitingState(rawValue: state) ?? .closed, rank: numbers?.first,
                                                  createdAt: at, offerExpiresAt: expires, reservationNumber: number))
            }
        }
        // The order of each part, which the union of the parts does not promise.
        reads.reservations.sort { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
        reads.cart.sort { $0.id < $1.id }
        reads.waiting.sort { ($0.day, $0.unit, $0.id) < ($1.day, $1.unit, $1.id) }
        return reads
    }

    /// One row shape for the parts ($1 center, $2 family, $3 limit, $4 offset), told apart by the first column:
    /// - 0, once: the number of reservations (in `number`) and the ledger's totals as an array (invoiced,
    ///   invoices, due, unsettled, paid, payments, allocated);
    /// - 1: a reservation of the page, 2: a reservation of the cart, in the columns of `ReservationQueries.columns`;
    /// - 3: a waiting entry: its id, the reservation holding an offered place (`number`), the child's first name,
    ///   the period's code, the unit (in the label's column), when it was made, its day, its state, the child's id
    ///   (in the cents' column), the offer's deadline and, as an array, its rank.
    struct Account: PreparedQuery {
        static let sql = CenterStatement.wrap("""
            SELECT 0, NULL::bigint, (SELECT count(*) FROM reservations WHERE center_id = $1 AND family_id = $2)::int,
                   NULL::text, NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::timestamptz,
                   \(LedgerQueries.totalsArray)
            FROM (\(LedgerQueries.totalsSQL(center: "$1", family: "$2"))) t
            UNION ALL
            SELECT 1, page.*, NULL::bigint[] FROM (\(Page.sql)) page
            UNION ALL
            SELECT 2, cart.*, NULL::bigint[] FROM (\(Cart.sql)) cart
            UNION ALL
            SELECT 3, w.id, r.number, ch.first_name, p.code, w.unit, w.created_at, w.day::text, NULL::text, w.state, w.child_id, w.offer_expires_at,
                   CASE WHEN w.state = 'waiting' THEN ARRAY[\(WaitingList.rank(of: "w"))]::bigint[] END
            FROM waiting_list w
            JOIN periods p ON p.center_id = w.center_id AND p.id = w.period_id
            JOIN children ch ON ch.center_id = w.center_id AND ch.id = w.child_id
            LEFT JOIN reservations r ON r.center_id = w.center_id AND r.id = w.reservation_id
            WHERE w.center_id = $1 AND w.family_id = $2 AND w.state IN ('waiting', 'offered')
            """)
        let bindings: PostgresBindings
    }
}

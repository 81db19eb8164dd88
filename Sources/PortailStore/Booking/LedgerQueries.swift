import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// The three totals of "Mes paiements et factures", kept by the database as invoices, credit notes, payments
/// and allocations are written (`LedgerQueries.totalsSQL`).
public struct LedgerTotals: Sendable {
    public var invoiced: Money
    public var invoiceCount: Int
    public var paid: Money
    public var paymentCount: Int
    public var due: Money
    public var unsettledCount: Int
    /// What payments gave to invoices; paid − allocated is the family's available credit.
    public var allocated: Money
}

extension LedgerTotals {
    /// The totals from the columns of `LedgerQueries.totalsSQL`, in their order: invoiced, invoices, due, unsettled,
    /// paid, payments, allocated (a column missing reads 0).
    init(columns c: [Int]) {
        func at(_ i: Int) -> Int { i < c.count ? c[i] : 0 }
        self.init(invoiced: Money(cents: at(0)), invoiceCount: at(1), paid: Money(cents: at(4)), paymentCount: at(5),
                  due: Money(cents: at(2)), unsettledCount: at(3), allocated: Money(cents: at(6)))
    }

    /// Nothing invoiced, nothing paid.
    static let zero = LedgerTotals(columns: [])
}

public enum LedgerQueries {
    /// The family's totals in one statement: its invoices (what credit notes and allocations settled of
    /// each) and its payments (what of them is allocated).
    public static func totals(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> LedgerTotals {
        guard let row = try await c.row(Totals(bindings: try .of(center, family)), (Int, Int, Int, Int, Int, Int, Int).self, logger: logger) else {
            return .zero
        }
        return LedgerTotals(columns: [row.0, row.1, row.2, row.3, row.4, row.5, row.6])
    }

    /// `totalsSQL`'s columns as one array (`LedgerTotals(columns:)`), for a statement that reads the totals, as `t`,
    /// in a row beside other rows.
    static let totalsArray = "ARRAY[t.invoiced, t.invoices, t.due, t.unsettled, t.paid, t.payments, t.allocated]::bigint[]"

    /// What settled each invoice `i` of a query: `cn.credited`, its credit notes, and `a.allocated`, what payments
    /// gave it (each NULL when none). What an invoice lacks is `i.total_cents - coalesce(cn.credited, 0) -
    /// coalesce(a.allocated, 0)`, as `open_invoices` keeps it (migration 0029), for the office's list of invoices.
    static let invoiceSettlement = """
        LEFT JOIN LATERAL (SELECT sum(cn.total_cents) AS credited FROM invoices cn
                           WHERE cn.center_id = i.center_id AND cn.credit_of = i.id AND cn.kind = 'credit_note') cn ON true
        LEFT JOIN LATERAL (SELECT sum(a.amount_cents) AS allocated FROM allocations a
                           WHERE a.center_id = i.center_id AND a.invoice_id = i.id) a ON true
        """

    /// The totals of one family as one row (invoiced, invoices, due, unsettled, paid, payments, allocated),
    /// for the family `center`, `family` name: `$1`, `$2` for Mon compte, or `f.center_id`, `f.id` for each
    /// family of the balances export, so that both add up the same way. The database keeps them as the
    /// ledger is written (migration 0044): what was invoiced, paid and allocated in `family_totals`, what
    /// each invoice still lacks in `open_invoices`.
    static func totalsSQL(center: String, family: String) -> String {
        """
        SELECT coalesce(ft.invoiced_cents, 0)::bigint AS invoiced, coalesce(ft.invoices, 0)::int AS invoices, o.due, o.unsettled,
               coalesce(ft.paid_cents, 0)::bigint AS paid, coalesce(ft.payments, 0)::int AS payments,
               coalesce(ft.allocated_cents, 0)::bigint AS allocated
        FROM (SELECT coalesce(sum(o.due_cents), 0)::bigint AS due, count(*)::int AS unsettled
              FROM open_invoices o WHERE o.center_id = \(center) AND o.family_id = \(family)) o
        LEFT JOIN family_totals ft ON ft.center_id = \(center) AND ft.family_id = \(family)
        """
    }

    /// The back office's family page and the invoice and payment pages read it: prepared once per connection.
    struct Totals: PreparedQuery {
        static let sql = totalsSQL(center: "$1", family: "$2")
        let bindings: PostgresBindings
    }
}

/// A row of "Mes Factures & Paiements": an invoice, a credit note or a payment.
public struct LedgerEntry: Sendable {
    public enum Kind: String, Sendable { case invoice, creditNote = "credit_note", refund, payment }
    public var kind: Kind
    public var id: Int64
    public var number: String
    public var date: Date
    public var label: String
    public var amount: Money
    /// For an invoice: what it still lacks; for a payment: what is not allocated (available credit).
    public var open: Money
    /// For an invoice: what was allocated or credited to it.
    public var settled: Money
}

extension LedgerEntry.Kind {
    /// The document's name on the parent's pages and PDFs.
    public var document: String {
        switch self {
        case .invoice: "Facture"
        case .creditNote: "Avoir"
        case .refund: "Remboursement"
        case .payment: "Paiement"
        }
    }
}

/// An invoice with its lines, as its page and PDF show it.
public struct InvoiceDetail: Sendable {
    public var id: Int64
    public struct Line: Sendable {
        public var designation: String
        public var quantity: Int
        public var unitPrice: Money
        public var amount: Money
    }
    public var number: String
    public var kind: String
    public var issuedAt: Date
    public var total: Money
    public var paid: Money
    public var remaining: Money
    public var lines: [Line]
    public var familyName: String
    public var familyAddress: [String]
}

/// A payment with its allocations.
public struct PaymentDetail: Sendable {
    public var number: String
    public var label: String
    public var receivedAt: Date
    public var amount: Money
    public var allocations: [(invoice: String, amount: Money)]
    public var unallocated: Money
    public var familyName: String
    public var familyAddress: [String]
}

extension LedgerQueries {
    /// Invoices, credit notes and payments of a family merged by date, newest first (then by kind, newest id
    /// first), a page of them ($1 center, $2 family, $3 limit, $4 offset).
    static let entriesSQL = """
        WITH inv AS (
            SELECT i.id, i.kind, i.number, i.issued_at AS at, i.total_cents,
                   coalesce((SELECT sum(a.amount_cents) FROM allocations a WHERE a.center_id = i.center_id AND a.invoice_id = i.id), 0)
                 + coalesce((SELECT sum(cn.total_cents) FROM invoices cn WHERE cn.center_id = i.center_id AND cn.credit_of = i.id), 0) AS settled
            FROM invoices i WHERE i.center_id = $1 AND i.family_id = $2
        ), pay AS (
            SELECT p.id, 'payment'::text AS kind, p.number, p.received_at AS at, p.amount_cents AS total_cents,
                   coalesce((SELECT sum(a.amount_cents) FROM allocations a WHERE a.center_id = p.center_id AND a.payment_id = p.id), 0) AS settled,
                   p.label
            FROM payments p WHERE p.center_id = $1 AND p.family_id = $2
        )
        SELECT id, kind, number, at, total_cents::bigint, settled::bigint, '' AS label FROM inv
        UNION ALL
        SELECT id, kind, number, at, total_cents::bigint, settled::bigint, label FROM pay
        ORDER BY 4 DESC, 2, 1 DESC
        LIMIT $3 OFFSET $4
        """

    /// How many entries the family has in all ($1 center, $2 family).
    static let entryCountSQL = """
        SELECT ((SELECT count(*) FROM invoices WHERE center_id = $1 AND family_id = $2)
              + (SELECT count(*) FROM payments WHERE center_id = $1 AND family_id = $2))::int
        """

    /// An entry from its row: its kind's words, what an invoice lacks or what a payment has not given.
    private static func entry(id: Int64, kind raw: String, number: String, date: Date, amount: Int, settled: Int, label: String) -> LedgerEntry {
        let kind = LedgerEntry.Kind(rawValue: raw) ?? .invoice
        return LedgerEntry(kind: kind, id: id, number: number, date: date, label: kind == .payment ? label : "\(kind.document) n° \(number)",
                           amount: Money(cents: amount), open: Money(cents: max(0, amount - settled)), settled: Money(cents: settled))
    }

    /// Mes factures' reads in one statement: a page of the entries (`entriesSQL`), how many there are, and the
    /// family's totals (`totals`).
    public static func entriesAndTotals(_ c: PostgresConnection, center: Int64, family: Int64, offset: Int, limit: Int, logger: Logger) async throws
        -> (rows: [LedgerEntry], total: Int, totals: LedgerTotals) {
        var entries: [LedgerEntry] = []
        var total = 0
        var totals = LedgerTotals.zero
        let rows = try await c.rows(EntriesAndTotals(bindings: try .of(center, family, limit, offset)),
                                    (Int64?, String, String?, Date?, Int?, Int?, String?, Int?, [Int]?).self, logger: logger)
        // The totals' row is always there, but from a statement that set no center (`CenterStatement`).
        guard rows.contains(where: { $0.1 == "totals" }) else { throw CenterStatement.NotSet() }
        for (id, kind, number, date, amount, settled, label, count, sums) in rows {
            guard let id, let number, let date, let amount, let settled, let label else {
                total = count ?? 0
                totals = LedgerTotals(columns: sums ?? [])
                continue
            }
            entries.append(entry(id: id, kind: kind, number: number, date: date, amount: amount, settled: settled, label: label))
        }
        // The page's order (`entriesSQL`), which the union with the totals' row does not promise: newest first, then
        // by kind, then newest id.
        entries.sort { a, b in
            a.date != b.date ? a.date > b.date : a.kind.rawValue != b.kind.rawValue ? a.kind.rawValue < b.kind.rawValue : a.id > b.id
        }
        return (entries, total, totals)
    }

    /// One row shape for both parts ($1 center, $2 family, $3 limit, $4 offset): first the totals' row (no id; the
    /// number of entries, and the totals as an array: invoiced, invoices, due, unsettled, paid, payments, allocated),
    /// then the page's entries as `entriesSQL` reads them. Mes factures reads it at every visit: prepared once per connection.
    struct EntriesAndTotals: PreparedQuery {
        static let sql = CenterStatement.wrap("""
            SELECT NULL::bigint, 'totals'::text, NULL::text, NULL::timestamptz, NULL::bigint, NULL::bigint, NULL::text, (\(entryCountSQL)),
                   \(totalsArray)
            FROM (\(totalsSQL(center: "$1", family: "$2"))) t
            UNION ALL
            SELECT e.*, NULL::int, NULL::bigint[] FROM (\(entriesSQL)) e
            """)
        let bindings: PostgresBindings
    }

    static func familyParty(_ c: PostgresConnection, center: Int64, family: Int64, logger: Logger) async throws -> (String, [String]) {
        guard let (name, lines, postcode, city) = try await c.first("""
            SELECT name, address_lines, postcode, city FROM families WHERE center_id = \(center) AND id = \(family)
            """, (String, [String], String, String).self, logger: logger) else { return ("", []) }
        let place = "\(postcode) \(city)".trimmingCharacters(in: .whitespaces)
        return (name, lines + (place.isEmpty ? [] : [place]))
    }

    /// One invoice of the family by its number; nil for another family's or an unknown number.
    public static func invoice(_ c: PostgresConnection, center: Int64, family: Int64, number: String, logger: Logger) async throws -> InvoiceDetail? {
        guard let (id, kind, issued, total, settled) = try await c.first("""
            SELECT i.id, i.kind, i.issued_at, i.total_cents::bigint,
                   (coalesce((SELECT sum(a.amount_cents) FROM allocations a WHERE a.center_id = i.center_id AND a.invoice_id = i.id), 0)
                  + coalesce((SELECT sum(cn.total_cents) FROM invoices cn WHERE cn.center_id = i.center_id AND cn.credit_of = i.id), 0))::bigint
            FROM invoices i WHERE i.center_id = \(center) AND i.family_id = \(family) AND i.number = \(number)
            """, (Int64, String, Date, Int, Int).self, logger: logger) else { return nil }
        let lines = try await c.all("""
            SELECT designation, quantity, unit_price_cents::bigint, amount_cents::bigint FROM invoice_lines
            WHERE center_id = \(center) AND invoice_id = \(id) ORDER BY line_no
            """, (String, Int, Int, Int).self, logger: logger).map {
            InvoiceDetail.Line(designation: $0.0, quantity: $0.1, unitPrice: Money(cents: $0.2), amount: Money(cents: $0.3))
        }
        let (name, address) = try await familyParty(c, center: center, family: family, logger: logger)
        return InvoiceDetail(id: id, number: number, kind: kind, issuedAt: issued, total: Money(cents: total), paid: Money(cents: settled),
                             remaining: Money(cents: max(0, total - settled)), lines: lines, familyName: name, familyAddress: address)
    }

    /// One payment of the family by its number, with the invoices it paid.
    public static func payment(_ c: PostgresConnection, center: Int64, family: Int64, number: String, logger: Logger) async throws -> PaymentDetail? {
        guard let (id, label, received, amount) = try await c.first("""
            SELECT id, label, received_at, amount_cents::bigint FROM payments WHERE center_id = \(center) AND family_id = \(family) AND number = \(number)
            """, (Int64, String, Date, Int).self, logger: logger) else { return nil }
        let allocations = try await c.all("""
            SELECT i.number, a.amount_cents::bigint FROM allocations a JOIN invoices i ON i.center_id = a.center_id AND i.id = a.invoice_id
            WHERE a.center_id = \(center) AND a.payment_id = \(id) ORDER BY a.id
            """, (String, Int).self, logger: logger).map { (invoice: $0.0, amount: Money(cents: $0.1)) }
        let (name, address) = try await familyParty(c, center: center, family: family, logger: logger)
        let allocated = allocations.reduce(0) { $0 + $1.amount.cents }
        return PaymentDetail(number: number, label: label, receivedAt: received, amount: Money(cents: amount), allocations: allocations,
                             unallocated: Money(cents: amount - allocated), familyName: name, familyAddress: address)
    }
}

/// What a family paid in a year for the care of one child, for the tax certificate.
public struct ChildcareAmount: Sendable {
    public var firstName: String
    public var lastName: String
    public var birthDate: LocalDate
    public var paid: Money
}

extension LedgerQueries {
    /// Money paid in `year` (payments received that year, as allocated to invoices), shared among the
    /// children of the invoices' lines in proportion to their amounts, per child.
    public static func childcare(_ c: PostgresConnection, center: Int64, family: Int64, year: Int, logger: Logger) async throws -> [ChildcareAmount] {
        let allocations = try await c.all("""
            SELECT a.invoice_id, sum(a.amount_cents)::bigint FROM allocations a JOIN payments p ON p.center_id = a.center_id AND p.id = a.payment_id
            WHERE a.center_id = \(center) AND p.family_id = \(family)
              AND p.received_at >= make_date(\(year)::int, 1, 1) AND p.received_at < make_date(\(year)::int + 1, 1, 1)
            GROUP BY a.invoice_id
            """, (Int64, Int).self, logger: logger)
        var paidByChild: [Int64: Int] = [:]
        for (invoice, allocated) in allocations where allocated > 0 {
            let lines = try await c.all("""
                SELECT child_id, amount_cents::bigint FROM invoice_lines WHERE center_id = \(center) AND invoice_id = \(invoice) AND child_id IS NOT NULL ORDER BY line_no
                """, (Int64, Int).self, logger: logger)
            let total = lines.reduce(0) { $0 + $1.1 }
            guard total > 0 else { continue }
            // Shares in whole cents; the last line takes the remainder so that nothing is lost.
            var given = 0
            for (index, (child, amount)) in lines.enumerated() {
                let share = index == lines.count - 1 ? allocated - given : allocated * amount / total
                paidByChild[child, default: 0] += share
                given += share
            }
        }
        return try await AccountRepository.children(c, center: center, family: family, logger: logger).compactMap { child in
            guard let paid = paidByChild[child.id], paid > 0 else { return nil }
            return ChildcareAmount(firstName: child.firstName, lastName: child.lastName, birthDate: child.birthDate, paid: Money(cents: paid))
        }
    }
}

extension LedgerQueries {
    /// A row of the monthly accounts export: an invoice, a credit note, a refund or a payment, with its day at the center.
    public typealias MonthEntry = (day: LocalDate, kind: String, number: String, family: String, amount: Money, label: String)

    /// Invoices, credit notes and payments of a month at the center (its days in the center's time zone), oldest
    /// first (for the accounts), handed to `each` as PostgreSQL sends them. The month is read a day at a time, so
    /// that the first rows leave at once: sorting a large center's whole month (a million rows) first took seconds.
    /// Run it in a snapshot (`Database.withReplica`) for the days to agree.
    public static func month(_ c: PostgresConnection, center: Int64, year: Int, month: Int, zone: TimeZone, logger: Logger,
                             each: (MonthEntry) async throws -> Void) async throws {
        guard let first = LocalDate(year: year, month: month, day: 1) else { return }
        let midnight = LocalTime(hour: 0, minute: 0)!
        for offset in 0..<LocalDate.daysIn(month: month, year: year) {
            let day = first.adding(days: offset)
            let (from, to) = (day.instant(at: midnight, in: zone), day.adding(days: 1).instant(at: midnight, in: zone))
            let rows = try await c.query("""
                SELECT x.kind, x.number, f.name, x.amount, x.label FROM (
                    SELECT issued_at AS at, kind, number, family_id, total_cents::bigint AS amount, '' AS label FROM invoices
                    WHERE center_id = \(center) AND issued_at >= \(from) AND issued_at < \(to)
                    UNION ALL
                    SELECT received_at, 'payment', number, family_id, amount_cents::bigint, label FROM payments
                    WHERE center_id = \(center) AND received_at >= \(from) AND received_at < \(to)
                ) x JOIN families f ON f.center_id = \(center) AND f.id = x.family_id
                ORDER BY x.at, x.number
                """, logger: logger)
            for try await row in rows.decode((String, String, String, Int, String).self) {
                try await each((day: day, kind: row.0, number: row.1, family: row.2, amount: Money(cents: row.3), label: row.4))
            }
        }
    }

    /// Each family's balance: invoiced (less credit notes), paid, still due, credit available.
    public static func balances(_ c: PostgresConnection, center: Int64, logger: Logger,
                                each: ((family: String, email: String, totals: LedgerTotals)) async throws -> Void) async throws {
        // Families in name order by their index, each one's totals computed as its row goes out (the same SQL as
        // Mon compte's): the first rows leave at once, where adding up the whole center first took seconds.
        let rows = try await c.query("""
            SELECT f.name, f.email, t.invoiced, t.invoices, t.due, t.unsettled, t.paid, t.payments, t.allocated
            FROM families f CROSS JOIN LATERAL (\(unescaped: totalsSQL(center: "f.center_id", family: "f.id"))) t
            WHERE f.center_id = \(center)
            ORDER BY f.name, f.id
            """, logger: logger)
        for try await row in rows.decode((String, String, Int, Int, Int, Int, Int, Int, Int).self) {
            try await each((family: row.0, email: row.1, totals: LedgerTotals(columns: [row.2, row.3, row.4, row.5, row.6, row.7, row.8])))
        }
    }
}

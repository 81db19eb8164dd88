import Foundation
import Logging
import PortailDomain
import PostgresNIO

extension LedgerRepository {
    /// Cancels some days of a confirmed reservation: their places are free again, their lines move to
    /// `cancelled_reservation_lines`, the reservation's total and dates shrink and, when it was invoiced, a
    /// credit note names the days and gives back what they cost (money already allocated beyond what the
    /// invoice still bills becomes the family's credit). All its days: the whole reservation (`cancel`).
    /// The other days keep their price (a sibling's day priced with this one is not priced again).
    /// `family` limits it to that family's reservations (a parent); `now` checks the period's cancellation
    /// deadline when given (a parent), staff pass nil.
    public static func cancelDays(
        _ days: Set<LocalDate>, number: Int, family: Int64?, now: Date?, center: Center, centerID: Int64, actor: String,
        _ c: PostgresConnection, logger: Logger
    ) async throws -> Issued? {
        guard let (id, familyID, periodCode, periodID, periodLabel, childName, invoiceID) = try await c.first("""
            SELECT r.id, r.family_id, p.code, p.id, p.label, ch.first_name, r.invoice_id
            FROM reservations r
            JOIN periods p ON p.center_id = r.center_id AND p.id = r.period_id
            JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
            WHERE r.center_id = \(centerID) AND r.number = \(number) AND r.state = 'confirmed'
              AND (\(family)::bigint IS NULL OR r.family_id = \(family))
            FOR UPDATE OF r
            """, (Int64, Int64, String, Int64, String, String, Int64?).self, logger: logger) else { throw CancellationRefusal.notCancellable }
        let booked = Set(try await c.all("""
            SELECT DISTINCT day::text FROM reservation_lines WHERE center_id = \(centerID) AND reservation_id = \(id)
            """, (String.self), logger: logger).compactMap(LocalDate.init(iso:)))
        guard !days.isEmpty, days.isSubset(of: booked) else { throw CancellationRefusal.notCancellable }
        // All its days: the whole reservation, crediting its invoice lines, unless some days were cancelled
        // before (their credit notes already gave them back): then the remaining days here.
        let whole = days == booked
        if whole, try await !hasCancelledDays(reservation: id, center: centerID, c, logger: logger) {
            return try await cancel(number: number, family: family, now: now, center: center, centerID: centerID, actor: actor, c, logger: logger)
        }
        if let now {
            guard let rule = center.period(periodCode)?.cancellation else { throw CancellationRefusal.notCancellable }
            let late = days.filter { rule.deadline(for: $0, in: center.zone) < now }.sorted()
            guard late.isEmpty else { throw CancellationRefusal.pastDeadline(late) }
        }
        BusinessMetrics.cancelled(whole: whole)
        let isoDays = days.map(\.iso).sorted()
        let lines = try await c.all("""
            SELECT day::text, price_key, price_cents::bigint, capacity_units FROM reservation_lines
            WHERE center_id = \(centerID) AND reservation_id = \(id) AND day = ANY(\(isoDays)::date[])
            ORDER BY price_key, price_cents, day
            """, (String, String, Int, [String]).self, logger: logger)
        // The places they held, one statement per day and unit.
        var freed: [String: Int] = [:]
        for (day, _, _, units) in lines { for unit in units { freed["\(day)|\(unit)", default: 0] += 1 } }
        if whole {
            try await c.run("UPDATE reservations SET state = 'cancelled' WHERE center_id = \(centerID) AND id = \(id)", logger: logger)
        }
        for (key, count) in freed.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "|").map(String.init)
            try await c.run("""
                UPDATE day_capacities SET taken = taken - \(count)
                WHERE center_id = \(centerID) AND period_id = \(periodID) AND day = \(parts[0])::date AND unit = \(parts[1])
                """, logger: logger)
        }
        let total = lines.reduce(0) { $0 + $1.2 }
        // The credit note: one line per price, naming the days, as the invoice does.
        var note: Issued?
        if let invoiceID {
            var groups: [(key: String, price: Int, days: [LocalDate])] = []
            for (day, key, price, _) in lines {
                guard let date = LocalDate(iso: day) else { continue }
                if let last = groups.last, last.key == key, last.price == price { groups[groups.count - 1].days.append(date) }
                else { groups.append((key, price, [date])) }
            }
            let sequence = try await BookingRepository.nextNumber(c, center: centerID, counter: "credit_note", logger: logger)
            let label = "\(center.invoicePrefix)-AV\(String(format: "%05d", sequence))"
            let noteID = try await c.first("""
                INSERT INTO invoices (center_id, number, kind, credit_of, family_id, total_cents)
                VALUES (\(centerID), \(label), 'credit_note', \(invoiceID), \(familyID), \(total)) RETURNING id
                """, (Int64.self), logger: logger)!
            for (index, group) in groups.enumerated() {
                let designation = "Annulation : \(childName) – \(periodLabel) – \(center.designation(forKey: group.key)) du : "
                    + group.days.map(\.frenchDayMonth).joined(separator: ", ")
                try await c.run("""
                    INSERT INTO invoice_lines (center_id, invoice_id, line_no, child_id, reservation_id, designation, quantity, unit_price_cents, amount_cents)
                    SELECT \(centerID), \(noteID), \(index + 1), r.child_id, r.id, \(designation), \(group.days.count), \(group.price), \(group.price * group.days.count)
                    FROM reservations r WHERE r.center_id = \(centerID) AND r.id = \(id)
                    """, logger: logger)
            }
            note = Issued(id: noteID, number: label, total: Money(cents: total))
        }
        if !whole {
            try await c.run("""
                WITH gone AS (
                    DELETE FROM reservation_lines WHERE center_id = \(centerID) AND reservation_id = \(id) AND day = ANY(\(isoDays)::date[])
                    RETURNING center_id, reservation_id, day, price_key, units, capacity_units, price_cents, tariff, tariff_version
                )
                INSERT INTO cancelled_reservation_lines (center_id, reservation_id, day, price_key, units, capacity_units, price_cents, tariff,
                                                         tariff_version, credit_note_id, actor)
                SELECT center_id, reservation_id, day, price_key, units, capacity_units, price_cents, tariff, tariff_version, \(note?.id), \(actor)
                FROM gone
                """, logger: logger)
            try await c.run("""
                UPDATE reservations r SET total_cents = r.total_cents - \(total),
                    first_day = (SELECT min(day) FROM reservation_lines l WHERE l.center_id = r.center_id AND l.reservation_id = r.id),
                    last_day = (SELECT max(day) FROM reservation_lines l WHERE l.center_id = r.center_id AND l.reservation_id = r.id)
                WHERE r.center_id = \(centerID) AND r.id = \(id)
                """, logger: logger)
        }
        if let invoiceID { try await releaseExcess(invoice: invoiceID, center: centerID, c, logger: logger) }
        struct Cancelled: Encodable, Sendable { let days: [String]; let credit_note: String?; let amount: String }
        try await AuditLog.record(c, center: centerID, actor: actor, action: whole ? "reservation.cancel" : "reservation.cancel_days", subject: String(format: "%05d", number),
                                  after: Cancelled(days: isoDays, credit_note: note?.number, amount: Money(cents: total).description), logger: logger)
        return note
    }

    /// Whether some days of the reservation were cancelled before (and credited then).
    static func hasCancelledDays(reservation: Int64, center: Int64, _ c: PostgresConnection, logger: Logger) async throws -> Bool {
        try await c.first("""
            SELECT EXISTS (SELECT 1 FROM cancelled_reservation_lines WHERE center_id = \(center) AND reservation_id = \(reservation))
            """, (Bool.self), logger: logger) ?? false
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// Reservations through the admin API: the list by period and day with filters, a booking made for
/// a family at the office, the invoicing of confirmed reservations not invoiced yet.
extension PortailRoutes {
    struct StaffBookingInput: Decodable {
        struct Day: Decodable {
            let day: String
            let units: [String]
        }
        let familyId: Int64
        let childId: Int64
        let period: String
        let days: [Day]
        /// Whether to invoice at once (default) or leave it to the next invoicing run.
        let invoice: Bool?
    }

    struct InvoicingInput: Decodable {
        let familyId: Int64?
        let until: String?
    }

    /// The page and page size of a list request: ?page=1&per_page=50 (at most 200). The page is bounded
    /// like the parent pages' so that (page - 1) * per_page cannot overflow (a trap would stop the server).
    static func paging(_ request: Request) throws -> (page: Int, perPage: Int) {
        let query = request.uri.queryParameters
        let page = try query["page"].map { text -> Int in
            guard let n = Int(String(text)), (1...InputLimits.page).contains(n) else {
                throw invalid("Invalid page", "page is a whole number from 1 to \(InputLimits.page).")
            }
            return n
        } ?? 1
        let perPage = try query["per_page"].map { text -> Int in
            guard let n = Int(String(text)), (1...200).contains(n) else { throw invalid("Invalid per_page", "per_page is a whole number from 1 to 200.") }
            return n
        } ?? 50
        return (page, perPage)
    }

    /// An id filter of a list (?family_id=12): absent, or a whole number.
    static func identifier(_ text: Substring?, _ field: String) throws -> Int64? {
        try text.map { text in
            guard let id = Int64(String(text)) else { throw invalid("Invalid \(field)", "\(field) is a whole number.") }
            return id
        }
    }

    func addReservationRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/centers/:code/reservations") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let query = request.uri.queryParameters
                let (page, perPage) = try Self.paging(request)
                let states = ["pending_payment", "confirmed", "expired", "cancelled"]
                var filter = ReservationFilter()
                filter.period = query["period"].map(String.init)
                filter.day = try query["day"].map { try Self.date(String($0), "day") }
                filter.state = try query["state"].map { text -> String in
                    guard states.contains(String(text)) else { throw Self.invalid("Invalid state", "state is one of \(states.joined(separator: ", ")).") }
                    return String(text)
                }
                filter.family = try Self.identifier(query["family_id"], "family_id")
                filter.child = try Self.identifier(query["child_id"], "child_id")
                if let period = filter.period, record.center.period(period) == nil {
                    throw APIProblem.notFound("Center \(record.center.code) has no period \(period).")
                }
                let (rows, total) = try await database.withCenter(record.id) { c in
                    try await StaffReservations.list(c, center: record.id, filter: filter, offset: (page - 1) * perPage, limit: perPage, logger: database.logger)
                }
                struct Page: Encodable { let reservations: [StaffReservation]; let page: Int; let perPage: Int; let total: Int }
                return try API.json(Page(reservations: rows, page: page, perPage: perPage, total: total))
            }
        }

        // A booking made by staff for a family: past the deadlines, never past the places; confirmed at once.
        router.post("/api/centers/:code/reservations") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                var request = request
                let input = try await Self.decode(StaffBookingInput.self, &request)
                guard let period = record.center.period(input.period) else {
                    throw Self.invalid("Unknown period", "period must be the code of one of the center's periods (\(record.center.periods.map(\.code).joined(separator: ", "))).")
                }
                var selection: [LocalDate: Set<String>] = [:]
                for day in input.days {
                    selection[try Self.date(day.day, "days[].day"), default: []].formUnion(day.units)
                }
                let done: (reservation: BookedReservation, invoice: LedgerRepository.Issued?)?
                try await StaffReservations.expireBeforeBooking(database, centerID: record.id)
                do {
                    done = try await database.withCenter(record.id) { c in
                        try await StaffReservations.bookAtOffice(c, center: record.center, centerID: record.id, family: input.familyId, child: input.childId,
                                                                 period: period, selection: selection, invoice: input.invoice ?? true,
                                                                 actor: "staff:\(staff.email)", logger: database.logger)
                    }
                } catch let refusal as BookingRefusal {
                    throw Self.problem(refusal, period: period)
                }
                guard let (booked, invoice) = done else {
                    throw APIProblem.notFound("Family \(input.familyId) of this center has no child \(input.childId).")
                }
                struct Created: Encodable { let reservation: String; let state: String; let totalCents: Int; let invoice: String? }
                return try API.json(Created(reservation: String(format: "%05d", booked.number), state: "confirmed", totalCents: booked.total.cents, invoice: invoice?.number),
                                    status: .created)
            }
        }

        // Invoices the confirmed reservations not invoiced yet: one invoice per family.
        router.post("/api/centers/:code/invoices") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                var request = request
                let input = try await Self.decode(InvoicingInput.self, &request, emptyAs: InvoicingInput(familyId: nil, until: nil))
                let until = try input.until.map { try Self.date($0, "until") }
                let issued = try await database.withCenter(record.id) { c in
                    if let family = input.familyId { try await requireFamily(c, record, family) }
                    return try await StaffReservations.invoiceConfirmed(c, center: record.center, centerID: record.id, family: input.familyId, until: until,
                                                                       actor: "staff:\(staff.email)", logger: database.logger)
                }
                struct Issued: Encodable { let number: String; let familyId: Int64; let totalCents: Int }
                return try API.json(["invoices": issued.map { Issued(number: $0.invoice.number, familyId: $0.family, totalCents: $0.invoice.total.cents) }],
                                    status: issued.isEmpty ? .ok : .created)
            }
        }
    }

    /// A booking refusal as a problem the office can act on.
    static func problem(_ refusal: BookingRefusal, period: Period) -> APIProblem {
        func days(_ list: [LocalDate]) -> String { list.map(\.iso).joined(separator: ", ") }
        switch refusal {
        case .full(let list): return APIProblem(status: .conflict, title: "No place left", detail: "No place is left on \(days(list)); nothing was booked.")
        case .alreadyBooked(let list): return APIProblem(status: .conflict, title: "Already booked", detail: "The child already has \(days(list)).")
        case .pastDeadline(let list): return APIProblem(status: .conflict, title: "Past the deadline", detail: "\(days(list)) can no longer be booked.")
        case .invalidSelection(let why):
            return invalid("Invalid days", "The days do not fit period \(period.code) (\(why)): give open days of the period and its units (\(period.units.joined(separator: ", "))).")
        case .periodClosed:
            return APIProblem(status: .conflict, title: "Period closed", detail: "Period \(period.code) is closed or does not admit this child's age: reopen it or pick another period.")
        case .unpriced(let day, let units):
            return APIProblem(status: .conflict, title: "No price", detail: "The tariff of \(period.code) has no price for \(units.joined(separator: " + ")) on \(day.iso).")
        case .cartFrozen:
            return APIProblem(status: .conflict, title: "Payment under way", detail: "The family is paying its cart online; try again in a few minutes.")
        case .cartHoldsOffer:
            return APIProblem(status: .conflict, title: "Offer in the cart", detail: "The family's cart holds a place offered from the waiting list.")
        case .notOpenYet(let opens):
            return APIProblem(status: .conflict, title: "Not open yet", detail: "Booking of period \(period.code) opens for this family at \(opens).")
        }
    }
}

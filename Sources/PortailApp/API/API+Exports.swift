import Foundation
import Hummingbird
import PortailDomain
import PortailStore
import PostgresNIO

/// CSV exports for the office: ";"-separated, UTF-8 with a byte order mark so that spreadsheets read
/// the accents, amounts with a decimal comma.
extension PortailRoutes {
    /// One line of a CSV file as spreadsheets in France read it: `;` between fields, quoted when needed.
    static func csvLine(_ row: [String]) -> String {
        row.map { text in
            text.contains(where: { ";\"\n\r".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }.joined(separator: ";") + "\r\n"
    }

    static func csvHeaders(_ filename: String) -> HTTPFields {
        [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(filename)\""]
    }

    /// A CSV file sent as its rows come from the database, in one transaction of the center: the first bytes
    /// leave at once and memory stays flat, whatever the size (a month of a large center is 50 MB). It reads
    /// the replica when there is one (a month's or the balances' export tolerates a few seconds of lag), or the
    /// primary (`onReplica: false`: a day's register and attendance, which a booking just made must be on).
    /// At most a few exports stream at once (`Database.exports`): past that, `ExportsBusy` (429 for the center's
    /// one export, 503 for the instance's limit; try again shortly).
    func csvStream(filename: String, center: Int64, header: [String], onReplica: Bool = true,
                   rows: @escaping @Sendable (PostgresConnection, _ emit: ([String]) async throws -> Void) async throws -> Void) throws -> Response {
        let database = database
        let slot = try database.exports.enter(center).mapError { ExportsBusy(centerBusy: $0 == .keyBusy) }.get()
        return Response(status: .ok, headers: Self.csvHeaders(filename), body: ResponseBody { writer in
            defer { slot.leave() }
            var buffer = ByteBuffer(string: "\u{FEFF}" + Self.csvLine(header))
            try await database.withReplica(center, onReplica: onReplica) { c in
                // A large center's month takes longer than a page's 15 s to read and send.
                _ = try await c.query("SELECT set_config('statement_timeout', '300s', true)", logger: database.logger).collect()
                try await rows(c) { row in
                    buffer.writeString(Self.csvLine(row))
                    if buffer.readableBytes >= 1 << 16 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
            }
            // The connection is back in the pool: the place goes before the last bytes, so a client that has
            // the whole file can start the next export at once.
            slot.leave()
            try await writer.write(buffer)
            try await writer.finish(nil)
        })
    }

    /// An export refused because others are streaming (`Database.exports`): 429 or 503, with a French page on the back
    /// office and a problem on the API (ErrorMiddleware).
    struct ExportsBusy: Error {
        /// The center's own export is the one running (else the instance's limit is reached).
        let centerBusy: Bool
        static let retryAfterSeconds = 15
    }

    static func euros(_ money: Money) -> String { money.decimalString.replacingOccurrences(of: ".", with: ",") }

    // The rows of each export, shared by the admin API and the back office.

    /// The day's attendance (the API's), streamed.
    func attendanceExport(_ record: CenterRecord, day: LocalDate) throws -> Response {
        let (center, logger, date) = (record.id, database.logger, day.french)
        return try csvStream(filename: "presences-\(record.center.code)-\(day.iso).csv", center: center,
                         header: ["Jour", "Réservation", "Enfant", "Famille", "Unités", "État"], onReplica: false) { c, emit in
            try await ReservationQueries.attendance(c, center: center, day: day, logger: logger) {
                try await emit([date, String(format: "%05d", $0.reservation), $0.child, $0.family, $0.units.joined(separator: " + "),
                                $0.state == "confirmed" ? "confirmée" : "en attente de paiement"])
            }
        }
    }

    static let ledgerHeader = ["Date", "Type", "Numéro", "Famille", "Montant", "Détail"]
    static let ledgerKinds = ["invoice": "facture", "credit_note": "avoir", "refund": "remboursement", "payment": "paiement"]

    /// The month's accounts of a center (invoices, credit notes, refunds, payments), streamed, its days in the
    /// center's time zone. The rows come in date order: the day's French date is written once a day, not once a row.
    func ledgerExport(_ record: CenterRecord, year: Int, month: Int, filename: String) throws -> Response {
        let (center, zone, logger) = (record.id, record.center.zone, database.logger)
        return try csvStream(filename: filename, center: center, header: Self.ledgerHeader) { c, emit in
            var day: (date: LocalDate, text: String)?
            try await LedgerQueries.month(c, center: center, year: year, month: month, zone: zone, logger: logger) { entry in
                if day?.date != entry.day { day = (entry.day, entry.day.french) }
                try await emit([day!.text, Self.ledgerKinds[entry.kind] ?? entry.kind, entry.number, entry.family, Self.euros(entry.amount), entry.label])
            }
        }
    }

    /// Every family's balance at a center, streamed.
    func balancesExport(_ record: CenterRecord) throws -> Response {
        let (center, logger) = (record.id, database.logger)
        return try csvStream(filename: "soldes-\(record.center.code).csv", center: center,
                         header: ["Famille", "E-mail", "Facturé", "Payé", "Restant dû", "Avoir disponible"]) { c, emit in
            try await LedgerQueries.balances(c, center: center, logger: logger) {
                try await emit([$0.family, $0.email, Self.euros($0.totals.invoiced), Self.euros($0.totals.paid), Self.euros($0.totals.due),
                                Self.euros($0.totals.paid - $0.totals.allocated)])
            }
        }
    }

    func addExportRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/centers/:code/exports/attendance.csv") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                guard let day = request.uri.queryParameters["day"].flatMap({ LocalDate(iso: String($0)) }) else {
                    throw APIProblem(status: .unprocessableContent, title: "Missing day", detail: "Give the day as ?day=YYYY-MM-DD.")
                }
                return try attendanceExport(record, day: day)
            }
        }

        router.get("/api/centers/:code/exports/ledger.csv") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let text = request.uri.queryParameters["month"].map(String.init) ?? ""
                let parts = text.split(separator: "-").compactMap { Int($0) }
                guard parts.count == 2, (2000...2100).contains(parts[0]), (1...12).contains(parts[1]) else {
                    throw APIProblem(status: .unprocessableContent, title: "Missing month", detail: "Give the month as ?month=YYYY-MM.")
                }
                return try ledgerExport(record, year: parts[0], month: parts[1], filename: "factures-paiements-\(record.center.code)-\(text).csv")
            }
        }

        router.get("/api/centers/:code/exports/balances.csv") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                return try balancesExport(record)
            }
        }
    }
}

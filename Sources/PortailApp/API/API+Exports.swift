import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// CSV exports for the office: ";"-separated, UTF-8 with a byte order mark so that spreadsheets read
/// the accents, amounts with a decimal comma.
extension PortailRoutes {
    static func csv(_ rows: [[String]], filename: String) -> Response {
        func field(_ text: String) -> String {
            text.contains(where: { ";\"\n\r".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        let text = "\u{FEFF}" + rows.map { $0.map(field).joined(separator: ";") }.joined(separator: "\r\n") + "\r\n"
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(filename)\""],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func euros(_ money: Money) -> String { money.decimalString.replacingOccurrences(of: ".", with: ",") }

    // The rows of each export, shared by the admin API and the back office.

    static func attendanceRows(_ lines: [AttendanceLine], day: LocalDate) -> [[String]] {
        [["Jour", "Réservation", "Enfant", "Famille", "Unités", "État"]]
            + lines.map { [day.french, String(format: "%05d", $0.reservation), $0.child, $0.family, $0.units.joined(separator: " + "),
                           $0.state == "confirmed" ? "confirmée" : "en attente de paiement"] }
    }

    static func ledgerRows(_ entries: [(date: Date, kind: String, number: String, family: String, amount: Money, label: String)], zone: TimeZone) -> [[String]] {
        let kinds = ["invoice": "facture", "credit_note": "avoir", "refund": "remboursement", "payment": "paiement"]
        return [["Date", "Type", "Numéro", "Famille", "Montant", "Détail"]]
            + entries.map { [LocalDate($0.date, in: zone).french, kinds[$0.kind] ?? $0.kind, $0.number, $0.family, Self.euros($0.amount), $0.label] }
    }

    static func balanceRows(_ balances: [(family: String, email: String, totals: LedgerTotals)]) -> [[String]] {
        [["Famille", "E-mail", "Facturé", "Payé", "Restant dû", "Avoir disponible"]]
            + balances.map { [$0.family, $0.email, Self.euros($0.totals.invoiced), Self.euros($0.totals.paid), Self.euros($0.totals.due),
                              Self.euros($0.totals.paid - $0.totals.allocated)] }
    }

    func addExportRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/centers/:code/exports/attendance.csv") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                guard let day = request.uri.queryParameters["day"].flatMap({ LocalDate(iso: String($0)) }) else {
                    throw APIProblem(status: .unprocessableContent, title: "Missing day", detail: "Give the day as ?day=YYYY-MM-DD.")
                }
                let lines = try await database.withCenter(record.id) { c in
                    try await ReservationQueries.attendance(c, center: record.id, day: day, logger: database.logger)
                }
                return Self.csv(Self.attendanceRows(lines, day: day), filename: "presences-\(record.center.code)-\(day.iso).csv")
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
                let entries = try await database.withCenter(record.id) { c in
                    try await LedgerQueries.month(c, center: record.id, year: parts[0], month: parts[1], logger: database.logger)
                }
                return Self.csv(Self.ledgerRows(entries, zone: record.center.zone), filename: "factures-paiements-\(record.center.code)-\(text).csv")
            }
        }

        router.get("/api/centers/:code/exports/balances.csv") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let balances = try await database.withCenter(record.id) { c in
                    try await LedgerQueries.balances(c, center: record.id, logger: database.logger)
                }
                return Self.csv(Self.balanceRows(balances), filename: "soldes-\(record.center.code).csv")
            }
        }
    }
}

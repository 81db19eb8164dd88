import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The day's register: every child expected, their age, units and the parent's phone, on one printable
/// page (A4 in the browser's print) and as CSV for a spreadsheet.
extension PortailRoutes {
    struct AdminRegisterModel {
        struct Line {
            let child: String
            let age: String
            let group: String
            let units: String
            let family: String
            let phone: String
            let state: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let title: String
        let iso: String
        let previous: String
        let next: String
        let lines: [Line]
        let hasLines: Bool
        let count: Int
        /// Said when the day has more children than the page shows.
        let notice: String?
    }

    /// The page shows at most this many children; its count and the CSV have them all.
    static let registerPageLines = 2000

    func addAdminRegisterRoutes(to router: Router<AppRequestContext>) {
        for csv in [false, true] {
            router.get(RouterPath(csv ? "/admin/centres/:code/registre.csv" : "/admin/centres/:code/registre"), use: admin { admin, context, request in
                let (_, record, _) = try await staffCenter(admin, context: context)
                let today = LocalDate(clock(), in: record.center.zone)
                let asked = request.uri.queryParameters["jour"].map(String.init)
                guard let day = asked.map({ LocalDate(iso: $0) }) ?? today, abs(day.dayNumber - today.dayNumber) <= 3660 else {
                    return adminProblem("Jour inconnu", "Donnez le jour sous la forme AAAA-MM-JJ, par exemple \(today.iso).", status: .badRequest)
                }
                let center = record.center
                if csv {
                    // Streamed as the lines come: a day of a large center is tens of thousands of children.
                    let (date, logger) = (day.french, context.logger)
                    return try csvStream(filename: "registre-\(center.code)-\(day.iso).csv", center: record.id,
                                     header: ["Jour", "Enfant", "Âge", "Groupe d'âge", "Unités", "Famille", "Téléphone", "État"],
                                     onReplica: false) { c, emit in
                        try await CenterDashboard.register(c, center: record.id, day: day, logger: logger) { line in
                            let row = Self.registerLine(line, center: center, day: day)
                            try await emit([date, row.child, row.age, row.group, row.units, row.family, row.phone, row.state])
                        }
                    }
                }
                let (lines, total) = try await database.withCenter(record.id) { c in
                    try await CenterDashboard.register(c, center: record.id, day: day, limit: Self.registerPageLines, logger: context.logger)
                }
                let rows = lines.map { Self.registerLine($0, center: center, day: day) }
                return adminPage("admin-register", AdminRegisterModel(
                    page: admin.chrome, code: record.center.code, centerName: record.center.name,
                    title: "Registre du \(French.weekdayLong(day)) \(day.french)", iso: day.iso,
                    previous: day.adding(days: -1).iso, next: day.adding(days: 1).iso,
                    lines: rows, hasLines: !rows.isEmpty, count: total,
                    notice: total > rows.count
                        ? "Seuls les \(rows.count) premiers enfants (par nom) sont affichés ici ; le fichier CSV les contient tous." : nil
                ), admin)
            })
        }
    }

    /// A line of the register as the page and the CSV file word it.
    static func registerLine(_ line: RegisterLine, center: Center, day: LocalDate) -> AdminRegisterModel.Line {
        AdminRegisterModel.Line(child: line.child, age: line.birthDate.map { "\($0.age(on: day)) ans" } ?? "",
                                group: center.ageGroups.first { $0.code == line.ageGroup }?.label ?? line.ageGroup,
                                units: line.units.map { code in center.units.first { $0.code == code }?.label ?? code }.joined(separator: " + "),
                                family: line.family, phone: line.phone, state: line.confirmed ? "confirmée" : "en attente de paiement")
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The back office's first pages: the centers a person may open, and a center's dashboard.
extension PortailRoutes {
    struct AdminHomeModel {
        struct CenterLink {
            let code: String
            let name: String
            let role: String
        }
        let page: AdminChrome
        let centers: [CenterLink]
        let federationAdmin: Bool
        let hasCenters: Bool
    }

    struct AdminCenterModel {
        struct DayLine {
            let title: String
            let children: Int
            let units: [UnitCount]
            let hasUnits: Bool
            let groups: [UnitCount]
        }
        struct UnitCount {
            let unit: String
            let children: Int
        }
        struct PlacesTable {
            let period: String
            let units: [String]
            let rows: [PlacesRow]
        }
        struct PlacesRow {
            let day: String
            let cells: [PlacesCell]
        }
        struct PlacesCell {
            let text: String
            let label: String
            /// "full", "few", "free" or "none" (the unit is not open that day).
            let level: String
        }
        struct Unpaid {
            let number: String
            let family: String
            let issued: String
            let due: String
        }
        let page: AdminChrome
        let code: String
        let name: String
        let role: String
        let days: [DayLine]
        let bookingsThisWeek: Int
        let paymentsThisWeek: Int
        let receivedThisWeek: String
        let flaggedPayments: Int
        let unmatchedPayments: Int
        let hasPaymentsToCheck: Bool
        let unpaid: [Unpaid]
        let hasUnpaid: Bool
        let unpaidCount: Int
        let unpaidTotal: String
        let moreUnpaid: Bool
        let places: [PlacesTable]
        /// The team's page: managers and federation administrators.
        let canManage: Bool
    }

    static let roleNames = ["manager": "responsable", "staff": "équipe", "federation_admin": "administration de la fédération"]

    func addAdminDashboardRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/", use: admin { admin, context, _ in
            let (session, token) = try requireStaff(admin).get()
            let centers: [AdminHomeModel.CenterLink]
            if session.isFederationAdmin {
                centers = directory.snapshot.centers.map { .init(code: $0.center.code, name: $0.center.name, role: Self.roleNames["federation_admin"]!) }
            } else {
                let roles = try await StaffRepository.federation(database) { c in
                    try await StaffSignIn.centers(c, token: token, logger: context.logger)
                }
                centers = roles.compactMap { role in
                    directory.snapshot.centers.first { $0.id == role.center }.map {
                        .init(code: $0.center.code, name: $0.center.name, role: Self.roleNames[role.role] ?? role.role)
                    }
                }
            }
            if centers.count == 1, !session.isFederationAdmin { return Pages.redirect("/admin/centres/\(centers[0].code)") }
            return adminPage("admin-home", AdminHomeModel(page: admin.chrome, centers: centers.sorted { $0.name < $1.name },
                                                          federationAdmin: session.isFederationAdmin, hasCenters: !centers.isEmpty), admin)
        })

        router.get("/admin/centres/:code", use: admin { admin, context, _ in
            let (_, record, role) = try await staffCenter(admin, context: context)
            let zone = record.center.zone
            let today = LocalDate(clock(), in: zone)
            let dashboard = try await database.withCenter(record.id) { c in
                try await CenterDashboard.load(c, center: record.id, today: today, logger: context.logger)
            }
            return adminPage("admin-center", centerModel(dashboard, record: record, role: role, admin: admin), admin)
        })
    }

    func centerModel(_ d: CenterDashboard, record: CenterRecord, role: String, admin: AdminRequest) -> AdminCenterModel {
        typealias M = AdminCenterModel
        func unitName(_ code: String) -> String { record.center.units.first { $0.code == code }?.label ?? code }
        func line(_ day: CenterDashboard.Day, _ word: String) -> M.DayLine {
            M.DayLine(title: "\(word) (\(French.shortDay(day.day)))", children: day.children,
                      units: day.byUnit.map { M.UnitCount(unit: unitName($0.unit), children: $0.children) }, hasUnits: !day.byUnit.isEmpty,
                      groups: day.byAgeGroup.map { g in
                          M.UnitCount(unit: record.center.ageGroups.first { $0.code == g.group }?.label ?? g.group, children: g.children)
                      })
        }
        var tables: [M.PlacesTable] = []
        for period in Array(Set(d.places.map(\.period))).sorted() {
            let rows = d.places.filter { $0.period == period }
            let units = Array(Set(rows.map(\.unit))).sorted()
            let days = Array(Set(rows.map(\.day))).sorted()
            tables.append(M.PlacesTable(period: period, units: units.map(unitName), rows: days.map { day in
                M.PlacesRow(day: French.shortDay(day), cells: units.map { unit in
                    guard let cell = rows.first(where: { $0.day == day && $0.unit == unit }) else {
                        return M.PlacesCell(text: "–", label: "fermé", level: "none")
                    }
                    let level = cell.left == 0 ? "full" : cell.left * 5 <= cell.places ? "few" : "free"
                    return M.PlacesCell(text: "\(cell.left)/\(cell.places)",
                                        label: "\(cell.left) place\(cell.left > 1 ? "s" : "") libre\(cell.left > 1 ? "s" : "") sur \(cell.places)",
                                        level: level)
                })
            }))
        }
        let zone = record.center.zone
        return M(
            page: admin.chrome, code: record.center.code, name: record.center.name, role: Self.roleNames[role] ?? role,
            days: [line(d.today, "Aujourd'hui"), line(d.tomorrow, "Demain")],
            bookingsThisWeek: d.bookingsThisWeek, paymentsThisWeek: d.paymentsThisWeek, receivedThisWeek: d.receivedThisWeek.description,
            flaggedPayments: d.flaggedPayments, unmatchedPayments: d.unmatchedPayments,
            hasPaymentsToCheck: d.flaggedPayments + d.unmatchedPayments > 0,
            unpaid: d.unpaid.map { M.Unpaid(number: $0.number, family: $0.family, issued: LocalDate($0.issuedAt, in: zone).french, due: $0.due.description) },
            hasUnpaid: !d.unpaid.isEmpty,
            unpaidCount: d.unpaidCount, unpaidTotal: d.unpaidTotal.description, moreUnpaid: d.unpaidCount > d.unpaid.count,
            places: tables, canManage: role != "staff"
        )
    }
}

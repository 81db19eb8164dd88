import Foundation
import PortailDomain
import PortailStore

/// What the center's home page shows: the seed's welcome text, the login box and "COORDONNÉES".
struct HomeModel {
    struct PeriodLine {
        let label: String
        let from: String
        let to: String
    }

    let base: String
    let centerName: String
    let centerTitle: String
    let footer: String
    let coordinates: Coordinates
    let phoneLink: String
    let officeHours: [String]
    let periods: [PeriodLine]
    let notice: String?
    // Stored, not computed: templates read values through reflection.
    let hasOfficeHours: Bool
    let hasPeriods: Bool

    init(record: CenterRecord, base: String, today: LocalDate, notice: String? = nil) {
        let center = record.center
        self.base = base
        centerName = center.name
        centerTitle = center.name.uppercased()
        footer = [center.organisation, center.coordinates.name].filter { !$0.isEmpty }.joined(separator: " – ")
        coordinates = center.coordinates
        phoneLink = center.coordinates.phone.filter { $0.isNumber || $0 == "+" }
        officeHours = center.coordinates.officeHours.map(\.french)
        periods = center.periods.filter { $0.endsOn >= today }.prefix(6).map {
            PeriodLine(label: $0.label, from: $0.startsOn.french, to: $0.endsOn.french)
        }
        self.notice = notice
        hasOfficeHours = !officeHours.isEmpty
        hasPeriods = !periods.isEmpty
    }
}

import Foundation
import PortailDomain
import PortailStore

/// What the center's home page shows: the seed's welcome text, the login box and "COORDONNÉES".
struct HomeModel: TemplateModel {
    struct PeriodLine: Encodable {
        let label: String
        let from: String
        let to: String
        /// When booking opens, for the logged-in family if it has a priority window; nil once open to all.
        let opening: String?
    }

    let page: PageChrome
    let coordinates: CoordinatesBlock
    let periods: [PeriodLine]
    let hasPeriods: Bool
    let notice: String?
    let error: String?
    let identifiant: String
    /// The center lets families create their account (`family_file.self_sign_up`).
    let signUp: Bool

    init(_ context: AppRequestContext, notice: String? = nil, error: String? = nil, identifiant: String = "",
         standing: PriorityStanding = .none) {
        let center = context.center!.center
        let now = Date()
        let today = LocalDate(now, in: center.zone)
        page = PageChrome(context)
        coordinates = CoordinatesBlock(center.coordinates)
        periods = center.periods.filter { $0.endsOn >= today }.prefix(6).map {
            PeriodLine(label: $0.label, from: $0.startsOn.french, to: $0.endsOn.french,
                       opening: PeriodOpening($0, center: center, standing: standing, now: now).words)
        }
        hasPeriods = !periods.isEmpty
        self.notice = notice
        self.error = error
        self.identifiant = identifiant
        signUp = center.familyFile?.selfSignUp == true
    }
}

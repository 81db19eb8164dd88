import Foundation
import PortailDomain
import PortailStore

/// When a period opens for booking, for one family (its priority window's time, else the general
/// opening), and how the pages word it.
struct PeriodOpening {
    let period: Period
    /// The family's own opening; nil: open from the start.
    let opensAt: LocalDateTime?
    /// Whether the family may book now (not closed, inside the window, not over).
    let isOpen: Bool
    private let center: Center
    private let now: Date

    init(_ period: Period, center: Center, standing: PriorityStanding, now: Date) {
        self.period = period
        self.center = center
        self.now = now
        opensAt = center.opening(of: period, for: standing)
        isOpen = period.isOpenForBooking(at: now, in: center.zone, opensAt: opensAt)
    }

    /// Periods of the child's age that take bookings now or will, each with the family's opening.
    static func periods(_ center: Center, for child: ChildRecord, standing: PriorityStanding, at now: Date) -> [PeriodOpening] {
        center.periods.filter { period in
            // Open but for the opening time: not closed, not past its closing, not over.
            period.isOpenForBooking(at: now, in: center.zone, opensAt: nil)
                && center.ageGroup(period.ageGroup)?.admits(birthDate: child.birthDate, on: period.startsOn) == true
        }.map { PeriodOpening($0, center: center, standing: standing, now: now) }
    }

    private func isPast(_ time: LocalDateTime) -> Bool { now >= time.instant(in: center.zone) }

    /// What a period line says of the opening; nil once every family may book.
    /// "réservations à partir du 15/01 à 8h00 (dès le 08/01 à 8h00 pour les familles résidentes)",
    /// "réservations ouvertes pour vous depuis le 08/01 à 8h00 (ouverture prioritaire), pour toutes les familles le 15/01 à 8h00".
    var words: String? {
        guard let general = period.bookingOpensAt, !isPast(general) else { return nil }
        if let own = opensAt, own < general {
            let yours = isPast(own) ? "réservations ouvertes pour vous depuis le \(own.frenchDayMonth)"
                : "réservations à partir du \(own.frenchDayMonth) pour vous"
            return yours + " (ouverture prioritaire), pour toutes les familles le \(general.frenchDayMonth)"
        }
        let windows = period.priorityWindows.sorted { $0.opensAt < $1.opensAt }.map { window in
            "dès le \(window.opensAt.frenchDayMonth) pour " + window.groups.map(groupWords).joined(separator: ", ")
        }
        return "réservations à partir du \(general.frenchDayMonth)" + (windows.isEmpty ? "" : " (\(windows.joined(separator: " ; ")))")
    }

    /// The grid's heading, while the family books in its priority window.
    var gridWords: String? {
        guard let own = opensAt, let general = period.bookingOpensAt, own < general, isPast(own), !isPast(general) else { return nil }
        return "Ouverture prioritaire : les réservations de cette période sont ouvertes pour vous depuis le \(own.frenchDayMonth) ; "
            + "elles ouvriront à toutes les familles le \(general.frenchDayMonth)."
    }

    private func groupWords(_ group: PriorityGroup) -> String {
        switch group {
        case .residents: "les familles résidentes"
        case .previousPeriod:
            center.previousPeriod(of: period).map { "les familles inscrites à « \($0.label) »" } ?? "les familles inscrites à la période précédente"
        case .marked: "les familles prioritaires désignées par l'accueil de loisirs"
        }
    }
}

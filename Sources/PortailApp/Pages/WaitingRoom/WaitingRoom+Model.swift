import Foundation
import PortailDomain

/// Where a family stands in the waiting room of an opening.
struct WaitingRoomStanding {
    let opening: Date
    let position: Int
    /// Families let in so far.
    let admitted: Int
    /// Seconds until the family is let in; 0 when it is in.
    let wait: Int

    var isAdmitted: Bool { wait == 0 }
    /// Families in line before this one.
    var ahead: Int { max(0, position - 1 - admitted) }

    /// "3 familles avant vous." and "Votre tour viendra dans 2 minutes environ." (or the opening's time).
    func words(now: Date, zone: TimeZone) -> (ahead: String, estimate: String) {
        let ahead = switch self.ahead {
        case 0: "Vous êtes la prochaine famille."
        case 1: "1 famille avant vous."
        default: "\(self.ahead) familles avant vous."
        }
        if now < opening {
            return (ahead, "Les réservations ouvrent à \(French.time(opening, in: zone)) ; votre tour viendra vers \(French.time(now.addingTimeInterval(Double(wait)), in: zone)).")
        }
        let minutes = (wait + 59) / 60
        return (ahead, wait < 60 ? "Votre tour viendra dans moins d'une minute."
                     : minutes == 1 ? "Votre tour viendra dans une minute environ." : "Votre tour viendra dans \(minutes) minutes environ.")
    }
}

/// The waiting room page: the family's place and an estimate, refreshed by the page's script.
struct WaitingRoomModel: TemplateModel {
    let page: PageChrome
    let ahead: String
    let estimate: String
    /// Where the family goes once let in (the page it asked for, or the start of a booking).
    let next: String
    /// The JSON state the script polls.
    let state: String
    /// Seconds until the family's turn: the script goes on to `next` then, and asks for `state` in between only
    /// to refresh a wait of more than a minute (`portail.js`).
    let wait: Int
    /// Without the script, the page reloads itself at the family's turn, or after a minute at most.
    let refresh: Int

    init(page: PageChrome, ahead: String, estimate: String, next: String, state: String, wait: Int) {
        (self.page, self.ahead, self.estimate, self.next, self.state, self.wait) = (page, ahead, estimate, next, state, wait)
        refresh = min(60, max(5, wait + 1))
    }
}

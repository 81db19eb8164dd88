import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The waiting room in front of the pages that take places while a period opens (center setting
/// `waiting_room`). Each family queues in the line of its own opening of the period it books (a
/// priority window's, or the general one): a family not let in yet gets its place in that line and an
/// estimate, never an error, and is let in only by that line.
extension PortailRoutes {
    /// The waiting room page when the family must still wait to book `period`; nil: go on. Called by
    /// each booking step once its period is known, so that no path gets round it. `now` is the instant the
    /// page told open periods from upcoming ones: at the opening's second, the room must not let in a family
    /// the page still counts as early (it would be shown the choice of periods instead of the grid).
    /// `childID`: the child the link back to the grid names (`nil`: none, a posted form's unreadable number).
    func waitingRoom(_ context: AppRequestContext, period: Period, childID: Int64?, now: Date? = nil) async throws -> Response? {
        let now = now ?? clock()
        guard case .inLine(let standing) = try await WaitingRoom.standing(context, database: database, period: period, now: now), !standing.isAdmitted else {
            return nil
        }
        let base = context.basePath
        let words = standing.words(now: now, zone: context.center!.center.zone)
        return templates.page("waiting-room", WaitingRoomModel(
            page: PageChrome(context), ahead: words.ahead, estimate: words.estimate,
            next: "\(base)/reservations/nouvelle?" + (childID.map { "enfant=\($0)&" } ?? "") + "periode=\(period.code)",
            state: "\(base)/salle-attente/etat?periode=\(period.code)",
            wait: standing.wait
        ))
    }

    /// GET /salle-attente/etat?periode=…: what the waiting room page polls (JSON).
    func addWaitingRoomRoutes(to router: Router<AppRequestContext>) {
        router.get("/salle-attente/etat") { request, context in
            let record = try context.requireCenter
            _ = try context.requireFamily
            guard let code = request.uri.queryParameters["periode"], let period = record.center.period(String(code)) else {
                throw HTTPError(.notFound)
            }
            let now = clock()
            struct State: Encodable { let admitted: Bool; let ahead: String; let estimate: String; let waitSeconds: Int }
            let state: State
            // The poll reads the family's place and never gives one (it runs in the page's transaction, which would
            // hold the line's counter until its commit): a family with no place yet is sent to the booking's page,
            // which gives it one.
            switch try await WaitingRoom.standing(context, database: database, period: period, now: now, givingAPlace: false) {
            case .inLine(let standing) where !standing.isAdmitted:
                let words = standing.words(now: now, zone: record.center.zone)
                state = State(admitted: false, ahead: words.ahead, estimate: words.estimate, waitSeconds: standing.wait)
            case .noPlace:
                state = State(admitted: true, ahead: "", estimate: "Prenez votre place dans la file.", waitSeconds: 0)
            case .inLine, .noRoom:
                state = State(admitted: true, ahead: "", estimate: "C'est votre tour.", waitSeconds: 0)
            }
            var response = try API.json(state)
            response.headers[.cacheControl] = "no-store"
            return response
        }
    }
}

enum WaitingRoom {
    /// Where a family stands before booking a period.
    enum Standing {
        /// No room: no setting, no family logged in (the login comes first), or its opening is not near now.
        case noRoom
        /// A room, and no place of the family's in its line (read, not given).
        case noPlace
        /// The family's place in the line of its own opening.
        case inLine(WaitingRoomStanding)
    }

    /// The family's standing in the line of its own opening of `period`. A family with no place yet is given one
    /// (the next of the line) only `givingAPlace`.
    static func standing(_ context: AppRequestContext, database: Database, period: Period, now: Date, givingAPlace: Bool = true) async throws -> Standing {
        guard let record = context.center, let settings = record.center.waitingRoom, let family = context.session?.familyID else { return .noRoom }
        let center = record.center
        // Most requests stop here, without a query: no opening of the period is near.
        guard center.waitingRoomStands(for: period, at: now) else { return .noRoom }
        // The family's own opening (a priority window's): read only when the center has windows.
        let priority = center.hasPriorityWindows
            ? try await database.withCenter(record.id) { c in
                try await PriorityQueries.standing(c, center: record.id, family: family, logger: context.logger)
            }
            : PriorityStanding.none
        guard let opening = center.opening(of: period, for: priority)?.instant(in: center.zone), settings.isActive(opening: opening, at: now) else {
            return .noRoom
        }
        // A place is given in one call outside any transaction (see `WaitingRoomLine.place`); read, it is an ordinary
        // read of the center (in the page's transaction: the poll).
        let found: Int?
        if givingAPlace {
            found = try await database.withoutTransaction(record.id) { c in
                try await WaitingRoomLine.place(c, center: record.id, family: family, opening: opening, logger: context.logger)
            }
        } else {
            found = try await database.withCenter(record.id) { c in
                try await WaitingRoomLine.position(c, center: record.id, family: family, opening: opening, logger: context.logger)
            }
        }
        guard let position = found else { return .noPlace }
        return .inLine(WaitingRoomStanding(opening: opening, position: position, admitted: settings.admitted(opening: opening, now: now),
                                   wait: settings.wait(position: position, opening: opening, now: now)))
    }
}

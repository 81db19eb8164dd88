import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The waiting room in front of the booking pages while a period opens (center setting
/// `waiting_room`): a family not let in yet gets its place in the line and an estimate, never an error.
struct WaitingRoomMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let database: Database
    let templates: Templates
    let clock: @Sendable () -> Date

    /// The pages that take places: the rest of the portal (account, invoices, payment) stays open.
    static let gated: Set<String> = [
        "/reservations/nouvelle", "/reservations/recapitulatif", "/reservations/confirmer", "/reservations/liste-attente",
    ]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.gated.contains(request.uri.path), let standing = try await WaitingRoom.standing(context, database: database, now: clock()),
              !standing.isAdmitted
        else { return try await next(request, context) }
        let base = context.basePath
        let now = clock()
        let words = standing.words(now: now, zone: context.center!.center.zone)
        let target = request.method == .get ? base + request.uri.path + (request.uri.query.map { "?\($0)" } ?? "") : base + "/reservations/nouvelle"
        return templates.page("waiting-room", WaitingRoomModel(
            page: PageChrome(context), ahead: words.ahead, estimate: words.estimate, next: target, state: base + "/salle-attente/etat"
        ))
    }
}

enum WaitingRoom {
    /// The family's standing in the waiting room now; nil when there is no room (no setting, no opening
    /// near, or no family logged in: the login comes first). A family new to the room takes a place in
    /// the line of the latest opening; one already in a line keeps it (let in by any line, it is in), so
    /// that a second opening soon after the first never sends anyone to the back.
    static func standing(_ context: AppRequestContext, database: Database, now: Date) async throws -> WaitingRoomStanding? {
        guard let record = context.center, let settings = record.center.waitingRoom, let family = context.session?.familyID else { return nil }
        let openings = settings.activeOpenings(among: record.center.bookingOpenings, at: now)
        guard let latest = openings.last else { return nil }
        let places = try await database.withCenter(record.id) { c in
            let held = try await WaitingRoomLine.places(c, center: record.id, family: family, openings: openings, logger: context.logger)
            guard held.isEmpty else { return held }
            return [latest: try await WaitingRoomLine.place(c, center: record.id, family: family, opening: latest, logger: context.logger)]
        }
        let standings = places.sorted { $0.key < $1.key }.map { opening, position in
            WaitingRoomStanding(opening: opening, position: position, admitted: settings.admitted(opening: opening, now: now),
                                wait: settings.wait(position: position, opening: opening, now: now))
        }
        return standings.first(where: \.isAdmitted) ?? standings.first
    }
}

extension PortailRoutes {
    /// GET /salle-attente/etat: what the waiting room page polls (JSON).
    func addWaitingRoomRoutes(to router: Router<AppRequestContext>) {
        router.get("/salle-attente/etat") { _, context in
            _ = try context.requireFamily
            let now = clock()
            struct State: Encodable { let admitted: Bool; let ahead: String; let estimate: String; let waitSeconds: Int }
            let state: State
            if let standing = try await WaitingRoom.standing(context, database: database, now: now), !standing.isAdmitted {
                let words = standing.words(now: now, zone: context.center!.center.zone)
                state = State(admitted: false, ahead: words.ahead, estimate: words.estimate, waitSeconds: standing.wait)
            } else {
                state = State(admitted: true, ahead: "", estimate: "C'est votre tour.", waitSeconds: 0)
            }
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(state))))
        }
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The waiting lists through the admin API: who waits for which day and unit, in what rank, and what
/// became of the offers (staff answer families' questions with it).
extension PortailRoutes {
    struct WaitingListEntry: Encodable {
        let id: Int64
        let familyId: Int64
        let childId: Int64
        let child: String
        let period: String
        let day: String
        let unit: String
        let state: String
        let rank: Int?
        let createdAt: Date
        let offerExpiresAt: Date?
        let reservation: String?

        init(_ e: WaitingEntry) {
            id = e.id
            familyId = e.familyID
            childId = e.childID
            child = e.childName
            period = e.period
            day = e.day.iso
            unit = e.unit
            state = e.state.rawValue
            rank = e.rank
            createdAt = e.createdAt
            offerExpiresAt = e.offerExpiresAt
            reservation = e.reservationNumber.map { String(format: "%05d", $0) }
        }
    }

    func addWaitingListRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/centers/:code/waiting-list") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let query = request.uri.queryParameters
                let (page, perPage) = try Self.paging(request)
                let period = query["period"].map(String.init)
                if let period, record.center.period(period) == nil {
                    throw APIProblem.notFound("Center \(record.center.code) has no period \(period).")
                }
                let day = try query["day"].map { try Self.date(String($0), "day") }
                let states = try query["state"].map { text -> [WaitingState] in
                    guard let state = WaitingState(rawValue: String(text)) else {
                        throw Self.invalid("Invalid state", "state is one of \(WaitingState.allCases.map(\.rawValue).joined(separator: ", ")).")
                    }
                    return [state]
                } ?? []
                let selection = WaitingList.Selection(family: try Self.identifier(query["family_id"], "family_id"),
                                                      child: try Self.identifier(query["child_id"], "child_id"),
                                                      period: period, day: day, states: states,
                                                      offset: (page - 1) * perPage, limit: perPage)
                let (entries, total) = try await database.withCenter(record.id) { c in
                    try await WaitingList.select(c, center: record.id, selection, logger: database.logger)
                }
                struct Page: Encodable { let entries: [WaitingListEntry]; let page: Int; let perPage: Int; let total: Int }
                return try API.json(Page(entries: entries.map(WaitingListEntry.init), page: page, perPage: perPage, total: total))
            }
        }
    }
}

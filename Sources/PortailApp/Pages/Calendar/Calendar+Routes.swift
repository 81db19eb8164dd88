import Foundation
import HTTPTypes
import Hummingbird
import PortailDomain
import PortailStore

extension PortailRoutes {
    /// "Mon agenda": private calendar links of the family's confirmed days (issue 15, item 7).
    /// GET /agenda lists the family's links; POST /agenda makes one (its address is shown once);
    /// POST /agenda/retirer withdraws one; GET /calendrier/{jeton}.ics is what phones subscribe to.
    func addCalendarRoutes(to router: Router<AppRequestContext>) {
        router.get("/agenda") { _, context in
            try await calendarPage(context)
        }

        router.post("/agenda") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            let label = (context.form["nom"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard label.unicodeScalars.count <= 60, !InputLimits.hasNUL(label) else {
                return try await calendarPage(context, error: "Le nom du lien ne doit pas dépasser 60 caractères.", status: .unprocessableContent)
            }
            let child: Int64?
            switch context.form["enfant"] ?? "" {
            case "", "tous": child = nil
            case let value:
                guard let id = Int64(value) else { throw HTTPError(.badRequest) }
                child = id
            }
            do {
                let token = try await database.withCenter(record.id) { c in
                    try await CalendarFeeds.create(c, center: record.id, family: family, child: child,
                                                   label: label.isEmpty ? "Mon agenda" : label, logger: context.logger)
                }
                return try await calendarPage(context, created: publicAddress.base(of: record.center) + "/calendrier/\(token).ics", status: .created)
            } catch CalendarFeeds.Refusal.tooMany {
                return try await calendarPage(context, error: "Vous avez déjà \(CalendarFeeds.perFamily) liens d'agenda : retirez-en un avant d'en créer un autre.",
                                              status: .conflict)
            } catch CalendarFeeds.Refusal.unknownChild {
                throw HTTPError(.notFound)
            }
        }

        router.post("/agenda/retirer") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard let id = context.form["lien"].flatMap({ Int64($0) }) else { throw HTTPError(.badRequest) }
            let withdrawn = try await database.withCenter(record.id) { c in
                try await CalendarFeeds.revoke(c, center: record.id, family: family, id: id, logger: context.logger)
            }
            guard withdrawn else { throw HTTPError(.notFound) }
            return try await calendarPage(context, notice: "Le lien est retiré : les agendas abonnés ne reçoivent plus vos réservations.")
        }

        // The subscribed calendar's reading: no session, the secret address is the key. An unknown, withdrawn
        // or malformed address, or a family no longer active, is the same 404.
        router.get("/calendrier/:fichier") { _, context in
            let record = try context.requireCenter
            guard let file = context.parameters.get("fichier"), file.hasSuffix(".ics") else { throw HTTPError(.notFound) }
            let token = String(file.dropLast(4))
            let center = record.center
            let today = LocalDate(Date(), in: center.zone)
            guard let (childName, days) = try await database.withCenter(record.id, { c in
                try await CalendarFeeds.read(c, center: record.id, token: token, since: today.adding(days: -365), logger: context.logger)
            }) else { throw HTTPError(.notFound) }
            let place = ([center.coordinates.name] + center.coordinates.addressLines + ["\(center.coordinates.postcode) \(center.coordinates.city)"])
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: ", ")
            let calendar = ICalendar(
                name: center.name + (childName.map { " – \($0)" } ?? ""),
                events: days.map { day in
                    let what = day.keys.map { center.designation(forKey: $0, plural: false) }.joined(separator: ", ")
                    return ICalendar.Event(
                        uid: "\(center.code)-\(day.childID)-\(ICalendar.date(day.day))@portail-famille",
                        day: day.day, summary: "\(day.childName) – \(what) (\(center.name))", location: place,
                        description: "Réservation n° \(French.number(day.reservation)) : \(what). \(center.coordinates.phone)"
                    )
                },
                stamp: Date()
            )
            return Response(
                status: .ok,
                headers: [.contentType: "text/calendar; charset=utf-8", .contentDisposition: "inline; filename=\"agenda.ics\"",
                          .cacheControl: "private, max-age=900", HTTPField.Name("X-Robots-Tag")!: "noindex"],
                body: .init(byteBuffer: ByteBuffer(string: calendar.text))
            )
        }
    }

    /// The "Mon agenda" page: the family's links, the form for a new one, and the new address once.
    func calendarPage(
        _ context: AppRequestContext, created: String? = nil, error: String? = nil, notice: String? = nil, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let record = try context.requireCenter
        let family = try context.requireFamily
        let (feeds, children) = try await database.withCenter(record.id) { c in
            (try await CalendarFeeds.list(c, center: record.id, family: family, logger: context.logger),
             try await AccountRepository.children(c, center: record.id, family: family, logger: context.logger))
        }
        let zone = record.center.zone
        let model = CalendarModel(
            page: PageChrome(context),
            created: created,
            subscribe: created.map { $0.replacingOccurrences(of: "https://", with: "webcal://").replacingOccurrences(of: "http://", with: "webcal://") },
            feeds: feeds.map { feed in
                .init(id: feed.id, label: feed.label, who: feed.childName ?? "tous les enfants",
                      created: French.dateTime(feed.createdAt, in: zone),
                      lastRead: feed.lastReadAt.map { "lu le " + French.dateTime($0, in: zone) } ?? "pas encore lu")
            },
            hasFeeds: !feeds.isEmpty,
            children: children.map { .init(id: $0.id, name: $0.firstName) },
            error: error, notice: notice
        )
        return templates.page("calendar", model, status: status)
    }
}

struct CalendarModel {
    struct Feed {
        let id: Int64
        let label: String
        let who: String
        let created: String
        let lastRead: String
    }
    struct Child {
        let id: Int64
        let name: String
    }
    let page: PageChrome
    /// The address just made, shown once.
    let created: String?
    let subscribe: String?
    let feeds: [Feed]
    let hasFeeds: Bool
    let children: [Child]
    let error: String?
    let notice: String?
}

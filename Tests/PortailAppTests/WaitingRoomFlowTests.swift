import Foundation
import Hummingbird
import PostgresNIO
import HummingbirdTesting
import PortailDomain
@testable import PortailApp
@testable import PortailStore
import Synchronization
import Testing

/// The waiting room over HTTP: at a period's opening, families are let into the booking pages in their
/// order of arrival at the center's rate; the others get their place and an estimate, keep it whatever
/// they reload, and are let in when the line reaches them.
@Suite struct WaitingRoomFlowTests {
    /// A clock the test moves.
    final class TestClock: Sendable {
        let now: Mutex<Date>
        init(_ date: Date) { now = Mutex(date) }
        func advance(_ seconds: Double) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
        var read: @Sendable () -> Date { { self.now.withLock { $0 } } }
    }

    /// The opening two minutes ago, as a center file writes it, and its instant.
    static func recentOpening() -> (text: String, instant: Date) { opening(minutes: -2) }

    /// An opening `minutes` whole minutes from the current one, as a center file writes it, and its instant.
    static func opening(minutes: Int) -> (text: String, instant: Date) {
        let zone = TimeZone(identifier: "Europe/Paris")!
        let minute = (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 + Double(minutes * 60)
        let instant = Date(timeIntervalSince1970: minute)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm"
        return (formatter.string(from: instant), instant)
    }

    /// The booking grid of the logged-in family's only child, and that child's id.
    static func grid(_ browser: Browser, _ center: String) async throws -> (page: Browser.Page, child: String) {
        let periods = try await browser.get("/\(center)/reservations/nouvelle")
        let child = String(try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1))
        return (try await browser.get("/\(center)/reservations/nouvelle?enfant=\(child)&periode=vacances"), child)
    }

    @Test func familiesAreLetInInTheirOrderOfArrivalAndKeepTheirPlace() async throws {
        let opening = Self.recentOpening()
        let clock = TestClock(opening.instant)
        // Six families a minute: one at the opening, then one every ten seconds.
        let room = "\nwaiting_room: { admitted_per_minute: 6 }\n"
        try await withPortal(payment: systemPayBlock + room, opensAt: opening.text, clock: clock.read) { client, fixture in
            #expect(fixture.petit.center.waitingRoom?.admittedPerMinute == 6)
            let parent = Browser(client, forwardedFor: "10.0.0.1")
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            #expect(try await Self.grid(parent, "petit").page.text.contains("Étape 3 sur 4"))

            // The neighbour comes second: the waiting room, its place and an estimate, not an error.
            let voisin = Browser(client, forwardedFor: "10.0.0.2")
            _ = try await voisin.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            let (waiting, child) = try await Self.grid(voisin, "petit")
            #expect(waiting.status == .ok)
            #expect(waiting.text.contains("Salle d'attente"))
            #expect(waiting.text.contains("Vous êtes la prochaine famille."))
            #expect(waiting.text.contains("Votre tour viendra dans moins d'une minute."))
            #expect(waiting.body.contains("data-etat=\"/petit/salle-attente/etat?periode=vacances\""))
            // Its turn is ten seconds away: the page's script goes on to the grid then (without the script, the page
            // reloads itself a second later).
            #expect(waiting.body.contains("data-attente=\"10\""))
            #expect(waiting.body.contains("content=\"11;url=/petit/reservations/nouvelle?enfant=\(child)&amp;periode=vacances\""))
            // Posting a booking step does not get past the room either, whatever the address looks like.
            let day = fixture.petit.center.periods[0].startsOn.iso
            for path in ["/petit/reservations/confirmer", "/petit/reservations/confirmer/", "/petit//reservations/recapitulatif",
                         "/petit/reservations/liste-attente"] {
                let posted = try await voisin.post(path, [("enfant", child), ("periode", "vacances"), ("jour", "\(day):journee"), ("attente", "\(day):journee")])
                #expect(posted.text.contains("Salle d'attente"), "\(path): \(posted.status)")
            }
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations") == 0)
            // A family still in line that posts a confirmation costs its session's lookup and its place's read,
            // not the booking's work (the center's due carts expired, the family's reads).
            let beforeConfirm = Database.opened.load(ordering: .relaxed)
            #expect(try await voisin.post("/petit/reservations/confirmer", [("enfant", child), ("periode", "vacances"), ("jour", "\(day):journee")])
                .text.contains("Salle d'attente"))
            #expect(Database.opened.load(ordering: .relaxed) - beforeConfirm == 1)

            // Reloading or a second login (another tab, another phone) keeps the same place.
            #expect(try await Self.grid(voisin, "petit").page.text.contains("Vous êtes la prochaine famille."))
            let phone = Browser(client, forwardedFor: "10.0.0.3")
            _ = try await phone.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            #expect(try await Self.grid(phone, "petit").page.text.contains("Vous êtes la prochaine famille."))
            // A third family comes after them, whatever it does.
            let hash = try await Passwords.hash(PortalFixture.password)
            try await fixture.database.withCenter(fixture.petit.id) { c in
                let family = try await AccountRepository.createFamily(c, center: fixture.petit.id, email: "troisieme@example.org", name: "FAMILLE TROIS",
                                                                      passwordHash: hash, state: "active", category: nil, logger: fixture.database.logger)
                _ = try await AccountRepository.addChild(c, center: fixture.petit.id, family: family, firstName: "LOU", lastName: "X",
                                                         birthDate: youngChildBirthDate, logger: fixture.database.logger)
            }
            let third = Browser(client, forwardedFor: "10.0.0.5")
            _ = try await third.login("/petit", email: "troisieme@example.org", password: PortalFixture.password)
            let behind = try await Self.grid(third, "petit").page
            #expect(behind.text.contains("1 famille avant vous."))
            #expect(behind.text.contains("Votre tour viendra dans moins d'une minute."))
            #expect(behind.body.contains("data-attente=\"20\""))
            // The page's poll is one transaction, its session's lookup included.
            let before = Database.opened.load(ordering: .relaxed)
            let state = try await voisin.get("/petit/salle-attente/etat?periode=vacances")
            #expect(Database.opened.load(ordering: .relaxed) - before == 1)
            #expect(state.body.contains("\"admitted\":false"))
            #expect(state.body.contains("\"wait_seconds\":10"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM waiting_room_places") == 3)

            // Another center has its own line: its first family is let in at once.
            let elsewhere = Browser(client, forwardedFor: "10.0.0.4")
            _ = try await elsewhere.login("/autre", email: "voisin@example.org", password: PortalFixture.password)
            #expect(try await Self.grid(elsewhere, "autre").page.text.contains("Étape 3 sur 4"))

            // Ten seconds on, the line reaches the neighbour: the state says so and the pages open.
            clock.advance(10)
            #expect(try await voisin.get("/petit/salle-attente/etat?periode=vacances").body.contains("\"admitted\":true"))
            #expect(try await Self.grid(voisin, "petit").page.text.contains("Étape 3 sur 4"))
            // The rest of the portal never waited; the third family is now next.
            #expect(try await voisin.get("/petit/compte").status == .ok)
            #expect(try await Self.grid(third, "petit").page.text.contains("Vous êtes la prochaine famille."))
            clock.advance(10)
            #expect(try await Self.grid(third, "petit").page.text.contains("Étape 3 sur 4"))
        }
    }

    /// Before the opening, while the room already stands, families take their place in its line from the
    /// period's page: the first comes first at the opening, whatever the others reload.
    @Test func familiesTakeTheirPlaceBeforeTheOpening() async throws {
        let (text, instant) = Self.opening(minutes: 10)
        let clock = TestClock(Date())
        try await withPortal(payment: systemPayBlock + "\nwaiting_room: { admitted_per_minute: 6, queue_before_minutes: 30 }\n",
                             opensAt: text, clock: clock.read) { client, fixture in
            let parent = Browser(client, forwardedFor: "10.0.0.1")
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let periods = try await parent.get("/petit/reservations/nouvelle")
            #expect(periods.text.contains("Prendre ma place dans la file d'attente"))
            let queue = try #require(periods.body.firstMatch(of: /href="(\/petit\/reservations\/nouvelle\?enfant=\d+&amp;periode=vacances)"/)?.1)
                .replacingOccurrences(of: "&amp;", with: "&")
            let first = try await parent.get(queue)
            #expect(first.text.contains("Salle d'attente") && first.text.contains("Vous êtes la prochaine famille."))
            let voisin = Browser(client, forwardedFor: "10.0.0.2")
            _ = try await voisin.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            // The room's poll never gives a place (it runs in its page's transaction): a family that has none is
            // sent on to the booking's page, which gives it one.
            let before = Database.opened.load(ordering: .relaxed)
            let unplaced = try await voisin.get("/petit/salle-attente/etat?periode=vacances")
            #expect(unplaced.body.contains("\"admitted\":true") && Database.opened.load(ordering: .relaxed) - before == 1, "\(unplaced.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM waiting_room_places") == 1)
            let theirs = try #require(try await voisin.get("/petit/reservations/nouvelle").body
                .firstMatch(of: /href="(\/petit\/reservations\/nouvelle\?enfant=\d+&amp;periode=vacances)"/)?.1).replacingOccurrences(of: "&amp;", with: "&")
            #expect(try await voisin.get(theirs).text.contains("1 famille avant vous."))
            // Reloading keeps the first place; nobody is let in before the opening.
            #expect(try await parent.get(queue).text.contains("Vous êtes la prochaine famille."))
            #expect(try await parent.get("/petit/salle-attente/etat?periode=vacances").body.contains("\"admitted\":false"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM waiting_room_places") == 2)
        }
    }

    /// The page and the room read the same instant: a family let in at the opening's second gets the grid.
    /// (The page read the machine's time and the room the portal's clock: a family let in by the room
    /// while the page still counted the period as upcoming got the choice of periods instead.)
    @Test func atTheOpeningsSecondAFamilyLetInGetsTheGrid() async throws {
        let (text, instant) = Self.opening(minutes: 10)
        let clock = TestClock(instant.addingTimeInterval(1))
        try await withPortal(payment: systemPayBlock + "\nwaiting_room: { admitted_per_minute: 6 }\n",
                             opensAt: text, clock: clock.read) { client, fixture in
            let parent = Browser(client, forwardedFor: "10.0.0.1")
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let child = try await count(fixture, "SELECT id::int FROM children WHERE center_id = \(fixture.petit.id) AND first_name = 'JULES'")
            let grid = try await parent.get("/petit/reservations/nouvelle?enfant=\(child)&periode=vacances")
            #expect(grid.text.contains("Étape 3 sur 4"), "\(grid.text.prefix(300))")
            #expect(try await count(fixture, "SELECT count(*)::int FROM waiting_room_places") == 1)
        }
    }

    /// A place in the line is one call outside any transaction (`portail_waiting_room_place`): a family
    /// asking three times at once keeps one place, two families get two; another center's family gets
    /// none; and outside a transaction of its center the application role reads nothing of the line.
    @Test func aPlaceInTheLineIsOneCallOutsideAnyTransaction() async throws {
        try await withPortal { _, fixture in
            let database = fixture.database, logger = fixture.database.logger, petit = fixture.petit.id
            let opening = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60)
            let families = try await database.withCenter(petit) { c in
                try await c.all("SELECT id FROM families WHERE center_id = \(petit) ORDER BY id", (Int64.self), logger: logger)
            }
            let stranger = try await database.withCenter(fixture.autre.id) { c in
                try await c.first("SELECT min(id) FROM families WHERE center_id = \(fixture.autre.id)", (Int64.self), logger: logger)!
            }
            let places = try await withThrowingTaskGroup(of: (Int64, Int).self) { group in
                for family in families + families + families {
                    group.addTask {
                        (family, try await database.withoutTransaction(petit) { c in
                            try await WaitingRoomLine.place(c, center: petit, family: family, opening: opening, logger: logger)
                        })
                    }
                }
                var all: [(Int64, Int)] = []
                for try await place in group { all.append(place) }
                return all
            }
            let byFamily = Dictionary(grouping: places, by: \.0).mapValues { Set($0.map(\.1)) }
            #expect(families.count == 2 && byFamily.count == 2 && byFamily.values.allSatisfy { $0.count == 1 }, "\(byFamily)")
            #expect(Set(byFamily.values.flatMap { $0 }).count == 2)
            await #expect(throws: PSQLError.self) {
                try await database.withoutTransaction(petit) { c in
                    try await WaitingRoomLine.place(c, center: petit, family: stranger, opening: opening, logger: logger)
                }
            }
            #expect(try await count(fixture, "SELECT count(*)::int FROM waiting_room_places") == 2)
            let seen = try await database.withoutTransaction(petit) { c in
                try await c.first("SELECT count(*)::int FROM waiting_room_places", (Int.self), logger: logger)
            }
            #expect(seen == 0)
        }
    }

    /// A priority window behind the room: the families it opens for queue in its line, at its rate; a
    /// family it does not open for sees the general opening, not the room.
    @Test func priorityFamiliesQueueInTheirWindowsLine() async throws {
        let window = Self.recentOpening()
        let clock = TestClock(window.instant)
        let tomorrow = LocalDate(Date(), in: TimeZone(identifier: "Europe/Paris")!).adding(days: 1)
        try await withPortal(payment: "\nwaiting_room: { admitted_per_minute: 1 }\n", provider: { _ in nil }, clock: clock.read) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let patched = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: admin, json: """
                {"booking": {"opens_at": "\(tomorrow.iso)T08:00", "priority": [{"opens_at": "\(window.text)", "for": ["marked"]}]}}
                """)
            #expect(patched.status == .ok, "\(patched.json)")
            let families = "SELECT id FROM families WHERE center_id = \(fixture.petit.id) AND email = "
            let parentFamily = try await count(fixture, families + "'parent@example.org'")
            let voisinFamily = try await count(fixture, families + "'voisin@example.org'")
            for family in [parentFamily, voisinFamily] {
                #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(family)", token: admin, json: #"{"priority_marked": true}"#).status == .ok)
            }
            func grid(_ email: String, _ address: String) async throws -> Browser.Page {
                let browser = Browser(client, forwardedFor: address)
                _ = try await browser.login("/petit", email: email, password: PortalFixture.password)
                let child = try await count(fixture, "SELECT c.id::int FROM children c JOIN families f ON f.id = c.family_id WHERE f.email = '\(email)' AND c.center_id = \(fixture.petit.id)")
                return try await browser.get("/petit/reservations/nouvelle?enfant=\(child)&periode=vacances")
            }
            // At the window's opening: the first family is let in, the second waits in the window's line.
            #expect(try await grid("parent@example.org", "10.0.0.1").text.contains("Étape 3 sur 4"))
            #expect(try await grid("voisin@example.org", "10.0.0.2").text.contains("Vous êtes la prochaine famille."))
            #expect(try await count(fixture, "SELECT count(*)::int FROM waiting_room_places WHERE opening = '\(ISO8601DateFormatter().string(from: window.instant))'") == 2)
            // Not marked any more, the neighbour's opening is tomorrow's: no room, the general opening's words.
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(voisinFamily)", token: admin, json: #"{"priority_marked": false}"#).status == .ok)
            let unmarked = try await grid("voisin@example.org", "10.0.0.3")
            #expect(!unmarked.text.contains("Salle d'attente") && unmarked.text.contains("réservations à partir du"), "\(unmarked.text.prefix(400))")
        }
    }

    /// Long after the opening the room stands aside: nothing is written, nobody waits.
    @Test func outsideAnOpeningTheRoomIsNotThere() async throws {
        let opening = Self.recentOpening()
        let clock = TestClock(opening.instant.addingTimeInterval(61 * 60))
        try await withPortal(payment: systemPayBlock + "\nwaiting_room: { admitted_per_minute: 1 }\n", opensAt: opening.text, clock: clock.read) { client, fixture in
            for (n, email) in ["parent@example.org", "voisin@example.org"].enumerated() {
                let browser = Browser(client, forwardedFor: "10.0.1.\(n)")
                _ = try await browser.login("/petit", email: email, password: PortalFixture.password)
                #expect(try await Self.grid(browser, "petit").page.text.contains("Étape 3 sur 4"))
            }
            #expect(try await count(fixture, "SELECT count(*)::int FROM waiting_room_places") == 0)
        }
    }
}

import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// Issue 15, item 7: a private iCalendar feed of the family's confirmed days, per child or for all,
/// one revocable link per device.
@Suite struct CalendarFeedTests {
    @Test func aParentSubscribesToTheConfirmedDaysAndWithdrawsTheLink() async throws {
        try await withPortal(places: 10) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let period = fixture.petit.center.periods[0]
            let childID = try #require(try await parent.get("/petit/reservations/nouvelle").body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let (d1, d2, d3) = (period.startsOn, period.startsOn.adding(days: 1), period.startsOn.adding(days: 2))
            // Two days paid (confirmed), then a third left in the cart: only the first two are in the feed.
            let paid = [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(d1.iso):journee"), ("jour", "\(d2.iso):matin")]
            _ = try await parent.post("/petit/reservations/recapitulatif", paid)
            #expect(try await parent.post("/petit/reservations/confirmer", paid).status == .seeOther)
            try await fixture.database.withCenter(fixture.petit.id) { c in
                let id = try #require(try await c.first("SELECT id FROM reservations WHERE number = 1", (Int64.self), logger: fixture.database.logger))
                try await BookingRepository.confirm(c, center: fixture.petit.id, reservations: [id], logger: fixture.database.logger)
            }
            let unpaid = [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(d3.iso):journee")]
            _ = try await parent.post("/petit/reservations/recapitulatif", unpaid)
            #expect(try await parent.post("/petit/reservations/confirmer", unpaid).status == .seeOther)

            #expect(try await parent.get("/petit/agenda").text.contains("Vous n'avez pas encore de lien d'agenda."))
            let made = try await parent.post("/petit/agenda", [("nom", "Téléphone de Camille"), ("enfant", "tous")])
            #expect(made.status == .created)
            #expect(made.text.contains("Copiez-le maintenant"))
            let token = String(try #require(made.body.firstMatch(of: /\/petit\/calendrier\/([A-Za-z0-9_-]{43})\.ics/)?.1))
            #expect(made.body.contains("webcal://"))
            // Shown once: the list names the link, never its address again.
            let list = try await parent.get("/petit/agenda")
            #expect(list.text.contains("Téléphone de Camille – tous les enfants") && list.text.contains("pas encore lu"))
            #expect(!list.body.contains(token))

            // Any calendar server may read it with the address alone (no cookie).
            let feed = try await client.execute(uri: "/petit/calendrier/\(token).ics", method: .get)
            #expect(feed.status == .ok)
            #expect(feed.headers[.contentType] == "text/calendar; charset=utf-8")
            #expect(feed.headers[.setCookie] == nil)
            let text = String(buffer: feed.body)
            #expect(text.hasPrefix("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") && text.hasSuffix("\r\nEND:VCALENDAR\r\n"))
            #expect(text.contains("X-WR-CALNAME:Centre petit\r\n"))
            #expect(text.contains("DTSTART;VALUE=DATE:\(ICalendar.date(d1))\r\nDTEND;VALUE=DATE:\(ICalendar.date(d1.adding(days: 1)))"))
            #expect(text.contains("SUMMARY:JULES – Journée (Centre petit)"))
            #expect(text.contains("SUMMARY:JULES – Matin (Centre petit)"))
            #expect(text.contains("UID:petit-\(childID)-\(ICalendar.date(d2))@portail-famille"))
            #expect(!text.contains("DTSTART;VALUE=DATE:\(ICalendar.date(d3))"), "a day waiting for payment is not in the calendar")
            #expect(text.components(separatedBy: "BEGIN:VEVENT").count == 3)
            #expect(try await count(fixture, "SELECT count(*)::int FROM calendar_feeds WHERE last_read_at IS NOT NULL") == 1)

            // The same address at another center, a made-up one, or a malformed one: 404.
            #expect(try await client.execute(uri: "/autre/calendrier/\(token).ics", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/petit/calendrier/\(SecretToken.generate()).ics", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/petit/calendrier/\(token)", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/petit/calendrier/\(String(repeating: "a", count: 5000)).ics", method: .get).status == .notFound)

            // A neighbour can neither withdraw the link nor make one for JULES.
            let linkID = try #require(list.body.firstMatch(of: /name="lien" value="(\d+)"/)?.1)
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            _ = try await neighbour.get("/petit/agenda")
            #expect(try await neighbour.post("/petit/agenda/retirer", [("lien", String(linkID))]).status == .notFound)
            #expect(try await neighbour.post("/petit/agenda", [("enfant", String(childID))]).status == .notFound)
            #expect(try await client.execute(uri: "/petit/calendrier/\(token).ics", method: .get).status == .ok)

            // One child's link names the child; withdrawing the first link ends it at once.
            let one = try await parent.post("/petit/agenda", [("nom", ""), ("enfant", String(childID))])
            let childToken = String(try #require(one.body.firstMatch(of: /\/petit\/calendrier\/([A-Za-z0-9_-]{43})\.ics/)?.1))
            let childFeed = String(buffer: try await client.execute(uri: "/petit/calendrier/\(childToken).ics", method: .get).body)
            #expect(childFeed.contains("X-WR-CALNAME:Centre petit – JULES\r\n"))
            let withdrawn = try await parent.post("/petit/agenda/retirer", [("lien", String(linkID))])
            #expect(withdrawn.status == .ok && withdrawn.text.contains("Le lien est retiré"))
            #expect(try await client.execute(uri: "/petit/calendrier/\(token).ics", method: .get).status == .notFound)
            #expect(try await parent.post("/petit/agenda/retirer", [("lien", String(linkID))]).status == .notFound)

            // Names are bounded; ten live links at most.
            #expect(try await parent.post("/petit/agenda", [("nom", String(repeating: "x", count: 61))]).status == .unprocessableContent)
            for _ in 0..<9 { #expect(try await parent.post("/petit/agenda", [("nom", "Ordinateur")]).status == .created) }
            let refused = try await parent.post("/petit/agenda", [("nom", "Un de trop")])
            #expect(refused.status == .conflict && refused.text.contains("retirez-en un"))

            // A family whose account is closed no longer publishes anything.
            _ = try await fixture.database.owner.withConnection { c in
                try await c.query("UPDATE families SET state = 'deactivated' WHERE email = 'parent@example.org'", logger: fixture.database.logger)
            }
            #expect(try await client.execute(uri: "/petit/calendrier/\(childToken).ics", method: .get).status == .notFound)
        }
    }

    @Test func iCalendarTextIsEscapedAndFolded() {
        #expect(ICalendar.escape("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne")
        let long = "SUMMARY:" + String(repeating: "é", count: 100)
        let folded = ICalendar.fold(long)
        let lines = folded.components(separatedBy: "\r\n")
        #expect(lines.count > 1)
        #expect(lines.allSatisfy { $0.utf8.count <= 75 })
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix(" ") })
        #expect(lines.enumerated().map { $0.offset == 0 ? $0.element : String($0.element.dropFirst()) }.joined() == long)
        #expect(ICalendar.utc(Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
    }
}

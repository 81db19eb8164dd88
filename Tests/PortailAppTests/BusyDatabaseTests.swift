import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortailStore
import PostgresNIO
import Testing

/// When PostgreSQL gives up on a request (here: the day's row stays locked past the lock timeout, as on
/// an opening day's hot row), the parent gets a French "try again" page and the API a 503 problem, both
/// with Retry-After; nothing of the request is kept, and the same request succeeds once the lock is gone.
@Suite struct BusyDatabaseTests {
    @Test func aLockWaitThatRunsOutIsA503TryAgainAndNothingIsKept() async throws {
        try await withPortal(payment: "", provider: { _ in nil }, lockTimeoutMilliseconds: 300) { client, fixture in
            let petit = fixture.petit.id
            let day = fixture.petit.center.periods[0].startsOn
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let periods = try await parent.get("/petit/reservations/nouvelle")
            let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let selection = [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(day.iso):journee")]
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let voisinFamily = try await count(fixture, "SELECT id FROM families WHERE center_id = \(petit) AND email = 'voisin@example.org'")
            let voisinChild = try await count(fixture, "SELECT id FROM children WHERE center_id = \(petit) AND family_id = \(voisinFamily)")
            let office = #"{"family_id": \#(voisinFamily), "child_id": \#(voisinChild), "period": "vacances", "days": [{"day": "\#(day.iso)", "units": ["journee"]}]}"#

            // Someone holds the day's row (a long transaction elsewhere) for longer than the lock timeout.
            try await fixture.database.owner.withConnection { c in
                _ = try await c.query("BEGIN", logger: fixture.database.logger).collect()
                _ = try await c.query("SELECT 1 FROM day_capacities WHERE center_id = \(petit) AND day = \(day.iso)::date FOR UPDATE", logger: fixture.database.logger).collect()
                let page = try await parent.post("/petit/reservations/confirmer", selection)
                #expect(page.status == .serviceUnavailable)
                #expect(page.text.contains("Trop de demandes en même temps"), "\(page.text)")
                #expect(page.text.contains("Vérifiez ce qui a été enregistré"))
                #expect((3...8).contains(Int(page.headers[.retryAfter] ?? "") ?? 0))
                let api = try await client.execute(uri: "/api/centers/petit/reservations", method: .post,
                                                   headers: [.authorization: "Bearer \(admin)", .contentType: "application/json"],
                                                   body: ByteBuffer(string: office))
                #expect(api.status == .serviceUnavailable)
                #expect((3...8).contains(Int(api.headers[.retryAfter] ?? "") ?? 0))
                #expect(api.headers[.contentType] == "application/problem+json")
                _ = try await c.query("ROLLBACK", logger: fixture.database.logger).collect()
            }
            // Nothing was written: no reservation, no line, no place taken, no number used.
            #expect(try await count(fixture, "SELECT count(*) FROM reservations WHERE center_id = \(petit)") == 0)
            #expect(try await count(fixture, "SELECT count(*) FROM reservation_lines WHERE center_id = \(petit)") == 0)
            #expect(try await count(fixture, "SELECT coalesce(sum(taken), 0) FROM day_capacities WHERE center_id = \(petit)") == 0)

            // The same requests, once the row is free, go through; the numbers start at 1.
            let again = try await parent.post("/petit/reservations/confirmer", selection)
            #expect(again.status == .seeOther && again.location == "/petit/reservations/00001?confirmee=1", "\(again.status) \(again.location ?? "")")
            let booked = try await apiJSON(client, .post, "/api/centers/petit/reservations", token: admin, json: office)
            #expect(booked.status == .created && booked.json["reservation"] as? String == "00002", "\(booked.json)")
            #expect(try await count(fixture, "SELECT max(taken) FROM day_capacities WHERE center_id = \(petit) AND day = '\(day.iso)'") == 2)
        }
    }

    /// Before booking, a confirmation expires the center's carts past their hold, but waits at most 200 ms for
    /// a day row: a parent is never turned away because another family's cart sits on a row someone holds.
    @Test func anotherFamilysExpiredCartOnAHeldRowDoesNotHoldUpABooking() async throws {
        try await withPortal { client, fixture in
            let petit = fixture.petit.id
            let start = fixture.petit.center.periods[0].startsOn
            let neighbour = Browser(client, forwardedFor: "10.0.0.2")
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            try await bookDays(neighbour, fixture: fixture, [0])
            try await fixture.database.owner.withConnection { c in
                _ = try await c.query("UPDATE carts SET expires_at = now() - interval '1 minute'", logger: fixture.database.logger).collect()
            }
            let parent = Browser(client, forwardedFor: "10.0.0.3")
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await fixture.database.owner.withConnection { c in
                _ = try await c.query("BEGIN", logger: fixture.database.logger).collect()
                _ = try await c.query("SELECT 1 FROM day_capacities WHERE center_id = \(petit) AND day = \(start.iso)::date FOR UPDATE",
                                      logger: fixture.database.logger).collect()
                try await bookDays(parent, fixture: fixture, [1])
                _ = try await c.query("ROLLBACK", logger: fixture.database.logger).collect()
            }
            // The parent's day is booked; the neighbour's expired cart was left for later, then the next booking expires it.
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE center_id = \(petit) AND state = 'pending_payment'") == 2)
            try await bookDays(parent, fixture: fixture, [2])
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE center_id = \(petit) AND state = 'expired'") == 1)
            #expect(try await count(fixture, "SELECT taken FROM day_capacities WHERE center_id = \(petit) AND day = '\(start.iso)' AND unit = 'matin'") == 0)
        }
    }
}

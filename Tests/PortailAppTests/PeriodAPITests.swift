import Foundation
import Hummingbird
import HummingbirdTesting
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// A parent of "petit" (a center without online payment: bookings are confirmed at once) books `days` days.
func bookConfirmed(_ client: any TestClientProtocol, _ fixture: PortalFixture, days: [LocalDate], unit: String = "journee") async throws {
    let parent = Browser(client)
    _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
    let periods = try await parent.get("/petit/reservations/nouvelle")
    let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
    let selection = [("enfant", String(childID)), ("periode", "vacances")] + days.map { ("jour", "\($0.iso):\(unit)") }
    _ = try await parent.post("/petit/reservations/confirmer", selection)
}

@Suite struct PeriodAPITests {
    @Test func staffEditPlacesDaysAndStateOfAPeriod() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let staff = try await invitedToken(client, fixture, center: "petit", email: "equipe@petit.example.org", role: "manager", by: admin)
            let first = fixture.petit.center.periods[0].startsOn

            let list = try await apiJSON(client, .get, "/api/centers/petit/periods", token: staff)
            let periods = try #require(list.json["periods"] as? [[String: Any]])
            #expect(periods.map { $0["code"] as? String } == ["vacances"])
            #expect((periods[0]["places"] as? [String: Int]) == ["matin": 3, "apres-midi": 3])
            #expect(try await apiJSON(client, .get, "/api/centers/autre/periods", token: staff).status == .notFound)
            #expect(try await apiJSON(client, .patch, "/api/centers/autre/periods/vacances", token: staff, json: #"{"label": "X"}"#).status == .notFound)

            // The parent books the first two days; places cannot go below what is taken without force.
            try await bookConfirmed(client, fixture, days: [first, first.adding(days: 1)])
            let lower = #"{"places": {"matin": 0, "apres-midi": 3}}"#
            let refused = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: lower)
            #expect(refused.status == .conflict)
            #expect((refused.json["detail"] as? String)?.contains("1 place(s) of \"matin\" are already taken on \(first.iso)") == true, "\(refused.json)")
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances?force=true", token: staff, json: lower).status == .unprocessableContent)
            let forced = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances?force=true&reason=Sortie%20piscine", token: staff, json: lower)
            #expect(forced.status == .ok, "\(forced.json)")
            #expect((forced.json["changes"] as? [String])?.first?.contains("places") == true)
            let detail = try await apiJSON(client, .get, "/api/centers/petit/periods/vacances", token: staff)
            let days = try #require(detail.json["days"] as? [[String: Any]])
            let firstMatin = try #require(days.first { $0["day"] as? String == first.iso && $0["unit"] as? String == "matin" })
            #expect(firstMatin["places"] as? Int == 0 && firstMatin["taken"] as? Int == 1 && firstMatin["forced"] as? Bool == true)
            let audit = try await apiJSON(client, .get, "/api/centers/petit/audit", token: staff)
            let force = (audit.json["entries"] as? [[String: Any]])?.first { $0["action"] as? String == "capacity.force" }
            #expect((force?["after"] as? String)?.contains("vacances \(first.iso) matin: 0 place(s), 1 taken") == true)
            #expect((force?["after"] as? String)?.contains("Sortie piscine") == true)
            #expect(force?["actor"] as? String == "staff:equipe@petit.example.org")

            // Places of one day, then a closed day; a booked day cannot be closed.
            let later = first.adding(days: 5)
            let dayPlaces = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: #"{"places": {"matin": 3}, "day_places": {"\#(later.iso)": {"matin": 1}}}"#)
            #expect(dayPlaces.status == .ok, "\(dayPlaces.json)")
            #expect(try await count(fixture, "SELECT places FROM day_capacities WHERE day = '\(later.iso)' AND unit = 'matin' AND center_id = \(fixture.petit.id)") == 1)
            #expect(try await count(fixture, "SELECT places FROM day_capacities WHERE day = '\(first.iso)' AND unit = 'matin' AND center_id = \(fixture.petit.id)") == 3)
            let closeBooked = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: #"{"closed_days": ["\#(first.iso)"]}"#)
            #expect(closeBooked.status == .conflict)
            let closeFree = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: #"{"closed_days": ["\#(later.adding(days: 1).iso)"]}"#)
            #expect(closeFree.status == .ok)
            #expect(try await count(fixture, "SELECT count(*)::int FROM day_capacities WHERE day = '\(later.adding(days: 1).iso)' AND center_id = \(fixture.petit.id)") == 0)

            // Invalid bodies say which field to fix.
            let typo = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: #"{"place": {"matin": 2}}"#)
            #expect(typo.status == .unprocessableContent)
            #expect((typo.json["errors"] as? [[String: String]])?.first?["message"]?.contains("did you mean \"places\"") == true, "\(typo.json)")
            let outside = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: #"{"day_places": {"2001-01-01": {"matin": 2}}}"#)
            #expect(outside.status == .unprocessableContent)
            #expect((outside.json["errors"] as? [[String: String]])?.first?["field"] == "day_places.2001-01-01")
            let rename = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: #"{"code": "ete"}"#)
            #expect(rename.status == .unprocessableContent)

            // Closed, the period takes no new booking; reopened, it does again.
            #expect(try await apiJSON(client, .post, "/api/centers/petit/periods/vacances/close", token: staff).status == .ok)
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            #expect(!(try await parent.get("/petit/reservations/nouvelle")).text.contains("Vacances"))
            let reopened = try await apiJSON(client, .post, "/api/centers/petit/periods/vacances/reopen", token: staff)
            #expect(reopened.status == .ok && (reopened.json["period"] as? [String: Any])?["closed"] == nil)
            #expect((try await parent.get("/petit/reservations/nouvelle")).text.contains("Vacances"))
        }
    }

    /// The period screen counts the places of a cart whose hold ran out as free; the edit counts the same,
    /// expiring that cart in its transaction, and does not refuse what the screen shows possible.
    @Test func anEditCountsTheCartThatRanOutAsFreeLikeTheScreen() async throws {
        try await withPortal(places: 1) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let staff = try await invitedToken(client, fixture, center: "petit", email: "equipe@petit.example.org", role: "manager", by: admin)
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await bookDays(parent, fixture: fixture, [0, 1])
            let first = fixture.petit.center.periods[0].startsOn
            let second = first.adding(days: 1)
            let close = #"{"closed_days": ["\#(first.iso)"]}"#
            let lower = #"{"day_places": {"\#(second.iso)": {"matin": 0}}}"#
            // While the cart holds them, the days are taken.
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: close).status == .conflict)
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: lower).status == .conflict)

            try await fixture.database.owner.withConnection { c in
                try await c.run("UPDATE carts SET expires_at = now() - interval '1 minute'", logger: fixture.database.logger)
            }
            let detail = try await apiJSON(client, .get, "/api/centers/petit/periods/vacances", token: staff)
            let days = try #require(detail.json["days"] as? [[String: Any]])
            #expect(days.filter { [first.iso, second.iso].contains($0["day"] as? String) }.allSatisfy { $0["taken"] as? Int == 0 }, "\(days)")
            let closed = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: close)
            #expect(closed.status == .ok, "\(closed.json)")
            let lowered = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: lower)
            #expect(lowered.status == .ok, "\(lowered.json)")
            // The edit wrote the expiry: the cart and its reservation are expired, no place is taken or forced.
            #expect(try await count(fixture, "SELECT count(*)::int FROM carts WHERE state = 'expired'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE state = 'expired'") == 1)
            #expect(try await count(fixture, "SELECT coalesce(sum(taken), 0)::int FROM day_capacities") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM day_capacities WHERE forced") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM day_capacities WHERE center_id = \(fixture.petit.id) AND day = '\(first.iso)'") == 0)
        }
    }

    @Test func anotherInstanceServesTheEditAfterItsNextMaintenancePass() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            // A second instance: its own directory, read before the change.
            let other = CenterDirectory(.init(centers: [fixture.petit, fixture.autre], failures: [],
                                              version: try await CenterRepository.version(fixture.database)))
            let maintenance = MaintenanceService(database: fixture.database, directory: other, mail: LogMailTransport(), logger: TestCluster.logger)
            await maintenance.runOnce()
            #expect(other.center(forCode: "petit")?.center.periods[0].label == "Vacances")
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: admin, json: #"{"label": "Vacances de printemps"}"#).status == .ok)
            await maintenance.runOnce()
            #expect(other.center(forCode: "petit")?.center.periods[0].label == "Vacances de printemps")
            #expect(try await apiJSON(client, .post, "/api/centers/autre/suspend", token: admin).status == .ok)
            await maintenance.runOnce()
            #expect(other.center(forCode: "autre") == nil)
        }
    }

    @Test func staffCreatePeriodsAndVersionTariffs() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let vacances = fixture.petit.center.periods[0]
            try await bookConfirmed(client, fixture, days: [vacances.startsOn])

            // A new period must not overlap another of the same age group.
            func period(_ code: String, from: LocalDate, to: LocalDate) -> String {
                """
                {"code": "\(code)", "label": "Mercredis", "age_group": "enfants", "starts_on": "\(from.iso)", "ends_on": "\(to.iso)",
                 "weekdays": ["mercredi"], "units": ["journee"], "places": {"matin": 12, "apres-midi": 12}, "tariff": "base",
                 "booking": {"deadline": {"previous_weekday": "lundi", "at": "18:00"}}}
                """
            }
            let overlapping = try await apiJSON(client, .post, "/api/centers/petit/periods", token: admin, json: period("mercredis", from: vacances.endsOn, to: vacances.endsOn.adding(days: 30)))
            #expect(overlapping.status == .unprocessableContent)
            #expect((overlapping.json["errors"] as? [[String: String]])?.first?["message"]?.contains("overlaps period \"vacances\"") == true, "\(overlapping.json)")
            let dry = try await apiJSON(client, .post, "/api/centers/petit/periods?dry_run=true", token: admin, json: period("mercredis", from: vacances.endsOn.adding(days: 1), to: vacances.endsOn.adding(days: 60)))
            #expect(dry.status == .ok && dry.json["applied"] as? Bool == false)
            #expect(try await count(fixture, "SELECT count(*)::int FROM periods WHERE code = 'mercredis'") == 0)
            let created = try await apiJSON(client, .post, "/api/centers/petit/periods", token: admin, json: period("mercredis", from: vacances.endsOn.adding(days: 1), to: vacances.endsOn.adding(days: 60)))
            #expect(created.status == .created, "\(created.json)")
            #expect((created.json["changes"] as? [String]) == ["+ period mercredis"])
            let again = try await apiJSON(client, .post, "/api/centers/petit/periods", token: admin, json: period("mercredis", from: vacances.endsOn.adding(days: 1), to: vacances.endsOn.adding(days: 60)))
            #expect(again.status == .unprocessableContent)
            #expect((again.json["errors"] as? [[String: String]])?.first?["message"]?.contains("already exists") == true, "\(again.json)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM day_capacities d JOIN periods p ON p.center_id = d.center_id AND p.id = d.period_id WHERE p.code = 'mercredis'") > 0)

            // A new version of the tariff prices new bookings; the booked day keeps its price.
            let tariff = #"{"code": "base", "model": "siblings", "valid_from": "\#(vacances.startsOn.iso)", "prices": {"journee": ["12.00", "9.00"], "matin": ["7.00", "6.00"], "apres-midi": ["7.00", "6.00"]}}"#
            let versioned = try await apiJSON(client, .put, "/api/centers/petit/tariffs/base", token: admin, json: tariff)
            #expect(versioned.status == .ok, "\(versioned.json)")
            let tariffs = try await apiJSON(client, .get, "/api/centers/petit/tariffs", token: admin)
            let base = try #require((tariffs.json["tariffs"] as? [[String: Any]])?.first)
            #expect((base["versions"] as? [[String: Any]])?.compactMap { $0["version"] as? Int } == [1, 2])
            #expect((base["prices"] as? [String: [String]])?["journee"] == ["12.00", "9.00"])
            #expect(try await count(fixture, "SELECT price_cents::int FROM reservation_lines WHERE center_id = \(fixture.petit.id)") == 1000)
            // A tariff that no longer prices a unit a period offers is refused.
            let partial = #"{"code": "base", "model": "siblings", "prices": {"matin": ["7.00"], "apres-midi": ["7.00"]}}"#
            let broken = try await apiJSON(client, .put, "/api/centers/petit/tariffs/base", token: admin, json: partial)
            #expect(broken.status == .unprocessableContent)
            #expect((broken.json["errors"] as? [[String: String]])?.contains { $0["message"]?.contains("no price for \"journee\"") == true } == true, "\(broken.json)")
            let newTariff = try await apiJSON(client, .post, "/api/centers/petit/tariffs", token: admin, json: #"{"code": "sorties", "model": "flat", "prices": {"journee": "15.00"}}"#)
            #expect(newTariff.status == .created, "\(newTariff.json)")
            #expect(try await apiJSON(client, .put, "/api/centers/petit/tariffs/inconnu", token: admin, json: partial).status == .notFound)
        }
    }
}

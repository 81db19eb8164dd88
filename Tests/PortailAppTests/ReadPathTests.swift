import Foundation
import HummingbirdTesting
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// The price in cents of a journée in the vacances grid of `child`, as the parent's page shows it on its column's
/// head; nil if the grid offers no journée on `day` (ISO).
private func journeePrice(_ parent: Browser, child: Substring, on day: String) async throws -> String? {
    let body = try await parent.get("/petit/reservations/nouvelle?enfant=\(child)&periode=vacances").body
    guard body.contains("name=\"jour\" value=\"\(day):journee\"") else { return nil }
    return body.firstMatch(of: /<th scope="col" data-prix="(\d+)">Journée<br>/).map { String($0.1) }
}

/// Pages read; they do not write (issue 12): a cart whose hold ran out reads as expired and its places
/// as free until the maintenance job or the next booking writes it so.
@Suite struct ReadPathTests {
    /// A logged-in family's page costs one transaction, its session's lookup included, whatever it shows; the
    /// home page, Mon compte, Mes factures and the grid none: their session's lookup and their one read are each
    /// a statement of its own (`Database.withPageReads`).
    @Test func aPageIsAtMostOneTransaction() async throws {
        try await withPortal { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await bookDays(parent, fixture: fixture, [0, 1])
            let wizard = try await parent.get("/petit/reservations/nouvelle")
            let child = try #require(wizard.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            for path in ["/petit/", "/petit/compte", "/petit/factures", "/petit/panier", "/petit/reservations/nouvelle?enfant=\(child)&periode=vacances"] {
                let before = Database.opened.load(ordering: .relaxed)
                let page = try await parent.get(path)
                #expect(page.status == .ok, "\(path)")
                #expect(Database.opened.load(ordering: .relaxed) - before == (path == "/petit/panier" ? 1 : 0), "\(path)")
            }
        }
    }

    /// A family's request never holds two connections of the request pool at once: with a pool of one, logging
    /// in, booking and every page still answer (a request that asked for a second connection while holding the
    /// first would wait for itself; the embedded cluster's pool is small: `DatabaseSettings.localAppPoolSize`).
    @Test(.timeLimit(.minutes(1))) func aFamilysRequestsNeedOneConnectionOfThePool() async throws {
        try await withPortal(poolSize: 1) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await bookDays(parent, fixture: fixture, [0, 1])
            let wizard = try await parent.get("/petit/reservations/nouvelle")
            let child = try #require(wizard.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            for path in ["/petit/", "/petit/compte", "/petit/factures", "/petit/panier", "/petit/reservations/nouvelle?enfant=\(child)&periode=vacances",
                         "/petit/compte?page=99", "/petit/dossier"] {
                #expect(try await parent.get(path).status == .ok, "\(path)")
            }
            #expect(try await parent.get("/petit/compte").text.contains("en attente de paiement"))
        }
    }

    /// A session's idle clock moves at a page at most once a minute, whether the page reads in statements of
    /// its own (Mon compte) or in one transaction (the cart); a session idle past the timeout is gone.
    @Test func theIdleClockMovesOnceAMinuteAtEitherKindOfPage() async throws {
        try await withPortal { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let logger = fixture.database.logger
            func idleSeconds() async throws -> Int {
                try await fixture.database.owner.withConnection { c in
                    try await c.first("SELECT extract(epoch FROM now() - max(last_seen_at))::int FROM sessions", (Int.self), logger: logger) ?? -1
                }
            }
            func setIdle(_ seconds: Int) async throws {
                try await fixture.database.owner.withConnection { c in
                    try await c.run("UPDATE sessions SET last_seen_at = now() - make_interval(secs => \(seconds))", logger: logger)
                }
            }
            for path in ["/petit/compte", "/petit/panier"] {
                try await setIdle(30)
                #expect(try await parent.get(path).status == .ok)
                #expect(try await idleSeconds() >= 30, "\(path): moved within the minute")
                try await setIdle(20 * 60)
                #expect(try await parent.get(path).status == .ok)
                #expect(try await idleSeconds() <= 5, "\(path): not moved after 20 minutes")
            }
            try await setIdle(31 * 60)
            #expect(!(try await parent.get("/petit/compte").text.contains("Mon compte famille")))
        }
    }

    /// The family's name (Mon compte's heading) and tariff category (the grid's prices) come with the
    /// session's read, not a statement of their own: read again at every page, so that what the staff
    /// change shows at the family's next page, without a new login.
    @Test func theFamilysNameAndCategoryComeWithTheSessionAtEveryPage() async throws {
        try await withPortal { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let yaml = TestCenters.small(code: "petit", places: 5, payment: systemPayBlock)
                .replacingOccurrences(of: "prices: { journee: [\"10.00\", \"8.00\"], matin: [\"6.00\", \"5.00\"], apres-midi: [\"6.00\", \"5.00\"] }", with: """
                    prices: { journee: ["10.00", "8.00"], matin: ["6.00", "5.00"], apres-midi: ["6.00", "5.00"] }
                        categories:
                          hors-commune:
                            prices: { journee: ["14.00", "12.00"], matin: ["8.00", "7.00"], apres-midi: ["8.00", "7.00"] }
                    """)
            let imported = try await api(client, .post, "/api/centers", token: admin, body: yaml)
            #expect(imported.status == .ok, "\(imported.json)")

            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let wizard = try await parent.get("/petit/reservations/nouvelle")
            let child = try #require(wizard.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let day = fixture.petit.center.periods[0].startsOn.iso
            let grid = { try await journeePrice(parent, child: child, on: day) }
            #expect(try await grid() == "1000")
            #expect(try await parent.get("/petit/compte").text.contains("Mon compte famille – FAMILLE JULES"))

            let id = try await familyID(client, admin)
            let edited = try await apiJSON(client, .patch, "/api/centers/petit/families/\(id)", token: admin,
                                           json: #"{"name": "FAMILLE RENOMMÉE", "category": "hors-commune"}"#)
            #expect(edited.status == .ok, "\(edited.json)")
            // The same session, at its next pages.
            #expect(try await grid() == "1400")
            #expect(try await parent.get("/petit/compte").text.contains("Mon compte famille – FAMILLE RENOMMÉE"))
        }
    }

    /// The grid reads the family's quotient familial only for a tariff by quotient; there, the bracket
    /// follows the quotient the staff record.
    @Test func theGridPricesByTheQuotientWhereTheTariffAsksForIt() async throws {
        try await withPortal { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let yaml = TestCenters.small(code: "petit", places: 5, payment: systemPayBlock)
                .replacingOccurrences(of: "model: siblings\n    prices: { journee: [\"10.00\", \"8.00\"], matin: [\"6.00\", \"5.00\"], apres-midi: [\"6.00\", \"5.00\"] }", with: """
                    model: qf
                        brackets:
                          - qf_max: 600
                            prices: { journee: "4.00", matin: "2.50", apres-midi: "2.50" }
                          - qf_min: 601
                            prices: { journee: "11.00", matin: "6.50", apres-midi: "6.50" }
                    """)
            let imported = try await api(client, .post, "/api/centers", token: admin, body: yaml)
            #expect(imported.status == .ok && (imported.json["changes"] as? [String])?.isEmpty == false, "\(imported.json)")

            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let wizard = try await parent.get("/petit/reservations/nouvelle")
            let child = try #require(wizard.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let day = fixture.petit.center.periods[0].startsOn.iso
            let grid = { try await journeePrice(parent, child: child, on: day) }
            // No quotient known: the last bracket.
            #expect(try await grid() == "1100")
            let id = try await familyID(client, admin)
            let recorded = try await apiJSON(client, .post, "/api/centers/petit/families/\(id)/quotients", token: admin,
                                             json: #"{"quotient": 450, "valid_from": "2020-01-01"}"#)
            #expect(recorded.status == .ok || recorded.status == .created, "\(recorded.json)")
            #expect(try await grid() == "400")
            // A center whose grid reads the quotient too keeps its pages in one transaction each (a transaction
            // for each read would cost more round trips).
            for path in ["/petit/", "/petit/compte", "/petit/reservations/nouvelle?enfant=\(child)&periode=vacances"] {
                let before = Database.opened.load(ordering: .relaxed)
                #expect(try await parent.get(path).status == .ok)
                #expect(Database.opened.load(ordering: .relaxed) - before == 1, "\(path)")
            }
        }
    }

    @Test func anExpiredHoldReadsAsExpiredAndFreeWithoutAnyWrite() async throws {
        try await withPortal(places: 1) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await bookDays(parent, fixture: fixture, [0])
            try await fixture.database.owner.withConnection { c in
                try await c.run("UPDATE carts SET expires_at = now() - interval '1 minute'", logger: fixture.database.logger)
            }
            let state = "SELECT count(*)::int FROM carts WHERE state = 'open'"
            #expect(try await count(fixture, state) == 1)

            #expect(try await parent.get("/petit/compte").text.contains("expirée"))
            #expect(try await parent.get("/petit/panier").text.contains("Votre panier est vide"))
            // The family's own grid offers the day again: the child no longer holds it.
            let ownWizard = try await parent.get("/petit/reservations/nouvelle")
            let ownChild = try #require(ownWizard.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let ownGrid = try await parent.get("/petit/reservations/nouvelle?enfant=\(ownChild)&periode=vacances")
            let firstDay = "value=\"\(fixture.petit.center.periods[0].startsOn.iso):journee\""
            #expect(ownGrid.body.contains(firstDay) && !ownGrid.body.contains(firstDay + " disabled"))
            #expect(!ownGrid.text.contains("déjà réservé"))
            // The staff's register and the API's attendance list no longer list the child.
            let (register, attendance) = try await fixture.database.withCenter(fixture.petit.id) { c in
                let day = fixture.petit.center.periods[0].startsOn
                return (try await CenterDashboard.register(c, center: fixture.petit.id, day: day, limit: nil, logger: fixture.database.logger),
                        try await ReservationQueries.attendance(c, center: fixture.petit.id, day: day, logger: fixture.database.logger))
            }
            #expect(register.total == 0 && register.lines.isEmpty && attendance.isEmpty)
            // The staff's screens count the place as free and the reservation as expired.
            let staff = try await fixture.database.withCenter(fixture.petit.id) { c in
                let logger = fixture.database.logger
                let period = try #require(try await BookingRepository.periodID(c, center: fixture.petit.id, code: "vacances", logger: logger))
                return (capacities: try await BookingRepository.capacities(c, center: fixture.petit.id, periodID: period, logger: logger),
                        dashboard: try await CenterDashboard.load(c, center: fixture.petit.id, today: fixture.petit.center.periods[0].startsOn, logger: logger),
                        all: try await StaffReservations.list(c, center: fixture.petit.id, filter: .init(), offset: 0, limit: 10, logger: logger),
                        expired: try await StaffReservations.list(c, center: fixture.petit.id, filter: .init(state: "expired"), offset: 0, limit: 10, logger: logger),
                        pending: try await StaffReservations.list(c, center: fixture.petit.id, filter: .init(state: "pending_payment"), offset: 0, limit: 10, logger: logger))
            }
            #expect(!staff.capacities.isEmpty && staff.capacities.allSatisfy { $0.taken == 0 })
            #expect(!staff.dashboard.places.isEmpty && staff.dashboard.places.allSatisfy { $0.taken == 0 })
            #expect(staff.all.rows.map(\.state) == ["expired"] && staff.expired.total == 1 && staff.pending.total == 0)
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            let wizard = try await neighbour.get("/petit/reservations/nouvelle")
            let child = try #require(wizard.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let day = fixture.petit.center.periods[0].startsOn
            let grid = try await neighbour.get("/petit/reservations/nouvelle?enfant=\(child)&periode=vacances")
            let cell = "value=\"\(day.iso):journee\""
            #expect(grid.body.contains(cell) && !grid.body.contains(cell + " disabled"))
            // Nothing was written by these reads: the cart is still open in the database.
            #expect(try await count(fixture, state) == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE state = 'pending_payment'") == 1)

            // The next booking expires the old cart and takes the place.
            let booked = try await neighbour.post("/petit/reservations/confirmer", [("enfant", String(child)), ("periode", "vacances"),
                                                                                   ("jour", "\(day.iso):journee")])
            #expect(booked.status == .seeOther)
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations WHERE state = 'expired'") == 1)
            #expect(try await count(fixture, "SELECT max(taken)::int FROM day_capacities") == 1)
        }
    }

    /// Two age groups' periods share their days: a cart that ran out in one frees places in that one only.
    @Test func anExpiredHoldFreesPlacesInItsOwnPeriodOnly() async throws {
        try await withPortal(places: 1) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let vacances = fixture.petit.center.periods[0]
            let ados = """
                  - code: ados
                    label: Vacances des grands
                    age_group: grands
                    starts_on: \(vacances.startsOn.iso)
                    ends_on: \(vacances.endsOn.iso)
                    weekdays: [lundi, mardi, mercredi, jeudi, vendredi, samedi, dimanche]
                    units: [journee, matin, apres-midi]
                    places: { matin: 1, apres-midi: 1 }
                    tariff: base
                    booking:
                      deadline: { days_before: 1, at: "12:00" }

                """
            let yaml = TestCenters.small(code: "petit", places: 1, payment: systemPayBlock)
                .replacingOccurrences(of: "age_groups:\n", with: "age_groups:\n  - code: grands\n    label: 12-17 ans\n    min_age: 12\n    max_age: 17\n")
                .replacingOccurrences(of: "periods:\n", with: "periods:\n" + ados)
            let imported = try await api(client, .post, "/api/centers", token: admin, body: yaml)
            #expect(imported.status == .ok && (imported.json["changes"] as? [String])?.contains("+ period ados") == true, "\(imported.json)")

            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await bookDays(parent, fixture: fixture, [0])
            try await fixture.database.owner.withConnection { c in
                try await c.run("UPDATE carts SET expires_at = now() - interval '1 minute'", logger: fixture.database.logger)
            }
            let read = try await fixture.database.withCenter(fixture.petit.id) { c in
                let logger = fixture.database.logger
                let adosID = try #require(try await BookingRepository.periodID(c, center: fixture.petit.id, code: "ados", logger: logger))
                let vacancesID = try #require(try await BookingRepository.periodID(c, center: fixture.petit.id, code: "vacances", logger: logger))
                return (ados: try await BookingRepository.capacities(c, center: fixture.petit.id, periodID: adosID, logger: logger),
                        vacances: try await BookingRepository.capacities(c, center: fixture.petit.id, periodID: vacancesID, logger: logger),
                        adosLeft: try await BookingRepository.availability(c, center: fixture.petit.id, periodID: adosID, logger: logger),
                        dashboard: try await CenterDashboard.load(c, center: fixture.petit.id, today: vacances.startsOn, logger: logger))
            }
            // The booked day is stored as taken in vacances only; every screen reads 0 taken in both periods,
            // and the grands' period still has its one place (not two) on that day.
            #expect(try await count(fixture, "SELECT sum(taken)::int FROM day_capacities") == 2)
            #expect(!read.ados.isEmpty && read.ados.allSatisfy { $0.taken == 0 }, "\(read.ados.filter { $0.taken != 0 })")
            #expect(!read.vacances.isEmpty && read.vacances.allSatisfy { $0.taken == 0 }, "\(read.vacances.filter { $0.taken != 0 })")
            #expect(read.adosLeft[vacances.startsOn]?.remaining == ["matin": 1, "apres-midi": 1])
            #expect(Set(read.dashboard.places.map(\.period)) == ["Vacances", "Vacances des grands"])
            #expect(read.dashboard.places.allSatisfy { $0.taken == 0 }, "\(read.dashboard.places.filter { $0.taken != 0 })")
        }
    }
}

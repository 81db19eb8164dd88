import Foundation
import PortailConfig
import PortailDomain
import PortailTestSupport
import PostgresNIO
import Testing
@testable import PortailStore

/// The families' grids read the places left of a period from `PlacesLeftCache` while they are fresh; what
/// the child holds and waits for is always read.
@Suite struct PlacesLeftCacheTests {
    /// Sets the places of a day behind the instance's back (the owner, as another instance's writes would).
    func setPlaces(_ database: Database, _ id: Int64, day: LocalDate, to places: Int) async throws {
        try await database.owner.withConnection { c in
            try await c.run("UPDATE day_capacities SET places = \(places) WHERE center_id = \(id) AND day = \(day.iso)::date", logger: database.logger)
        }
    }

    func grid(_ database: Database, _ id: Int64, family: Int64, child: Int64, cache: PlacesLeftCache?) async throws -> BookingRepository.GridReads {
        try await database.withCenter(id) { c in
            try #require(try await BookingRepository.gridReads(c, center: id, periodCode: "vacances", childID: child, family: family,
                                                               placesLeft: cache, logger: database.logger))
        }
    }

    @Test func thePlacesLeftAreKeptUntilTheCenterChangesWhileTheChildsOwnDaysAreAlwaysRead() async throws {
        try await withSmallCenter(places: 3) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 1)
            let child = families[0].1[0]
            let day = center.periods[0].startsOn.adding(days: 2)
            let cache = PlacesLeftCache(freshness: .seconds(600))

            #expect(try await grid(database, id, family: families[0].0, child: child.id, cache: cache).availability[day]?.remaining["matin"] == 3)
            try await setPlaces(database, id, day: day, to: 1)
            // Kept: the grid shows the places read a moment ago, and the child's booking of the day at once.
            _ = try await book(database, center, id, family: families[0].0, child: child, days: [day: ["matin"]])
            let kept = try await grid(database, id, family: families[0].0, child: child.id, cache: cache)
            #expect(kept.availability[day]?.remaining["matin"] == 3)
            #expect(kept.held[day] == ["matin"])
            // Without the cache (the staff's screens), and once the center changed, the places are read again.
            #expect(try await grid(database, id, family: families[0].0, child: child.id, cache: nil).availability[day]?.remaining["matin"] == 0)
            cache.changed(id)
            #expect(try await grid(database, id, family: families[0].0, child: child.id, cache: cache).availability[day]?.remaining["matin"] == 0)
            try await setPlaces(database, id, day: day, to: 2)
            cache.changedAll()
            #expect(try await grid(database, id, family: families[0].0, child: child.id, cache: cache).availability[day]?.remaining["matin"] == 1)
            // A period the center does not have is still refused, whatever is kept.
            #expect(try await database.withCenter(id) { c in
                try await BookingRepository.gridReads(c, center: id, periodCode: "inconnue", childID: child.id, family: families[0].0, placesLeft: cache, logger: database.logger)
            } == nil)
        }
    }

    @Test func thePlacesLeftAreReadAgainOnceNoLongerFresh() async throws {
        try await withSmallCenter(places: 3) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 1)
            let child = families[0].1[0]
            let day = center.periods[0].startsOn.adding(days: 2)
            let cache = PlacesLeftCache(freshness: .milliseconds(200))
            #expect(try await grid(database, id, family: families[0].0, child: child.id, cache: cache).availability[day]?.remaining["matin"] == 3)
            try await setPlaces(database, id, day: day, to: 1)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await grid(database, id, family: families[0].0, child: child.id, cache: cache).availability[day]?.remaining["matin"] == 1)
        }
    }

    /// The database's own cache: a transaction of the center (a booking, a staff edit, the expiry job) makes
    /// the next grid read the places; a page's reads do not.
    @Test func aTransactionOfTheCenterMakesTheNextGridReadThePlacesAndAPagesReadsDoNot() async throws {
        try await withSmallCenter(places: 3) { database, center, id in
            let families = try await makeFamilies(database, center: id, count: 2)
            let day = center.periods[0].startsOn.adding(days: 2)
            let cache = database.placesLeft
            _ = try await grid(database, id, family: families[0].0, child: families[0].1[0].id, cache: cache)
            // `grid` runs in a transaction of its own, which marked the center changed after the read: read again.
            #expect(cache.fresh(center: id, period: "vacances") == nil)
            try await database.withPageTransaction(id, session: "inconnue") { _ in
                _ = try await grid(database, id, family: families[0].0, child: families[0].1[0].id, cache: cache)
            }
            #expect(cache.fresh(center: id, period: "vacances")?[day]?.remaining["matin"] == 3)
            #expect(try await database.withPageTransaction(id, session: "inconnue") { _ in
                try await grid(database, id, family: families[1].0, child: families[1].1[0].id, cache: cache).availability[day]?.remaining["matin"]
            } == 3)
            #expect(cache.fresh(center: id, period: "vacances") != nil)
            // A transaction that only reads (the wizard's reads while a waiting room stands) keeps them, and cannot write.
            _ = try await database.withCenterReading(id) { c in
                try await BookingRepository.gridReads(c, center: id, periodCode: "vacances", childID: families[1].1[0].id, family: families[1].0, placesLeft: cache, logger: database.logger)
            }
            #expect(cache.fresh(center: id, period: "vacances") != nil)
            await #expect(throws: (any Error).self) {
                try await database.withCenterReading(id) { c in
                    try await c.run("UPDATE day_capacities SET places = places + 1", logger: database.logger)
                }
            }
            _ = try await book(database, center, id, family: families[1].0, child: families[1].1[0], days: [day: ["matin"]])
            #expect(cache.fresh(center: id, period: "vacances") == nil)
            #expect(try await database.withPageTransaction(id, session: "inconnue") { _ in
                try await grid(database, id, family: families[0].0, child: families[0].1[0].id, cache: cache).availability[day]?.remaining["matin"]
            } == 2)
        }
    }

    /// Two centers with a period of the same code: each grid shows its own center's places.
    @Test func eachCenterHasItsOwnPlaces() async throws {
        let settings = try await TestCluster.shared.freshDatabase()
        let catalog = CenterCatalog.parse(sources: [("petit.yaml", .success(TestCenters.small(places: 3))),
                                                    ("autre.yaml", .success(TestCenters.small(code: "autre", places: 7)))],
                                          paymentRules: [], environment: [:])
        let centers = catalog.centers.map(\.center)
        try #require(centers.count == 2, "\(catalog.allIssues)")
        try await Database(settings: settings, logger: TestCluster.logger).run { database in
            _ = try await CenterImporter(database: database).importCenters(centers.map { ($0, "\($0.code).yaml") }, dryRun: false)
            let records = try await CenterRepository.loadAll(database)
            let day = centers[0].periods[0].startsOn.adding(days: 2)
            let cache = PlacesLeftCache(freshness: .seconds(600))
            var children: [String: (Int64, Int64, Int64)] = [:]
            for record in records {
                let family = try await makeFamilies(database, center: record.id, count: 1)[0]
                children[record.center.code] = (record.id, family.0, family.1[0].id)
            }
            for (code, places) in [("petit", 3), ("autre", 7), ("petit", 3)] {
                let (id, family, child) = try #require(children[code])
                #expect(try await grid(database, id, family: family, child: child, cache: cache).availability[day]?.remaining["matin"] == places)
            }
        }
    }
}

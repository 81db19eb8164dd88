import Foundation
import Logging
import PortailConfig
import PortailDomain
import PortailStore
import PortailTestSupport

// Opening day, measured: many parents booking the same day at once, and many reading the grid's places.
// Runs against a throwaway embedded PostgreSQL and writes docs/benchmarks.md.
// Usage: swift run -c release portail-benchmarks [families] [concurrency]

// `portail-benchmarks centers [files]`: the center files at start (CentersBenchmark.swift).
if CommandLine.arguments.dropFirst().first == "centers" {
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    try await CentersBenchmark.run(count: CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 1_000, logger: logger)
    exit(0)
}

// `portail-benchmarks rush [parents] [places] [connections] [admitted per minute]`: opening day over HTTP (RushBenchmark.swift).
if CommandLine.arguments.dropFirst().first == "rush-center" {
    try RushBenchmark.writeCenter(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}
if CommandLine.arguments.dropFirst().first == "rush" {
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    try await RushBenchmark.run(.init(Array(CommandLine.arguments.dropFirst(2))), logger: logger)
    exit(0)
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let families = arguments.first ?? 400
let concurrency = arguments.dropFirst().first ?? 40
let places = families * 3 / 4
var logger = Logger(label: "bench")
logger.logLevel = .warning

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
}

/// Runs `count` operations with at most `width` at a time; returns each one's duration in ms and the wall time.
func measure(count: Int, width: Int, _ operation: @escaping @Sendable (Int) async throws -> Bool) async throws -> (ms: [Double], ok: Int, wall: Double) {
    let start = ContinuousClock.now
    let results = try await withThrowingTaskGroup(of: (Double, Bool).self) { group in
        var next = 0
        var results: [(Double, Bool)] = []
        func launch() {
            let i = next
            next += 1
            group.addTask {
                let t = ContinuousClock.now
                let ok = try await operation(i)
                let d = ContinuousClock.now - t
                return (Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15, ok)
            }
        }
        for _ in 0..<min(width, count) { launch() }
        while let result = try await group.next() {
            results.append(result)
            if next < count { launch() }
        }
        return results
    }
    let wall = ContinuousClock.now - start
    return (results.map(\.0), results.filter(\.1).count, Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18)
}

let settings = try await TestCluster.shared.freshDatabase()
let catalog = CenterCatalog.parse(sources: [("bench.yaml", .success(TestCenters.small(code: "bench", places: places)))], paymentRules: [], environment: [:])
guard let center = catalog.centers.first?.center else { fatalError("\(catalog.allIssues)") }
let database = Database(settings: settings, logger: logger)

let report = try await database.run { database in
    _ = try await CenterImporter(database: database).importCenters([(center, "bench.yaml")], dryRun: false)
    let id = try await CenterRepository.loadAll(database)[0].id
    var parents: [(Int64, ChildRecord)] = []
    try await database.withCenter(id) { c in
        for n in 0..<families {
            let family = try await AccountRepository.createFamily(c, center: id, email: "f\(n)@example.org", name: "F\(n)", passwordHash: nil,
                                                                  state: "active", category: nil, logger: logger)
            try await AccountRepository.addChild(c, center: id, family: family, firstName: "C\(n)", lastName: "F",
                                                 birthDate: LocalDate(iso: "2019-01-01")!, logger: logger)
            parents.append((family, try await AccountRepository.children(c, center: id, family: family, logger: logger)[0]))
        }
    }
    let day = center.periods[0].startsOn
    let frozenParents = parents
    let bookings = try await measure(count: families, width: concurrency) { i in
        let (family, child) = frozenParents[i]
        let request = BookingRequest(familyID: family, child: child, period: center.periods[0], selection: [day: ["journee"], day.adding(days: 1): ["journee"]])
        do {
            _ = try await database.withCenter(id) { c in
                try await BookingRepository.book(c, center: center, centerID: id, request: request, now: Date(), logger: logger)
            }
            return true
        } catch is BookingRefusal {
            return false
        }
    }
    let periodID = try await database.withCenter(id) { c in try await BookingRepository.periodID(c, center: id, code: "vacances", logger: logger)! }
    let left = try await database.withCenter(id) { c in
        try await BookingRepository.availability(c, center: id, periodID: periodID, logger: logger)[day]!.remaining["matin"]!
    }
    let reads = try await measure(count: families * 5, width: concurrency) { _ in
        _ = try await database.withCenter(id) { c in
            try await BookingRepository.availability(c, center: id, periodID: periodID, logger: logger)
        }
        return true
    }
    // Staff raise the period's places during the rush (the admin API's period edit), one after another.
    let edits = try await measure(count: 20, width: 1) { i in
        let outcome = try await CenterImporter(database: database).edit(code: "bench", actor: "bench", action: "period.update", subject: "vacances") { center in
            var center = center
            for unit in center.periods[0].places.keys { center.periods[0].places[unit] = places + i + 1 }
            return center
        }
        return outcome?.applied == true
    }
    return (bookings, reads, left, edits)
}

let (bookings, reads, left, edits) = report
let date = ISO8601DateFormatter().string(from: Date())
let cores = ProcessInfo.processInfo.activeProcessorCount
#if DEBUG
let build = "debug"
#else
let build = "release"
#endif
let text = """

## Opening day: \(families) families book the same two days at once (\(places) places), \(concurrency) at a time

Measured \(date), \(build) build, \(cores) cores.

| measure | value |
| --- | --- |
| bookings accepted | \(bookings.ok) of \(families) (places: \(places); left after: \(left); overbooked: \(bookings.ok > places ? "YES" : "no")) |
| booking throughput | \(String(format: "%.0f", Double(families) / bookings.wall)) confirmations/s |
| booking latency p50 / p95 / p99 | \(String(format: "%.1f / %.1f / %.1f", percentile(bookings.ms, 0.5), percentile(bookings.ms, 0.95), percentile(bookings.ms, 0.99))) ms |
| places of a period read (the grid) | \(reads.ms.count) reads, \(String(format: "%.0f", Double(reads.ms.count) / reads.wall)) reads/s |
| grid read latency p50 / p95 / p99 | \(String(format: "%.1f / %.1f / %.1f", percentile(reads.ms, 0.5), percentile(reads.ms, 0.95), percentile(reads.ms, 0.99))) ms |
| staff edit of the period's places (\(center.periods[0].openDays.count) days, \(bookings.ok) reservations) | \(edits.ok) of \(edits.ms.count) applied, p50 / max \(String(format: "%.1f / %.1f", percentile(edits.ms, 0.5), edits.ms.max() ?? 0)) ms |

"""
print(text)
try BenchmarkDocs.replace(section: "in-process", with: text)

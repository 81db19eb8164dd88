import Foundation
import Hummingbird
import Logging
import PostgresNIO

// The ceiling the parent pages are measured against (docs/benchmarks.md): Hummingbird and PostgresNIO
// doing three indexed selects of a family's data per request and nothing else, on the same database.
// Usage (scripts/bench-pages starts it): BASELINE_SOCKET=/path/.s.PGSQL.5432 BASELINE_PORT=8090 \
//   BASELINE_CENTER=1 BASELINE_FAMILY=1 BASELINE_POOL=6 portail-baseline

let environment = ProcessInfo.processInfo.environment
let socket = environment["BASELINE_SOCKET"] ?? ".portail/run/.s.PGSQL.5432"
let port = Int(environment["BASELINE_PORT"] ?? "") ?? 8090
let center = Int64(environment["BASELINE_CENTER"] ?? "") ?? 1
let family = Int64(environment["BASELINE_FAMILY"] ?? "") ?? 1
var logger = Logger(label: "baseline")
logger.logLevel = .warning

// The same pool as the portal it is compared with (BASELINE_POOL; PostgresNIO's default, 20, without it).
var configuration = PostgresClient.Configuration(unixSocketPath: socket, username: "postgres", password: nil, database: "portail")
if let pool = Int(environment["BASELINE_POOL"] ?? ""), pool > 0 { configuration.options.maximumConnections = pool }
let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
let router = Router()
router.get("/") { _, _ -> String in
    var names = 0, reservations = 0, invoices = 0
    for try await _ in try await client.query("SELECT name FROM families WHERE center_id = \(center) AND id = \(family)") { names += 1 }
    for try await _ in try await client.query("""
        SELECT number, state FROM reservations WHERE center_id = \(center) AND family_id = \(family) ORDER BY created_at DESC LIMIT 10
        """) { reservations += 1 }
    for try await _ in try await client.query("""
        SELECT number, total_cents FROM invoices WHERE center_id = \(center) AND family_id = \(family) LIMIT 10
        """) { invoices += 1 }
    return "\(names) \(reservations) \(invoices)\n"
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), services: [client], logger: logger)
try await app.runService()

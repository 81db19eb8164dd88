import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PostgresNIO
import PortailStore
import PortailTestSupport
import Synchronization

// Opening day over real HTTP (issue 12, item 7): a release `portail serve` on a throwaway PostgreSQL, one
// center whose period opens at the next minute behind a waiting room, and thousands of parents (families,
// children and logged-in sessions written straight into the database: a login's bcrypt is not what is
// measured) who each open the grid, post the recap and post the confirmation, as a browser does, through
// the waiting room when it holds them. Afterwards the database is checked: nobody overbooked.
// Usage: swift build -c release --product portail && swift run -c release portail-benchmarks rush [parents] [places] [connections] [admitted per minute]
//        or, against a running deployment (scripts/cluster): … rush … --base http://127.0.0.1:18080 --owner-url postgres://…
enum RushBenchmark {
    struct Options {
        var parents = 10_000
        var places = 2_000
        var connections = 256
        var admittedPerMinute = 30_000
        /// A running deployment to measure instead of a server of our own, and its owner's database URL.
        var base: String?
        var ownerURL: String?

        init(_ arguments: [String]) {
            var numbers: [Int] = []
            var index = 0
            while index < arguments.count {
                switch arguments[index] {
                case "--base": index += 1; base = arguments[index]
                case "--owner-url": index += 1; ownerURL = arguments[index]
                default: if let n = Int(arguments[index]) { numbers.append(n) }
                }
                index += 1
            }
            if numbers.count > 0 { parents = numbers[0] }
            if numbers.count > 1 { places = numbers[1] }
            if numbers.count > 2 { connections = numbers[2] }
            if numbers.count > 3 { admittedPerMinute = numbers[3] }
        }
    }

    /// What happened to one parent.
    struct Outcome: Sendable {
        enum Kind: String, Sendable { case confirmed, full, error }
        var kind: Kind = .error
        /// Seconds from the parent's first request to its answer (the grid, or its place in the queue).
        var firstAnswer: Double = .infinity
        var queued = false
        /// The confirmation's own latency, and when it ended (seconds from the opening).
        var confirmation: Double?
        var confirmedAt: Double?
        var statuses: [Int] = []
        /// What went wrong, for the report's first error.
        var note: String?
    }

    static let zone = TimeZone(identifier: "Europe/Paris")!

    static func run(_ options: Options, logger: Logger) async throws {
        let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("portail-bench-rush-\(getpid())")
        defer { try? FileManager.default.removeItem(at: work) }
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        var opening = nextOpening(atLeast: 40)
        let dayISO = bookedDay

        var serverProcess: Process?
        let cluster: EmbeddedPostgres?
        let base: String
        let ownerURL: String
        if let given = options.base, let owner = options.ownerURL {
            cluster = nil
            base = given
            ownerURL = owner
            print("Against \(given): its centers include the file of `portail-benchmarks rush-center`")
        } else {
            guard FileManager.default.isExecutableFile(atPath: CentersBenchmark.binary) else {
                fatalError("build the release server first: swift build -c release --product portail")
            }
            let folder = work.appendingPathComponent("centers")
            try write(center: folder, opening: opening, day: dayISO, places: options.places, admittedPerMinute: options.admittedPerMinute)
            let pg = EmbeddedPostgres(directory: work.appendingPathComponent("pg").path, logger: logger)
            try pg.start(database: "rush")
            cluster = pg
            let url = { (role: String) in "postgres://\(role)@localhost/rush?host=\(pg.socketDirectory)" }
            ownerURL = url(EmbeddedPostgres.ownerRole)
            let port = CentersBenchmark.freePort()
            let log = work.appendingPathComponent("serve.log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let output = try FileHandle(forWritingTo: log)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CentersBenchmark.binary)
            process.arguments = ["serve", "--port", String(port)]
            process.environment = ProcessInfo.processInfo.environment.merging([
                "DATABASE_URL": url(EmbeddedPostgres.webRole), "DATABASE_OWNER_URL": url(EmbeddedPostgres.ownerRole),
                // The server's own pool size (PORTAIL_DB_POOL, when the caller sets it, passes through).
                "PORTAIL_CENTERS_DIR": folder.path, "LOG_LEVEL": "warning",
            ]) { _, new in new }
            process.standardOutput = output
            process.standardError = output
            try process.run()
            serverProcess = process
            while !CentersBenchmark.answersHealth(port: port) {
                guard process.isRunning else { fatalError("portail serve stopped: see \(log.path)") }
                usleep(20_000)
            }
            base = "http://127.0.0.1:\(port)"
        }
        defer {
            serverProcess?.interrupt()
            serverProcess?.waitUntilExit()
            cluster?.stop()
        }

        // The parents: a family, a child and a logged-in session each, written at once.
        let ownerConfiguration = try DatabaseSettings.configuration(from: ownerURL, variable: "owner URL")
        let owner = Database(settings: DatabaseSettings(owner: ownerConfiguration, app: ownerConfiguration, description: "rush"), logger: logger)
        let (parents, deployed) = try await owner.run { database in
            (try await seed(database, count: options.parents), options.base == nil ? nil : try await openingOfRush(database))
        }
        if let deployed { opening = deployed }
        print("\(parents.count) parents logged in; the period opens at \(opening) (in \(Int(opening.timeIntervalSinceNow)) s)")

        // Redirects are answers here (a confirmation is a 303 to the cart), not something to follow.
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(60), read: .seconds(60)),
            connectionPool: .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: options.connections)))

        // Everyone arrives in the five seconds before the opening (the room gives each a place), then books.
        let wait = opening.timeIntervalSinceNow - 5
        if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
        let started = ContinuousClock.now
        let openingClock = started + .seconds(max(0, opening.timeIntervalSinceNow))
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for (index, parent) in parents.enumerated() {
                group.addTask {
                    // Spread over the five seconds before the opening.
                    try? await Task.sleep(until: started + .milliseconds(index * 5_000 / max(1, parents.count)))
                    return await book(parent, client: client, base: base, day: dayISO, opening: openingClock)
                }
            }
            var all: [Outcome] = []
            for await outcome in group { all.append(outcome) }
            return all
        }

        try await client.shutdown()

        // The database afterwards.
        // A PostgresClient runs once: the check gets a pool of its own.
        let checking = Database(settings: DatabaseSettings(owner: ownerConfiguration, app: ownerConfiguration, description: "rush"), logger: logger)
        let checks = try await checking.run { database in
            try await database.owner.withConnection { c in
                let rows = try await c.query("""
                    SELECT (SELECT count(*)::int FROM day_capacities WHERE taken > places),
                           (SELECT count(*)::int FROM reservations r JOIN centers c ON c.id = r.center_id
                            WHERE c.code = 'rush' AND r.state IN ('pending_payment', 'confirmed')),
                           (SELECT coalesce(max(d.taken), 0)::int FROM day_capacities d JOIN centers c ON c.id = d.center_id WHERE c.code = 'rush')
                    """, logger: logger)
                var found = (overbooked: -1, held: -1, taken: -1)
                for try await (overbooked, held, taken) in rows.decode((Int, Int, Int).self) { found = (overbooked, held, taken) }
                return found
            }
        }
        // The server's own account of its errors, before its folder goes.
        if options.base == nil, let log = try? String(contentsOf: work.appendingPathComponent("serve.log"), encoding: .utf8) {
            let errors = log.split(separator: "\n").filter { $0.contains("error") || $0.contains("critical") }
            if !errors.isEmpty { print("The server logged \(errors.count) error(s); the first:\n" + errors.prefix(5).joined(separator: "\n")) }
        }
        let report = Report(options: options, outcomes: outcomes, checks: checks, base: options.base)
        print(report.markdown)
        try BenchmarkDocs.replace(section: options.base == nil ? "rush" : "rush-cluster", with: report.markdown)
    }

    /// One parent's browser: the grid (through the waiting room), the recap, the confirmation.
    static func book(_ parent: (token: String, child: Int64), client: HTTPClient, base: String, day: String,
                     opening: ContinuousClock.Instant) async -> Outcome {
        var outcome = Outcome()
        func since() -> Double { (ContinuousClock.now - opening).seconds }
        func request(_ path: String, form: [(String, String)]? = nil) async throws -> (Int, String) {
            var request = HTTPClientRequest(url: base + "/rush" + path)
            request.headers.add(name: "Cookie", value: "portail_session=\(parent.token)")
            if let form {
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                let body = ([("csrf", parent.token)] + form).map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }
                    .joined(separator: "&")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await client.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 4 << 20)
            outcome.statuses.append(Int(response.status.code))
            return (Int(response.status.code), String(buffer: body))
        }
        do {
            let grid = "/reservations/nouvelle?enfant=\(parent.child)&periode=ouverture"
            let arrived = ContinuousClock.now
            var (status, page) = try await request(grid)
            outcome.firstAnswer = (ContinuousClock.now - arrived).seconds
            // The waiting room, as the page's script goes through it (portail.js): at the family's turn, announced by
            // the page (`data-attente`, in seconds), open the grid again, up to two seconds later; a wait of more than a
            // minute is refreshed by a poll of its state after 50 to 60 s.
            let deadline = ContinuousClock.now + .seconds(600)
            func announced(_ text: String, _ pattern: Regex<(Substring, Substring)>) -> Double {
                text.firstMatch(of: pattern).flatMap { Double($0.1) } ?? 10
            }
            var wait = announced(page, /data-attente="(\d+)"/)
            while status == 200 && page.contains("Salle d'attente") {
                outcome.queued = true
                guard ContinuousClock.now < deadline else { outcome.note = "still waiting after 10 minutes"; return outcome }
                if wait <= 60 {
                    try await Task.sleep(for: .milliseconds(Int((wait + Double.random(in: 0...2)) * 1000)))
                    (status, page) = try await request(grid)
                    wait = announced(page, /data-attente="(\d+)"/)
                    continue
                }
                try await Task.sleep(for: .milliseconds(Int(Double.random(in: 50...60) * 1000)))
                let (polled, state) = try await request("/salle-attente/etat?periode=ouverture")
                guard polled == 200 else { outcome.note = "waiting room state: \(polled) " + Self.text(state); return outcome }
                wait = state.contains("\"admitted\":true") ? 0 : announced(state, /"wait_seconds":(\d+)/)
            }
            guard status == 200, page.contains("\(day):journee") else {
                outcome.note = "grid: \(status) " + Self.text(page)
                return outcome
            }
            let selection = [("enfant", String(parent.child)), ("periode", "ouverture"), ("jour", "\(day):journee")]
            let recap = try await request("/reservations/recapitulatif", form: selection)
            guard recap.0 == 200 else {
                outcome.note = "recap: \(recap.0) " + Self.text(recap.1)
                return outcome
            }
            let before = ContinuousClock.now
            let (confirm, answer) = try await request("/reservations/confirmer", form: selection)
            outcome.confirmation = (ContinuousClock.now - before).seconds
            if confirm == 303 {
                outcome.kind = .confirmed
                outcome.confirmedAt = since()
            } else if confirm == 409 && answer.contains("ne sont plus disponibles (complet)") {
                // The day filled up first: the parent is told so, with the grid to choose again.
                outcome.kind = .full
            } else {
                outcome.note = "confirmation: \(confirm) " + Self.text(answer)
            }
        } catch {
            outcome.kind = .error
            outcome.note = String(describing: error)
        }
        return outcome
    }

    /// A page's words, shortened for a report.
    static func text(_ page: String) -> String {
        let words = page.replacing(/<[^>]+>/, with: " ").replacing(/\s+/, with: " ")
        return String(words.prefix(240))
    }

    /// Families, children (born 2018) and sessions, written by the owner in one statement; the cookie tokens
    /// are known here, the table keeps their SHA-256 (as a login would).
    static func seed(_ database: Database, count: Int) async throws -> [(token: String, child: Int64)] {
        let tokens = (0..<count).map { _ in SecretToken.generate() }
        return try await database.owner.withConnection { c in
            let rows = try await c.query("""
                WITH center AS (SELECT id FROM centers WHERE code = 'rush'),
                input AS (SELECT t.token, t.n FROM unnest(\(tokens)::text[]) WITH ORDINALITY AS t(token, n)),
                f AS (INSERT INTO families (center_id, email, name, state)
                      SELECT center.id, 'rush' || input.n || '@example.org', 'RUSH ' || input.n, 'active' FROM input, center
                      RETURNING center_id, id, email),
                p AS (INSERT INTO people (email) SELECT email FROM f RETURNING id, email),
                m AS (INSERT INTO family_members (center_id, family_id, person_id, billing_contact)
                      SELECT f.center_id, f.id, p.id, true FROM f JOIN p ON p.email = f.email),
                ch AS (INSERT INTO children (center_id, family_id, first_name, last_name, birth_date)
                       SELECT center_id, id, 'ENFANT', 'RUSH', DATE '2018-04-01' FROM f RETURNING family_id, id),
                s AS (INSERT INTO sessions (center_id, id_hash, family_id, person_id, csrf_token, expires_at)
                      SELECT f.center_id, sha256(convert_to(input.token, 'UTF8')), f.id, p.id, input.token, now() + interval '12 hours'
                      FROM input JOIN f ON f.email = 'rush' || input.n || '@example.org' JOIN p ON p.email = f.email)
                SELECT input.token, ch.id FROM input JOIN f ON f.email = 'rush' || input.n || '@example.org' JOIN ch ON ch.family_id = f.id
                ORDER BY input.n
                """, logger: database.logger)
            var parents: [(token: String, child: Int64)] = []
            for try await (token, child) in rows.decode((String, Int64).self) { parents.append((token: token, child: child)) }
            return parents
        }
    }

    /// The opening: the next whole minute at least `seconds` away (opens_at is written to the minute).
    static func nextOpening(atLeast seconds: Double) -> Date {
        Date(timeIntervalSince1970: (Date().addingTimeInterval(seconds).timeIntervalSince1970 / 60).rounded(.up) * 60)
    }

    /// The day everyone books: a weekday 20 days or more ahead, inside the period.
    static var bookedDay: String {
        var day = Calendar(identifier: .gregorian).date(byAdding: .day, value: 20, to: Date())!
        while [1, 7].contains(Calendar(identifier: .gregorian).dateComponents(in: zone, from: day).weekday!) {
            day = day.addingTimeInterval(86_400)
        }
        return iso(day)
    }

    /// The opening of the rush's period as the deployment under test has it (its wall-clock time, Paris).
    static func openingOfRush(_ database: Database) async throws -> Date {
        try await database.owner.withConnection { c in
            let rows = try await c.query("""
                SELECT to_char(p.booking_opens_at, 'YYYY-MM-DD"T"HH24:MI') FROM periods p JOIN centers c ON c.id = p.center_id
                WHERE c.code = 'rush' AND p.code = 'ouverture'
                """, logger: database.logger)
            for try await text in rows.decode(String.self) {
                let formatter = DateFormatter()
                formatter.timeZone = zone
                formatter.dateFormat = "yyyy-MM-dd'T'HH:mm"
                if let date = formatter.date(from: text) { return date }
            }
            fatalError("the deployment has no center `rush`: start it with the file of `portail-benchmarks rush-center`")
        }
    }

    /// `portail-benchmarks rush-center FOLDER [places] [admitted per minute] [seconds to the opening]`: the
    /// center file for a deployment started afterwards (scripts/bench-rush-cluster).
    static func writeCenter(_ arguments: [String]) throws {
        guard let folder = arguments.first else { fatalError("usage: portail-benchmarks rush-center FOLDER [places] [admitted per minute] [seconds]") }
        let numbers = arguments.dropFirst().compactMap { Int($0) }
        let opening = nextOpening(atLeast: Double(numbers.count > 2 ? numbers[2] : 120))
        try write(center: URL(fileURLWithPath: folder), opening: opening, day: bookedDay, places: numbers.first ?? 2_000,
                  admittedPerMinute: numbers.count > 1 ? numbers[1] : 30_000)
        print("\(folder)/rush.yaml: the period opens at \(opening)")
    }

    /// The rush's center: one period, `places` a day, opening at `opening`, behind a waiting room.
    static func write(center folder: URL, opening: Date, day: String, places: Int, admittedPerMinute: Int) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let formatter = DateFormatter()
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm"
        let start = Calendar(identifier: .gregorian).date(byAdding: .day, value: 14, to: Date())!
        let end = Calendar(identifier: .gregorian).date(byAdding: .day, value: 34, to: Date())!
        try """
            code: rush
            name: Centre de l'ouverture
            hosts: [rush.example.org]
            coordinates:
              name: Centre de l'ouverture
              address: [1 place du Village]
              postcode: "06000"
              city: Nice
              phone: 04 00 00 00 00
              email: rush@example.org
              portal_url: http://rush.example.org
            invoice_prefix: RSH
            waiting_room:
              admitted_per_minute: \(admittedPerMinute)
              active_minutes: 30
              queue_before_minutes: 10
            units:
              - code: journee
                label: Journée
            age_groups:
              - code: enfants
                label: 3-11 ans
                min_age: 3
                max_age: 11
            tariffs:
              - code: base
                label: Tarif
                model: flat
                prices: { journee: "12.00" }
            periods:
              - code: ouverture
                label: Vacances
                age_group: enfants
                starts_on: \(iso(start))
                ends_on: \(iso(end))
                units: [journee]
                places: { journee: \(places) }
                tariff: base
                booking:
                  opens_at: \(formatter.string(from: opening))
                  deadline: { days_before: 2, at: "12:00" }

            """.write(to: folder.appendingPathComponent("rush.yaml"), atomically: true, encoding: .utf8)
        _ = day
    }

    static func iso(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: date)
    }

    struct Report {
        let options: Options
        let outcomes: [Outcome]
        let checks: (overbooked: Int, held: Int, taken: Int)
        let base: String?

        var machine: String {
            let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
                .split(separator: "\n").first { $0.hasPrefix("model name") }?
                .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
            return "\(ProcessInfo.processInfo.activeProcessorCount) cores\(cpu.map { " (\($0))" } ?? "")"
        }

        func percentile(_ values: [Double], _ p: Double) -> Double {
            guard !values.isEmpty else { return .nan }
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
        }

        var markdown: String {
            let confirmed = outcomes.filter { $0.kind == .confirmed }
            let full = outcomes.filter { $0.kind == .full }.count
            let errors = outcomes.filter { $0.kind == .error }.count
            let serverErrors = outcomes.flatMap(\.statuses).filter { $0 >= 500 }.count
            let times = confirmed.compactMap(\.confirmedAt)
            let window = (times.max() ?? 0) - (times.min() ?? 0)
            let rate = window > 0 ? Double(confirmed.count) / window : 0
            // The busiest second of confirmations.
            let peak = Dictionary(grouping: times, by: { Int($0.rounded(.down)) }).values.map(\.count).max() ?? 0
            let latencies = confirmed.compactMap(\.confirmation).map { $0 * 1000 }
            // Parents with no answer count as the slowest (a minute), not as absent.
            let answers = outcomes.map { $0.firstAnswer.isFinite ? $0.firstAnswer : 60 }
            let unanswered = answers.filter { !$0.isFinite || $0 > 30 }.count
            let requests = outcomes.map(\.statuses.count).reduce(0, +)
            func ms(_ v: Double) -> String { String(format: "%.0f ms", v) }
            return """

            ## Opening day over HTTP, through the waiting room

            Measured \(ISO8601DateFormatter().string(from: Date())) by `portail-benchmarks rush` (`swift run -c release \
            portail-benchmarks rush \(options.parents) \(options.places) \(options.connections) \(options.admittedPerMinute)`): \
            \(base.map { "against \($0)" } ?? "a release `portail serve` on PostgreSQL 15 on the same machine, with a pool of "
                + (ProcessInfo.processInfo.environment["PORTAIL_DB_POOL"].map { "\($0) connections (`PORTAIL_DB_POOL`)" } ?? "\(DatabaseSettings.defaultAppPoolSize) connections (the default)")), \
            \(machine). \(options.parents) parents (families, children and sessions written \
            beforehand) arrive in the five seconds before the period opens and each opens the grid, posts the recap and \
            posts the confirmation, over \(options.connections) HTTP connections, through the waiting room \
            (`admitted_per_minute: \(options.admittedPerMinute)`); \(options.places) places on the day. The load \
            generator runs on the same machine as the server and PostgreSQL.

            | measure | value | target (issue 12) |
            | --- | --- | --- |
            | confirmations | \(confirmed.count) of \(options.places) places; \(full) parents told "complet" | |
            | places taken, reservations holding them, overbooked days | \(checks.taken), \(checks.held), \(checks.overbooked) | 0 overbooked |
            | errors (5xx answers; parents with an error or a timeout) | \(serverErrors); \(errors) | 0 |
            | parents queued by the waiting room | \(outcomes.filter(\.queued).count) | |
            | parents answered within 30 s (the grid or their place in the queue) | \(outcomes.count - unanswered) of \(outcomes.count) | all |
            | first answer p50 / p99 | \(ms(percentile(answers, 0.5) * 1000)) / \(ms(percentile(answers, 0.99) * 1000)) | |
            | confirmations per second (first to last; busiest second) | \(String(format: "%.0f", rate)); \(peak) | ≥ 1,000 |
            | confirmation p50 / p99 (the POST, waiting for a client connection included) | \(ms(percentile(latencies, 0.5))) / \(ms(percentile(latencies, 0.99))) | p99 < 250 ms |
            | HTTP requests in all | \(requests) | |
            \(errorKinds)
            """
        }

        /// The parents' errors by kind (the words before the page's text), most frequent first, with the
        /// first one's words in full.
        var errorKinds: String {
            let notes = outcomes.filter { $0.kind == .error }.map { $0.note ?? "no answer" }
            guard let first = notes.first else { return "" }
            // "grid: 200", "confirmation: 503", "waiting room state: 503", or a client's error as it is.
            let kinds = Dictionary(grouping: notes) { note in (note.firstMatch(of: /^[^0-9]*[0-9]+/).map { String($0.0) } ?? String(note.prefix(60))) }
                .map { (kind: $0.key, count: $0.value.count) }.sorted { $0.count > $1.count }
            return "\nErrors by kind: " + kinds.prefix(6).map { "\($0.count) × `\($0.kind)`" }.joined(separator: ", ")
                + ".\n\nFirst error seen: \(first)\n"
        }
    }
}

import Foundation
import Logging
import PortailConfig
import PortailDomain
import PortailStore
import PortailTestSupport

// Opening day for the federation: many center files imported at a first start, then a restart with
// the same files (issue 12: 1,000 files in under 3 s at a first start, under 1 s at a restart).
// Usage: swift build -c release --product portail && swift run -c release portail-benchmarks centers [files]

/// The figures of the center import, measured in this process and through the release `portail serve`.
enum CentersBenchmark {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/release/portail").path
    static let environment = [ManyCenters.secret: "bench-key"]
    /// A stand-in for the SystemPay rule, which this program does not link: the secret must be set.
    static let rules = [PaymentTypeRule(type: "systempay") { parameters, environment in
        guard let name = parameters["production_key_env"] else { return [("production_key_env", "missing", false)] }
        return environment[name] == nil ? [("production_key_env", "\(name) is not set", true)] : []
    }]

    static func run(count: Int, logger: Logger) async throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            fatalError("build the release server first: swift build -c release --product portail")
        }
        let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("portail-bench-centers-\(getpid())")
        defer { try? FileManager.default.removeItem(at: work) }
        let folder = work.appendingPathComponent("centers")
        let files = try ManyCenters.write(count: count, to: folder)
        print("\(count) center files in \(folder.path)")

        // Parsing and checking alone, as `portail centers check` does.
        var check: [Double] = []
        for _ in 0..<3 {
            check.append(try seconds { _ = CenterCatalog.load(files: files, paymentRules: rules, environment: environment) })
        }

        // The start's steps in this process (those of Bootstrap.loadCenters), on a throwaway cluster.
        let cluster = EmbeddedPostgres(directory: work.appendingPathComponent("pg").path, logger: logger)
        try cluster.start(database: "inprocess")
        defer { cluster.stop() }
        let database = Database(settings: cluster.settings(database: "inprocess"), logger: logger)
        let steps = try await database.run { database in
            try await database.migrate()
            let first = try await start(files: files, database: database)
            var days = 0
            for try await count in try await database.owner.query("SELECT count(*) FROM day_capacities").decode(Int.self) { days = count }
            let restart = try await start(files: files, database: database)
            // A tenth of the files edited (names and places), the others unchanged.
            _ = try ManyCenters.write(count: count / 10, to: folder, revision: 1)
            let changed = try await start(files: files, database: database)
            return (first, restart, changed, days)
        }

        // The whole `portail serve`, from launch to its first answer of /healthz, each time on a database of
        // its own (it migrates it at its first start), then restarted: three times, as the machine is shared.
        var serveFirst: [Double] = [], serveRestart: [Double] = []
        for run in 1...3 {
            try cluster.execute("CREATE DATABASE serve\(run) OWNER \(EmbeddedPostgres.ownerRole)")
            let url = { (role: String) in "postgres://\(role)@localhost/serve\(run)?host=\(cluster.socketDirectory)" }
            let serveEnvironment = environment.merging([
                "DATABASE_URL": url(EmbeddedPostgres.webRole), "DATABASE_OWNER_URL": url(EmbeddedPostgres.ownerRole),
                "PORTAIL_CENTERS_DIR": folder.path, "LOG_LEVEL": "warning",
            ]) { _, new in new }
            serveFirst.append(try serve(environment: serveEnvironment, log: work.appendingPathComponent("serve-first-\(run).log")))
            serveRestart.append(try serve(environment: serveEnvironment, log: work.appendingPathComponent("serve-restart-\(run).log")))
        }

        let report = Report(
            count: count, check: check.min()!, first: steps.0, restart: steps.1, changed: steps.2,
            serveFirst: serveFirst, serveRestart: serveRestart, days: steps.3
        )
        print(report.markdown)
        try BenchmarkDocs.replace(section: "centers", with: report.markdown)
    }

    /// What a start does with the center files: read and check them, import the changed ones, read
    /// every center back. Seconds for each step.
    static func start(files: [String], database: Database) async throws -> (parse: Double, import: Double, load: Double, imported: Int) {
        var catalog: CenterCatalog!
        let parse = try seconds { catalog = CenterCatalog.load(files: files, paymentRules: rules, environment: environment) }
        precondition(catalog.failures.isEmpty, "\(catalog.allIssues.prefix(5))")
        var outcomes: [CenterImporter.Outcome] = []
        let sources = catalog.centers.map { CenterImporter.Source(center: $0.center, file: $0.file, text: $0.text, skipIfUnchanged: true) }
        let importing = try await seconds { outcomes = try await CenterImporter(database: database).importCenters(sources, dryRun: false) }
        precondition(outcomes.allSatisfy { $0.refusal == nil }, "\(outcomes.compactMap(\.refusal).prefix(5))")
        var records: [CenterRecord] = []
        let load = try await seconds { records = try await CenterRepository.loadAll(database) }
        precondition(records.count == files.count)
        return (parse, importing, load, outcomes.filter(\.applied).count)
    }

    /// Runs the release `portail serve` until it answers /healthz; returns the seconds from launch.
    static func serve(environment: [String: String], log: URL) throws -> Double {
        let port = freePort()
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--port", String(port)]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = output
        process.standardError = output
        let start = ContinuousClock.now
        try process.run()
        defer {
            process.interrupt()
            process.waitUntilExit()
        }
        while !answersHealth(port: port) {
            guard process.isRunning else { fatalError("portail serve stopped: see \(log.path)") }
            usleep(10_000)
        }
        return (ContinuousClock.now - start).seconds
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// Whether `GET /healthz` on the port answers 200.
    static func answersHealth(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return false }
        let request = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, 0) == request.count else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        let read = recv(fd, &buffer, buffer.count, 0)
        return read > 0 && String(decoding: buffer[0..<read], as: UTF8.self).hasPrefix("HTTP/1.1 200")
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        return (ContinuousClock.now - start).seconds
    }

    static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        return (ContinuousClock.now - start).seconds
    }

    struct Report {
        var count: Int
        var check: Double
        var first: (parse: Double, import: Double, load: Double, imported: Int)
        var restart: (parse: Double, import: Double, load: Double, imported: Int)
        var changed: (parse: Double, import: Double, load: Double, imported: Int)
        /// Seconds of each of the three runs.
        var serveFirst: [Double]
        var serveRestart: [Double]
        /// Rows of day_capacities after the first start.
        var days: Int

        var markdown: String {
            func s(_ value: Double) -> String { String(format: "%.2f s", value) }
            func runs(_ values: [Double]) -> String {
                "\(s(values.min()!)) (best of \(values.count); worst \(s(values.max()!)))"
            }
            func steps(_ step: (parse: Double, import: Double, load: Double, imported: Int)) -> String {
                "\(s(step.parse + step.import + step.load)) (read and check \(s(step.parse)), import \(s(step.import)), "
                    + "read back \(s(step.load)); \(step.imported) imported)"
            }
            return """

            ## Center files at start: \(count) centers

            Measured \(ISO8601DateFormatter().string(from: Date())) by `portail-benchmarks centers` \
            (`swift run -c release portail-benchmarks centers \(count)`): \(build) build, \(machine), PostgreSQL \
            15 on the same machine, already running (`serve` is given DATABASE_URL: the embedded cluster's own \
            start is not counted). \(count) files generated from the shape of centers/opio.yaml (`ManyCenters`: \
            own code, host and invoice prefix, flat, QF or sibling tariffs, 2 to 5 periods of two weeks with a \
            closed day and a day of its own places: \(days) rows of places in all). "Before": the figures of \
            issue 12 on the same kind of machine.

            | measure | value | target (issue 12) | before |
            | --- | --- | --- | --- |
            | `portail serve`, first start (empty database, migrations included), launch to /healthz | \(runs(serveFirst)) | < 3 s | 29.5 s |
            | `portail serve`, restart with the same files, launch to /healthz | \(runs(serveRestart)) | < 1 s | 8.6 s |
            | first start, in process | \(steps(first)) | | |
            | restart, in process | \(steps(restart)) | | |
            | restart with \(count / 10) files changed, in process | \(steps(changed)) | | |
            | read and check the files alone (`portail centers check`) | \(s(check)) | | 1.6 s |

            Where the time goes: at a first start most of the import is PostgreSQL checking the foreign keys of \
            each row of places (one per open day and capacity unit), which is why two batches of 100 centers \
            are written at once; a restart reads and checks every file (all cores) and reads every center back \
            (one snapshot, a query per table), and writes nothing.

            """
        }

        var build: String {
            #if DEBUG
            "debug"
            #else
            "release"
            #endif
        }

        var machine: String {
            let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
                .split(separator: "\n").first { $0.hasPrefix("model name") }?
                .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
            return "\(ProcessInfo.processInfo.activeProcessorCount) cores\(cpu.map { " (\($0))" } ?? "")"
        }
    }
}

/// docs/benchmarks.md, where each benchmark writes its own section.
enum BenchmarkDocs {
    static let url = CentersBenchmark.root.appendingPathComponent("docs/benchmarks.md")

    /// Replaces what lies between `<!-- name:start -->` and `<!-- name:end -->` (appended at the end when
    /// the markers are not there yet).
    static func replace(section name: String, with text: String) throws {
        let start = "<!-- \(name):start -->", end = "<!-- \(name):end -->"
        var document = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        if let from = document.range(of: start), let to = document.range(of: end, range: from.upperBound..<document.endIndex) {
            document.replaceSubrange(from.upperBound..<to.lowerBound, with: text)
        } else {
            document += "\n\(start)\n\(text)\(end)\n"
        }
        try document.write(to: url, atomically: true, encoding: .utf8)
        print("written to \(url.path)")
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

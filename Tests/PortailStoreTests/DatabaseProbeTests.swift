import Foundation
import Glibc
import PortailTestSupport
import PostgresNIO
import Synchronization
import Testing
@testable import PortailStore

/// /healthz's question to the database (`DatabaseProbe`): on a connection of its own, so a full request
/// pool does not make a load balancer think the instance is dead; one `SELECT 1` a second whatever the
/// number of checks; "down" after 2 s without an answer.
@Suite struct DatabaseProbeTests {
    @Test(.timeLimit(.minutes(1))) func theProbeAnswersWhileEveryConnectionOfThePoolIsTaken() async throws {
        var settings = try await TestCluster.shared.freshDatabase()
        settings.appPoolSize = 1
        try await Database(settings: settings, logger: TestCluster.logger).run { database in
            let (held, holding) = AsyncStream<Void>.makeStream()
            let release = Mutex(false)
            // A long request holds the pool's only connection.
            let request = Task {
                try await database.app.withConnection { _ in
                    holding.yield()
                    while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
                }
            }
            for await _ in held { break }
            let clock = ContinuousClock()
            var up = false
            let took = await clock.measure { up = await database.ping() }
            #expect(up && took < .seconds(1), "\(took)")
            release.withLock { $0 = true }
            try await request.value
        }
    }

    @Test func aThousandChecksInASecondAskTheDatabaseOnce() async throws {
        let settings = try await TestCluster.shared.freshDatabase()
        try await Database(settings: settings, logger: TestCluster.logger).run { database in
            #expect(await database.ping())
            let before = database.probe.sent
            let answers = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<1000 { group.addTask { await database.ping() } }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(answers.count == 1000 && answers.allSatisfy { $0 })
            let afterBurst = database.probe.sent
            #expect(afterBurst - before <= 1, "\(afterBurst - before) probes for 1,000 checks")
            // A second later, the next check asks again, once.
            try await Task.sleep(for: .milliseconds(1100))
            #expect(await database.ping())
            #expect(database.probe.sent == afterBurst + 1)
        }
    }

    @Test func aDatabaseThatDoesNotAnswerIsDownWithinThePatience() async throws {
        // A port that takes connections and never says a word (a PostgreSQL stuck, or a network black hole).
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0 && listen(listener, 16) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))

        var configuration = PostgresClient.Configuration(host: "127.0.0.1", port: port, username: "portail", password: nil, database: "portail", tls: .disable)
        configuration.options.additionalStartupParameters = []
        let probe = DatabaseProbe(configuration: configuration, logger: TestCluster.logger, freshFor: .milliseconds(100), patience: .milliseconds(500))
        let running = Task { await probe.client.run() }
        defer { running.cancel() }
        let clock = ContinuousClock()
        // Twenty checks at once: one question, all told "down" once the patience is spent.
        var answers: [Bool] = []
        let took = await clock.measure {
            answers = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 { group.addTask { await probe.answer() } }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
        }
        #expect(answers.count == 20 && !answers.contains(true) && probe.sent == 1)
        #expect(took >= .milliseconds(400) && took < .seconds(2), "\(took)")
        // Later checks are told at once or after one more patience at most, each question alone.
        for _ in 0..<3 {
            try await Task.sleep(for: .milliseconds(150))
            var up = true
            let again = await clock.measure { up = await probe.answer() }
            #expect(!up && again < .seconds(1), "\(again)")
        }
        #expect(probe.sent <= 4)
    }
}

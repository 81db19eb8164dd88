import Foundation
import PaymentKit
import PortailConfig
import PortailDomain
import PortailTestSupport
@testable import PortailStore
import Testing
@testable import PortailApp

/// A provider added from a test target: this folder, and one `register` call below. The center file is
/// checked by the provider's rules, the parent pays through the provider's bank, and the reconciliation
/// finds a payment the bank never notified.
@Suite struct PluginWalkthroughTests {
    static let environment = ["POSTCARD_KEY": "postcard-secret"]

    static func registry() -> PaymentProviderRegistry {
        var registry = PaymentProviderRegistry()
        registry.register(PostcardProvider.self)  // the one registration line
        return registry
    }

    func withPostcard(_ body: @Sendable (Browser, PortalFixture, PostcardBank, PaymentReconciliation) async throws -> Void) async throws {
        let bank = PostcardBank(key: "postcard-secret")
        try await bank.start()
        let block = """
            payment:
              type: postcard
              api_url: \(bank.api)
              key_env: POSTCARD_KEY
            """
        try await withProviderPortal(payment: block, registry: Self.registry(), environment: Self.environment,
                                     stop: { await bank.stop() }) { browser, fixture, reconciliation in
            try await body(browser, fixture, bank, reconciliation)
        }
    }

    func session(_ fixture: PortalFixture) async throws -> String {
        try await fixture.database.owner.withConnection { c in
            try await c.first("SELECT provider_reference FROM payment_attempts ORDER BY id DESC LIMIT 1", (String.self), logger: fixture.database.logger)!
        }
    }

    @Test func theRegisteredProvidersRulesCheckCenterFiles() {
        let rules = Self.registry().rules
        let yaml = TestCenters.small(code: "carte", places: 3, payment: """
            payment:
              type: postcard
              api_url: ftp://bank.example
              key_env: MISSING_KEY
              colour: blue
            """)
        let folder = NSTemporaryDirectory() + "postcard-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try? yaml.write(toFile: folder + "/carte.yaml", atomically: true, encoding: .utf8)
        let catalog = CenterCatalog.load(files: [folder + "/carte.yaml"], paymentRules: rules, environment: [:], secretsRequired: true)
        let messages = catalog.allIssues.map(\.message).joined(separator: "\n")
        #expect(messages.contains("api_url must be an https:// address"))
        #expect(messages.contains("MISSING_KEY is not set"))
        #expect(messages.contains("unknown parameter \"colour\""))
    }

    @Test func aParentPaysThroughTheNewProvider() async throws {
        try await withPostcard { browser, fixture, bank, _ in
            let start = try await goToBank(browser, fixture: fixture, days: 1)
            guard case .redirect(let url) = start else { Issue.record("Postcard redirects"); return }
            let id = try await session(fixture)
            #expect(url == "https://postcard.example/pay/\(id)")
            #expect(try await bank.complete(id, status: "paid", notify: true) == 200)
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE provider = 'POSTCARD' AND amount_cents = 1000") == 1)
            // The provider's references are its own, per center.
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_provider_references WHERE provider = 'postcard' AND key = 'session:\(id)'") == 1)
        }
    }

    @Test func reconciliationFindsAPaymentTheBankNeverNotified() async throws {
        try await withPostcard { browser, fixture, bank, reconciliation in
            _ = try await goToBank(browser, fixture: fixture, days: 1)
            let id = try await session(fixture)
            // Still open at the bank: asking changes nothing.
            #expect(try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: .distantPast).isEmpty)
            #expect(try await fixture.reservationStates() == [1: "pending_payment"])
            // Paid, but the notification was lost.
            try await bank.complete(id, status: "paid", notify: false)
            // Not quiet long enough yet: not asked.
            #expect(try await reconciliation.reconcile(fixture.petit, quietFor: 600, since: .distantPast).isEmpty)
            let changes = try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: .distantPast)
            #expect(changes.map(\.bankStatus) == ["paid"])
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payment_notifications WHERE source = 'reconciliation' AND outcome = 'applied'") == 1)
            // Settled: never asked again; the notification arriving late now is a duplicate.
            #expect(try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: .distantPast).isEmpty)
            #expect(try await bank.complete(id, status: "paid", notify: true) == 200)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
        }
    }

    /// An attempt the bank reports expired after the portal gave it up: nothing changes, nothing is lost.
    @Test func reconciliationOfAnExpiredSessionChangesNothing() async throws {
        try await withPostcard { browser, fixture, bank, reconciliation in
            _ = try await goToBank(browser, fixture: fixture, days: 1)
            let id = try await session(fixture)
            try await fixture.execute("UPDATE payment_attempts SET live_until = now() - interval '1 minute'")
            try await bank.complete(id, status: "expired", notify: false)
            let changes = try await reconciliation.reconcile(fixture.petit, quietFor: 0, since: .distantPast)
            #expect(changes.map(\.bankStatus) == ["expired"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
            #expect(try await fixture.lastCartState() == "open")
        }
    }

    /// The background service asks the bank about quiet attempts, for suspended centers too.
    @Test func theReconciliationServiceFindsAPaymentForASuspendedCenter() async throws {
        try await withPostcard { browser, fixture, bank, reconciliation in
            _ = try await goToBank(browser, fixture: fixture, days: 1)
            try await bank.complete(try await session(fixture), status: "paid", notify: false)
            let directory = CenterDirectory(.init(centers: [fixture.autre], suspended: [fixture.petit], failures: []))
            await ReconciliationService(reconciliation: reconciliation, directory: directory, quietFor: 0, logger: TestCluster.logger).runOnce()
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
        }
    }
}

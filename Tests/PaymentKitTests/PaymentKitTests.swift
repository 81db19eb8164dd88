import Foundation
import Testing
@testable import PaymentKit
import Simulator
import SystemPay

@Suite struct FormURLEncodingTests {
    @Test func decodesPlusAsSpaceAndUTF8Escapes() throws {
        let fields = try #require(FormURLEncoding.decode("vads_cust_name=Jos%C3%A9+Garc%C3%ADa&empty=&vads_amount=1250"))
        #expect(fields.map(\.name) == ["vads_cust_name", "empty", "vads_amount"])
        #expect(fields[0].value == "José García")
        #expect(fields[1].value == "")
    }

    @Test func rejectsMalformedEscapes() {
        #expect(FormURLEncoding.decode("a=%G1") == nil)
        #expect(FormURLEncoding.decode("a=%C3") == nil)  // a lone UTF-8 lead byte
    }

    @Test func roundTrips() throws {
        let fields = [(name: "a b", value: "é+&="), (name: "x", value: "")]
        let decoded = try #require(FormURLEncoding.decode(FormURLEncoding.encode(fields)))
        #expect(decoded.map(\.name) == ["a b", "x"])
        #expect(decoded.map(\.value) == ["é+&=", ""])
    }

    @Test func constantTimeComparison() {
        #expect(constantTimeEquals("abc", "abc"))
        #expect(!constantTimeEquals("abc", "abd"))
        #expect(!constantTimeEquals("abc", "abcd"))
        #expect(!constantTimeEquals("", "a"))
    }
}

@Suite struct ProviderConfigurationTests {
    @Test func systemPayNeedsItsSiteAndTheKeyOfItsMode() {
        let ok = SystemPayProvider.validate(parameters: ["site_id": "12345678", "mode": "TEST", "test_key_env": "K"], environment: ["K": "secret"])
        #expect(ok.isEmpty)
        let problems = SystemPayProvider.validate(parameters: ["site_id": "123", "mode": "LIVE", "colour": "x"], environment: [:])
        #expect(Set(problems.map(\.parameter)) == ["site_id", "mode", "colour"])
        let missing = SystemPayProvider.validate(parameters: ["site_id": "12345678", "mode": "PRODUCTION", "production_key_env": "P"], environment: [:])
        #expect(missing.count == 1 && missing[0].isMissingSecret)
    }

    /// A center file names bank secrets, never the portal's own variables: the provider sends the secret to
    /// the bank address the same file gives, so `PORTAIL_DATABASE_URL` as a "key" would leave with it.
    @Test func secretsAreNamedInCapitalsAndNeverThePortalsOwnVariables() {
        let environment = ["PORTAIL_DATABASE_URL": "postgres://secret", "PGPASSWORD": "p", "HOME": "/root", "OPIO_KEY": "k", "opio_key": "k"]
        for name in ["PORTAIL_DATABASE_URL", "PGPASSWORD", "HOME", "opio_key", "OPIO KEY", "_X", ""] {
            let problem = ParameterProblem.secret("test_key_env", in: ["test_key_env": name], environment: environment)
            #expect(problem != nil && problem?.isMissingSecret == false, "\(name)")
        }
        #expect(ParameterProblem.secret("test_key_env", in: ["test_key_env": "OPIO_KEY"], environment: environment) == nil)
        let shop = SystemPayProvider.validate(parameters: ["site_id": "12345678", "test_key_env": "PORTAIL_DATABASE_URL"], environment: environment)
        #expect(shop.map(\.parameter) == ["test_key_env"] && shop[0].message.contains("not a bank secret"))
    }

    @Test func simulatorIsTestOnly() {
        #expect(SimulatorProvider.validate(parameters: ["mode": "TEST"], environment: [:]).isEmpty)
        #expect(SimulatorProvider.validate(parameters: ["mode": "PRODUCTION"], environment: [:]).map(\.parameter) == ["mode"])
    }

    @Test func registryIsKeyedByType() {
        var registry = PaymentProviderRegistry()
        registry.register(SystemPayProvider.self)
        registry.register(SimulatorProvider.self)
        #expect(registry["systempay"] != nil)
        #expect(registry["simulator"] != nil)
        #expect(registry["stripe"] == nil)
    }
}

/// Notifications believed on the bank's word: a replay costs no call once the bank gave its final word, and
/// anyone posting the same id in a loop makes the portal ask at most once per interval.
@Suite struct BankWordTests {
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
        var count: Int { lock.lock(); defer { lock.unlock() }; return value }
    }

    func answer(_ status: PaymentStatus) -> VerifiedNotification {
        VerifiedNotification(idempotencyKey: "op|\(status)", attemptReference: "OPI-1-1", status: status, amountCents: 1000,
                             currency: "EUR", providerStatus: status.rawValue, providerTransaction: "op")
    }

    @Test func aFinalAnswerIsGivenAgainWithoutAsking() async throws {
        let services = ProviderServices(http: NoNetwork(), references: InMemoryReferences())
        let asked = Counter()
        for _ in 0..<3 {
            let got = try await services.believedOnTheBanksWord("op") { _ = asked.next(); return (answer(.paid), true) }
            #expect(got.status == .paid && got.idempotencyKey == "op|paid")
        }
        #expect(asked.count == 1)
        // Copies arriving together all get the one answer.
        let fresh = ProviderServices(http: NoNetwork(), references: InMemoryReferences())
        let statuses = try await withThrowingTaskGroup(of: PaymentStatus.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await fresh.believedOnTheBanksWord("op") {
                        _ = asked.next()
                        try await Task.sleep(for: .milliseconds(50))
                        return (answer(.paid), true)
                    }.status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses == [.paid, .paid, .paid, .paid] && asked.count == 2)
    }

    @Test func withoutAFinalAnswerTheBankIsAskedOncePerInterval() async throws {
        let services = ProviderServices(http: NoNetwork(), references: InMemoryReferences())
        let asked = Counter()
        let started = Date()
        for _ in 0..<3 {
            _ = try await services.believedOnTheBanksWord("op", every: 0.5) { _ = asked.next(); return (answer(.pending), false) }
        }
        #expect(asked.count == 3)
        #expect(Date().timeIntervalSince(started) >= 0.9, "the second and third waited for their turn")
        // The gate itself: once per interval per key, other keys apart.
        let gate = CallGate()
        #expect(gate.admit("a", every: 60) && !gate.admit("a", every: 60) && gate.admit("b", every: 60))
    }
}

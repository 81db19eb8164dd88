import Foundation
import PaymentKit
import PortailConfig
import PortailTestSupport
import Simulator
import SystemPay
import Testing
@testable import PortailApp

/// The providers of the `portail` executable, registered as Runtime does.
let shippedProviders: PaymentProviderRegistry = {
    var registry = PaymentProviderRegistry()
    registry.register(SystemPayProvider.self)
    registry.register(SimulatorProvider.self)
    return registry
}()

@Suite struct OperationsTests {
    // MARK: Test banks

    /// The catalog `portail serve` checks before it starts: the payment blocks, secrets or not.
    static func catalog(_ files: [String]) -> CenterCatalog {
        let rules = shippedProviders.types.values.map { provider in
            PaymentTypeRule(type: provider.type) { parameters, environment in
                provider.validate(parameters: parameters, environment: environment)
                    .map { ($0.parameter, $0.message, $0.isMissingSecret) }
            }
        }
        return CenterCatalog.load(files: files, paymentRules: rules, environment: [:], secretsRequired: false)
    }

    @Test func theShippedCentersAreTestBanksThatServeRefuses() throws {
        let files = try CenterCatalog.files(in: root.appendingPathComponent("centers").path)
        let catalog = Self.catalog(files)
        #expect(catalog.failures.isEmpty)
        let refusals = TestPaymentGuard.refusals(catalog.centers, providers: shippedProviders, environment: [:])
        // Opio and Valbonne pay through SystemPay in mode TEST; Roquefort takes no online payment.
        #expect(refusals.count == 2)
        let opio = try #require(refusals.first { $0.contains("opio.yaml") })
        let opioFile = root.appendingPathComponent("centers/opio.yaml").path
        #expect(opio.hasPrefix(opioFile + ": payment type systempay is a test bank"))
        #expect(opio.contains("mode TEST"))
        #expect(opio.hasSuffix("set PORTAIL_ALLOW_TEST_PAYMENTS=1 to serve it anyway"))
        #expect(refusals.contains { $0.contains("valbonne.yaml") })
        #expect(!refusals.contains { $0.contains("roquefort") })
        let allowed = ["PORTAIL_ALLOW_TEST_PAYMENTS": "1"]
        #expect(TestPaymentGuard.refusals(catalog.centers, providers: shippedProviders, environment: allowed).isEmpty)
    }

    @Test func theSimulatorIsRefusedAndAProductionShopIsServed() throws {
        let folder = NSTemporaryDirectory() + "banks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let production = TestCenters.small(code: "reel", places: 3, payment: """
            payment:
              type: systempay
              mode: PRODUCTION
              site_id: "12345678"
              production_key_env: REEL_KEY
            """)
        try production.write(toFile: folder + "/reel.yaml", atomically: true, encoding: .utf8)
        let simulated = TestCenters.small(code: "simule", places: 3, payment: "payment:\n  type: simulator\n")
        try simulated.write(toFile: folder + "/simule.yaml", atomically: true, encoding: .utf8)
        let catalog = Self.catalog(try CenterCatalog.files(in: folder))
        #expect(catalog.failures.isEmpty, "\(catalog.allIssues)")
        let refusals = TestPaymentGuard.refusals(catalog.centers, providers: shippedProviders, environment: [:])
        #expect(refusals == [
            "\(folder)/simule.yaml: payment type simulator is a test bank (the simulator is a stand-in bank served "
                + "by the portal itself); set PORTAIL_ALLOW_TEST_PAYMENTS=1 to serve it anyway",
        ])
        // Only "1" allows: a typo must not open the production server to a pretend bank.
        let typo = ["PORTAIL_ALLOW_TEST_PAYMENTS": "yes please"]
        #expect(TestPaymentGuard.refusals(catalog.centers, providers: shippedProviders, environment: typo).count == 1)
    }
}

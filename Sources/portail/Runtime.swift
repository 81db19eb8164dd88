import ArgumentParser
import FakeBanks
import Foundation
import HelloAsso
import Logging
import Monetico
import PayFiP
import PaymentKit
import PortailApp
import PortailConfig
import PortailDomain
import PortailStore
import Simulator
import Stripe
import SystemPay

/// What every command shares: the payment providers of this build, logging, the environment.
enum Runtime {
    /// The provider types this build knows. Adding a provider = one line here.
    static let providers: PaymentProviderRegistry = {
        var registry = PaymentProviderRegistry()
        registry.register(SystemPayProvider.self)
        registry.register(PayFiPProvider.self)
        registry.register(HelloAssoProvider.self)
        registry.register(StripeProvider.self)
        registry.register(MoneticoProvider.self)
        registry.register(SimulatorProvider.self)
        return registry
    }()

    /// The payment provider of a center, from its YAML; in the demo every paying center uses the
    /// simulated bank instead, so that the whole flow runs without network, or with `banks` (`demo
    /// --fake-banks`) the local fake of its own bank when it has a route there. Outside the demo a test bank
    /// is refused (as `serve` refuses at start) unless allowed: this catches a center onboarded through
    /// the API, or kept in the database after its file broke.
    static func paymentProvider(demo: Bool, banks: DemoBanks? = nil, logger: Logger) -> @Sendable (Center) -> (any PaymentProvider)? {
        let registry = providers
        let environment = self.environment
        let allowTestBanks = demo || TestPaymentGuard.allowsTestPayments(environment)
        return { center in
            guard let settings = center.payment else { return nil }
            if !allowTestBanks, let reason = registry.testBank(type: settings.type, parameters: settings.parameters) {
                logger.error("""
                    center \(center.code): payment type \(settings.type) is a test bank (\(reason)): no online \
                    payment; set \(TestPaymentGuard.setting)=1 to allow it
                    """)
                return nil
            }
            if demo {
                // Its bank's addresses pointed at the fake, and the fake's throwaway secrets for its `*_env` names.
                if let route = banks?.route(center: center.code, type: settings.type) {
                    var routed = center
                    routed.payment?.parameters = route.parameters(settings.parameters)
                    return registry.provider(for: routed, environment: environment.merging(route.environment) { _, fake in fake }, logger: logger)
                }
                return try? SimulatorProvider.make(parameters: [:], environment: environment)
            }
            return registry.provider(for: center, environment: environment, logger: logger)
        }
    }

    static var paymentRules: [PaymentTypeRule] { providers.rules }

    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    static func logger(_ label: String = "portail") -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: environment["LOG_LEVEL"] ?? "info") ?? .info
        return logger
    }

    /// The center files of PORTAIL_CENTERS_DIR (default `centers/`).
    static func centerFiles() throws -> [String] {
        let directory = environment["PORTAIL_CENTERS_DIR"] ?? "centers"
        do {
            return try CenterCatalog.files(in: directory)
        } catch {
            throw ValidationError("cannot read the centers folder \(directory): \(error.localizedDescription). Set PORTAIL_CENTERS_DIR.")
        }
    }

    /// SMTP when SMTP_URL is set, else the log (the demo lists mails at /dev/courriels too).
    static func mailTransport(logger: Logger) throws -> any MailTransport {
        guard let url = environment["SMTP_URL"], !url.isEmpty else {
            logger.notice("SMTP_URL is not set: mails are written to the log")
            return LogMailTransport()
        }
        let settings = try SMTPSettings(url: url)
        logger.info("mails are sent through \(settings.host):\(settings.port)\(settings.implicitTLS ? " (TLS)" : "")")
        return SMTPMailTransport(settings: settings)
    }

    static var dataDirectory: String { environment["PORTAIL_DATA_DIR"] ?? ".portail" }

    /// The center of `code` among the database's centers, for a command's `--center`.
    static func center(_ code: String, in records: [CenterRecord]) throws -> CenterRecord {
        guard let record = records.first(where: { $0.center.code == code }) else { throw ValidationError("no center \"\(code)\" in the database") }
        return record
    }

    /// A one-shot command's database (DATABASE_URL, or the embedded cluster of `dataDirectory`, stopped
    /// after if this command started it), migrated, its pools running around `body`.
    static func withDatabase<T: Sendable>(_ body: @Sendable (Database) async throws -> T) async throws -> T {
        let logger = logger()
        let (settings, embedded) = try Bootstrap.database(environment: environment, dataDirectory: dataDirectory, logger: logger)
        defer { embedded?.stop() }
        return try await Database(settings: settings, logger: logger).run { database in
            try await database.migrate()
            return try await body(database)
        }
    }

    /// How long an attempt stays without news before the bank is asked (PORTAIL_PAYMENT_RECONCILE_MINUTES, 15).
    static func reconcileAfter() throws -> TimeInterval {
        guard let text = environment["PORTAIL_PAYMENT_RECONCILE_MINUTES"], !text.isEmpty else { return 15 * 60 }
        guard let minutes = Int(text), (1...1440).contains(minutes) else {
            throw ValidationError("PORTAIL_PAYMENT_RECONCILE_MINUTES must be a number of minutes from 1 to 1440, found \"\(text)\"")
        }
        return TimeInterval(minutes * 60)
    }
}

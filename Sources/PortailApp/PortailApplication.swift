import Foundation
import Hummingbird
import Logging
import PaymentKit
import PortailConfig
import PortailDomain
import PortailStore
import ServiceLifecycle

/// Builds the portal's HTTP application over a database and a directory of centers.
public enum PortailApplication {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Pages for development only (the outbox at /dev/courriels): on in the demo and tests, off in production.
        public var developmentPages: Bool
        /// Where the detailed health and the metrics are served (see AdminListener); nil: nowhere.
        public var adminHost: String
        public var adminPort: Int?
        /// Proxies whose X-Forwarded-For is believed (PORTAIL_TRUSTED_PROXIES).
        public var trustedProxies: TrustedProxies = .none
        /// The waiting room's clock (tests move it to let a line advance).
        public var clock: @Sendable () -> Date = { Date() }
        /// A connection on which nothing is read and no write completes for this long is closed
        /// (`StalledConnections`): a stalled download gives its export's connection of the pool back.
        public var stalledAfter: Duration = .seconds(60)
        /// A connection that sends no part of a request (its head whole, or a piece of its body) for this
        /// long while no answer is on its way is closed: a request head trickled a byte at a time, or an
        /// idle keep-alive connection, holds a socket that long at most (Hummingbird's idle timeout).
        public var idleAfter: Duration = .seconds(30)

        public init(
            host: String = "127.0.0.1", port: Int = 8080, developmentPages: Bool = false,
            adminHost: String = "127.0.0.1", adminPort: Int? = nil
        ) {
            self.host = host
            self.port = port
            self.developmentPages = developmentPages
            self.adminHost = adminHost
            self.adminPort = adminPort
        }
    }

    public static func build(
        configuration: Configuration,
        database: Database,
        directory: CenterDirectory,
        services: [any Service] = [],
        paymentProvider: @escaping @Sendable (Center) -> (any PaymentProvider)? = { _ in nil },
        paymentRules: [PaymentTypeRule] = [],
        paymentHTTP: any ProviderHTTPClient = LiveProviderHTTPClient(),
        publicAddress: PublicAddress? = nil,
        logger: Logger
    ) async throws -> some ApplicationProtocol {
        // The Prometheus registry sets up the metrics system: before anything records a value.
        _ = PortailMetrics.registry
        database.reportPoolSizes()
        let templates = try Templates.load()
        // The demo and the tests link to the listener's own address; `serve` to each center's portal_url.
        let publicAddress = publicAddress ?? PublicAddress(useListener: configuration.developmentPages)
        var routes = PortailRoutes(
            templates: templates,
            database: database,
            directory: directory,
            developmentPages: configuration.developmentPages,
            paymentProvider: paymentProvider,
            paymentRules: paymentRules,
            health: HealthCheck(database: database, directory: directory),
            publicAddress: publicAddress,
            clock: configuration.clock
        )
        routes.paymentHTTP = paymentHTTP
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: RequestTraceMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: InputGuardMiddleware())
        router.add(middleware: ClientAddressMiddleware(proxies: configuration.trustedProxies))
        router.add(middleware: SessionMiddleware(database: database, cookies: routes.sessionCookies, exemptPrefixes: ["/paiement/notification", "/simulateur/", "/calendrier/"]))
        routes.add(to: router)
        let responder = TenantResponder(
            inner: router.buildResponder(),
            directory: directory,
            globalPaths: PortailRoutes.globalPaths,
            globalPrefixes: PortailRoutes.globalPrefixes,
            publicAddress: publicAddress
        )
        // The admin listener runs as one more service of this application: it starts and stops with it,
        // before the database pools stop (services stop in reverse order).
        let admin: [any Service] = configuration.adminPort.map { port in
            [AdminListener.build(
                host: configuration.adminHost, port: port, database: database, directory: directory, logger: logger
            )]
        } ?? []
        return Application(
            responder: responder,
            server: .http1(configuration: .init(additionalChannelHandlers: StalledConnections.handlers(after: .init(configuration.stalledAfter)),
                                                idleTimeout: .init(configuration.idleAfter))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            services: database.services + services + admin,
            onServerRunning: { channel in
                publicAddress.listening(host: configuration.host, port: channel.localAddress?.port ?? configuration.port)
            },
            logger: logger
        )
    }
}

import Hummingbird
import Logging
import PortailStore

/// The administration listener: the detailed /healthz and /metrics on an address of their own
/// (`--admin-port`, loopback by default), never on a center's host. Its own port keeps these out of
/// reach of the internet by the network alone, with no token to leak and no route the tenant
/// resolution could expose; Prometheus and the operator's probes reach it inside the private network.
public enum AdminListener {
    public static func build(
        host: String, port: Int, database: Database, directory: CenterDirectory, logger: Logger
    ) -> some ApplicationProtocol {
        let health = HealthCheck(database: database, directory: directory)
        let metrics = MetricsEndpoint(registry: PortailMetrics.registry)
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ in try await health.response() }
        router.get("/metrics") { _, _ in metrics.response() }
        var logger = logger
        logger[metadataKey: "listener"] = "admin"
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            logger: logger
        )
    }
}

import Hummingbird
import Metrics
import Prometheus

/// GET /metrics: every swift-metrics value of the process in Prometheus text format
/// (requests by route and status, latency histograms, the database pool).
struct MetricsEndpoint: Sendable {
    let registry: PrometheusCollectorRegistry

    func response() -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
        )
    }
}

/// The process-wide metrics registry: swift-metrics can be bootstrapped once per process.
public enum PortailMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Request latencies in seconds, from 5 ms to 10 s.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }()
}

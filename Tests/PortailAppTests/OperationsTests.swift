import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PaymentKit
import PortailConfig
import PortailTestSupport
import Simulator
import SystemPay
import Testing
@testable import PortailApp
@testable import PortailStore

/// A socket on 127.0.0.1 that listens and never accepts: the kernel completes connections, nobody speaks.
func silentSocket() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ready = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ready else { close(fd); throw POSIXError(.EADDRNOTAVAIL) }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// A port nothing listens on now (the kernel's choice), for a second listener of a test.
func freePort() throws -> Int {
    let (fd, port) = try silentSocket()
    close(fd)
    return port
}

/// The providers of the `portail` executable, registered as Runtime does.
let shippedProviders: PaymentProviderRegistry = {
    var registry = PaymentProviderRegistry()
    registry.register(SystemPayProvider.self)
    registry.register(SimulatorProvider.self)
    return registry
}()

@Suite struct OperationsTests {
    /// PORTAIL_LOG_FORMAT=json: one parseable object per line, with the request's id and the entry's metadata,
    /// whatever the message holds (quotes, new lines, accents).
    @Test func jsonLogsAreOneObjectPerLineWithTheRequestID() throws {
        final class Lines: @unchecked Sendable {
            let lock = NSLock()
            var all: [String] = []
            func add(_ line: String) { lock.withLock { all.append(line) } }
        }
        let lines = Lines()
        var logger = Logger(label: "portail") { label in JSONLogHandler(label: label, write: { lines.add($0) }) }
        logger[metadataKey: "hb.request.id"] = "f70d4e41bbda77d0"
        logger.info("paiement \"OPI-F12-1\" reçu\nligne 2", metadata: ["center": "opio", "amounts": .array(["1500", "500"])])
        logger.debug("below the level: not written")
        #expect(lines.all.count == 1)
        let line = try #require(lines.all.first)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "paiement \"OPI-F12-1\" reçu\nligne 2")
        #expect(object["level"] as? String == "info" && object["label"] as? String == "portail")
        #expect(object["hb.request.id"] as? String == "f70d4e41bbda77d0" && object["center"] as? String == "opio")
        #expect(object["amounts"] as? [String] == ["1500", "500"])
        #expect((object["time"] as? String).flatMap { ISO8601DateFormatter.withMilliseconds.date(from: $0) } != nil)
    }

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

    // MARK: Health and metrics

    @Test func thePublicHealthSaysUpAndNothingElse() async throws {
        try await withLiveApp { client in
            let port = try #require(client.port)
            // The test app has a broken center file: the public answer does not tell.
            for host in ["127.0.0.1", "portailfamilles-opio.ifac.asso.fr"] {
                let (status, body) = try curl(port: port, host: host, path: "/healthz")
                #expect(status == 200)
                let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
                #expect(json.count == 1 && json["status"] as? String == "up", "\(body)")
            }
        }
    }

    @Test func metricsAreNotServedToTheInternet() async throws {
        try await withLiveApp { client in
            let port = try #require(client.port)
            for (host, path) in [("127.0.0.1", "/metrics"), ("portailfamilles-opio.ifac.asso.fr", "/metrics"),
                                 ("127.0.0.1", "/opio/metrics")] {
                let (status, body) = try curl(port: port, host: host, path: path)
                #expect(status == 404, "\(host)\(path)")
                #expect(!body.contains("hb_requests"))
            }
        }
    }

    @Test func theAdminListenerServesTheDetailsAndTheMetrics() async throws {
        let admin = try freePort()
        try await withApp(.live, configuration: .init(host: "127.0.0.1", port: 0, adminPort: admin)) { client in
            _ = try await client.execute(uri: "/opio/", method: .get)
            let (status, body) = try curl(port: admin, host: "127.0.0.1", path: "/healthz")
            #expect(status == 200)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect((json["database"] as? [String: Any])?["reachable"] as? Bool == true)
            let centers = try #require(json["centers"] as? [String: Any])
            #expect(Set(centers["loaded"] as? [String] ?? []) == ["opio", "valbonne", "roquefort"])
            let failed = try #require(centers["failed"] as? [[String: Any]])
            #expect(failed.count == 1)
            #expect((failed.first?["file"] as? String)?.hasSuffix(".yaml") == true)
            #expect((failed.first?["errors"] as? [String])?.first?.contains("YAML syntax error") == true)
            #expect(json["status"] as? String == "degraded")

            let (metricsStatus, text) = try curl(port: admin, host: "127.0.0.1", path: "/metrics")
            #expect(metricsStatus == 200)
            #expect(text.contains("# TYPE hb_requests counter"))
            #expect(text.contains(
                "hb_requests{http_route=\"/\",http_request_method=\"GET\",http_response_status_code=\"200\"}"
            ))
            #expect(text.contains("http_server_request_duration_bucket"))
            #expect(text.contains("portail_db_pool_max_connections"))

            // The admin listener serves no center.
            #expect(try curl(port: admin, host: "portailfamilles-opio.ifac.asso.fr", path: "/").status == 404)
        }
    }

    // MARK: Development pages

    @Test func developmentPagesAreOffUnlessAskedFor() async throws {
        #expect(PortailApplication.Configuration().developmentPages == false)
        try await withLiveApp { client in
            let mails = try await client.execute(uri: "/opio/dev/courriels", method: .get)
            #expect(mails.status == .notFound)
            for page in ["paiement", "choix"] {
                let response = try await client.execute(
                    uri: "/opio/simulateur/\(page)", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: "sim_x=1")
                )
                #expect(response.status == .notFound, "/simulateur/\(page)")
            }
        }
        try await withApp(.live, configuration: .init(host: "127.0.0.1", port: 0, developmentPages: true)) { client in
            let mails = try await client.execute(uri: "/opio/dev/courriels", method: .get)
            #expect(mails.status == .ok)
        }
    }
}

/// The dashboard and the alert rules of docs/observability/ name only metrics the portal emits: every
/// `portail_…` name in them is the label of a metric in the sources, and the business metrics reach the
/// Prometheus registry that /metrics serves.
@Suite struct ObservabilityDocsTests {
    @Test func theDashboardAndAlertsNameMetricsThatExist() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var labels = Set<String>()
        let sources = FileManager.default.enumerator(atPath: root.appendingPathComponent("Sources").path)
        while let path = sources?.nextObject() as? String {
            guard path.hasSuffix(".swift") else { continue }
            let text = try String(contentsOf: root.appendingPathComponent("Sources").appendingPathComponent(path), encoding: .utf8)
            labels.formUnion(text.matches(of: /label: "(portail_[a-z_]+)"/).map { String($0.1) })
        }
        #expect(labels.contains("portail_bookings_total") && labels.contains("portail_db_pool_max_connections"))
        for file in ["docs/observability/grafana-dashboard.json", "docs/observability/prometheus-alerts.yml"] {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            if file.hasSuffix(".json") { _ = try JSONSerialization.jsonObject(with: Data(text.utf8)) }
            let names = Set(text.matches(of: /portail_[a-z_]+/).map { String($0.0) })
            #expect(names.count >= 5)
            for name in names {
                let base = name.replacing(/_(bucket|count|sum)$/, with: "")
                #expect(labels.contains(base), "\(file) names \(name), which no metric of the sources has")
            }
        }
        // The business metrics reach the registry that /metrics serves.
        let registry = PortailMetrics.registry
        BusinessMetrics.booked(byStaff: true)
        BusinessMetrics.maintenancePassed(outboxPending: 3, at: 1)
        let emitted = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(emitted.contains("portail_bookings_total{by=\"office\"}") && emitted.contains("portail_mail_outbox_pending 3"), "\(emitted.prefix(2000))")
    }
}

extension ISO8601DateFormatter {
    static var withMilliseconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}

/// Issue 16, item 7: one request followed through the database and mail by Hummingbird's request id.
@Suite struct RequestTraceTests {
    @Test func anIdTravelsAsLettersDigitsAndDashesOnly() {
        #expect(RequestTrace.$id.withValue("é<a>b-1'; DROP\u{301}") { RequestTrace.current } == "ab-1DROP")
        #expect(RequestTrace.$id.withValue(String(repeating: "7", count: 50) + "x") { RequestTrace.current } == String(repeating: "7", count: 40))
        #expect(RequestTrace.$id.withValue("éé ;") { RequestTrace.current } == nil)
        #expect(RequestTrace.current == nil)
    }

    @Test func aRequestNamesItsTransactionsAndTheMailsItQueues() async throws {
        try await withPortal { client, fixture in
            // A mail queued by a request keeps the request's id.
            let visitor = Browser(client)
            _ = try await visitor.get("/petit/mot-de-passe-oublie")
            _ = try await visitor.post("/petit/mot-de-passe-oublie", [("identifiant", "parent@example.org")])
            let id = try await fixture.database.owner.withConnection { c in
                try await c.first("SELECT request_id FROM mail_outbox WHERE to_address = 'parent@example.org'", (String?.self), logger: fixture.database.logger)
            }
            #expect((id ?? nil)?.wholeMatch(of: /[0-9a-f]{20,40}/) != nil, "\(String(describing: id))")
            // Inside a request's task, a transaction is named after it, and only that transaction.
            let (inside, after) = try await RequestTrace.$id.withValue("abc-123") {
                (try await fixture.database.withCenter(fixture.petit.id) { c in
                    try await c.first("SELECT current_setting('application_name')", (String.self), logger: fixture.database.logger)
                 }, try await fixture.database.app.withConnection { c in
                    try await c.first("SELECT current_setting('application_name')", (String.self), logger: fixture.database.logger)
                 })
            }
            #expect(inside == "portail abc-123")
            #expect(after != "portail abc-123")
        }
    }
}

import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailConfig
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// The Host header, under its plain name (HTTPTypes steers .host towards the request authority).
let hostHeader = HTTPField.Name("Host")!

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The real application on a real port, over a fresh database with the demo centers and one broken file.
func withLiveApp(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
    try await withApp(.live, body)
}

func withApp(
    _ setup: TestingSetup, configuration: PortailApplication.Configuration = .init(host: "127.0.0.1", port: 0),
    _ body: @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    let settings = try await TestCluster.shared.freshDatabase()
    let logger = TestCluster.logger
    let broken = NSTemporaryDirectory() + "broken-\(UUID().uuidString).yaml"
    try "code: broken\nname: [\n".write(toFile: broken, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: broken) }
    let files = try CenterCatalog.files(in: root.appendingPathComponent("centers").path) + [broken]
    let rules = [PaymentTypeRule(type: "systempay") { _, _ in [] }]
    let snapshot = try await Database(settings: settings, logger: logger).run { database in
        try await Bootstrap.loadCenters(files: files, paymentRules: rules, environment: [:], database: database, logger: logger)
    }
    let app = try await PortailApplication.build(
        configuration: configuration,
        database: Database(settings: settings, logger: logger),
        directory: CenterDirectory(snapshot),
        logger: logger
    )
    try await app.test(setup) { client in try await body(client) }
}

/// A request with a Host header of our choice, as a browser sends it (the test client always sends its own).
func curl(port: Int, host: String, path: String = "/") throws -> (status: Int, body: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = ["-s", "-H", "Host: \(host)", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
    let status = Int(lines.removeLast()) ?? 0
    return (status, lines.joined(separator: "\n"))
}

@Suite struct HTTPTests {
    @Test func homePageByHost() async throws {
        try await withLiveApp { client in
            let port = try #require(client.port)
            let (status, html) = try curl(port: port, host: "portailfamilles-opio.ifac.asso.fr")
            #expect(status == 200)
            for text in ["COORDONNÉES", "ifac Opio", "Carrefour de la Font neuve.", "06650 Opio", "04 93 77 25 50",
                         "alsh.opio@utse.ifac.asso.fr", "lundi: 14h00 à 16h00", "jeudi: 18h30 à 19h30",
                         "https://portailfamilles-opio.ifac.asso.fr", "Connexion à votre espace", "lang=\"fr\""] {
                #expect(html.contains(text), "missing \(text)")
            }
            #expect(html.contains("href=\"/static/portail.css\""))

            // Another center at its own host shows its own coordinates, not Opio's.
            let (_, other) = try curl(port: port, host: "portailfamilles-valbonne.ifac.asso.fr:8080")
            #expect(other.contains("Espace Garbejaïre"))
            #expect(!other.contains("Font neuve"))
            let (unknown, body) = try curl(port: port, host: "unknown.example.org")
            #expect(unknown == 404)
            #expect(!body.contains("opio"))
        }
    }

    @Test func homePageByPathPrefix() async throws {
        try await withLiveApp { client in

            let byPrefix = try await client.execute(uri: "/opio/", method: .get)
            #expect(byPrefix.status == .ok)
            let prefixed = String(buffer: byPrefix.body)
            #expect(prefixed.contains("Carrefour de la Font neuve."))
            #expect(prefixed.contains("href=\"/opio/static/portail.css\""))
            #expect(prefixed.contains("action=\"/opio/connexion\""))

            let css = try await client.execute(uri: "/opio/static/portail.css", method: .get)
            #expect(css.status == .ok)
            #expect(css.headers[.contentType]?.hasPrefix("text/css") == true)

            let redirect = try await client.execute(uri: "/valbonne", method: .get)
            #expect(redirect.status == .permanentRedirect)
            #expect(redirect.headers[.location] == "/valbonne/")
        }
    }

    @Test func unknownHostsAndPathsGetAPlain404() async throws {
        try await withLiveApp { client in
            for (uri, host) in [("/", "unknown.example.org"), ("/nowhere/", "localhost"), ("/opio-x/", "localhost")] {
                let response = try await client.execute(uri: uri, method: .get, headers: [hostHeader: host])
                #expect(response.status == .notFound)
                let body = String(buffer: response.body)
                #expect(body.contains("Page introuvable"))
                for secret in ["opio", "valbonne", "roquefort", "ifac"] { #expect(!body.lowercased().contains(secret)) }
            }
            let missing = try await client.execute(uri: "/opio/pas-de-page", method: .get)
            #expect(missing.status == .notFound)
        }
    }
}

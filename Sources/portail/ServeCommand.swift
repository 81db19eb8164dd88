import ArgumentParser
import FakeBanks
import Foundation
import Hummingbird
import PortailApp
import PortailConfig
import PortailStore

struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @Option(help: "Address of the administration listener (detailed /healthz, /metrics).")
    var adminHost = "127.0.0.1"

    @Option(help: "Port of the administration listener; without it, no detailed health and no metrics are served.")
    var adminPort: Int?

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535, got \(port)") }
        if let adminPort {
            guard (1...65535).contains(adminPort) else {
                throw ValidationError("--admin-port must be between 1 and 65535, got \(adminPort)")
            }
            guard adminPort != port else { throw ValidationError("--admin-port must differ from --port (\(port))") }
        }
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP server.",
        discussion: """
        Configuration comes from the environment:
          DATABASE_URL, DATABASE_OWNER_URL  PostgreSQL as the serving role and as the schema owner;
                                            without them, an embedded cluster under PORTAIL_DATA_DIR (.portail)
          PORTAIL_CENTERS_DIR               folder of center files (centers/)
          SMTP_URL                          smtp://USER:PASSWORD@HOST:PORT or smtps://… to send mails;
                                            without it mails are written to the log
          PORTAIL_TRUSTED_PROXIES           proxies (CIDRs, comma-separated) whose X-Forwarded-For is believed
          PORTAIL_TOKEN_DAYS                life of new API tokens in days (default 90, at most 365)
          LOG_LEVEL                         trace, debug, info (default), notice, warning, error
          PORTAIL_ALLOW_TEST_PAYMENTS=1     serve test banks too (simulator, SystemPay
                                            mode TEST); without it serve exits with 1
        """
    )

    @OptionGroup var server: ServerOptions

    func run() async throws {
        // Checked before the database is touched, so that a refused start imports nothing. The files are
        // read once, as they are served (secrets required); a file refused for a missing secret is read
        // again without that rule, so that its bank is checked too.
        let environment = Runtime.environment
        let catalog = CenterCatalog.load(files: try Runtime.centerFiles(), paymentRules: Runtime.paymentRules, environment: environment)
        let failed = CenterCatalog.load(
            files: catalog.failures.map(\.file), paymentRules: Runtime.paymentRules, environment: environment, secretsRequired: false
        )
        let refusals = TestPaymentGuard.refusals(
            (catalog.centers + failed.centers).sorted { $0.file < $1.file }, providers: Runtime.providers, environment: environment
        )
        guard refusals.isEmpty else {
            FileHandle.standardError.write(Data(refusals.map { "error: \($0)\n" }.joined().utf8))
            throw ExitCode.failure
        }
        try await Server.run(server: server, demo: false, catalog: catalog)
    }
}

/// The long-running part of `serve` and `demo`.
enum Server {
    /// `catalog`: the center files as `serve` (or `demo --fake-banks`) read them already; read here when nil.
    /// `banks`: the demo's fake banks, where its centers pay instead of the simulator.
    static func run(server: ServerOptions, demo: Bool, catalog: CenterCatalog? = nil, banks: DemoBanks? = nil) async throws {
        let logger = Runtime.logger()
        let files = try Runtime.centerFiles()
        let proxies: TrustedProxies
        do {
            proxies = try TrustedProxies(parsing: Runtime.environment["PORTAIL_TRUSTED_PROXIES"] ?? "")
        } catch {
            throw ValidationError("\(error)")
        }
        let (settings, embedded) = try Bootstrap.database(environment: Runtime.environment, dataDirectory: Runtime.dataDirectory, logger: logger)
        defer { embedded?.stop() }
        logger.info("database: \(settings.description)")
        let database = Database(settings: settings, logger: logger)
        let directory = CenterDirectory()
        let ready = try await database.run { database in
            try await database.migrate()
            let snapshot = try await Bootstrap.loadCenters(
                files: files, catalog: catalog, paymentRules: Runtime.paymentRules, environment: Runtime.environment,
                database: database, logger: logger
            )
            if demo { try await DemoData.create(in: database, centers: snapshot.centers, logger: logger) }
            return snapshot
        }
        directory.replace(with: ready)
        let serving = Database(settings: settings, logger: logger)
        // The demo links to the listener's own address; `serve` to each center's portal_url.
        let publicAddress = PublicAddress(useListener: demo)
        let reconciliation = PaymentReconciliation(database: serving, paymentProvider: Runtime.paymentProvider(demo: demo, banks: banks, logger: logger), logger: logger)
        let maintenance = MaintenanceService(database: serving, directory: directory, mail: try Runtime.mailTransport(logger: logger),
                                             publicAddress: publicAddress, retention: try RetentionSettings.from(Runtime.environment), logger: logger)
        let reconciling = ReconciliationService(reconciliation: reconciliation, directory: directory,
                                                quietFor: try Runtime.reconcileAfter(), logger: logger)
        var configuration = PortailApplication.Configuration(
            host: server.host, port: server.port, developmentPages: demo,
            adminHost: server.adminHost, adminPort: server.adminPort
        )
        configuration.trustedProxies = proxies
        let app = try await PortailApplication.build(
            configuration: configuration,
            database: serving,
            directory: directory,
            services: [maintenance, reconciling],
            paymentProvider: Runtime.paymentProvider(demo: demo, banks: banks, logger: logger),
            paymentRules: Runtime.paymentRules,
            publicAddress: publicAddress,
            logger: logger
        )
        printBanner(server: server, snapshot: ready, demo: demo, banks: banks)
        try await app.runService()
    }

    static func printBanner(server: ServerOptions, snapshot: CenterDirectory.Snapshot, demo: Bool, banks: DemoBanks? = nil) {
        let base = "http://\(server.host):\(server.port)"
        var lines = ["", "Portail Famille is listening on \(base)", "Centers:"]
        for record in snapshot.centers {
            lines.append("  \(record.center.name): \(base)/\(record.center.code)/   (Host: \(record.center.hosts.joined(separator: ", ")))")
        }
        let admin = server.adminPort.map { "http://\(server.adminHost):\($0)" }
        for failure in snapshot.failures {
            let health = admin.map { " and \($0)/healthz" } ?? ""
            lines.append("  NOT LOADED \(failure.file): \(failure.issues.count) problem(s), see the log\(health)")
        }
        if demo {
            if let banks {
                lines.append("Online payments go to each center's own bank, faked on this machine (no network needed):")
                for record in snapshot.centers where record.center.payment != nil {
                    let route = banks.route(center: record.center.code, type: record.center.payment!.type)
                    lines.append("  \(record.center.name): " + (route.map { "\($0.bank) (fake at \($0.address))" } ?? "the simulated bank"))
                }
                lines.append("On the bank's page: pay, refuse or abandon, and choose how its notification comes.")
            } else {
                lines.append("Online payments go to the simulated bank (no network needed): pay, refuse or abandon on its page.")
            }
            lines.append("Demo families (password for all: \(DemoData.password)):")
            let loaded = Set(snapshot.centers.map(\.center.code))
            for family in DemoData.families where loaded.contains(family.center) {
                let qf = family.quotient.map { "QF \($0)" } ?? "no QF"
                lines.append("  \(family.center): \(family.email)  \(family.name), \(family.children.count) child(ren), \(qf)\(family.category.map { ", \($0)" } ?? "")")
            }
            lines.append("Staff back office: \(base)/admin/ (same password):")
            for person in DemoData.staff where loaded.contains(person.center) {
                let factor = person.role == "manager" ? "manager: a TOTP app code after the password, enrolled at the first sign-in" : "team: the password alone"
                lines.append("  \(person.center): \(person.email)  \(person.name), \(factor)")
            }
        }
        if let admin {
            lines.append("Health: \(base)/healthz (up or down)   Details: \(admin)/healthz   Metrics: \(admin)/metrics")
        } else {
            lines.append("Health: \(base)/healthz (up or down); --admin-port P serves the details and the metrics")
        }
        lines.append("Stop: Ctrl-C")
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

import FakeBanks
import Foundation
import HelloAsso
import Hummingbird
import HummingbirdTesting
import Monetico
import PayFiP
import PaymentKit
import PortailConfig
import PortailDomain
import PortailStore
import PortailTestSupport
import Stripe
import SystemPay
import Testing
@testable import PortailApp

/// `portail demo --fake-banks`: each paying center goes to a fake of its own bank, started by `DemoBanks` from
/// the centers' `payment:` blocks, with the bank addresses overridden and throwaway secrets given to its
/// provider, and the per-account notification addresses registered at the fakes. Two centers of different
/// types share one portal here; the parent pays at the first, end to end over real HTTP, for every type.
@Suite struct DemoBanksTests {
    /// A center's block as a center file would write it: no bank address, secrets named only.
    static let blocks: [String: String] = [
        "systempay": """
            payment:
              type: systempay
              mode: TEST
              site_id: "12345678"
              test_key_env: SHOP_TEST_KEY
              production_key_env: SHOP_PRODUCTION_KEY
              algorithm: SHA-1
              platform: payzen
              rest_password_env: SHOP_REST_PASSWORD
            """,
        "stripe": """
            payment:
              type: stripe
              mode: TEST
              secret_key_env: STRIPE_SECRET_KEY
              webhook_secret_env: STRIPE_WEBHOOK_SECRET
            """,
        "monetico": """
            payment:
              type: monetico
              mode: TEST
              tpe: "9344512"
              societe: petitsloups
              key_env: MONETICO_KEY
            """,
        "payfip": """
            payment:
              type: payfip
              numcli: "012345"
              saisie: T
            """,
        "helloasso": """
            payment:
              type: helloasso
              environment: sandbox
              organization_slug: les-petits-loups
              client_id: demo-client
              client_secret_env: HELLOASSO_CLIENT_SECRET
              signature_key_env: HELLOASSO_SIGNATURE_KEY
            """,
    ]

    static func registry() -> PaymentProviderRegistry {
        var registry = PaymentProviderRegistry()
        registry.register(SystemPayProvider.self)
        registry.register(StripeProvider.self)
        registry.register(MoneticoProvider.self)
        registry.register(PayFiPProvider.self)
        registry.register(HelloAssoProvider.self)
        return registry
    }

    /// The portal as `portail demo --fake-banks` wires it: the files read once for their banks, the fakes
    /// started, the files loaded with the fakes' secrets, each center's provider made as `Runtime` makes it,
    /// and the notification addresses registered once the portal listens.
    func withDemoBanks(petit: String, autre: String,
                       _ body: @Sendable (Browser, PortalFixture, DemoBanks, @escaping @Sendable (Center) -> (any PaymentProvider)?) async throws -> Void)
        async throws
    {
        let settings = try await TestCluster.shared.freshDatabase()
        let logger = TestCluster.logger
        let folder = NSTemporaryDirectory() + "demo-banks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (code, type) in [("petit", petit), ("autre", autre)] {
            try TestCenters.small(code: code, places: 3, payment: Self.blocks[type]!).write(toFile: folder + "/\(code).yaml", atomically: true, encoding: .utf8)
        }
        let registry = Self.registry()
        let files = try CenterCatalog.files(in: folder)
        let declared = CenterCatalog.load(files: files, paymentRules: registry.rules, environment: [:], secretsRequired: false)
        #expect(declared.failures.isEmpty, "\(declared.allIssues)")
        let banks = try await DemoBanks.start(declared.centers.compactMap { loaded in
            loaded.center.payment.map { DemoBanks.Account(center: loaded.center.code, type: $0.type, parameters: $0.parameters) }
        })
        let provider: @Sendable (Center) -> (any PaymentProvider)? = { center in
            guard let settings = center.payment, let route = banks.route(center: center.code, type: settings.type) else { return nil }
            var routed = center
            routed.payment?.parameters = route.parameters(settings.parameters)
            return registry.provider(for: routed, environment: route.environment, logger: logger)
        }
        do {
            let database = Database(settings: settings, logger: logger)
            let hash = try await Passwords.hash(PortalFixture.password)
            let snapshot = try await database.run { database in
                let snapshot = try await Bootstrap.loadCenters(files: files, paymentRules: registry.rules, environment: banks.secrets,
                                                               database: database, logger: logger)
                try #require(snapshot.failures.isEmpty, "\(snapshot.failures.flatMap(\.issues))")
                for record in snapshot.centers {
                    try await database.withCenter(record.id) { c in
                        let family = try await AccountRepository.createFamily(c, center: record.id, email: "parent@example.org", name: "FAMILLE JULES",
                                                                              passwordHash: hash, state: "active", category: nil, logger: logger)
                        try await AccountRepository.addChild(c, center: record.id, family: family, firstName: "JULES", lastName: "X",
                                                             birthDate: youngChildBirthDate, logger: logger)
                    }
                }
                return snapshot
            }
            let serving = Database(settings: settings, logger: logger)
            var configuration = PortailApplication.Configuration(host: "127.0.0.1", port: 0, developmentPages: true)
            configuration.trustedProxies = try TrustedProxies(parsing: "127.0.0.1, ::1")
            let app = try await PortailApplication.build(configuration: configuration, database: serving, directory: CenterDirectory(snapshot),
                                                         paymentProvider: provider, logger: logger)
            let fixture = PortalFixture(database: serving, petit: snapshot.centers.first { $0.center.code == "petit" }!,
                                        autre: snapshot.centers.first { $0.center.code == "autre" }!)
            try await app.test(.live) { client in
                banks.listening(at: "http://127.0.0.1:\(try #require(client.port))")
                try await body(Browser(client), fixture, banks, provider)
            }
        } catch {
            await banks.stop()
            throw error
        }
        await banks.stop()
    }

    /// Each type pays at "petit" once, the other center of another type beside it: all five fakes paid through.
    @Test(arguments: [("payfip", "helloasso"), ("helloasso", "stripe"), ("stripe", "monetico"), ("monetico", "systempay"), ("systempay", "payfip")])
    func eachCenterPaysThroughTheFakeOfItsOwnBank(petit: String, autre: String) async throws {
        try await withDemoBanks(petit: petit, autre: autre) { browser, fixture, banks, provider in
            let mine = try #require(banks.route(center: "petit", type: petit))
            let theirs = try #require(banks.route(center: "autre", type: autre))
            #expect(mine.address != theirs.address, "one fake per type")
            #expect(mine.address.hasPrefix("http://127.0.0.1:") && theirs.address.hasPrefix("http://127.0.0.1:"))
            #expect(banks.route(center: "petit", type: "simulator") == nil)
            // Both centers' providers are made against their fakes, with the fakes' secrets.
            #expect(provider(fixture.petit.center) != nil && provider(fixture.autre.center) != nil)
            #expect(!mine.environment.isEmpty || petit == "payfip")
            // A center whose file names its REST password can be asked by the reconciliation, at its fake.
            if petit == "systempay" {
                #expect(provider(fixture.petit.center)?.capabilities.contains(.status) == true)
                #expect(mine.overrides["api_url"] == mine.address)
            }

            let start = try await goToBank(browser, fixture: fixture)
            switch start {
            case .form(let action, _): #expect(action.hasPrefix(mine.address), "\(action)")
            case .redirect(let url): #expect(url.hasPrefix(mine.address), "\(url)")
            }
            let back = try await payAtBank(start, .pay)
            #expect(back.hasPrefix("http://127.0.0.1:") && back.contains("/petit/paiement/retour"), "\(back)")
            let page = try await browser.get(portalPath(back))
            #expect(page.text.contains("Paiement accepté"), "\(page.text.prefix(500))")
            #expect(try await fixture.reservationStates() == [1: "confirmed"])
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments WHERE amount_cents = 2000") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices") == 1)
            // The notification came from the fake to the portal's address for "petit": registered at the fake (Stripe,
            // Monetico, HelloAsso) or carried by the payment (SystemPay, PayFiP).
            let sent: [SentNotification] = switch petit {
            case "systempay": banks.systemPay?.sent ?? []
            case "stripe": banks.stripe?.sent ?? []
            case "monetico": banks.monetico?.sent ?? []
            case "payfip": banks.payFiP?.sent ?? []
            default: banks.helloAsso["petit"]?.sent ?? []
            }
            #expect(!sent.isEmpty && sent.allSatisfy { $0.url.hasPrefix("http://127.0.0.1:") && $0.url.hasSuffix("/petit/paiement/notification") && $0.status == 200 },
                    "\(sent.map { ($0.url, $0.status) })")
        }
    }

    /// One fake per type (SystemPay's shops, Stripe's accounts, Monetico's TPEs and PayFiP's régies share theirs),
    /// one per HelloAsso association; a type without a fake, or a block without its account, has no route.
    @Test func oneFakePerTypeAndOnePerHelloAssoAssociation() async throws {
        func parameters(_ type: String, _ replacing: (String, String)? = nil) throws -> [String: String] {
            var block = Self.blocks[type]!
            if let (from, to) = replacing { block = block.replacingOccurrences(of: from, with: to) }
            let lines = block.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
            return Dictionary(uniqueKeysWithValues: lines.compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\"", with: "")
                return (String(line[..<colon]), value)
            })
        }
        let accounts = [
            DemoBanks.Account(center: "opio", type: "systempay", parameters: try parameters("systempay")),
            DemoBanks.Account(center: "valbonne", type: "systempay", parameters: try parameters("systempay", ("12345678", "87654321"))),
            DemoBanks.Account(center: "asso-a", type: "helloasso", parameters: try parameters("helloasso")),
            DemoBanks.Account(center: "asso-b", type: "helloasso", parameters: try parameters("helloasso", ("les-petits-loups", "les-grands-ours"))),
            DemoBanks.Account(center: "mairie", type: "payfip", parameters: try parameters("payfip")),
            DemoBanks.Account(center: "simule", type: "simulator", parameters: [:]),
            DemoBanks.Account(center: "incomplet", type: "stripe", parameters: ["mode": "TEST"]),
        ]
        func check(_ banks: DemoBanks) throws {
            #expect(Set(banks.routes.keys) == ["opio", "valbonne", "asso-a", "asso-b", "mairie"])
            #expect(banks.routes["opio"]?.address == banks.routes["valbonne"]?.address)
            #expect(banks.routes["opio"]?.bank == "PayZen")
            #expect(banks.routes["asso-a"]?.address != banks.routes["asso-b"]?.address)
            #expect(banks.helloAsso.count == 2 && banks.stripe == nil && banks.monetico == nil)
            // The bank's addresses are the fake's; what the file says of the shop stays; the fake signs with HMAC-SHA-256.
            let opio = try #require(banks.routes["opio"])
            let made = opio.parameters(try parameters("systempay"))
            #expect(made["url"] == banks.systemPay?.paymentURL && made["site_id"] == "12345678" && made["algorithm"] == "HMAC-SHA-256")
            #expect(Set(opio.environment.keys) == ["SHOP_TEST_KEY", "SHOP_REST_PASSWORD"] && made["api_url"] == banks.systemPay?.apiURL)
            #expect(banks.routes["mairie"]?.parameters([:])["service_url"] == banks.payFiP?.serviceURL)
            #expect(Set(try #require(banks.routes["asso-a"]).environment.keys) == ["HELLOASSO_CLIENT_SECRET", "HELLOASSO_SIGNATURE_KEY"])
            #expect(DemoBanks.notificationURL(portal: "http://127.0.0.1:8099", center: "opio") == "http://127.0.0.1:8099/opio/paiement/notification")
        }
        let banks = try await DemoBanks.start(accounts, portal: "http://127.0.0.1:8099")
        do {
            try check(banks)
        } catch {
            await banks.stop()
            throw error
        }
        await banks.stop()
    }
}

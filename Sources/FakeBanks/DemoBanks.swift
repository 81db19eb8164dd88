import Foundation

/// The fake banks of `portail demo --fake-banks`: one fake per provider type the demo's centers use (one per
/// account for HelloAsso, whose fake knows a single association), each on 127.0.0.1 and an ephemeral port, and
/// for each paying center what points its provider at its fake: the bank addresses to override in its
/// `payment:` parameters and throwaway secrets for the `*_env` names of its block. Each fake is given what the
/// center's real back office would hold (its shop, keys, and the notification, webhook or CGI2 address where
/// the bank sends them per account rather than per payment).
///
/// The secrets are made here, at random, for this run only: they are in `routes` and `secrets`, never printed.
public final class DemoBanks: Sendable {
    /// A paying center as its file declares it.
    public struct Account: Sendable {
        public var center: String
        public var type: String
        public var parameters: [String: String]

        public init(center: String, type: String, parameters: [String: String]) {
            self.center = center
            self.type = type
            self.parameters = parameters
        }
    }

    /// How one center pays through its fake.
    public struct Route: Sendable {
        public let center: String
        /// The provider type, as in the center's file ("systempay").
        public let type: String
        /// The bank's name for people: "PayZen", "Stripe", "PayFiP" ...
        public let bank: String
        /// The fake's address, "http://127.0.0.1:PORT".
        public let address: String
        /// Parameters replaced in the center's `payment:` block: the bank's addresses (and what the fake requires).
        public let overrides: [String: String]
        /// Throwaway secrets, by the `*_env` names of the center's block; for the provider's `make` only.
        public let environment: [String: String]

        /// The center's parameters pointed at its fake.
        public func parameters(_ declared: [String: String]) -> [String: String] {
            declared.merging(overrides) { _, fake in fake }
        }
    }

    /// The provider types that have a fake here.
    public static let types: Set<String> = ["systempay", "stripe", "monetico", "payfip", "helloasso"]

    /// The routes, by center code (a center whose type has no fake, or whose block lacks its account, has none).
    public let routes: [String: Route]
    public let systemPay: FakeSystemPay?
    public let stripe: FakeStripe?
    public let monetico: FakeMonetico?
    public let payFiP: FakePayFiP?
    /// HelloAsso's fakes, by center code.
    public let helloAsso: [String: FakeHelloAsso]
    /// Per center: how to register the portal's notification address at its fake (Stripe, Monetico, HelloAsso).
    private let registrations: [String: @Sendable (String) -> Void]

    private init(routes: [String: Route], systemPay: FakeSystemPay?, stripe: FakeStripe?, monetico: FakeMonetico?, payFiP: FakePayFiP?,
                 helloAsso: [String: FakeHelloAsso], registrations: [String: @Sendable (String) -> Void]) {
        self.routes = routes
        self.systemPay = systemPay
        self.stripe = stripe
        self.monetico = monetico
        self.payFiP = payFiP
        self.helloAsso = helloAsso
        self.registrations = registrations
    }

    /// The route of a center, when it pays through a fake of this type.
    public func route(center: String, type: String) -> Route? {
        routes[center].flatMap { $0.type == type ? $0 : nil }
    }

    /// Every throwaway secret, by variable name: to check the center files as their providers will be made.
    public var secrets: [String: String] {
        routes.values.sorted { $0.center < $1.center }.reduce(into: [:]) { all, route in all.merge(route.environment) { first, _ in first } }
    }

    /// Where the portal listening at `portal` ("http://127.0.0.1:8080", centers under path prefixes) receives a
    /// center's notifications.
    public static func notificationURL(portal: String, center: String) -> String {
        (portal.hasSuffix("/") ? String(portal.dropLast()) : portal) + "/\(center)/paiement/notification"
    }

    /// Registers at each fake the notification address of its centers, for the portal listening at `portal`.
    public func listening(at portal: String) {
        for (center, register) in registrations { register(Self.notificationURL(portal: portal, center: center)) }
    }

    /// Starts the fakes `accounts` need; with `portal`, registers its notification addresses at once.
    public static func start(_ accounts: [Account], portal: String? = nil) async throws -> DemoBanks {
        var builder = Builder()
        do {
            let banks = try await builder.start(accounts)
            if let portal { banks.listening(at: portal) }
            return banks
        } catch {
            await builder.stopAll()
            throw error
        }
    }

    /// Stops every fake.
    public func stop() async {
        await systemPay?.stop()
        await stripe?.stop()
        await monetico?.stop()
        await payFiP?.stop()
        for bank in helloAsso.values { await bank.stop() }
    }

    // MARK: making the fakes

    private struct Builder {
        var started: [@Sendable () async -> Void] = []

        func stopAll() async {
            for stop in started { await stop() }
        }

        mutating func start(_ accounts: [Account]) async throws -> DemoBanks {
            var routes: [String: Route] = [:]
            var registrations: [String: @Sendable (String) -> Void] = [:]
            func of(_ type: String) -> [Account] { accounts.filter { $0.type == type } }
            func accept(_ account: Account, bank: String, address: String, overrides: [String: String], environment: [String: String]) {
                routes[account.center] = Route(center: account.center, type: account.type, bank: bank, address: address,
                                               overrides: overrides, environment: environment)
            }

            // SystemPay, PayZen ...: one shop per site_id, its key given to the name of the mode's key.
            var systemPay: FakeSystemPay?
            let shops = of("systempay").filter { $0.parameters["site_id"] != nil }
            if !shops.isEmpty {
                var keys: [String: String] = [:]
                var passwords: [String: String] = [:]
                for account in shops where keys[account.parameters["site_id"]!] == nil {
                    keys[account.parameters["site_id"]!] = DemoSecret.alphanumeric(16)
                    if account.parameters["rest_password_env"] != nil {
                        passwords[account.parameters["site_id"]!] = "testpassword_" + DemoSecret.alphanumeric(24)
                    }
                }
                let bank = try await FakeSystemPay.start(shops: keys, restPasswords: passwords)
                started.append { await bank.stop() }
                systemPay = bank
                for account in shops {
                    let key = keys[account.parameters["site_id"]!]!
                    let mode = account.parameters["mode"] ?? "TEST"
                    let name = account.parameters[mode == "TEST" ? "test_key_env" : "production_key_env"]
                    let platform = account.parameters["platform"] ?? "systempay"
                    var overrides = ["url": bank.paymentURL, "algorithm": "HMAC-SHA-256"]  // the fake signs with HMAC-SHA-256 only
                    var environment = name.map { [$0: key] } ?? [:]
                    if let passwordName = account.parameters["rest_password_env"], let password = passwords[account.parameters["site_id"]!] {
                        overrides["api_url"] = bank.apiURL
                        environment[passwordName] = password
                    }
                    accept(account, bank: platform == "payzen" ? "PayZen" : platform == "systempay" ? "SystemPay" : platform.capitalized,
                           address: bank.server.baseURL, overrides: overrides, environment: environment)
                }
            }

            // Stripe: one account per center, its webhook endpoint registered once the portal's address is known.
            var stripe: FakeStripe?
            let stripeAccounts = of("stripe").filter { $0.parameters["secret_key_env"] != nil && $0.parameters["webhook_secret_env"] != nil }
            if !stripeAccounts.isEmpty {
                let made = stripeAccounts.map { account in
                    let live = (account.parameters["mode"] ?? "TEST") != "TEST"
                    return (account, FakeStripe.Account(secretKey: (live ? "sk_live_demo" : "sk_test_demo") + DemoSecret.alphanumeric(24),
                                                        webhookSecret: "whsec_demo" + DemoSecret.alphanumeric(24)))
                }
                let bank = try await FakeStripe.start(accounts: made.map(\.1))
                started.append { await bank.stop() }
                stripe = bank
                for (account, secrets) in made {
                    accept(account, bank: "Stripe", address: bank.server.baseURL, overrides: ["api_url": bank.apiURL],
                           environment: [account.parameters["secret_key_env"]!: secrets.secretKey,
                                         account.parameters["webhook_secret_env"]!: secrets.webhookSecret])
                    registrations[account.center] = { url in bank.setWebhookURL(url, for: secrets.secretKey) }
                }
            }

            // Monetico: one key per TPE, the TPE's CGI2 address registered like the bank's back office holds it.
            var monetico: FakeMonetico?
            let terminals = of("monetico").filter { $0.parameters["tpe"] != nil && $0.parameters["key_env"] != nil }
            if !terminals.isEmpty {
                var keys: [String: String] = [:]
                for account in terminals where keys[account.parameters["tpe"]!] == nil { keys[account.parameters["tpe"]!] = DemoSecret.hex(bytes: 20) }
                let bank = try await FakeMonetico.start(terminals: keys)
                started.append { await bank.stop() }
                monetico = bank
                for account in terminals {
                    let tpe = account.parameters["tpe"]!
                    let test = (account.parameters["mode"] ?? "TEST") == "TEST"
                    accept(account, bank: "Monetico", address: bank.server.baseURL,
                           overrides: ["url": test ? bank.paymentURL : bank.productionURL],
                           environment: [account.parameters["key_env"]!: keys[tpe]!])
                    registrations[account.center] = { url in bank.setCGI2URL(url, for: tpe) }
                }
            }

            // PayFiP: the régies' numcli; no secret, and the notification address travels with each payment.
            var payFiP: FakePayFiP?
            let regies = of("payfip").filter { $0.parameters["numcli"] != nil }
            if !regies.isEmpty {
                let bank = try await FakePayFiP.start(clients: Set(regies.map { $0.parameters["numcli"]! }))
                started.append { await bank.stop() }
                payFiP = bank
                for account in regies {
                    accept(account, bank: "PayFiP", address: bank.server.baseURL,
                           overrides: ["service_url": bank.serviceURL, "payment_url": bank.paymentURL], environment: [:])
                }
            }

            // HelloAsso: one fake per association (a fake knows one organisation and one notification address).
            var helloAsso: [String: FakeHelloAsso] = [:]
            for account in of("helloasso") {
                guard let slug = account.parameters["organization_slug"], let client = account.parameters["client_id"],
                      let secretName = account.parameters["client_secret_env"] else { continue }
                let secret = DemoSecret.alphanumeric(32)
                let signature = account.parameters["signature_key_env"].map { ($0, DemoSecret.alphanumeric(32)) }
                let bank = try await FakeHelloAsso.start(organizationSlug: slug, clientID: client, clientSecret: secret, signatureKey: signature?.1)
                started.append { await bank.stop() }
                helloAsso[account.center] = bank
                var environment = [secretName: secret]
                if let signature { environment[signature.0] = signature.1 }
                accept(account, bank: "HelloAsso", address: bank.server.baseURL,
                       overrides: ["api_url": bank.apiURL, "oauth_url": bank.oauthURL], environment: environment)
                registrations[account.center] = { url in bank.setNotificationURL(url) }
            }

            return DemoBanks(routes: routes, systemPay: systemPay, stripe: stripe, monetico: monetico, payFiP: payFiP,
                             helloAsso: helloAsso, registrations: registrations)
        }
    }
}

/// Throwaway secrets for one run of the demo.
enum DemoSecret {
    static func alphanumeric(_ count: Int) -> String {
        let characters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in characters.randomElement(using: &generator)! })
    }

    static func hex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02X", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

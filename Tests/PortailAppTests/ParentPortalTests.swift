import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PaymentKit
import PortailConfig
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// A browser over the test client: keeps the session cookie, reads the CSRF token of the last page.
final class Browser: @unchecked Sendable {
    let client: any TestClientProtocol
    /// The cookie jar: the session, the anonymous CSRF token.
    var jar: [String: String] = [:]
    var lastPage = ""

    /// The Cookie header the browser sends; setting "name=value" puts that cookie in the jar.
    var cookie: String? {
        get { jar.isEmpty ? nil : jar.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        set {
            guard let newValue, let equals = newValue.firstIndex(of: "=") else { jar = [:]; return }
            jar[String(newValue[..<equals])] = String(newValue[newValue.index(after: equals)...])
        }
    }

    /// The client's address, as a trusted proxy reports it (X-Forwarded-For); nil: the socket's.
    let forwardedFor: String?

    init(_ client: any TestClientProtocol, forwardedFor: String? = nil) {
        self.client = client
        self.forwardedFor = forwardedFor
    }

    struct Page {
        let status: HTTPResponse.Status
        let body: String
        let location: String?
        let headers: HTTPFields
        /// The body without tags and with spaces collapsed, to look for words.
        var text: String {
            body.replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression)
                .replacingOccurrences(of: "&#39;", with: "'")
                .replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression)
        }
    }

    var csrf: String {
        guard let range = lastPage.range(of: #"name="csrf" value="[^"]*""#, options: .regularExpression) else { return "" }
        return String(lastPage[range].dropFirst(19).dropLast())
    }

    @discardableResult
    func get(_ uri: String) async throws -> Page {
        try await send(uri, method: .get, body: nil)
    }

    @discardableResult
    func post(_ uri: String, _ fields: [(String, String)], csrf: Bool = true) async throws -> Page {
        let all = (csrf ? [("csrf", self.csrf)] : []) + fields
        let body = all.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
        return try await send(uri, method: .post, body: body)
    }

    private func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    private func send(_ uri: String, method: HTTPRequest.Method, body: String?) async throws -> Page {
        var headers: HTTPFields = [:]
        if let cookie { headers[.cookie] = cookie }
        if let forwardedFor { headers[HTTPField.Name("X-Forwarded-For")!] = forwardedFor }
        if body != nil { headers[.contentType] = "application/x-www-form-urlencoded" }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        for setCookie in response.headers[values: .setCookie] {
            let pair = String(setCookie.prefix { $0 != ";" })
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<equals]), value = String(pair[pair.index(after: equals)...])
            jar[name] = value.isEmpty ? nil : value
        }
        let page = Page(status: response.status, body: String(buffer: response.body), location: response.headers[.location], headers: response.headers)
        if page.body.contains("csrf") { lastPage = page.body }
        return page
    }

    func login(_ base: String, email: String, password: String) async throws -> Page {
        try await get(base + "/")
        return try await post(base + "/connexion", [("identifiant", email), ("mot_de_passe", password)])
    }
}

/// Four years old in April: under 6 on 1 January of this year and the next (childcare certificates).
let youngChildBirthDate = LocalDate(year: LocalDate(Date(), in: TimeZone(identifier: "Europe/Paris")!).year - 4, month: 4, day: 1)!

/// Two small centers (petit, autre) with families, served live.
struct PortalFixture: Sendable {
    let database: Database
    let petit: CenterRecord
    let autre: CenterRecord
    static let password = "un-mot-de-passe-solide"
}

func withPortal(
    places: Int = 3, payment: String = systemPayBlock, setup: TestingSetup = .live, developmentPages: Bool = true,
    provider: @escaping @Sendable (Center) -> (any PaymentProvider)? = systemPayProviders,
    opensAt: String? = nil, petitExtra: String = "", clock: @escaping @Sendable () -> Date = { Date() },
    paymentRules: [PaymentTypeRule] = [PaymentTypeRule(type: "systempay") { _, _ in [] }, PaymentTypeRule(type: "simulator") { _, _ in [] }],
    paymentHTTP: any ProviderHTTPClient = LiveProviderHTTPClient(), lockTimeoutMilliseconds: Int? = nil, poolSize: Int? = nil, stalledAfter: Duration? = nil, idleAfter: Duration? = nil,
    _ body: @Sendable (any TestClientProtocol, PortalFixture) async throws -> Void
) async throws {
    var settings = try await TestCluster.shared.freshDatabase()
    settings.lockTimeoutMilliseconds = lockTimeoutMilliseconds ?? settings.lockTimeoutMilliseconds
    settings.appPoolSize = poolSize ?? settings.appPoolSize
    let logger = TestCluster.logger
    let folder = NSTemporaryDirectory() + "centers-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try TestCenters.small(code: "petit", places: places, payment: payment, opensAt: opensAt, extra: petitExtra).write(toFile: folder + "/petit.yaml", atomically: true, encoding: .utf8)
    // The other center has its own bank account (two centers never share one): its shop, terminal or régie.
    let otherPayment = payment.replacingOccurrences(of: "12345678", with: "87654321").replacingOccurrences(of: "numcli: \"123456\"", with: "numcli: \"654321\"")
    try TestCenters.small(code: "autre", places: places, payment: otherPayment, opensAt: opensAt)
        .write(toFile: folder + "/autre.yaml", atomically: true, encoding: .utf8)
    let database = Database(settings: settings, logger: logger)
    let hash = try await Passwords.hash(PortalFixture.password)
    let snapshot = try await database.run { database in
        let snapshot = try await Bootstrap.loadCenters(files: try CenterCatalog.files(in: folder), paymentRules: paymentRules, environment: [:], database: database, logger: logger)
        precondition(snapshot.failures.isEmpty, "\(snapshot.failures.flatMap(\.issues))")
        for record in snapshot.centers {
            try await database.withCenter(record.id) { c in
                for (email, child) in [("parent@example.org", "JULES"), ("voisin@example.org", "INÈS")] {
                    let family = try await AccountRepository.createFamily(c, center: record.id, email: email, name: "FAMILLE \(child)",
                                                                          passwordHash: hash, state: "active", category: nil, logger: logger)
                    try await AccountRepository.addChild(c, center: record.id, family: family, firstName: child, lastName: "X",
                                                         birthDate: youngChildBirthDate, logger: logger)
                }
            }
        }
        return snapshot
    }
    // A PostgresClient runs once: the application gets pools of its own.
    let serving = Database(settings: settings, logger: logger)
    // The test client is the trusted proxy: tests choose the client's address with X-Forwarded-For.
    var configuration = PortailApplication.Configuration(host: "127.0.0.1", port: 0, developmentPages: developmentPages)
    configuration.trustedProxies = try TrustedProxies(parsing: "127.0.0.1, ::1")
    configuration.clock = clock
    if let stalledAfter { configuration.stalledAfter = stalledAfter }
    if let idleAfter { configuration.idleAfter = idleAfter }
    let app = try await PortailApplication.build(
        configuration: configuration,
        database: serving, directory: CenterDirectory(snapshot), paymentProvider: provider, paymentRules: paymentRules,
        paymentHTTP: paymentHTTP, logger: logger
    )
    let fixture = PortalFixture(
        database: serving,
        petit: snapshot.centers.first { $0.center.code == "petit" }!,
        autre: snapshot.centers.first { $0.center.code == "autre" }!
    )
    try await app.test(setup) { client in try await body(client, fixture) }
}

@Suite struct ParentPortalTests {
    @Test func aParentBooksTwoDaysAndFindsThemInTheCart() async throws {
        try await withPortal { client, fixture in
            let browser = Browser(client)
            let login = try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            #expect(login.status == .seeOther)
            #expect(login.location == "/petit/compte")

            // One child: the wizard goes straight to the period, then to the grid.
            let periods = try await browser.get("/petit/reservations/nouvelle")
            #expect(periods.text.contains("Réservation pour JULES"))
            #expect(periods.body.contains("value=\"vacances\""))
            let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let grid = try await browser.get("/petit/reservations/nouvelle?enfant=\(childID)&periode=vacances")
            #expect(grid.status == .ok)
            let period = fixture.petit.center.periods[0]
            let d1 = period.startsOn, d2 = period.startsOn.adding(days: 1)
            #expect(grid.body.contains("value=\"\(d1.iso):journee\""))
            #expect(grid.text.contains("dernières places (3)"))
            #expect(grid.text.contains("10,00 €"))

            let selection = [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(d1.iso):journee"), ("jour", "\(d2.iso):journee")]
            let recap = try await browser.post("/petit/reservations/recapitulatif", selection)
            #expect(recap.status == .ok)
            #expect(recap.text.contains("Total 20,00 €"))
            #expect(recap.text.contains("confirmer la réservation"))

            let confirm = try await browser.post("/petit/reservations/confirmer", selection)
            #expect(confirm.status == .seeOther)
            #expect(confirm.location == "/petit/panier?ajout=00001")
            let cart = try await browser.get(confirm.location!)
            #expect(cart.text.contains("Journées du : \(d1.frenchDayMonth), \(d2.frenchDayMonth)"))
            #expect(cart.text.contains("JULES"))
            #expect(cart.text.contains("Le montant de votre réservation s'élève à 20,00 €"))
            let deadline = try #require(cart.text.firstMatch(of: /avant (\d\d):(\d\d)/))
            #expect(!deadline.1.isEmpty)

            let account = try await browser.get("/petit/compte")
            #expect(account.text.contains("00001"))
            #expect(account.text.contains("en attente de paiement"))
            #expect(account.text.contains("CENTRE PETIT / Vacances"))
            #expect(account.text.contains("Du \(d1.french) au \(d2.french)"))
            #expect(account.text.contains("Votre panier contient 1 réservation(s) pour 20,00 €"))
            let detail = try await browser.get("/petit/reservations/00001")
            #expect(detail.status == .ok)
            #expect(detail.text.contains("Total 20,00 €"))

            // The grid now shows those days as the child's, and the places as taken.
            let again = try await browser.get("/petit/reservations/nouvelle?enfant=\(childID)&periode=vacances")
            #expect(again.text.contains("déjà réservé"))

            // Removing it frees the places at once.
            let removed = try await browser.post("/petit/panier/retirer", [("numero", "00001")])
            #expect(removed.text.contains("a été retirée du panier"))
            #expect(try await browser.get("/petit/compte").text.contains("annulée"))
        }
    }

    /// Issue 15, item 8: the younger booked first, then the older: the recap says the younger's day in the
    /// cart is priced again as the 2nd child's, and the cart costs what the other order costs.
    @Test func anOlderSiblingAddedLaterRepricesTheCart() async throws {
        try await withPortal { client, fixture in
            let olderID = try await fixture.database.withCenter(fixture.petit.id) { c in
                let family = try #require(try await AccountRepository.family(c, center: fixture.petit.id, email: "parent@example.org", logger: fixture.database.logger))
                return try await AccountRepository.addChild(c, center: fixture.petit.id, family: family.id, firstName: "ANNA", lastName: "X",
                                                            birthDate: youngChildBirthDate.adding(days: -800), logger: fixture.database.logger)
            }
            let browser = Browser(client)
            _ = try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let children = try await browser.get("/petit/reservations/nouvelle")
            let ids = children.body.matches(of: /name="enfant" value="(\d+)"/).map { String($0.1) }
            let julesID = try #require(ids.first { $0 != String(olderID) })
            let d1 = fixture.petit.center.periods[0].startsOn
            let grid = try await browser.get("/petit/reservations/nouvelle?enfant=\(julesID)&periode=vacances")
            #expect(grid.text.contains("quel que soit l'ordre"))
            let jules = [("enfant", julesID), ("periode", "vacances"), ("jour", "\(d1.iso):journee")]
            _ = try await browser.post("/petit/reservations/recapitulatif", jules)
            #expect(try await browser.post("/petit/reservations/confirmer", jules).status == .seeOther)

            _ = try await browser.get("/petit/reservations/nouvelle?enfant=\(olderID)&periode=vacances")
            let anna = [("enfant", String(olderID)), ("periode", "vacances"), ("jour", "\(d1.iso):journee")]
            let recap = try await browser.post("/petit/reservations/recapitulatif", anna)
            #expect(recap.text.contains("Total 10,00 €"))
            #expect(recap.text.contains("JULES : 10,00 € → 8,00 €"))
            // The recap wrote nothing: the cart still holds JULES at 10,00 €.
            #expect(try await count(fixture, "SELECT sum(total_cents)::int FROM reservations WHERE state = 'pending_payment'") == 1000)
            #expect(try await browser.post("/petit/reservations/confirmer", anna).status == .seeOther)
            #expect(try await browser.get("/petit/compte").text.contains("Votre panier contient 2 réservation(s) pour 18,00 €"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservation_lines WHERE sibling_rank = 2 AND price_cents = 800") == 1)
        }
    }

    @Test func anotherFamilyOrCenterCannotSeeTheReservation() async throws {
        try await withPortal { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let periods = try await parent.get("/petit/reservations/nouvelle")
            let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let d1 = fixture.petit.center.periods[0].startsOn
            let confirm = try await parent.post("/petit/reservations/confirmer", [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(d1.iso):matin")])
            #expect(confirm.location == "/petit/panier?ajout=00001")

            // The neighbour at the same center: 404, as for a number that does not exist.
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            let seen = try await neighbour.get("/petit/reservations/00001")
            #expect(seen.status == .notFound)
            #expect(!seen.text.contains("JULES"))
            // Nor can the neighbour book for the parent's child.
            try await neighbour.get("/petit/compte")
            let forged = try await neighbour.post("/petit/reservations/confirmer", [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(d1.adding(days: 1).iso):matin")])
            #expect(forged.status == .notFound)

            // The same e-mail at the other center is another account, with its own reservations.
            let elsewhere = Browser(client)
            _ = try await elsewhere.login("/autre", email: "parent@example.org", password: PortalFixture.password)
            #expect(try await elsewhere.get("/autre/reservations/00001").status == .notFound)
            #expect(!(try await elsewhere.get("/autre/compte").text.contains("00001")))
            // Its session is worth nothing at the first center: it is sent to the login box.
            let crossing = try await elsewhere.get("/petit/reservations/00001")
            #expect(crossing.status == .seeOther)
            #expect(crossing.location == "/petit/?connexion=requise")
        }
    }

    @Test func formsWithoutTheirTokenAreRefused() async throws {
        try await withPortal { client, _ in
            let browser = Browser(client)
            try await browser.get("/petit/")
            let missing = try await browser.post("/petit/connexion", [("identifiant", "parent@example.org"), ("mot_de_passe", PortalFixture.password)], csrf: false)
            #expect(missing.status == .forbidden)
            #expect(missing.text.contains("ce formulaire a expiré"))
            let wrong = try await browser.post("/petit/connexion", [("csrf", "forged"), ("identifiant", "parent@example.org"), ("mot_de_passe", PortalFixture.password)], csrf: false)
            #expect(wrong.status == .forbidden)
            // Still not logged in.
            #expect(try await browser.get("/petit/compte").status == .seeOther)
        }
    }

    @Test func wrongPasswordsSlowTheAccountDown() async throws {
        try await withPortal { client, fixture in
            let browser = Browser(client)
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<10 {
                statuses.append(try await browser.login("/petit", email: "parent@example.org", password: "pas le bon").status)
            }
            #expect(statuses.prefix(4).allSatisfy { $0 == .unauthorized })
            #expect(statuses.suffix(5).allSatisfy { $0 == .tooManyRequests })
            // Even the right password waits now, and the message says nothing of whether the account exists.
            let blocked = try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.text.contains("Trop de tentatives de connexion"))
            let unknown = try await Browser(client).login("/petit", email: "personne@example.org", password: "x")
            #expect(unknown.text.contains("Identifiant ou mot de passe incorrect."))
            // The same person's guesses are counted across the federation: one password opens their families at
            // every center, so the other center's portal refuses this client too (and another center's staff
            // could not clear it) ...
            let elsewhere = try await Browser(client).login("/autre", email: "parent@example.org", password: PortalFixture.password)
            #expect(elsewhere.status == .tooManyRequests)
            #expect(try await count(fixture, "SELECT count(*) FROM person_login_throttle WHERE blocked_until > now()") == 1)
            // ... while the parent, from another address, logs in at either center, which clears only that address's count.
            let other = try await Browser(client, forwardedFor: "10.0.0.9").login("/autre", email: "parent@example.org", password: PortalFixture.password)
            #expect(other.status == .seeOther)
            #expect(try await Browser(client, forwardedFor: "10.0.0.9").login("/petit", email: "parent@example.org", password: PortalFixture.password).status == .seeOther)
            #expect(try await Browser(client).login("/petit", email: "parent@example.org", password: PortalFixture.password).status == .tooManyRequests)
        }
    }

    @Test func forgottenPasswordByASingleUseLink() async throws {
        try await withPortal { client, fixture in
            let browser = Browser(client)
            try await browser.get("/petit/mot-de-passe-oublie")
            let sent = try await browser.post("/petit/mot-de-passe-oublie", [("identifiant", "parent@example.org")])
            #expect(sent.text.contains("Si un compte existe pour cette adresse"))
            let nobody = try await browser.post("/petit/mot-de-passe-oublie", [("identifiant", "personne@example.org")])
            #expect(nobody.text == sent.text)

            let mails = try await browser.get("/petit/dev/courriels")
            let token = try #require(mails.body.firstMatch(of: /reinitialisation\?jeton=([A-Za-z0-9_-]+)/)?.1)
            let form = try await browser.get("/petit/reinitialisation?jeton=\(token)")
            #expect(form.status == .ok)
            let weak = try await browser.post("/petit/reinitialisation", [("jeton", String(token)), ("mot_de_passe", "court"), ("confirmation", "court")])
            #expect(weak.status == .badRequest)
            let done = try await browser.post("/petit/reinitialisation", [("jeton", String(token)), ("mot_de_passe", "nouveau-secret-42"), ("confirmation", "nouveau-secret-42")])
            #expect(done.text.contains("Votre mot de passe est enregistré"))
            #expect(try await browser.get("/petit/reinitialisation?jeton=\(token)").status == .gone)

            #expect(try await Browser(client).login("/petit", email: "parent@example.org", password: PortalFixture.password).status == .unauthorized)
            #expect(try await Browser(client).login("/petit", email: "parent@example.org", password: "nouveau-secret-42").status == .seeOther)
        }
    }

    @Test func loggingOutEndsTheSession() async throws {
        try await withPortal { client, _ in
            let browser = Browser(client)
            let login = try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let sessionAtLogin = browser.cookie
            #expect(login.status == .seeOther)
            #expect(try await browser.get("/petit/compte").status == .ok)
            let out = try await browser.post("/petit/deconnexion", [])
            #expect(out.status == .seeOther)
            #expect(try await browser.get("/petit/compte").status == .seeOther)
            // The old cookie, replayed, is dead too.
            browser.cookie = sessionAtLogin
            #expect(try await browser.get("/petit/compte").status == .seeOther)
        }
    }
}

@Suite struct MaintenanceTests {
    @Test func theBackgroundJobExpiresUnpaidCarts() async throws {
        try await withPortal { client, fixture in
            let browser = Browser(client)
            _ = try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let periods = try await browser.get("/petit/reservations/nouvelle")
            let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let d1 = fixture.petit.center.periods[0].startsOn
            _ = try await browser.post("/petit/reservations/confirmer", [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(d1.iso):journee")])
            let database = fixture.database
            try await database.owner.withConnection { c in
                try await c.run("UPDATE carts SET expires_at = now() - interval '1 second'", logger: database.logger)
            }
            let job = MaintenanceService(database: database, directory: CenterDirectory(.init(centers: [fixture.petit, fixture.autre], failures: [])),
                                         mail: LogMailTransport(), logger: database.logger)
            await job.runOnce()
            // Read as the owner, without the expiry that page reads do themselves: the job did it.
            let (state, taken) = try await database.owner.withConnection { c in
                let state = try await c.first("SELECT state FROM reservations", (String.self), logger: database.logger)
                let taken = try await c.first("SELECT sum(taken)::int FROM day_capacities", (Int.self), logger: database.logger)
                return (state, taken)
            }
            #expect(state == "expired")
            #expect(taken == 0)
            #expect(try await browser.get("/petit/compte").text.contains("expirée"))
        }
    }
}

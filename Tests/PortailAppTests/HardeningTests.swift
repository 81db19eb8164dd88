import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PostgresNIO
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailConfig
@testable import PortailStore

/// The attacks of issue 11, replayed: each must fail.
@Suite struct HardeningTests {
    /// A request with chosen headers, as a stranger's tool would send it.
    static func send(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:],
                     body: String? = nil) async throws -> (status: HTTPResponse.Status, body: String) {
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return (response.status, String(buffer: response.body))
    }

    @Test func anyPageNumberIsAnsweredAndTheServerLives() async throws {
        try await withPortal { client, _ in
            let browser = Browser(client)
            _ = try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            for page in ["999999999999999999", "9223372036854775807", "1000000", "2"] {
                #expect(try await browser.get("/petit/compte?page=\(page)").status != .internalServerError)
                #expect(try await browser.get("/petit/factures?page=\(page)&taille=50").status != .internalServerError)
            }
            // Past the last page: the last page; not a number: 400 with a French page.
            let last = try await browser.get("/petit/compte?page=999999")
            #expect(last.status == .ok)
            #expect(last.text.contains("Aucune réservation"))
            let garbage = try await browser.get("/petit/factures?page=-3")
            #expect(garbage.status == .badRequest)
            #expect(garbage.text.contains("Demande invalide"))
            #expect(try await browser.get("/petit/compte").status == .ok)
        }
    }

    @Test func theResetLinkAlwaysPointsToTheCentersOwnAddress() async throws {
        try await withPortal { client, fixture in
            let browser = Browser(client)
            try await browser.get("/petit/mot-de-passe-oublie")
            let body = "csrf=\(browser.csrf)&identifiant=parent%40example.org"
            var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded", .cookie: browser.cookie ?? ""]
            headers[HTTPField.Name("Host")!] = "evil.example.com"
            headers[HTTPField.Name("X-Forwarded-Host")!] = "evil.example.com"
            headers[HTTPField.Name("X-Forwarded-Proto")!] = "http"
            let sent = try await Self.send(client, .post, "/petit/mot-de-passe-oublie", headers: headers, body: body)
            #expect(sent.status == .ok)
            let mail = try await fixture.database.owner.withConnection { c in
                try await c.first("SELECT body_text FROM mail_outbox ORDER BY id DESC LIMIT 1", (String.self), logger: fixture.database.logger)
            }
            let text = try #require(mail)
            #expect(!text.contains("evil.example.com"))
            #expect(text.contains("/petit/reinitialisation?jeton="))
            #expect(text.contains("http://127.0.0.1:"))
        }
    }

    @Test func failedLoginsElsewhereNeverLockTheFamilyOut() async throws {
        try await withPortal { client, _ in
            let attacker = Browser(client, forwardedFor: "203.0.113.5")
            for _ in 0..<12 {
                _ = try await attacker.login("/petit", email: "parent@example.org", password: "pas-le-bon-mot-de-passe")
            }
            // The attacker's own address is slowed down on that account ...
            let slowed = try await attacker.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            #expect(slowed.status == .tooManyRequests)
            // ... the family, from its own address, logs in with its password.
            let family = Browser(client, forwardedFor: "198.51.100.7")
            #expect(try await family.login("/petit", email: "parent@example.org", password: PortalFixture.password).status == .seeOther)
            // Guesses from many addresses never lock the family out either: there is no block on the account alone.
            for n in 1...6 {
                let bot = Browser(client, forwardedFor: "203.0.113.\(100 + n)")
                for _ in 0..<6 { _ = try await bot.login("/petit", email: "PARENT@example.org", password: "pas-le-bon-mot-de-passe") }
            }
            #expect(try await Browser(client, forwardedFor: "198.51.100.7")
                .login("/petit", email: "parent@example.org", password: PortalFixture.password).status == .seeOther)
            // Random e-mails from one address never block the other families behind other addresses.
            let guesser = Browser(client, forwardedFor: "203.0.113.9")
            for n in 0..<25 { _ = try await guesser.login("/petit", email: "x\(n)@example.org", password: "nimporte-quoi-123") }
            #expect(try await Browser(client, forwardedFor: "198.51.100.8")
                .login("/petit", email: "voisin@example.org", password: PortalFixture.password).status == .seeOther)
        }
    }

    @Test func resetMailsAreThrottledAndAResetVoidsTheOtherLinks() async throws {
        try await withPortal { client, fixture in
            let browser = Browser(client, forwardedFor: "198.51.100.20")
            try await browser.get("/petit/mot-de-passe-oublie")
            for _ in 0..<10 {
                _ = try await browser.post("/petit/mot-de-passe-oublie", [("identifiant", "parent@example.org")])
            }
            let mails = try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE subject LIKE '%réinitialisation%'")
            #expect(mails == 3)
            // Each center sends 3 an hour, and the person's centers together 5: their other center sends 2 more.
            let elsewhere = Browser(client, forwardedFor: "198.51.100.21")
            try await elsewhere.get("/autre/mot-de-passe-oublie")
            for _ in 0..<4 {
                let asked = try await elsewhere.post("/autre/mot-de-passe-oublie", [("identifiant", "parent@example.org")])
                #expect(asked.text.contains("Si un compte existe pour cette adresse"))
            }
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE subject LIKE '%réinitialisation%'") == 5)
            let page = try await browser.get("/petit/dev/courriels")
            let tokens = page.body.matches(of: /reinitialisation\?jeton=([A-Za-z0-9_-]+)/).map { String($0.1) }
            #expect(Set(tokens).count == 3)
            let done = try await browser.post("/petit/reinitialisation", [("jeton", tokens[0]), ("mot_de_passe", "nouveau-secret-42"),
                                                                         ("confirmation", "nouveau-secret-42")])
            #expect(done.text.contains("Votre mot de passe est enregistré"))
            for other in tokens.dropFirst() {
                #expect(try await browser.get("/petit/reinitialisation?jeton=\(other)").status == .gone)
            }
            // A guessed token is refused before any password work.
            let guessed = try await browser.post("/petit/reinitialisation", [("jeton", "x"), ("mot_de_passe", "nouveau-secret-43"),
                                                                            ("confirmation", "nouveau-secret-43")])
            #expect(guessed.status == .gone)
        }
    }

    @Test func anonymousPagesWriteNothing() async throws {
        try await withPortal { client, fixture in
            for path in ["/petit/", "/petit/mot-de-passe-oublie", "/petit/", "/petit/compte"] {
                _ = try await Browser(client).get(path)
            }
            #expect(try await count(fixture, "SELECT count(*)::int FROM sessions") == 0)
            let browser = Browser(client)
            #expect(try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password).status == .seeOther)
            #expect(try await count(fixture, "SELECT count(*)::int FROM sessions") == 1)
        }
    }

    @Test func malformedInputIsRefusedNotCrashed() async throws {
        try await withPortal { client, _ in
            let browser = Browser(client)
            try await browser.get("/petit/")
            let nul = try await browser.post("/petit/connexion", [("identifiant", "a\u{0}b@example.org"), ("mot_de_passe", "x")])
            #expect(nul.status == .badRequest)
            #expect(try await Self.send(client, .get, "/petit/?x=%00").status == .badRequest)
            let huge = String(repeating: "a", count: 70_000)
            let tooLarge = try await browser.post("/petit/connexion", [("identifiant", huge), ("mot_de_passe", "x")])
            #expect(tooLarge.status == .contentTooLarge)
            let longEmail = String(repeating: "a", count: 300) + "@example.org"
            #expect(try await browser.post("/petit/connexion", [("identifiant", longEmail), ("mot_de_passe", "x")]).status == .unauthorized)
            #expect(try await browser.get("/petit/").status == .ok)
        }
    }

    @Test func aCenterCannotTakeAReservedAddressNorAThousandYearPeriod() throws {
        for code in ["api", "healthz", "metrics", "dev", "simulateur", "static"] {
            let text = TestCenters.small(code: code, places: 3)
            let result = CenterCatalog.parse(sources: [("\(code).yaml", .success(text))], paymentRules: [], environment: [:])
            #expect(result.centers.isEmpty)
            #expect(result.allIssues.contains { $0.message.contains("reserved address") })
        }
        let long = TestCenters.small(places: 3).replacing(/ends_on: \d{4}-\d\d-\d\d/, with: "ends_on: 3027-01-01")
        let result = CenterCatalog.parse(sources: [("long.yaml", .success(long))], paymentRules: [], environment: [:])
        #expect(result.allIssues.contains { $0.message.contains("at most \(CenterFileParser.maxPeriodDays)") })
    }

    @Test func aManagerCannotClimbNorReachAnotherCenter() async throws {
        try await withPortal { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let manager = try await invitedToken(client, fixture, center: "petit", email: "direction@petit.example.org", role: "manager", by: admin)
            _ = try await invitedToken(client, fixture, center: "autre", email: "direction@autre.example.org", role: "manager", by: admin)
            let roles = { try await count(fixture, "SELECT count(*)::int FROM staff_center_roles") }
            let tokens = { try await count(fixture, "SELECT count(*)::int FROM api_tokens") }
            let (rolesBefore, tokensBefore) = (try await roles(), try await tokens())

            // The federation administrator's e-mail, another center's manager's: no token, nothing changed.
            let climb = try await apiJSON(client, .post, "/api/centers/petit/staff", token: manager,
                                          json: #"{"email": "admin@federation.example.org", "role": "manager"}"#)
            #expect(climb.status == .forbidden && climb.json["token"] == nil)
            let reach = try await apiJSON(client, .post, "/api/centers/petit/staff", token: manager,
                                          json: #"{"email": "DIRECTION@autre.example.org", "role": "staff"}"#)
            #expect(reach.status == .forbidden && reach.json["token"] == nil)
            // The same answer for both: a manager learns nothing about accounts elsewhere.
            #expect(climb.json["detail"] as? String == (reach.json["detail"] as? String)?.replacingOccurrences(of: "DIRECTION@autre", with: "admin@federation"))
            let (rolesAfter, tokensAfter) = (try await roles(), try await tokens())
            #expect(rolesAfter == rolesBefore && tokensAfter == tokensBefore)
            #expect(try await apiJSON(client, .get, "/api/centers/autre/staff", token: manager).status == .notFound)

            // Plain staff read and book; money, places and staff are for managers (403 naming the role).
            let staff = try await invitedToken(client, fixture, center: "petit", email: "equipe@petit.example.org", role: "staff", by: manager)
            #expect(try await apiJSON(client, .get, "/api/centers/petit/families", token: staff).status == .ok)
            let refused = try await apiJSON(client, .patch, "/api/centers/petit/periods/vacances", token: staff, json: #"{"places": {"matin": 1}}"#)
            #expect(refused.status == .forbidden)
            #expect((refused.json["detail"] as? String)?.contains("manager role") == true)
            for (method, path) in [(HTTPRequest.Method.post, "/api/centers/petit/payments"), (.post, "/api/centers/petit/refunds"),
                                   (.post, "/api/centers/petit/invoices"), (.post, "/api/centers/petit/staff"),
                                   (.post, "/api/centers/petit/reservations/1/cancel")] {
                #expect(try await apiJSON(client, method, path, token: staff, json: "{}").status == .forbidden, "\(path)")
            }

            // The manager sees the staff member's tokens, then removes the role: the token stops at once.
            let staffID = try #require(((try await apiJSON(client, .get, "/api/centers/petit/staff", token: manager)).json["staff"]
                as? [[String: Any]])?.first { $0["email"] as? String == "equipe@petit.example.org" }?["id"] as? Int)
            let listed = try await apiJSON(client, .get, "/api/centers/petit/staff/\(staffID)/tokens", token: manager)
            #expect((listed.json["tokens"] as? [[String: Any]])?.count == 1)
            #expect(try await apiJSON(client, .delete, "/api/centers/petit/staff/\(staffID)", token: manager).status == .noContent)
            #expect(try await apiJSON(client, .get, "/api/centers/petit/families", token: staff).status == .notFound)
            let audit = try await apiJSON(client, .get, "/api/centers/petit/audit", token: manager)
            let actions = (audit.json["entries"] as? [[String: Any]])?.compactMap { $0["action"] as? String } ?? []
            #expect(actions.contains("staff.grant") && actions.contains("staff.revoke"))

            // A role removed before its invitation is accepted voids the invitation.
            let late = try await apiJSON(client, .post, "/api/centers/petit/staff", token: manager, json: #"{"email": "tard@petit.example.org", "role": "staff"}"#)
            let lateID = try #require(late.json["id"] as? Int)
            #expect(try await apiJSON(client, .delete, "/api/centers/petit/staff/\(lateID)", token: manager).status == .noContent)
            let mail = try await fixture.database.owner.withConnection { c in
                try await c.first("SELECT body_text FROM mail_outbox WHERE to_address = 'tard@petit.example.org'", (String.self), logger: fixture.database.logger)
            }
            #expect(mail?.contains("http://127.0.0.1:") == true && mail?.contains("/petit/api/") == false)
            let code = try #require(mail?.firstMatch(of: /"code": "([A-Za-z0-9_-]+)"/)?.1)
            let voided = try await client.execute(uri: "/api/invitations/accept", method: .post, headers: [.contentType: "application/json"],
                                                  body: ByteBuffer(string: #"{"code": "\#(code)"}"#))
            #expect(voided.status == .notFound)

            // Every token expires, within a year at most.
            #expect(try await apiJSON(client, .post, "/api/tokens", token: manager, json: #"{"expires_in_days": 4000}"#).status == .unprocessableContent)
            let mine = try await apiJSON(client, .get, "/api/tokens", token: manager)
            #expect((mine.json["tokens"] as? [[String: Any]])?.allSatisfy { $0["expires_at"] is String } == true)
            // An invitation is used once.
            let reused = try await client.execute(uri: "/api/invitations/accept", method: .post, headers: [.contentType: "application/json"],
                                                  body: ByteBuffer(string: #"{"code": "\#(String(repeating: "a", count: 43))"}"#))
            #expect(reused.status == .notFound)
        }
    }

    @Test func theApplicationRoleCannotReadSecretsNorMintAdministrators() async throws {
        try await withPortal { _, fixture in
            let database = fixture.database
            let petit = fixture.petit.id
            for sql in ["SELECT password_hash FROM families", "SELECT token_hash FROM api_tokens",
                        "INSERT INTO staff_users (email, is_federation_admin) VALUES ('x@example.org', true)"] {
                await #expect(throws: (any Error).self, "\(sql)") {
                    try await database.withCenter(petit) { c in try await c.query(PostgresQuery(unsafeSQL: sql), logger: database.logger) }
                }
            }
            // The owner too stays inside the center it set.
            let seen = try await database.owner.withConnection { c in
                try await Database.transaction(on: c, center: petit, logger: database.logger) { c in
                    try await c.first("SELECT count(DISTINCT center_id)::int FROM families", (Int.self), logger: database.logger)
                }
            }
            #expect(seen == 1)
        }
    }

    @Test func pagesForbidInlineScriptsFramingAndLeakingAddresses() async throws {
        try await withPortal { client, fixture in
            let browser = Browser(client)
            _ = try await browser.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await bookDays(browser, fixture: fixture, [0])
            try await browser.get("/petit/panier")
            let payment = try await client.execute(uri: "/petit/panier/paiement", method: .post,
                                                   headers: [.contentType: "application/x-www-form-urlencoded", .cookie: browser.cookie ?? ""],
                                                   body: ByteBuffer(string: "csrf=\(browser.csrf)"))
            #expect(payment.status == .ok)
            #expect(!String(buffer: payment.body).contains("<script>"))
            for response in [payment, try await client.execute(uri: "/petit/", method: .get),
                             try await client.execute(uri: "/inconnu/", method: .get), try await client.execute(uri: "/api/centers", method: .get)] {
                let csp = try #require(response.headers[SecurityHeaders.csp])
                #expect(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"))
                #expect(response.headers[SecurityHeaders.frameOptions] == "DENY")
                #expect(response.headers[SecurityHeaders.contentTypeOptions] == "nosniff")
                #expect(response.headers[SecurityHeaders.referrerPolicy] == "same-origin")
            }
            let script = try await client.execute(uri: "/petit/static/portail.js", method: .get)
            #expect(script.status == .ok && String(buffer: script.body).contains("vers-la-banque"))
        }
    }

    @Test func cookiesAreSecureWhenTheCentersAddressIsHTTPSWhateverTheRequestSays() async throws {
        try await withPortal(setup: .router, developmentPages: false) { client, _ in
            let home = try await client.execute(uri: "/petit/", method: .get, headers: [HTTPField.Name("X-Forwarded-Proto")!: "http"])
            #expect(home.status == .ok)
            let cookie = try #require(home.headers[values: .setCookie].first)
            // Path-prefixed, the cookie still has the __Host- prefix (path /, no domain) and names its center.
            #expect(cookie.hasPrefix("__Host-portail_csrf-petit="))
            #expect(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"))
            // Attributes come in any order: the path is exactly "/".
            #expect(cookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.contains("Path=/"))
            #expect(home.headers[SecurityHeaders.hsts] == "max-age=31536000")
        }
    }

    @Test func forwardedAddressesAreBelievedFromTrustedProxiesOnly() throws {
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8, ::1")
        #expect(proxies.client(peer: "203.0.113.1", forwardedFor: ["198.51.100.7"]) == "203.0.113.1")
        #expect(proxies.client(peer: "10.1.2.3", forwardedFor: ["198.51.100.7"]) == "198.51.100.7")
        // A client cannot hide behind an address it writes itself: the nearest untrusted hop counts.
        #expect(proxies.client(peer: "10.1.2.3", forwardedFor: ["1.2.3.4, 198.51.100.7, 10.9.9.9"]) == "198.51.100.7")
        #expect(proxies.client(peer: "::1", forwardedFor: ["nonsense"]) == "::1")
        // Ports, brackets and IPv4-mapped addresses are what proxies write: the address stays the client's.
        #expect(proxies.client(peer: "::ffff:10.0.0.1", forwardedFor: ["198.51.100.7:5678"]) == "198.51.100.7")
        #expect(proxies.client(peer: "10.0.0.1", forwardedFor: ["[2001:db8::7]:443"]) == "2001:db8::7")
        #expect(LoginThrottle.clientKey("2001:db8:1:2:3:4:5:6") == LoginThrottle.clientKey("2001:db8:1:2:ffff::1"))
        #expect(SMTPMailTransport.clean("Objet\r\nBcc: x@example.org") == "ObjetBcc: x@example.org")
        #expect(throws: ConfigurationError.self) { try TrustedProxies(parsing: "10.0.0.0/33") }
        #expect(throws: ConfigurationError.self) { try TrustedProxies(parsing: "proxy.example.org") }
    }

    @Test func allocationsThatWouldOverflowAreRefused() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let max = Int.max
            let body = #"{"family_id": 1, "method": "cheque", "amount_cents": 1000, "allocations": "#
                + #"[{"invoice": "PET00001", "amount_cents": \#(max)}, {"invoice": "PET00001", "amount_cents": \#(max)}]}"#
            let answer = try await apiJSON(client, .post, "/api/centers/petit/payments", token: admin, json: body,
                                           headers: [.init("Idempotency-Key")!: "overflow"])
            #expect(answer.status == .unprocessableContent)
            #expect(try await apiJSON(client, .get, "/api/centers/petit/families", token: admin).status == .ok)
        }
    }

    @Test func linksDieWithDeactivationAndEmailChangesThatStaffCannotMake() async throws {
        try await withPortal { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let manager = try await invitedToken(client, fixture, center: "petit", email: "direction@petit.example.org", role: "manager", by: admin)
            let staff = try await invitedToken(client, fixture, center: "petit", email: "equipe@petit.example.org", role: "staff", by: manager)
            let families = try await apiJSON(client, .get, "/api/centers/petit/families", token: manager)
            let id = try #require((families.json["families"] as? [[String: Any]])?.first { $0["email"] as? String == "parent@example.org" }?["id"] as? Int)
            let browser = Browser(client)
            try await browser.get("/petit/mot-de-passe-oublie")
            _ = try await browser.post("/petit/mot-de-passe-oublie", [("identifiant", "parent@example.org")])
            let token = try #require(try await browser.get("/petit/dev/courriels").body.firstMatch(of: /reinitialisation\?jeton=([A-Za-z0-9_-]+)/)?.1)

            // Plain staff cannot hand the login to another address; a manager can, and the old address hears of it.
            let byStaff = try await apiJSON(client, .patch, "/api/centers/petit/families/\(id)", token: staff, json: #"{"email": "moi@evil.example"}"#)
            #expect(byStaff.status == .forbidden)
            #expect(try await apiJSON(client, .patch, "/api/centers/petit/families/\(id)", token: staff, json: #"{"phone": "0600000000"}"#).status == .ok)
            let byManager = try await apiJSON(client, .patch, "/api/centers/petit/families/\(id)", token: manager,
                                              json: #"{"email": "parent.nouveau@example.org"}"#)
            #expect(byManager.status == .ok)
            #expect(try await browser.get("/petit/reinitialisation?jeton=\(token)").status == .gone)
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE to_address = 'parent@example.org' AND subject LIKE '%adresse de connexion%'") == 1)

            // A deactivated family's links are void: it cannot reactivate itself through one.
            try await browser.get("/petit/mot-de-passe-oublie")
            _ = try await browser.post("/petit/mot-de-passe-oublie", [("identifiant", "parent.nouveau@example.org")])
            let second = try #require(try await browser.get("/petit/dev/courriels").body.matches(of: /reinitialisation\?jeton=([A-Za-z0-9_-]+)/)
                .map { String($0.1) }.first { $0 != String(token) })
            #expect(try await browser.get("/petit/reinitialisation?jeton=\(second)").status == .ok)
            #expect(try await apiJSON(client, .post, "/api/centers/petit/families/\(id)/deactivate", token: manager).status == .ok)
            let revived = try await browser.post("/petit/reinitialisation", [("jeton", String(second)), ("mot_de_passe", "nouveau-secret-42"),
                                                                            ("confirmation", "nouveau-secret-42")])
            #expect(revived.status == .gone)
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE state = 'deactivated'") == 1)
        }
    }

    @Test func everyFirstSegmentOfTheRouterIsAReservedCenterCode() async throws {
        let database = Database(settings: try await TestCluster.shared.freshDatabase(), logger: TestCluster.logger)
        let segments = Set(try await RouteCatalog.routes(database).compactMap { route -> String? in
            let path = route.split(separator: " ")[1]
            return path.split(separator: "/").first.map(String.init)
        })
        #expect(segments.subtracting(CenterFileParser.reservedCodes).sorted() == [], "a center with that code would shadow these routes")
        #expect(segments.count > 10)
    }
}

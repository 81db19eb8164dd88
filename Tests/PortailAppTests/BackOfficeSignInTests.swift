import Foundation
import Hummingbird
import HummingbirdTesting
@testable import PortailStore
import HTTPTypes
import PostgresNIO
import Testing
@testable import PortailApp

/// The back office's door (issue 14, item 1): an invitation's link chooses the password, managers and
/// federation administrators give a TOTP code (enrolled at the first sign-in, with recovery codes), and
/// nobody sees a center that is not theirs.
@Suite struct BackOfficeSignInTests {
    static let password = "Un mot de passe du personnel"

    /// The code the authenticator app shows now for the key of the enrolment page.
    func code(for page: String, at date: Date = Date()) throws -> String {
        let grouped = try #require(page.firstMatch(of: /<code id="cle-totp">([A-Z2-7 ]+)<\/code>/)?.1)
        let secret = String(grouped).replacingOccurrences(of: " ", with: "")
        return TOTP.code(secret: try #require(TOTP.decodeBase32(secret)), step: TOTP.step(at: date))
    }

    /// The manager invited through the API chooses a password from the mail's link.
    func invitedManager(_ client: any TestClientProtocol, _ fixture: PortalFixture, email: String, role: String = "manager", center: String = "petit") async throws {
        let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
        let created = try await apiJSON(client, .post, "/api/centers/\(center)/staff", token: admin, json: #"{"email": "\#(email)", "role": "\#(role)"}"#)
        #expect(created.status == .created)
        let mail = try await fixture.database.owner.withConnection { c in
            try await c.first("SELECT body_text FROM mail_outbox WHERE to_address = \(email) ORDER BY id DESC LIMIT 1", (String.self),
                              logger: fixture.database.logger)
        }
        let link = try #require(mail?.firstMatch(of: /\/admin\/invitation\?code=([A-Za-z0-9_-]+)/))
        let browser = Browser(client)
        let page = try await browser.get("/admin/invitation?code=\(link.1)")
        #expect(page.status == .ok && page.text.contains(email))
        let weak = try await browser.post("/admin/invitation", [("code", String(link.1)), ("mot_de_passe", "court"), ("confirmation", "court")])
        #expect(weak.status == .unprocessableContent && weak.text.contains("au moins 10 caractères"))
        let chosen = try await browser.post("/admin/invitation", [("code", String(link.1)), ("mot_de_passe", Self.password), ("confirmation", Self.password)])
        #expect(chosen.status == .seeOther && chosen.location == "/admin/connexion?etat=mot-de-passe-choisi")
        // The link is used up.
        #expect(try await browser.get("/admin/invitation?code=\(link.1)").status == .notFound)
    }

    /// An invitation whose role was removed before it was used chooses no password.
    @Test func aRemovedRolesInvitationChoosesNoPassword() async throws {
        try await withPortal { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let created = try await apiJSON(client, .post, "/api/centers/petit/staff", token: admin, json: #"{"email": "parti@petit.example.org", "role": "staff"}"#)
            let staffID = try #require(created.json["id"] as? Int)
            let mail = try await fixture.database.owner.withConnection { c in
                try await c.first("SELECT body_text FROM mail_outbox WHERE to_address = 'parti@petit.example.org' ORDER BY id DESC LIMIT 1", (String.self),
                                  logger: fixture.database.logger)
            }
            let link = try #require(mail?.firstMatch(of: /\/admin\/invitation\?code=([A-Za-z0-9_-]+)/))
            #expect(try await apiJSON(client, .delete, "/api/centers/petit/staff/\(staffID)", token: admin).status == .noContent)
            let browser = Browser(client)
            #expect(try await browser.get("/admin/invitation?code=\(link.1)").status == .notFound)
        }
    }

    func signIn(_ browser: Browser, email: String, password: String = password) async throws -> Browser.Page {
        try await browser.get("/admin/connexion")
        return try await browser.post("/admin/connexion", [("email", email), ("mot_de_passe", password)])
    }

    @Test func aManagerEnrolsTOTPAtTheFirstSignInThenNeedsACodeEachTime() async throws {
        try await withPortal { client, fixture in
            try await invitedManager(client, fixture, email: "directrice@petit.example.org")
            let browser = Browser(client)
            let signedIn = try await signIn(browser, email: "Directrice@petit.example.org")
            #expect(signedIn.status == .seeOther && signedIn.location == "/admin/verification")
            // Half signed in: no page of the back office yet.
            #expect(try await browser.get("/admin/").location == "/admin/verification")
            #expect(try await browser.get("/admin/centres/petit").location == "/admin/verification")
            let enrol = try await browser.get("/admin/verification")
            #expect(enrol.text.contains("Activer et continuer") && enrol.body.contains("otpauth://totp/"))
            // The same key on a reload (the app may have read it already).
            let again = try await browser.get("/admin/verification")
            #expect(try code(for: again.body) == code(for: enrol.body))
            let wrong = try await browser.post("/admin/verification", [("code", "000000")])
            #expect(wrong.status == .unauthorized && wrong.text.contains("n'est pas le bon"))
            let first = try code(for: enrol.body)
            let halfway = browser.jar  // the session's cookie before the second factor
            let codes = try await browser.post("/admin/verification", [("code", first)])
            // The second factor renews the session's token: the one seen before it opens nothing.
            let stale = Browser(client)
            stale.jar = halfway
            #expect(try await stale.get("/admin/centres/petit").location == "/admin/connexion")
            #expect(codes.status == .ok && codes.text.contains("codes de secours"))
            let recovery = codes.body.matches(of: /<li><code>([A-Z2-9]{4}-[A-Z2-9]{4})<\/code><\/li>/).map { String($0.1) }
            #expect(recovery.count == 10 && Set(recovery).count == 10)
            // Signed in: one center, its dashboard.
            #expect(try await browser.get("/admin/").location == "/admin/centres/petit")
            let dashboard = try await browser.get("/admin/centres/petit")
            #expect(dashboard.status == .ok && dashboard.text.contains("Enfants attendus") && dashboard.text.contains("responsable"))
            // Another center is not hers, and says nothing of itself.
            let other = try await browser.get("/admin/centres/autre")
            #expect(other.status == .notFound && !other.text.contains("autre"))
            try await browser.post("/admin/deconnexion", [])
            #expect(try await browser.get("/admin/").location == "/admin/connexion")

            // The next sign-in asks for a code; the code already used is refused (a step counts once).
            let next = Browser(client)
            #expect(try await signIn(next, email: "directrice@petit.example.org").location == "/admin/verification")
            let asked = try await next.get("/admin/verification")
            #expect(asked.text.contains("Code à 6 chiffres") && !asked.body.contains("cle-totp"))
            let replay = try await next.post("/admin/verification", [("code", first)])
            #expect(replay.status == .unauthorized)
            // A recovery code works once.
            #expect(try await next.post("/admin/verification", [("code_secours", recovery[0].lowercased())]).location == "/admin/")
            let third = Browser(client)
            _ = try await signIn(third, email: "directrice@petit.example.org")
            try await third.get("/admin/verification")
            #expect(try await third.post("/admin/verification", [("code_secours", recovery[0])]).status == .unauthorized)
        }
    }

    @Test func staffWithoutTheManagerRoleSignInWithTheirPasswordAlone() async throws {
        try await withPortal { client, fixture in
            try await invitedManager(client, fixture, email: "animateur@petit.example.org", role: "staff")
            // A parent books a day and pays it: the dashboard counts it.
            let parent = Browser(client)
            let form = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            #expect(try await notify(client, bankNotification(form)) == .ok)
            let browser = Browser(client)
            #expect(try await signIn(browser, email: "animateur@petit.example.org").location == "/admin/")
            let dashboard = try await browser.get("/admin/centres/petit")
            #expect(dashboard.text.contains("équipe"))
            #expect(dashboard.text.contains("1 réservation(s), 1 paiement(s) reçu(s) pour 10,00"), "\(dashboard.text)")
            #expect(dashboard.text.contains("Aucune facture impayée") && dashboard.text.contains("Aucun paiement en ligne à vérifier"))
            // The heat map: the booked day has 2 places of 3 left, the others 3.
            #expect(dashboard.text.contains("2 places libres sur 3") && dashboard.text.contains("3 places libres sur 3"))
            // The families: found by a child's name without its accent, by e-mail, or by several words.
            let ines = try await browser.get("/admin/centres/petit/familles?q=ines")
            #expect(ines.text.contains("voisin@example.org") && !ines.text.contains("parent@example.org"), "\(ines.text)")
            let byMail = try await browser.get("/admin/centres/petit/familles?q=parent%40example")
            #expect(byMail.text.contains("JULES") && !byMail.text.contains("voisin@example.org"))
            #expect(try await browser.get("/admin/centres/petit/familles?q=zzz%25").text.contains("Aucune famille ne correspond"))
            // The search reads each family's folded text, kept as its children change.
            try await fixture.execute("UPDATE children SET first_name = 'Zoé' WHERE center_id = \(fixture.petit.id) AND first_name ILIKE 'in_s'")
            #expect(try await browser.get("/admin/centres/petit/familles?q=ZOE").text.contains("voisin@example.org"))
            try await fixture.execute("UPDATE families SET name = 'LÉGER Anaïs' WHERE center_id = \(fixture.petit.id) AND email = 'voisin@example.org'")
            #expect(try await browser.get("/admin/centres/petit/familles?q=leger%20anais%20zoe").text.contains("voisin@example.org"))
            #expect(try await browser.get("/admin/centres/petit/familles?q=ines").text.contains("Aucune famille ne correspond"))
            let id = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            let family = try await browser.get("/admin/centres/petit/familles/\(id)")
            #expect(family.status == .ok && family.text.contains("JULES") && family.text.contains("confirmée") && family.text.contains("Reste dû : 0,00"), "\(family.status) \(family.text)")
            // A family of the other center, through this center's address: unknown here.
            let elsewhere = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.autre.id)")
            #expect(try await browser.get("/admin/centres/petit/familles/\(elsewhere)").status == .notFound)
            #expect(try await browser.get("/admin/centres/autre/familles/\(elsewhere)").status == .notFound)
            #expect(try await browser.get("/admin/centres/petit/familles/abc").status == .notFound)
            #expect(try await browser.get("/admin/centres/autre").status == .notFound)
            // The register of the booked day: the child, the parent's phone; as CSV too. Another day is empty.
            let day = fixture.petit.center.periods[0].startsOn
            let register = try await browser.get("/admin/centres/petit/registre?jour=\(day.iso)")
            #expect(register.status == .ok && register.text.contains("1 enfant(s) attendu(s)") && register.text.contains("JULES"), "\(register.text)")
            #expect(register.text.contains("3-11 ans"))
            #expect(!register.text.contains("INÈS"))
            let csv = try await browser.get("/admin/centres/petit/registre.csv?jour=\(day.iso)")
            #expect(csv.status == .ok && csv.body.contains("JULES") && csv.body.contains("FAMILLE JULES"))
            #expect(try await browser.get("/admin/centres/petit/registre?jour=\(day.adding(days: 1).iso)").text.contains("Aucun enfant"))
            // A second child that day: counted even past the lines asked for (the page shows 2,000 at most, the CSV all).
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            try await bookDays(neighbour, fixture: fixture, [0])
            #expect(try await browser.get("/admin/centres/petit/registre?jour=\(day.iso)").text.contains("2 enfant(s) attendu(s)"))
            let (first, total) = try await fixture.database.withCenter(fixture.petit.id) { c in
                try await CenterDashboard.register(c, center: fixture.petit.id, day: day, limit: 1, logger: fixture.database.logger)
            }
            #expect(first.count == 1 && total == 2)
            let both = try await browser.get("/admin/centres/petit/registre.csv?jour=\(day.iso)").body
            #expect(both.contains("Zoé X") && both.contains("JULES X"), "\(both)")
            // Streamed with its header first, one line a child, in the page's order (by name).
            #expect(both.hasPrefix("\u{FEFF}Jour;Enfant;Âge;Groupe d'âge;Unités;Famille;Téléphone;État\r\n"), "\(both)")
            #expect(both.split(separator: "\r\n").count == 3)
            #expect(try await browser.get("/admin/centres/petit/registre?jour=2026-02-30").status == .badRequest)
            #expect(try await browser.get("/admin/centres/autre/registre").status == .notFound)
            // Promoted to manager while signed in: from the next page on, a second factor is needed.
            try await fixture.execute("UPDATE staff_center_roles SET role = 'manager' WHERE staff_id = (SELECT id FROM staff_users WHERE email = 'animateur@petit.example.org')")
            #expect(try await browser.get("/admin/centres/petit").location == "/admin/verification")
        }
    }

    /// A back-office session ends after 30 minutes without a request; each request pushes that back, never
    /// past the session's 12 hours.
    @Test func anIdleSessionEndsAndActivityKeepsItUpToItsEnd() async throws {
        try await withPortal { client, fixture in
            try await invitedManager(client, fixture, email: "animateur@petit.example.org", role: "staff")
            let browser = Browser(client)
            #expect(try await signIn(browser, email: "animateur@petit.example.org").location == "/admin/")
            let session = "FROM staff_sessions x JOIN staff_users s ON s.id = x.staff_id WHERE s.email = 'animateur@petit.example.org'"
            let owner = { (sql: String) in try await fixture.database.owner.withConnection { c in try await c.query(PostgresQuery(unsafeSQL: sql), logger: fixture.database.logger).collect() } }
            // Signed in: idle deadline in 30 minutes, end in 12 hours.
            #expect(try await count(fixture, "SELECT count(*)::int \(session) AND x.expires_at BETWEEN now() + interval '29 minutes' AND now() + interval '31 minutes' AND x.ends_at > now() + interval '11 hours'") == 1)
            // A request 25 minutes later pushes the deadline back to 30 minutes from then.
            _ = try await owner("UPDATE staff_sessions x SET expires_at = now() + interval '5 minutes' FROM staff_users s WHERE s.id = x.staff_id AND s.email = 'animateur@petit.example.org'")
            #expect(try await browser.get("/admin/centres/petit").status == .ok)
            #expect(try await count(fixture, "SELECT count(*)::int \(session) AND x.expires_at > now() + interval '29 minutes'") == 1)
            // Never past its end.
            _ = try await owner("UPDATE staff_sessions x SET ends_at = now() + interval '2 minutes', expires_at = now() + interval '1 minute' FROM staff_users s WHERE s.id = x.staff_id AND s.email = 'animateur@petit.example.org'")
            #expect(try await browser.get("/admin/centres/petit").status == .ok)
            #expect(try await count(fixture, "SELECT count(*)::int \(session) AND x.expires_at <= x.ends_at AND x.expires_at > now() + interval '1 minute'") == 1)
            // 30 minutes without a request: signed out.
            _ = try await owner("UPDATE staff_sessions x SET expires_at = now() - interval '1 second' FROM staff_users s WHERE s.id = x.staff_id AND s.email = 'animateur@petit.example.org'")
            #expect(try await browser.get("/admin/centres/petit").location == "/admin/connexion")
        }
    }

    @Test func guessingIsSlowedAndFormsNeedTheirToken() async throws {
        try await withPortal { client, fixture in
            try await invitedManager(client, fixture, email: "directrice@petit.example.org")
            let browser = Browser(client)
            try await browser.get("/admin/connexion")
            // A form without its token is refused before anything is checked.
            let forged = try await browser.post("/admin/connexion", [("email", "directrice@petit.example.org"), ("mot_de_passe", Self.password)], csrf: false)
            #expect(forged.status == .forbidden)
            try await browser.get("/admin/connexion")
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<6 {
                statuses.append(try await browser.post("/admin/connexion", [("email", "directrice@petit.example.org"), ("mot_de_passe", "pas le bon mot de passe")]).status)
            }
            #expect(statuses.prefix(4).allSatisfy { $0 == .unauthorized } && statuses.last == .tooManyRequests)
            // Even the right password waits now.
            #expect(try await browser.post("/admin/connexion", [("email", "directrice@petit.example.org"), ("mot_de_passe", Self.password)]).status == .tooManyRequests)
            // An unknown address is answered like a wrong password.
            let unknown = try await Browser(client).get("/admin/connexion")
            #expect(unknown.status == .ok)
        }
    }

    /// RFC 6238's vectors for SHA-1 (8 digits), and the 6 digits the apps show.
    @Test func totpMatchesTheRFCVectors() throws {
        let secret = Array("12345678901234567890".utf8)
        #expect(TOTP.code(secret: secret, step: 59 / 30, digits: 8) == "94287082")
        #expect(TOTP.code(secret: secret, step: 1_111_111_109 / 30, digits: 8) == "07081804")
        #expect(TOTP.code(secret: secret, step: 20_000_000_000 / 30, digits: 8) == "65353130")
        #expect(TOTP.code(secret: secret, step: 59 / 30) == "287082")
        let base32 = TOTP.base32(secret)
        #expect(base32 == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" && TOTP.decodeBase32(base32) == secret)
        let at = Date(timeIntervalSince1970: 59)
        #expect(TOTP.matchingStep("287 082", secret: base32, at: at) == 1)
        #expect(TOTP.matchingStep("287082", secret: base32, at: at.addingTimeInterval(30)) == 1)  // the previous step still counts
        #expect(TOTP.matchingStep("287082", secret: base32, at: at.addingTimeInterval(90)) == nil)
        #expect(TOTP.matchingStep("28708a", secret: base32, at: at) == nil)
    }

    /// A manager through the invitation, the password and the TOTP enrolment: a browser signed in.
    func signedInManager(_ client: any TestClientProtocol, _ fixture: PortalFixture) async throws -> Browser {
        try await invitedManager(client, fixture, email: "directrice@petit.example.org")
        let browser = Browser(client)
        _ = try await signIn(browser, email: "directrice@petit.example.org")
        let enrol = try await browser.get("/admin/verification")
        #expect(try await browser.post("/admin/verification", [("code", try code(for: enrol.body))]).status == .ok)
        return browser
    }

    /// Books `days` (offsets in petit's period) for the parent's child as one reservation: at a center
    /// without online payment, it is invoiced at once.
    func bookInvoiced(_ parent: Browser, _ fixture: PortalFixture, days: [Int]) async throws {
        let periods = try await parent.get("/petit/reservations/nouvelle")
        let child = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
        let start = fixture.petit.center.periods[0].startsOn
        let ticked = days.map { ("jour", "\(start.adding(days: $0).iso):journee") }
        _ = try await parent.post("/petit/reservations/confirmer", [("enfant", String(child)), ("periode", "vacances")] + ticked)
    }

    /// "Saisir un règlement": the oldest open invoices first by default, or as the form says; a double
    /// click is one payment; over-allocating is refused with what the invoice lacks; the team cannot.
    @Test func aManagerRecordsAChequeThatSettlesTheOldestInvoicesFirst() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            try await bookInvoiced(parent, fixture, days: [0])
            try await bookInvoiced(parent, fixture, days: [1])
            #expect(try await count(fixture, "SELECT count(*)::int FROM invoices WHERE kind = 'invoice'") == 2)
            let browser = try await signedInManager(client, fixture)
            let id = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            let page = try await browser.get("/admin/centres/petit/familles/\(id)")
            #expect(page.text.contains("Saisir un règlement") && page.text.contains("Facture PET00001 (reste dû 10,00") && page.text.contains("Facture PET00002"))
            let key = try #require(page.body.firstMatch(of: /name="cle" value="([A-Za-z0-9_-]+)"/)?.1)
            // A cheque needs its number.
            let noNumber = try await browser.post("/admin/centres/petit/familles/\(id)/reglements",
                                                  [("cle", String(key)), ("montant", "15,00"), ("moyen", "cheque"), ("numero", ""), ("banque", "")])
            #expect(noNumber.status == .unprocessableContent && noNumber.text.contains("numéro du chèque"))
            let fields = [("cle", String(key)), ("montant", "15,00"), ("moyen", "cheque"), ("numero", "1234567"), ("banque", "CIC"),
                          ("facture_PET00001", ""), ("facture_PET00002", "")]
            let recorded = try await browser.post("/admin/centres/petit/familles/\(id)/reglements", fields)
            #expect(recorded.status == .seeOther && recorded.location == "/admin/centres/petit/familles/\(id)?reglement=PET-P00001")
            // A double click: the same payment.
            _ = try await browser.post("/admin/centres/petit/familles/\(id)/reglements", fields)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            #expect(try await count(fixture, "SELECT coalesce(sum(amount_cents), 0)::int FROM allocations a JOIN invoices i ON i.center_id = a.center_id AND i.id = a.invoice_id WHERE i.number = 'PET00001'") == 1000)
            #expect(try await count(fixture, "SELECT coalesce(sum(amount_cents), 0)::int FROM allocations a JOIN invoices i ON i.center_id = a.center_id AND i.id = a.invoice_id WHERE i.number = 'PET00002'") == 500)
            let after = try await browser.get(try #require(recorded.location))
            #expect(after.text.contains("Règlement PET-P00001 enregistré") && after.text.contains("Reste dû : 5,00"))
            #expect(!after.text.contains("Facture PET00001 (reste dû"))  // settled: no longer offered
            #expect(try await parent.get("/petit/factures").text.contains("(par CHÈQUE)"))
            // More than an invoice lacks, said as the form allocates it: refused, nothing recorded.
            let next = try #require(after.body.firstMatch(of: /name="cle" value="([A-Za-z0-9_-]+)"/)?.1)
            let over = try await browser.post("/admin/centres/petit/familles/\(id)/reglements",
                                              [("cle", String(next)), ("montant", "9,00"), ("moyen", "especes"), ("numero", ""), ("banque", ""),
                                               ("facture_PET00002", "9,00")])
            #expect(over.status == .unprocessableContent && over.text.contains("n'attend plus que 5,00"), "\(over.text)")
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            // The admin API, without allocations, settles the same way and says what it settled.
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let api = try await apiJSON(client, .post, "/api/centers/petit/payments", token: admin,
                                        json: #"{"family_id": \#(id), "method": "virement", "amount_cents": 800, "reference": "VIR-1"}"#,
                                        headers: [.init("Idempotency-Key")!: "virement-1"])
            #expect(api.status == .created)
            let allocations = try #require(api.json["allocations"] as? [[String: Any]])
            #expect(allocations.count == 1 && allocations[0]["invoice"] as? String == "PET00002" && allocations[0]["amount_cents"] as? Int == 500)
            #expect(try await parent.get("/petit/factures").text.contains("Avoir disponible : 3,00"))
        }
    }

    @Test func theTeamReadsFamiliesButRecordsNoPayment() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            try await invitedManager(client, fixture, email: "animateur@petit.example.org", role: "staff")
            let browser = Browser(client)
            _ = try await signIn(browser, email: "animateur@petit.example.org")
            let id = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            let page = try await browser.get("/admin/centres/petit/familles/\(id)")
            #expect(page.status == .ok && !page.text.contains("Saisir un règlement"))
            let refused = try await browser.post("/admin/centres/petit/familles/\(id)/reglements",
                                                 [("cle", "x"), ("montant", "10"), ("moyen", "especes"), ("numero", ""), ("banque", "")])
            #expect(refused.status == .forbidden)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 0)
        }
    }
}

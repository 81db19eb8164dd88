import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// Creates a staff member as the CLI does and returns a token for them.
func staffToken(_ fixture: PortalFixture, email: String, federationAdmin: Bool) async throws -> String {
    try await fixture.database.owner.withConnection { c in
        let id = try await StaffRepository.createStaff(c, email: email, name: "", federationAdmin: federationAdmin, logger: fixture.database.logger)
        return try await StaffRepository.issueToken(c, staff: id, label: "test", expiresAt: Date().addingTimeInterval(86400),
                                                    logger: fixture.database.logger).secret
    }
}

func api(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String?, body: String? = nil) async throws -> (status: HTTPResponse.Status, json: [String: Any]) {
    var headers: HTTPFields = [:]
    if let token { headers[.authorization] = "Bearer \(token)" }
    if body != nil { headers[.contentType] = "application/yaml" }
    let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    let json = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:]
    return (response.status, json)
}

@Suite struct AdminAPITests {
    @Test func aFederationAdministratorOnboardsACenterServedAtOnce() async throws {
        try await withPortal { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)

            let anonymous = try await api(client, .get, "/api/centers", token: nil)
            #expect(anonymous.status == .unauthorized)
            #expect((anonymous.json["detail"] as? String)?.contains("Authorization: Bearer") == true)
            #expect(try await api(client, .get, "/api/centers", token: "ptk_forged").status == .unauthorized)

            let list = try await api(client, .get, "/api/centers", token: admin)
            #expect(list.status == .ok)
            let codes = (list.json["centers"] as? [[String: Any]])?.compactMap { $0["code"] as? String }
            #expect(codes == ["autre", "petit"])

            // A new center's file: a dry run says what would change and serves nothing yet.
            let yaml = TestCenters.small(code: "nouveau", places: 5)
            let dry = try await api(client, .post, "/api/centers?dry_run=true", token: admin, body: yaml)
            #expect(dry.status == .ok)
            #expect((dry.json["changes"] as? [String]) == ["+ center nouveau"])
            #expect(try await client.execute(uri: "/nouveau/", method: .get).status == .notFound)

            let applied = try await api(client, .post, "/api/centers", token: admin, body: yaml)
            #expect(applied.status == .created)
            let home = try await client.execute(uri: "/nouveau/", method: .get)
            #expect(home.status == .ok)
            #expect(String(buffer: home.body).contains("Centre nouveau"))
            let atHost = try curl(port: try #require(client.port), host: "nouveau.example.org")
            #expect(atHost.status == 200 && atHost.body.contains("Centre nouveau"))

            // The same file again changes nothing.
            let again = try await api(client, .post, "/api/centers", token: admin, body: yaml)
            #expect(again.status == .ok && (again.json["changes"] as? [String]) == [])

            // A broken file: 422 with each problem's line.
            let broken = yaml.replacingOccurrences(of: "units: [journee, matin, apres-midi]", with: "units: [journe]")
            let refused = try await api(client, .post, "/api/centers", token: admin, body: broken)
            #expect(refused.status == .unprocessableContent)
            let errors = try #require(refused.json["errors"] as? [[String: String]])
            #expect(errors.contains { $0["message"]?.contains("unknown unit \"journe\"") == true && Int($0["line"] ?? "") ?? 0 > 1 })

            // Its configuration, exported as a file, posts back without a change.
            let exported = try await client.execute(uri: "/api/centers/nouveau/configuration", method: .get, headers: [.authorization: "Bearer \(admin)"])
            #expect(exported.status == .ok)
            let file = String(buffer: exported.body)
            #expect(file.contains("\"code\": \"nouveau\""))
            let roundTrip = try await api(client, .post, "/api/centers", token: admin, body: file)
            #expect(roundTrip.status == .ok && (roundTrip.json["changes"] as? [String]) == [], "\(roundTrip.json)")

            // Suspended, a center is not served; resumed, it is again.
            #expect(try await api(client, .post, "/api/centers/autre/suspend", token: admin).status == .ok)
            #expect(try await client.execute(uri: "/autre/", method: .get).status == .notFound)
            #expect(try await api(client, .post, "/api/centers/autre/resume", token: admin).status == .ok)
            #expect(try await client.execute(uri: "/autre/", method: .get).status == .ok)
            #expect(try await api(client, .post, "/api/centers/inconnu/suspend", token: admin).status == .notFound)

            // A staff token for the new center edits its period, and finds nothing of another center.
            let staffToken = try await invitedToken(client, fixture, center: "nouveau", email: "equipe@nouveau.example.org", role: "manager", by: admin)
            let edit = try await apiJSON(client, .patch, "/api/centers/nouveau/periods/vacances", token: staffToken, json: #"{"label": "Vacances d'hiver"}"#)
            #expect(edit.status == .ok && (edit.json["period"] as? [String: Any])?["label"] as? String == "Vacances d'hiver")
            let periods = try await apiJSON(client, .get, "/api/centers/nouveau/periods", token: admin)
            #expect((periods.json["periods"] as? [[String: Any]])?.first?["label"] as? String == "Vacances d'hiver")
            #expect(try await apiJSON(client, .get, "/api/centers/petit/families", token: staffToken).status == .notFound)
            #expect(try await api(client, .patch, "/api/centers/nouveau/periods/vacances", token: nil).status == .unauthorized)
        }
    }

    @Test func tokensAreCreatedListedRevokedAndScoped() async throws {
        try await withPortal { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let staff = try await staffToken(fixture, email: "animateur@petit.example.org", federationAdmin: false)
            // Center staff cannot list or onboard the federation's centers.
            #expect(try await api(client, .get, "/api/centers", token: staff).status == .forbidden)
            #expect(try await api(client, .post, "/api/centers", token: staff, body: TestCenters.small(code: "x", places: 1)).status == .forbidden)

            var headers: HTTPFields = [.authorization: "Bearer \(admin)", .contentType: "application/json"]
            let created = try await client.execute(uri: "/api/tokens", method: .post, headers: headers,
                                                   body: ByteBuffer(string: #"{"label": "script", "expires_in_days": 30}"#))
            #expect(created.status == .created)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: created.body)) as? [String: Any])
            let secret = try #require(json["token"] as? String)
            let id = try #require(json["id"] as? Int)
            #expect(secret.hasPrefix("ptk_"))
            #expect(try await api(client, .get, "/api/tokens", token: secret).status == .ok)
            let listed = try await api(client, .get, "/api/tokens", token: admin)
            let tokens = try #require(listed.json["tokens"] as? [[String: Any]])
            #expect(tokens.count == 2)
            #expect(!String(describing: tokens).contains(secret))  // the secret is never shown again
            headers = [.authorization: "Bearer \(admin)"]
            #expect(try await client.execute(uri: "/api/tokens/\(id)", method: .delete, headers: headers).status == .noContent)
            #expect(try await api(client, .get, "/api/tokens", token: secret).status == .unauthorized)
            #expect(try await client.execute(uri: "/api/tokens/\(id)", method: .delete, headers: headers).status == .notFound)
        }
    }
}

/// Gives `email` a role at `center` through the API (as `by`), then accepts the e-mailed invitation as
/// the person would: returns their own token. The grant itself never returns a token.
func invitedToken(_ client: any TestClientProtocol, _ fixture: PortalFixture, center: String, email: String, role: String,
                  by token: String) async throws -> String {
    let created = try await apiJSON(client, .post, "/api/centers/\(center)/staff", token: token,
                                    json: #"{"email": "\#(email)", "role": "\#(role)"}"#)
    #expect(created.status == .created)
    #expect(created.json["token"] == nil)
    return try await acceptInvitation(client, fixture, email: email)
}

/// The token obtained with the last invitation mailed to `email`.
func acceptInvitation(_ client: any TestClientProtocol, _ fixture: PortalFixture, email: String) async throws -> String {
    let mail = try await fixture.database.owner.withConnection { c in
        try await c.first("SELECT body_text FROM mail_outbox WHERE to_address = \(email) ORDER BY id DESC LIMIT 1", (String.self),
                          logger: fixture.database.logger)
    }
    let code = try #require(mail?.firstMatch(of: /"code": "([A-Za-z0-9_-]+)"/)?.1)
    let response = try await client.execute(uri: "/api/invitations/accept", method: .post, headers: [.contentType: "application/json"],
                                            body: ByteBuffer(string: #"{"code": "\#(code)"}"#))
    #expect(response.status == .created)
    let json = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:]
    return try #require(json["token"] as? String)
}

func apiJSON(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String, json: String? = nil, headers extra: HTTPFields = [:]) async throws -> (status: HTTPResponse.Status, json: [String: Any]) {
    var headers: HTTPFields = [.authorization: "Bearer \(token)"]
    if json != nil { headers[.contentType] = "application/json" }
    for field in extra { headers.append(field) }
    let response = try await client.execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    return (response.status, (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:])
}

@Suite struct CenterStaffAPITests {
    @Test func aManagerWorksOnTheirCenterOnly() async throws {
        try await withPortal { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            // The federation administrator makes the center's first manager, who accepts the invitation.
            let manager = try await invitedToken(client, fixture, center: "petit", email: "direction@petit.example.org", role: "manager", by: admin)

            // Their center's families; another center's answer 404, as if it did not exist.
            let families = try await apiJSON(client, .get, "/api/centers/petit/families", token: manager)
            #expect(families.status == .ok)
            #expect((families.json["families"] as? [[String: Any]])?.count == 2)
            #expect(try await apiJSON(client, .get, "/api/centers/autre/families", token: manager).status == .notFound)
            #expect(try await apiJSON(client, .get, "/api/centers/inconnu/families", token: manager).status == .notFound)
            #expect(try await api(client, .get, "/api/centers/petit/families", token: nil).status == .unauthorized)

            // A family created by staff is invited by e-mail with an activation link.
            let family = try await apiJSON(client, .post, "/api/centers/petit/families", token: manager, json: """
                {"email": "nouvelle@example.org", "name": "NOUVELLE Anne", "children": [{"first_name": "TOM", "last_name": "NOUVELLE", "birth_date": "2019-02-03"}], "quotient": 700}
                """)
            #expect(family.status == .created)
            let duplicate = try await apiJSON(client, .post, "/api/centers/petit/families", token: manager, json: #"{"email": "nouvelle@example.org", "name": "X"}"#)
            #expect(duplicate.status == .conflict)
            let badDate = try await apiJSON(client, .post, "/api/centers/petit/families", token: manager, json: #"{"email": "b@example.org", "name": "B", "children": [{"first_name": "A", "last_name": "B", "birth_date": "03/02/2019"}]}"#)
            #expect(badDate.status == .unprocessableContent)
            #expect((badDate.json["detail"] as? String)?.contains("YYYY-MM-DD") == true)
            let browser = Browser(client)
            let mails = try await browser.get("/petit/dev/courriels")
            #expect(mails.text.contains("votre compte famille"))
            let token = try #require(mails.body.firstMatch(of: /activation\?jeton=([A-Za-z0-9_-]+)/)?.1)
            let activation = try await browser.get("/petit/activation?jeton=\(token)")
            #expect(activation.status == .ok)
            _ = try await browser.post("/petit/activation", [("jeton", String(token)), ("mot_de_passe", "tom-et-anne-2026"), ("confirmation", "tom-et-anne-2026")])
            #expect(try await Browser(client).login("/petit", email: "nouvelle@example.org", password: "tom-et-anne-2026").status == .seeOther)

            // The parent books; the attendance list of the day shows the child.
            let parent = Browser(client)
            let form = try await bookAndStartPayment(parent, fixture: fixture, days: 1)
            #expect(try await notify(client, bankNotification(form)) == .ok)
            let day = fixture.petit.center.periods[0].startsOn
            let attendance = try await apiJSON(client, .get, "/api/centers/petit/attendance?day=\(day.iso)", token: manager)
            #expect(attendance.status == .ok)
            let children = try #require(attendance.json["children"] as? [[String: Any]])
            #expect(children.count == 1 && (children[0]["child"] as? String)?.hasPrefix("JULES") == true)

            // Staff cancel it: a credit note, recorded in the audit log.
            let cancel = try await apiJSON(client, .post, "/api/centers/petit/reservations/1/cancel", token: manager)
            #expect(cancel.status == .ok)
            #expect(cancel.json["credit_note"] as? String == "PET-AV00001")
            let audit = try await apiJSON(client, .get, "/api/centers/petit/audit", token: manager)
            let actions = (audit.json["entries"] as? [[String: Any]])?.compactMap { $0["action"] as? String } ?? []
            #expect(actions.contains("reservation.cancel") && actions.contains("family.create") && actions.contains("payment.paid"))
        }
    }

    @Test func officePaymentsAreAllocatedAndIdempotent() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            // A center without online payment: the booking is invoiced for the office.
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let periods = try await parent.get("/petit/reservations/nouvelle")
            let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
            let day = fixture.petit.center.periods[0].startsOn
            _ = try await parent.post("/petit/reservations/confirmer", [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(day.iso):journee")])
            let families = try await apiJSON(client, .get, "/api/centers/petit/families", token: admin)
            let familyID = try #require((families.json["families"] as? [[String: Any]])?.first { $0["email"] as? String == "parent@example.org" }?["id"] as? Int)

            let body = #"{"family_id": \#(familyID), "method": "cheque", "amount_cents": 1000, "reference": "1234567 CIC", "allocations": [{"invoice": "PET00001", "amount_cents": 1000}]}"#
            #expect(try await apiJSON(client, .post, "/api/centers/petit/payments", token: admin, json: body).status == .badRequest)  // no key
            let key: HTTPFields = [.init("Idempotency-Key")!: "cheque-42"]
            let first = try await apiJSON(client, .post, "/api/centers/petit/payments", token: admin, json: body, headers: key)
            #expect(first.status == .created)
            let again = try await apiJSON(client, .post, "/api/centers/petit/payments", token: admin, json: body, headers: key)
            #expect(again.status == .created && again.json["number"] as? String == first.json["number"] as? String)
            #expect(try await count(fixture, "SELECT count(*)::int FROM payments") == 1)
            // Over-allocating is refused.
            let over = #"{"family_id": \#(familyID), "method": "especes", "amount_cents": 500, "allocations": [{"invoice": "PET00001", "amount_cents": 500}]}"#
            #expect(try await apiJSON(client, .post, "/api/centers/petit/payments", token: admin, json: over, headers: [.init("Idempotency-Key")!: "e-1"]).status == .unprocessableContent)
            let ledger = try await parent.get("/petit/factures")
            #expect(ledger.text.contains("Total restant dû : 0,00 €"))
            #expect(ledger.text.contains("(par CHÈQUE)"))

            // The office's CSV exports.
            let auth: HTTPFields = [.authorization: "Bearer \(admin)"]
            let month = String(LocalDate(Date(), in: TimeZone(identifier: "Europe/Paris")!).iso.prefix(7))
            let accounts = String(buffer: try await client.execute(uri: "/api/centers/petit/exports/ledger.csv?month=\(month)", method: .get, headers: auth).body)
            #expect(accounts.hasPrefix("\u{FEFF}Date;Type;Numéro;Famille;Montant;Détail"))
            #expect(accounts.contains(";facture;PET00001;FAMILLE JULES;10,00;"))
            #expect(accounts.contains(";paiement;PET-P00001;FAMILLE JULES;10,00;Paiement n° 1234567 CIC (par CHÈQUE)"))
            let balances = String(buffer: try await client.execute(uri: "/api/centers/petit/exports/balances.csv", method: .get, headers: auth).body)
            #expect(balances.contains("FAMILLE JULES;parent@example.org;10,00;10,00;0,00;0,00"))
            let presence = String(buffer: try await client.execute(uri: "/api/centers/petit/exports/attendance.csv?day=\(day.iso)", method: .get, headers: auth).body)
            #expect(presence.contains(";00001;JULES X;FAMILLE JULES;journee;confirmée"))
            #expect(try await client.execute(uri: "/api/centers/petit/exports/ledger.csv?month=juin", method: .get, headers: auth).status == .unprocessableContent)
        }
    }
}

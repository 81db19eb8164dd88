import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import PortailDomain
import Testing
@testable import PortailApp
@testable import PortailStore

/// Every back-office page of a center, as a signed-in manager of ANOTHER center sees it: the same 404
/// for every route of the catalog (GET and POST, with a valid form token), nothing written; the
/// federation's pages answer 403. Routes added later are covered without writing anything here.
@Suite struct BackOfficeMatrixTests {
    let office = BackOfficeSignInTests()

    @Test func aManagerOfAnotherCenterReachesNothingOfThisOne() async throws {
        try await withPortal(payment: "", provider: { _ in nil }) { client, fixture in
            // Autre's manager, signed in with a second factor.
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            #expect(try await apiJSON(client, .post, "/api/centers/autre/staff", token: admin, json: #"{"email": "direction@autre.example.org", "role": "manager"}"#).status == .created)
            let mail = try #require(try await fixture.database.owner.withConnection { c in
                try await c.first("SELECT body_text FROM mail_outbox WHERE to_address = 'direction@autre.example.org'", (String.self), logger: fixture.database.logger)
            })
            let code = String(try #require(mail.firstMatch(of: /\/admin\/invitation\?code=([A-Za-z0-9_-]+)/)?.1))
            let browser = Browser(client)
            _ = try await browser.get("/admin/invitation?code=\(code)")
            _ = try await browser.post("/admin/invitation", [("code", code), ("mot_de_passe", BackOfficeSignInTests.password), ("confirmation", BackOfficeSignInTests.password)])
            _ = try await office.signIn(browser, email: "direction@autre.example.org")
            let enrol = try await browser.get("/admin/verification")
            #expect(try await browser.post("/admin/verification", [("code", try office.code(for: enrol.body))]).status == .ok)
            #expect(try await browser.get("/admin/centres/autre").status == .ok)

            let family = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            let values = ["code": "petit", "family": String(family), "number": "00001", "period": "vacances", "tariff": "base", "staff": "1",
                          "reference": "x", "id": "1"]
            let before = try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE center_id = \(fixture.petit.id)")
            var checked = 0
            for route in try await RouteCatalog.routes(fixture.database) {
                let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
                guard parts[1].hasPrefix("/admin/centres/{code}") || parts[1].hasPrefix("/admin/federation") else { continue }
                var path = parts[1]
                for name in RouteCatalog.parameters(route) { path = path.replacingOccurrences(of: "{\(name)}", with: values[name] ?? "1") }
                let expected: HTTPResponse.Status = parts[1].hasPrefix("/admin/federation") ? .forbidden : .notFound
                _ = try await browser.get("/admin/centres/autre")  // a page with the session's form token
                let answer = parts[0] == "GET" ? try await browser.get(path) : try await browser.post(path, [("confirme", "oui"), ("etape", "enregistrer")])
                #expect(answer.status == expected, "\(route): \(answer.status)")
                checked += 1
            }
            #expect(checked >= 40)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE center_id = \(fixture.petit.id)") == before)
        }
    }
}

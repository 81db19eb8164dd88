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
        return try await StaffRepository.issueToken(c, staff: id, label: "test", expiresAt: nil, logger: fixture.database.logger).secret
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
            // The same file again changes nothing.
            let again = try await api(client, .post, "/api/centers", token: admin, body: yaml)
            #expect(again.status == .ok && (again.json["changes"] as? [String]) == [])

            // A broken file: 422 with each problem's line.
            let broken = yaml.replacingOccurrences(of: "units: [journee, matin, apres-midi]", with: "units: [journe]")
            let refused = try await api(client, .post, "/api/centers", token: admin, body: broken)
            #expect(refused.status == .unprocessableContent)
            let errors = try #require(refused.json["errors"] as? [[String: String]])
            #expect(errors.contains { $0["message"]?.contains("unknown unit \"journe\"") == true && Int($0["line"] ?? "") ?? 0 > 1 })

            // Suspended, a center is not served; resumed, it is again.
            #expect(try await api(client, .post, "/api/centers/autre/suspend", token: admin).status == .ok)
            #expect(try await client.execute(uri: "/autre/", method: .get).status == .notFound)
            #expect(try await api(client, .post, "/api/centers/autre/resume", token: admin).status == .ok)
            #expect(try await client.execute(uri: "/autre/", method: .get).status == .ok)
            #expect(try await api(client, .post, "/api/centers/inconnu/suspend", token: admin).status == .notFound)
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

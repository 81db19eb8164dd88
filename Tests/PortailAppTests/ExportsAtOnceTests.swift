import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Testing
@testable import PortailApp
@testable import PortailStore

/// The CSV exports hold a connection of the pool while they stream: a few at once at most, one per center,
/// so that downloads can never take the connections the parents' pages need (issue 12).
@Suite struct ExportsAtOnceTests {
    let office = BackOfficeSignInTests()

    @Test func anExportPastTheLimitIsRefusedAtOnceAndTheNextOneStreams() async throws {
        // A pool of 3: one export at a time on this instance.
        try await withPortal(payment: "", provider: { _ in nil }, poolSize: 3) { client, fixture in
            let exports = fixture.database.exports
            #expect(exports.limit == 1)
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let auth: HTTPFields = [.authorization: "Bearer \(admin)"]
            let browser = try await office.signedInManager(client, fixture)

            // Petit's export is streaming (a slow download holds its slot).
            var streaming: ConcurrencyGate<Int64>.Slot? = try exports.enter(fixture.petit.id).get()
            let page = try await browser.get("/admin/centres/petit/exports/soldes.csv")
            #expect(page.status == .tooManyRequests && page.headers[.retryAfter] == "15")
            #expect(page.text.contains("Export déjà en cours") && page.text.contains("un seul à la fois par accueil"), "\(page.text)")
            let register = try await browser.get("/admin/centres/petit/registre.csv")
            #expect(register.status == .tooManyRequests)
            let api = try await client.execute(uri: "/api/centers/petit/exports/balances.csv", method: .get, headers: auth)
            #expect(api.status == .tooManyRequests && api.headers[.contentType] == "application/problem+json")
            #expect(String(buffer: api.body).contains("Another export of this center"))
            // Another center's export waits for the instance's place: the server's limit, with its own words.
            let other = try await client.execute(uri: "/api/centers/autre/exports/balances.csv", method: .get, headers: auth)
            #expect(other.status == .serviceUnavailable && String(buffer: other.body).contains("as many exports as it allows"))
            #expect(exports.count() == 1, "refused exports take no place")

            // The download ends: the next export streams, and gives its place back once sent.
            streaming?.leave()
            streaming = nil
            let csv = try await browser.get("/admin/centres/petit/exports/soldes.csv")
            #expect(csv.status == .ok && csv.body.contains("parent@example.org"))
            let accounts = try await client.execute(uri: "/api/centers/autre/exports/balances.csv", method: .get, headers: auth)
            #expect(accounts.status == .ok && String(buffer: accounts.body).contains("voisin@example.org"))
            #expect(exports.count() == 0)
            // One after the other, as a script fetching a center's files does: never refused.
            for _ in 0..<20 {
                #expect(try await client.execute(uri: "/api/centers/petit/exports/balances.csv", method: .get, headers: auth).status == .ok)
            }
        }
    }
}

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

    /// A download whose reader stops reading (a phone gone off the network) holds its export's place and its
    /// connection of the pool only until nothing has moved on the connection for `stalledAfter`: then the
    /// server closes it, the export's transaction ends, and the next export streams.
    @Test(.timeLimit(.minutes(1))) func aDownloadWhoseReaderStopsGivesItsPlaceBack() async throws {
        try await withPortal(payment: "", provider: { _ in nil }, poolSize: 3, stalledAfter: .seconds(1)) { client, fixture in
            // About 7 MB of balances: more than the kernel buffers between the server and the stalled reader (up to 4 MB).
            try await fixture.execute("""
                INSERT INTO families (center_id, email, name)
                SELECT \(fixture.petit.id), 'famille' || g || '@example.org', 'FAMILLE ' || g FROM generate_series(1, 100000) g
                """)
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let port = try #require(client.port)
            let exports = fixture.database.exports
            // A client that sends its request and never reads: its receive buffer is small, so that the
            // server's writes stop once the kernel's buffers are full.
            let reader = try RawSocket(port: port, receiveBuffer: 4096)
            defer { reader.close() }
            #expect(reader.send("GET /api/centers/petit/exports/balances.csv HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(admin)\r\n\r\n"))
            #expect(try await eventually { exports.count() == 1 }, "the export started")
            // Nothing read for a second: closed, and the place is back.
            #expect(try await eventually { exports.count() == 0 }, "the stalled download still holds its export's place")
            let received = reader.drain()
            // Cut short: the chunked answer never got its last, empty chunk.
            #expect(received.count > 0 && !received.suffix(5).elementsEqual(Array("0\r\n\r\n".utf8)), "\(received.count) bytes, sent whole: no stall happened")
            // The next export streams whole.
            let next = try await RawHTTP.send(port: port, RawHTTP.request("GET", Array("/api/centers/petit/exports/balances.csv".utf8),
                                                                          headers: [("Authorization", "Bearer \(admin)")]))
            #expect(next.status == 200 && next.body.contains("FAMILLE 99999"))
        }
    }
}

import Foundation
import Testing
@testable import PortailApp

/// Clients that hold a connection without using it: the server closes them (`PortailApplication.Configuration`
/// `idleAfter` and `stalledAfter`), so that a stranger cannot keep thousands of sockets open for nothing.
@Suite struct SlowClientsTests {
    /// A request head sent a header at a time, each a little before the last one would time out (slowloris):
    /// bytes keep coming, but no request, and the connection is closed once `idleAfter` has passed.
    @Test(.timeLimit(.minutes(1))) func aRequestHeadTrickledAByteAtATimeIsCut() async throws {
        try await withPortal(idleAfter: .seconds(1)) { client, _ in
            let port = try #require(client.port)
            let trickle = try RawSocket(port: port)
            defer { trickle.close() }
            #expect(trickle.send("GET /petit/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
            let clock = ContinuousClock()
            let began = clock.now
            var closed = false
            for line in 0..<40 {
                try await Task.sleep(for: .milliseconds(150))
                if trickle.closedByServer || !(trickle.send("X-Lent-\(line): a\r\n")) {
                    closed = true
                    break
                }
            }
            #expect(closed, "still open after 6 s of trickled headers")
            #expect(clock.now - began < .seconds(4))
            // A whole request is answered as ever.
            let whole = try await RawHTTP.send(port: port, RawHTTP.request("GET", Array("/petit/".utf8)))
            #expect(whole.status == 200)
        }
    }
}

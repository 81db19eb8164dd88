import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import NIOPosix
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// Every route the router has, read from the router itself (as APISpecTests does), so that a test
/// built on it covers the next route too.
enum RouteCatalog {
    /// "GET /api/centers/{code}/periods", "POST /reservations/{numero}/annuler" ... with the development
    /// pages on, as `withPortal` serves them.
    static func routes(_ database: Database, developmentPages: Bool = true) async throws -> [String] {
        let directory = CenterDirectory(.init(centers: [], failures: []))
        let routes = PortailRoutes(
            templates: try Templates.load(), database: database, directory: directory, developmentPages: developmentPages,
            paymentProvider: { _ in nil }, paymentRules: [], health: HealthCheck(database: database, directory: directory)
        )
        let router = Router(context: AppRequestContext.self)
        routes.add(to: router)
        return router.routes.map { route -> String in
            let path = route.path.description.replacing(/:([a-z_]+)/) { "{\($0.1)}" }
            return "\(route.method) \(path.hasPrefix("/") ? path : "/" + path)"
        }.sorted()
    }

    /// Routes that need no center: served at the root, whatever the host.
    static func isGlobal(_ path: String) -> Bool {
        path == "/healthz" || path.hasPrefix("/static/") || path.hasPrefix("/api/") || path == "/admin" || path.hasPrefix("/admin/")
    }

    /// The names of a route's path parameters, in order.
    static func parameters(_ route: String) -> [String] {
        route.matches(of: /\{([a-z_]+)\}/).map { String($0.1) }
    }
}

/// HTTP/1.1 over a fresh TCP connection, byte for byte: what no well-behaved client sends (invalid
/// UTF-8 in the request line, a chosen Host header, a body whose length the client decides).
enum RawHTTP {
    struct Answer: CustomStringConvertible {
        /// 0 when the server closed the connection without an answer.
        let status: Int
        let head: String
        let body: String

        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }

        var description: String { "\(status) \(body.prefix(160).replacingOccurrences(of: "\n", with: " "))" }
    }

    /// A request: the target and the body are bytes, so that they may be anything.
    static func request(_ method: String, _ target: [UInt8], host: String = "localhost", headers: [(String, String)] = [],
                        body: [UInt8]? = nil) -> [UInt8] {
        var head = Array("\(method) ".utf8) + target + Array(" HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n".utf8)
        for (name, value) in headers { head += Array("\(name): \(value)\r\n".utf8) }
        if let body { head += Array("Content-Length: \(body.count)\r\n".utf8) }
        return head + Array("\r\n".utf8) + (body ?? [])
    }

    /// Sends `bytes` and reads until the server closes (the request says Connection: close); a server
    /// that neither answers nor closes within `timeout` fails the call.
    static func send(port: Int, _ bytes: [UInt8], timeout: Duration = .seconds(30)) async throws -> Answer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let received: ByteBuffer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    // A server that answers early (413) and closes may reset a long write: what it answered counts.
                    try? await outbound.write(ByteBuffer(bytes: bytes))
                    var all = ByteBuffer()
                    do {
                        for try await var chunk in inbound { all.writeBuffer(&chunk) }
                    } catch {
                        // A reset after the answer: keep what arrived.
                    }
                    return all
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                // A server that never answers: closing the connection ends the read above (cancelling the
                // group alone does not), so that the test fails instead of waiting forever.
                try? await channel.channel.close()
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            guard let first else { throw RawHTTPTimeout() }
            return first
        }
        let text = String(decoding: received.readableBytesView, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return Answer(status: 0, head: text, body: "") }
        let head = String(text[..<end.lowerBound])
        let status = head.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
        return Answer(status: status, head: head, body: String(text[end.upperBound...]))
    }

    struct RawHTTPTimeout: Error {}
}

/// The people and records of a test: both centers' parents with paid reservations, staff and
/// managers of both centers, a federation administrator, families and a staff member to act on.
/// Built through the portal's own flows (login, booking, the bank's notification, the admin API).
final class RouteWorld: @unchecked Sendable {
    let client: any TestClientProtocol
    let fixture: PortalFixture
    let port: Int
    let admin: String
    /// Tokens by role and center: "staff@petit", "manager@autre" ...
    var tokens: [String: String] = [:]
    let parent: Browser
    let neighbour: Browser
    /// The parent of the other center, logged in there.
    let parentElsewhere: Browser
    /// A visitor of petit's home page: a CSRF cookie, no account.
    let anonymous: Browser

    var families: [String: Int64] = [:]
    var children: [String: Int64] = [:]
    /// The parent's payment attempt at each center ("petit", "autre"), and the fields of its bank form.
    var attempts: [String: String] = [:]
    var paymentForms: [String: [String: String]] = [:]
    /// Confirmed reservations of petit's parent, used up by cancellations (the parent's, the staff's).
    var parentCancellable: [String] = []
    var staffCancellable: [String] = []
    /// Reservation numbers of autre's parent at autre.
    var autreReservations: [String] = []
    var victimStaff: Int64 = 0
    var victimToken: Int64 = 0
    var adminSpareToken: Int64 = 0

    var period: Period { fixture.petit.center.periods[0] }

    init(_ client: any TestClientProtocol, _ fixture: PortalFixture) async throws {
        self.client = client
        self.fixture = fixture
        port = try #require(client.port)
        admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
        parent = Browser(client)
        neighbour = Browser(client)
        parentElsewhere = Browser(client)
        anonymous = Browser(client)
    }

    /// Everything the route tests read and act on; autre's parent gets reservation numbers that
    /// petit's parent does not have.
    static func build(_ client: any TestClientProtocol, _ fixture: PortalFixture) async throws -> RouteWorld {
        let world = try await RouteWorld(client, fixture)
        try await world.populate()
        return world
    }

    private func populate() async throws {
        for center in ["petit", "autre"] {
            for role in ["staff", "manager"] {
                let email = "\(role)@\(center).example.org"
                tokens["\(role)@\(center)"] = try await invitedToken(client, fixture, center: center, email: email, role: role,
                                                                      by: admin)
            }
        }
        // Petit's parent books two days and pays them: reservation 00001, invoice PET00001, payment PET-P00001.
        try await session(parent, center: "petit", email: "parent@example.org")
        attempts["petit"] = try await bookAndPay(parent, center: "petit", site: "12345678", offsets: [0, 1])
        try await session(neighbour, center: "petit", email: "voisin@example.org")
        try await session(parentElsewhere, center: "autre", email: "parent@example.org")
        try await anonymous.get("/petit/")

        for center in ["petit", "autre"] {
            for (key, email) in [("parent", "parent@example.org"), ("voisin", "voisin@example.org")] {
                let list = try await apiJSON(client, .get, "/api/centers/\(center)/families", token: admin)
                let rows = list.json["families"] as? [[String: Any]] ?? []
                let id = try #require(rows.first { $0["email"] as? String == email }?["id"] as? Int)
                families["\(key)@\(center)"] = Int64(id)
                let detail = try await apiJSON(client, .get, "/api/centers/\(center)/families/\(id)", token: admin)
                let child = try #require((detail.json["children"] as? [[String: Any]])?.first?["id"] as? Int)
                children["\(key)@\(center)"] = Int64(child)
            }
            // Names that tell the centers' families apart in a page.
            let parentID = families["parent@\(center)"]!
            let renamed = try await apiJSON(client, .patch, "/api/centers/\(center)/families/\(parentID)", token: admin,
                                            json: #"{"name": "FAMILLE \#(center.uppercased())-JULES"}"#)
            #expect(renamed.status == .ok)
        }

        // Autre's neighbour uses up the first numbers, so that autre's parent gets numbers petit's parent has not.
        for offset in 2..<10 {
            _ = try await staffBooking(center: "autre", family: "voisin", offset: offset)
        }
        autreReservations.append(try await staffBooking(center: "autre", family: "parent", offset: 11))
        attempts["autre"] = try await bookAndPay(parentElsewhere, center: "autre", site: "87654321", offsets: [0])
        let autrePage = try await parentElsewhere.get("/autre/compte")
        autreReservations += autrePage.body.matches(of: /reservations\/(\d{5})/).map { String($0.1) }
        autreReservations = Array(Set(autreReservations)).sorted()
        // A child's name that tells autre's child apart in a page of petit.
        let child = "/api/centers/autre/families/\(families["parent@autre"]!)/children/\(children["parent@autre"]!)"
        let renamed = try await apiJSON(client, .patch, child, token: admin, json: #"{"first_name": "ÉLIOT-AUTRE"}"#)
        #expect(renamed.status == .noContent)

        // Confirmed reservations of petit's parent, to be cancelled by the parent and by the staff.
        for offset in 2..<8 {
            let number = try await staffBooking(center: "petit", family: "parent", offset: offset)
            if offset < 5 { parentCancellable.append(number) } else { staffCancellable.append(number) }
        }

        // A family with a child to edit, deactivate and reactivate; another still invited.
        let cible = try await apiJSON(client, .post, "/api/centers/petit/families", token: admin, json: """
            {"email": "cible@example.org", "name": "CIBLE",
             "children": [{"first_name": "ZOÉ", "last_name": "CIBLE", "birth_date": "2019-05-06"}]}
            """)
        families["cible"] = Int64(try #require(cible.json["id"] as? Int))
        let cibleDetail = try await apiJSON(client, .get, "/api/centers/petit/families/\(families["cible"]!)", token: admin)
        children["cible"] = Int64(try #require((cibleDetail.json["children"] as? [[String: Any]])?.first?["id"] as? Int))
        let invitee = try await apiJSON(client, .post, "/api/centers/petit/families", token: admin,
                                        json: #"{"email": "invitee@example.org", "name": "INVITÉE"}"#)
        families["invitee"] = Int64(try #require(invitee.json["id"] as? Int))

        // A staff member of petit only, whom managers may remove and whose tokens they may revoke.
        let victim = try await apiJSON(client, .post, "/api/centers/petit/staff", token: admin,
                                       json: #"{"email": "victime@petit.example.org", "role": "staff"}"#)
        victimStaff = Int64(try #require(victim.json["id"] as? Int))
        try await renewVictimToken()
        try await renewAdminSpareToken()
    }

    /// A logged-in session for `browser`, made in the database (no login throttle can get in the way),
    /// then a page read so that the browser holds the session's CSRF token.
    func session(_ browser: Browser, center: String, email: String) async throws {
        let record = center == "petit" ? fixture.petit : fixture.autre
        let database = fixture.database
        let session = try await database.withCenter(record.id) { c in
            let family = try await AccountRepository.family(c, center: record.id, email: email, logger: database.logger)!
            return try await SessionRepository.create(c, center: record.id, familyID: family.id, logger: database.logger)
        }
        browser.cookie = "\(SessionCookies.session)=\(session.token!)"
        let account = try await browser.get("/\(center)/compte")
        #expect(account.status == .ok, "\(email) at \(center): \(account.status)")
    }

    /// Books `offsets` (days after the period's start, journée) in the cart of the browser's family at
    /// `center`, pays through the bank's signed notification; returns the payment attempt's reference.
    func bookAndPay(_ browser: Browser, center: String, site: String, offsets: [Int]) async throws -> String {
        let record = center == "petit" ? fixture.petit : fixture.autre
        let periods = try await browser.get("/\(center)/reservations/nouvelle")
        let childID = try #require(periods.body.firstMatch(of: /name="enfant" value="(\d+)"/)?.1)
        let start = record.center.periods[0].startsOn
        let selection = [("enfant", String(childID)), ("periode", "vacances")]
            + offsets.map { ("jour", "\(start.adding(days: $0).iso):journee") }
        let confirm = try await browser.post("/\(center)/reservations/confirmer", selection)
        #expect(confirm.status == .seeOther, "booking at \(center): \(confirm.status)")
        try await browser.get("/\(center)/panier")
        let pay = try await browser.post("/\(center)/panier/paiement", [])
        #expect(pay.status == .ok)
        var fields: [String: String] = [:]
        for match in pay.body.matches(of: /<input type="hidden" name="([^"]+)" value="([^"]*)">/) {
            fields[String(match.1)] = String(match.2).replacingOccurrences(of: "&amp;", with: "&")
                .replacingOccurrences(of: "&#x3D;", with: "=").replacingOccurrences(of: "&#x2F;", with: "/")
        }
        let references = fields.values.compactMap { $0.firstMatch(of: /retour\?ref=([^&"]+)/).map { String($0.1) } }
        let reference = try #require(references.first)
        paymentForms[center] = fields
        #expect(try await notify(client, bankNotification(fields, site: site), center: center) == .ok)
        try await browser.get("/\(center)/compte")
        return String(reference)
    }

    /// A journée booked by staff at the office `offset` days into the period: confirmed and invoiced.
    func staffBooking(center: String, family: String, offset: Int) async throws -> String {
        let record = center == "petit" ? fixture.petit : fixture.autre
        let day = record.center.periods[0].startsOn.adding(days: offset)
        let booked = try await apiJSON(client, .post, "/api/centers/\(center)/reservations", token: admin, json: """
            {"family_id": \(families["\(family)@\(center)"]!), "child_id": \(children["\(family)@\(center)"]!),
             "period": "vacances",
             "days": [{"day": "\(day.iso)", "units": ["journee"]}]}
            """)
        #expect(booked.status == .created, "staff booking at \(center): \(booked.json)")
        return try #require(booked.json["reservation"] as? String)
    }

    func renewVictimToken() async throws {
        victimToken = try await issueToken(staff: victimStaff)
    }

    func renewAdminSpareToken() async throws {
        let id = try await fixture.database.owner.withConnection { c in
            try await c.first("SELECT id FROM staff_users WHERE email = 'admin@federation.example.org'", (Int64.self),
                              logger: fixture.database.logger)
        }
        adminSpareToken = try await issueToken(staff: try #require(id))
    }

    private func issueToken(staff: Int64) async throws -> Int64 {
        try await fixture.database.owner.withConnection { c in
            let expires = Date().addingTimeInterval(86400)
            return try await StaffRepository.issueToken(c, staff: staff, label: "spare", expiresAt: expires,
                                                        logger: fixture.database.logger).id
        }
    }
}

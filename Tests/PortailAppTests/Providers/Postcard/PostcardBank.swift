import FakeBanks
import Foundation
import Hummingbird
import NIOCore
import PaymentKit
import Synchronization

/// Postcard's bank for the tests: opens sessions, answers status queries, and pays a session when told,
/// notifying the portal (or not).
final class PostcardBank: Sendable {
    struct Session: Sendable {
        var reference: String
        var amount: Int
        var notify: String
        var status = "open"
    }

    let key: String
    let sessions = Mutex<[String: Session]>([:])
    private let server = Mutex<FakeBankServer?>(nil)
    var api: String { server.withLock { $0!.baseURL } }

    init(key: String) { self.key = key }

    func start() async throws {
        let started = try await FakeBankServer.start { router in
            router.post("/sessions") { request, _ in try await self.open(request) }
            router.get("/sessions/:id") { request, context in
                guard request.headers[.authorization] == "Key \(self.key)" else { return Response(status: .unauthorized) }
                guard let id = context.parameters.get("id"), let session = self.sessions.withLock({ $0[id] }) else { return Response(status: .notFound) }
                return Self.json(["id": id, "status": session.status, "amount": session.amount])
            }
        }
        server.withLock { $0 = started }
    }

    func stop() async { await server.withLock { $0 }?.stop() }

    func open(_ request: Request) async throws -> Response {
        guard request.headers[.authorization] == "Key \(key)" else { return Response(status: .unauthorized) }
        var request = request
        let body = try await request.collectBody(upTo: 1 << 16)
        guard let json = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
              let reference = json["reference"] as? String, let amount = json["amount"] as? Int, let notify = json["notify"] as? String
        else { return Response(status: .badRequest) }
        let id = "pc_" + UUID().uuidString.prefix(8).lowercased()
        sessions.withLock { $0[id] = Session(reference: reference, amount: amount, notify: notify) }
        return Self.json(["id": id, "url": "https://postcard.example/pay/\(id)"])
    }

    /// The payer finished at the bank; the bank tells the portal when `notify`.
    @discardableResult
    func complete(_ id: String, status: String, notify: Bool) async throws -> Int? {
        guard let session = sessions.withLock({ sessions -> Session? in
            sessions[id]?.status = status
            return sessions[id]
        }) else { return nil }
        guard notify else { return nil }
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["id": id, "status": status, "amount": session.amount]), as: UTF8.self)
        return try await FakeBankServer.deliver(to: session.notify, contentType: "application/json",
                                                headers: [("X-Postcard-Signature", Digests.hmacSHA256Hex(body, key: key))], body: body)
    }

    var lastSession: String? { sessions.withLock { $0.keys.sorted().last } }

    static func json(_ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

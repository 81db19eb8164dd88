import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import PaymentKit
import Synchronization

/// A fake bank on a local port: a Hummingbird server speaking one provider's documented protocol,
/// started by a test (or the demo) and stopped with it. Each fake keeps what it was asked in memory.
public final class FakeBankServer: Sendable {
    /// "http://127.0.0.1:PORT", without a trailing slash.
    public let baseURL: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(baseURL: String, group: ServiceGroup, task: Task<Void, any Error>) {
        self.baseURL = baseURL
        self.group = group
        self.task = task
    }

    /// Starts a server on 127.0.0.1 and an ephemeral port (or `port`) with the routes `configure` adds.
    public static func start(
        port: Int = 0, logger: Logger = Logger(label: "fake-bank"), _ configure: (Router<BasicRequestContext>) -> Void
    ) async throws -> FakeBankServer {
        let router = Router()
        configure(router)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "fake-bank"),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else {
            task.cancel()
            throw ProviderCallFailed("the fake bank could not listen on 127.0.0.1:\(port)")
        }
        return FakeBankServer(baseURL: "http://127.0.0.1:\(bound)", group: group, task: task)
    }

    /// Stops accepting, lets requests in flight finish, then returns.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// What the payer does on a fake bank's page, and how the bank then tells the portal.
public enum FakeOutcome: String, Sendable, CaseIterable {
    case pay, refuse, abandon
}

public enum FakeDelivery: String, Sendable, CaseIterable {
    /// One notification, before the browser is sent back.
    case once
    /// The same notification twice (a bank's retry).
    case twice
    /// After the browser's return (a slow bank).
    case late
    /// No notification at all: only a status query or reconciliation can learn the outcome.
    case never
}

extension FakeBankServer {
    /// Posts a notification to the portal and returns the HTTP status it answered.
    public static func deliver(
        to url: String, method: String = "POST", contentType: String, headers: [(String, String)] = [], body: String
    ) async throws -> Int {
        try await LocalHTTP.send(method: method, url: url, headers: [("Content-Type", contentType)] + headers, body: body).status
    }

    /// Sends `notify` according to `delivery` (in the background for `.late`).
    public static func notify(_ delivery: FakeDelivery, _ notify: @escaping @Sendable () async throws -> Void) async {
        switch delivery {
        case .never: return
        case .once: try? await notify()
        case .twice:
            try? await notify()
            try? await notify()
        case .late:
            Task {
                try? await Task.sleep(for: .seconds(1))
                try? await notify()
            }
        }
    }
}

/// The fake banks' own answers.
extension Response {
    static func text(_ text: String, status: HTTPResponse.Status = .ok, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func seeOther(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}

extension Request {
    /// The body as text (fake banks take small bodies).
    mutating func text() async throws -> String {
        String(buffer: try await collectBody(upTo: 1 << 20))
    }

    /// The body as form fields (empty when it is not a form).
    mutating func form() async throws -> [(name: String, value: String)] {
        FormURLEncoding.decode(try await text()) ?? []
    }
}

/// The page a fake bank shows the payer: what is asked, and the buttons of `FakeOutcome` and `FakeDelivery`.
enum FakeBankPage {
    static func html(bank: String, amountCents: Int, reference: String, action: String, hidden: [(String, String)]) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        let fields = hidden.map { "<input type=\"hidden\" name=\"\(escape($0.0))\" value=\"\(escape($0.1))\">" }.joined()
        let euros = String(format: "%d,%02d €", amountCents / 100, amountCents % 100)
        return """
            <!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(bank)) (banque de test)</title></head>
            <body style="font-family: sans-serif; max-width: 30rem; margin: 1rem auto; padding: 0 1rem">
            <h1>\(escape(bank))</h1><p>Banque de test : aucun argent réel.</p>
            <p>Paiement <strong>\(escape(reference))</strong> : <strong>\(euros)</strong></p>
            <form method="post" action="\(escape(action))">\(fields)
            <p><label>Notification : <select name="delivery">
            <option value="once">normale</option><option value="late">après le retour</option>
            <option value="twice">deux fois</option><option value="never">aucune</option></select></label></p>
            <p><button name="outcome" value="pay">Payer</button> <button name="outcome" value="refuse">Refuser</button>
            <button name="outcome" value="abandon">Abandonner</button></p></form></body></html>
            """
    }
}

/// Lets a fake's routes, set up before the server starts, reach the fake made once it listens.
/// Written once, before the first request can arrive; read only after.
final class Holder<Bank: Sendable>: @unchecked Sendable {
    var value: Bank?
}

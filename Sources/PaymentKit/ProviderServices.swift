import Foundation
import Synchronization

/// What the core lends a provider for one call: a way to reach the bank and a place for its references.
public struct ProviderServices: Sendable {
    public var http: any ProviderHTTPClient
    public var references: any ProviderReferences
    /// The time now (tests move it).
    public var now: @Sendable () -> Date
    /// Bounds the calls to the bank that a notification may cause (see `ProviderCallGate`).
    public var gate: any ProviderCallGate

    public init(http: any ProviderHTTPClient, references: any ProviderReferences, now: @escaping @Sendable () -> Date = { Date() },
                gate: any ProviderCallGate = CallGate()) {
        self.http = http
        self.references = references
        self.now = now
        self.gate = gate
    }
}

// MARK: Call gate

/// A notification that carries no proof of its own (PayFiP's bare `idOp`, HelloAsso without a signature key)
/// is believed only after the provider asks its bank; anyone who learnt an id could then post it in a loop
/// and have the portal call the bank at their pace, until the bank throttles the center. A provider asks
/// the gate before such a call: the same key is let through at most once per interval, the others fail
/// (the notification is answered "try again later", and the reconciliation asks anyway).
public protocol ProviderCallGate: Sendable {
    /// True when a call about `key` may go now (it is then counted); false when one went less than `interval` ago.
    func admit(_ key: String, every interval: TimeInterval) -> Bool
}

extension ProviderServices {
    /// A notification believed on the bank's word (`ask`): a final answer is kept in the references and given
    /// again without asking (a replayed notification costs no call); otherwise the bank is asked at most once
    /// per `interval` about `key`. A notification arriving meanwhile waits for that answer (copies sent
    /// together all get it), and fails with `ProviderCallFailed` when it is not final (the bank says "not yet").
    public func believedOnTheBanksWord(
        _ key: String, every interval: TimeInterval = 2,
        _ ask: () async throws -> (answer: VerifiedNotification, final: Bool)
    ) async throws -> VerifiedNotification {
        let remembered = "final-answer:" + key
        func known() async throws -> VerifiedNotification? {
            try await references.value(for: remembered).flatMap { try? JSONDecoder().decode(VerifiedNotification.self, from: Data($0.utf8)) }
        }
        if let answer = try await known() { return answer }
        // Asked a moment ago: that answer if it was final, or a question of our own once the interval is over.
        var waited = 0
        while !gate.admit(key, every: interval) {
            guard waited < Int(interval * 10) + 5 else {
                throw ProviderCallFailed("the bank is being asked about \(key) every \(Int(interval)) s already: not again yet")
            }
            try await Task.sleep(for: .milliseconds(100))
            waited += 1
            if waited % 5 == 0, let answer = try await known() { return answer }
        }
        if waited > 0, let answer = try await known() { return answer }
        let (answer, final) = try await ask()
        if final {
            try await references.set(String(decoding: try JSONEncoder().encode(answer), as: UTF8.self), for: remembered)
        }
        return answer
    }
}

/// The gate kept in memory, per process: the portal lends one per center and provider.
public final class CallGate: ProviderCallGate {
    private let last = Mutex<[String: Date]>([:])
    private let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date = { Date() }) { self.now = now }

    public func admit(_ key: String, every interval: TimeInterval) -> Bool {
        let now = now()
        return last.withLock { last in
            if let previous = last[key], now.timeIntervalSince(previous) < interval { return false }
            if last.count >= 10_000 {
                // Bounded: keys older than a minute are forgotten (no gate interval is that long).
                last = last.filter { now.timeIntervalSince($0.value) < 60 }
                if last.count >= 10_000 { return false }
            }
            last[key] = now
            return true
        }
    }
}

// MARK: HTTP

/// The only way a provider reaches its bank. The core's client speaks HTTPS with timeouts and never
/// follows redirects; tests point the URLs at a fake bank on a local port.
public protocol ProviderHTTPClient: Sendable {
    func send(_ request: ProviderHTTPRequest) async throws -> ProviderHTTPResponse
}

public struct ProviderHTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: String
    /// Whole-request limit: a bank that does not answer in time is a failed call, never a hung parent.
    public var timeout: TimeInterval

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: String = "", timeout: TimeInterval = 15) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// A form post (`application/x-www-form-urlencoded`), as OAuth token endpoints and Stripe want.
    public static func form(_ url: String, _ fields: [(name: String, value: String)], headers: [(name: String, value: String)] = []) -> ProviderHTTPRequest {
        ProviderHTTPRequest(method: "POST", url: url, headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers,
                            body: FormURLEncoding.encode(fields))
    }
}

public struct ProviderHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: String

    public init(status: Int, headers: [(name: String, value: String)] = [], body: String) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// A call to the bank that did not give what was expected: unreachable, an error status, an unreadable answer.
public struct ProviderCallFailed: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// The bank's HTTP status when it answered with an error (nil: no answer, or an unreadable one).
    public var status: Int?
    public init(_ description: String, status: Int? = nil) {
        self.description = description
        self.status = status
    }
}

// MARK: References

/// A small key-value store of one provider for one center: the provider's own references (its session id
/// for an attempt, a transaction counter, an OAuth token). Keys and values are the provider's business.
public protocol ProviderReferences: Sendable {
    func value(for key: String) async throws -> String?
    /// Sets (or replaces) a value.
    func set(_ value: String, for key: String) async throws
    /// 1, 2, 3 ... for a named counter, atomically across every instance of the portal.
    func next(_ counter: String) async throws -> Int
}

/// References kept in memory: for provider unit tests and tools, never for the served portal.
public final class InMemoryReferences: ProviderReferences {
    private let values = Mutex<[String: String]>([:])

    public init() {}

    public func value(for key: String) async throws -> String? { values.withLock { $0[key] } }

    public func set(_ value: String, for key: String) async throws { values.withLock { $0[key] = value } }

    public func next(_ counter: String) async throws -> Int {
        values.withLock {
            let next = (Int($0["counter:" + counter] ?? "0") ?? 0) + 1
            $0["counter:" + counter] = String(next)
            return next
        }
    }
}

// MARK: Notifications

/// A server notification as it reached the portal: method, headers, query and raw body, untouched.
public struct IncomingNotification: Sendable {
    public var method: String
    /// Header names as received; look them up with `header(_:)`, which ignores case.
    public var headers: [(name: String, value: String)]
    public var query: [(name: String, value: String)]
    public var body: String

    public init(method: String = "POST", headers: [(name: String, value: String)] = [], query: [(name: String, value: String)] = [], body: String) {
        self.method = method
        self.headers = headers
        self.query = query
        self.body = body
    }

    /// The first header of that name, whatever its case.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// The first query parameter of that name, whatever its case (PayFiP sends `idOp` or `idop`).
    public func queryValue(_ name: String) -> String? {
        let wanted = name.lowercased()
        return query.first { $0.name.lowercased() == wanted }?.value
    }
}

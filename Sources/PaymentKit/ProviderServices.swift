import Foundation
import Synchronization

/// What the core lends a provider for one call: a way to reach the bank and a place for its references.
public struct ProviderServices: Sendable {
    public var http: any ProviderHTTPClient
    public var references: any ProviderReferences
    /// The time now (tests move it).
    public var now: @Sendable () -> Date

    public init(http: any ProviderHTTPClient, references: any ProviderReferences, now: @escaping @Sendable () -> Date = { Date() }) {
        self.http = http
        self.references = references
        self.now = now
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

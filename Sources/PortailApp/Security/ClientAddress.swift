import Foundation
import Hummingbird
import HTTPTypes

/// The proxies whose `X-Forwarded-For` is believed (PORTAIL_TRUSTED_PROXIES: CIDRs separated by commas
/// or spaces). Without it, the client is the socket's peer and forwarded headers are ignored, so that
/// nobody can choose the address their failed logins are counted against.
public struct TrustedProxies: Sendable {
    struct Network: Sendable {
        let bytes: [UInt8]
        let prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var left = prefix
            for (a, b) in zip(address, bytes) {
                if left <= 0 { return true }
                let mask: UInt8 = left >= 8 ? 0xFF : ~(0xFF >> UInt8(left))
                if a & mask != b & mask { return false }
                left -= 8
            }
            return true
        }
    }

    let networks: [Network]

    public static let none = TrustedProxies(networks: [])

    init(networks: [Network]) { self.networks = networks }

    /// Parses "10.0.0.0/8, 127.0.0.1, ::1/128"; throws a message naming the entry that is not a CIDR.
    public init(parsing text: String) throws {
        var networks: [Network] = []
        for entry in text.split(whereSeparator: { $0 == "," || $0 == " " }) where !entry.isEmpty {
            let parts = entry.split(separator: "/", maxSplits: 1)
            guard let bytes = Self.bytes(String(parts[0])) else {
                throw ConfigurationError("PORTAIL_TRUSTED_PROXIES: \"\(entry)\" is not an IP address or CIDR (e.g. 10.0.0.0/8)")
            }
            let prefix = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
            guard let prefix, (0...(bytes.count * 8)).contains(prefix) else {
                throw ConfigurationError("PORTAIL_TRUSTED_PROXIES: \"\(entry)\" has an invalid prefix length")
            }
            networks.append(Network(bytes: bytes, prefix: prefix))
        }
        self.networks = networks
    }

    func trusts(_ address: String) -> Bool {
        guard let bytes = Self.bytes(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the nearest address of
    /// `X-Forwarded-For` (read from the right) that is not itself a trusted proxy.
    func client(peer: String, forwardedFor: [String]) -> String {
        let peer = Self.normalized(peer) ?? peer
        guard trusts(peer) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { String($0) }
        for hop in hops.reversed() {
            // A hop that is not an address (a proxy's "unknown", an obfuscated name) ends what can be believed.
            guard let address = Self.normalized(hop) else { return peer }
            if !trusts(address) { return address }
        }
        return hops.first.flatMap { Self.normalized($0) } ?? peer
    }

    /// IPv4 or IPv6 text as bytes (inet_pton), as proxies write it: "[2001:db8::1]:443" and
    /// "192.0.2.1:8080" lose their port, an IPv4-mapped IPv6 address is its IPv4 address.
    static func bytes(_ raw: String) -> [UInt8]? {
        var text = raw.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            text = String(text[text.index(after: text.startIndex)..<close])
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            text = String(text[..<colon])
        }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes.suffix(4)) }
        return bytes
    }

    /// The address as it is counted: without port or brackets, IPv4-mapped addresses as IPv4.
    static func normalized(_ raw: String) -> String? {
        guard let bytes = bytes(raw) else { return nil }
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var v6 = in6_addr()
        withUnsafeMutableBytes(of: &v6) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(cString: buffer)
    }
}

/// A setting that cannot be used, with what to change.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Sets `context.remoteAddress` to the client's address as `TrustedProxies` allows.
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let proxies: TrustedProxies
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !proxies.networks.isEmpty else { return try await next(request, context) }
        var context = context
        context.remoteAddress = proxies.client(peer: context.remoteAddress, forwardedFor: request.headers[values: Self.forwardedFor])
        return try await next(request, context)
    }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PaymentKit

/// Providers' calls to a fake bank, over real HTTP on 127.0.0.1 (what the portal's own client does, minus TLS).
struct LocalBankHTTPClient: ProviderHTTPClient {
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    func send(_ request: ProviderHTTPRequest) async throws -> ProviderHTTPResponse {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if !request.body.isEmpty { outgoing.body = .bytes(ByteBuffer(string: request.body)) }
        do {
            let response = try await Self.client.execute(outgoing, timeout: .seconds(Int64(request.timeout)))
            let body = try await response.body.collect(upTo: 1 << 20)
            return ProviderHTTPResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                                        body: String(buffer: body))
        } catch {
            throw ProviderCallFailed("\(request.method) \(request.url) failed: \(error)")
        }
    }

    /// A browser's request to a fake bank's page: status, Location and body.
    static func browse(_ method: String, _ url: String, form: [(name: String, value: String)]? = nil) async throws -> (status: Int, location: String?, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: FormURLEncoding.encode(form)))
        }
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers.first(name: "Location"), String(buffer: body))
    }
}


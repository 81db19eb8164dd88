import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PaymentKit

/// How providers reach their banks in the served portal: HTTPS (or plain HTTP to a local fake bank),
/// no redirects followed, every call bounded in time and in the size of the answer.
public struct LiveProviderHTTPClient: ProviderHTTPClient {
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: .seconds(20))
        )
    )
    /// A bank's answer larger than this is refused (no bank protocol here answers more than a few KB).
    static let maximumAnswer = 1 << 20

    public init() {}

    public func send(_ request: ProviderHTTPRequest) async throws -> ProviderHTTPResponse {
        guard let url = URL(string: request.url), let scheme = url.scheme, ["https", "http"].contains(scheme), url.host != nil else {
            throw ProviderCallFailed("not an http(s) address: \(request.url)")
        }
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        outgoing.headers.add(name: "User-Agent", value: "PortailFamille")
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if !request.body.isEmpty { outgoing.body = .bytes(ByteBuffer(string: request.body)) }
        do {
            let response = try await Self.client.execute(outgoing, timeout: .milliseconds(Int64(request.timeout * 1000)))
            let body = try await response.body.collect(upTo: Self.maximumAnswer)
            return ProviderHTTPResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                                        body: String(buffer: body))
        } catch let error as ProviderCallFailed {
            throw error
        } catch {
            throw ProviderCallFailed("\(request.method) \(url.host ?? "") failed: \(error)")
        }
    }
}

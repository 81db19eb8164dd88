import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PaymentKit
import PortailStore

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
        if let request = RequestTrace.current { outgoing.headers.add(name: "X-Request-Id", value: request) }
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if !request.body.isEmpty { outgoing.body = .bytes(ByteBuffer(string: request.body)) }
        let limit = request.timeout
        let prepared = outgoing
        do {
            // One deadline for the whole call, head and body: a bank trickling its answer is cut off too.
            return try await withThrowingTaskGroup(of: ProviderHTTPResponse.self) { group in
                group.addTask {
                    let response = try await Self.client.execute(prepared, timeout: .milliseconds(Int64(limit * 1000)))
                    let body = try await response.body.collect(upTo: Self.maximumAnswer)
                    return ProviderHTTPResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                                                body: String(buffer: body))
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int64(limit * 1000)))
                    throw ProviderCallFailed("\(request.method) \(url.host ?? "") did not answer within \(Int(limit)) s")
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch let error as ProviderCallFailed {
            throw error
        } catch {
            throw ProviderCallFailed("\(request.method) \(url.host ?? "") failed: \(error)")
        }
    }
}

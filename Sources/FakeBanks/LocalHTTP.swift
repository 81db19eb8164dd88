import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PaymentKit

/// How a fake bank calls the portal (its notifications): plain HTTP to a local address.
enum LocalHTTP {
    static func send(method: String, url: String, headers: [(String, String)], body: String) async throws -> ProviderHTTPResponse {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !body.isEmpty || method == "POST" { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return ProviderHTTPResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                                    body: String(buffer: bytes))
    }
}

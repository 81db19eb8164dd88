import Foundation
import NIOCore
import NIOPosix

/// A minimal HTTP/1.1 client for the simulated bank, which posts its notifications to the portal itself
/// (plain http, one request per connection). Real banks are never called through it.
enum LoopbackHTTPClient {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// POSTs a form body; returns the status code.
    static func postForm(_ urlString: String, body: String) async throws -> Int {
        guard let url = URL(string: urlString), url.scheme == "http", let host = url.host else {
            throw Failure(description: "the simulator only posts to http:// addresses, not \(urlString)")
        }
        let port = url.port ?? 80
        let path = url.path.isEmpty ? "/" : url.path + (url.query.map { "?\($0)" } ?? "")
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let request = "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            try await outbound.write(ByteBuffer(string: request))
            var response = ""
            for try await chunk in inbound {
                response += String(buffer: chunk)
                if response.contains("\r\n") { break }
            }
            let parts = response.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(description: "no HTTP status in the answer") }
            return status
        }
    }
}

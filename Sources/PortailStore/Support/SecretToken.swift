import Crypto
import Foundation
import NIOCore

/// Random tokens for cookies and e-mailed links: the bearer gets the token, the database keeps its SHA-256.
public enum SecretToken {
    /// 32 random bytes (getrandom), URL-safe base64 without padding.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// SHA-256 of the token, as the bytea the tables store.
    public static func hash(_ token: String) -> ByteBuffer {
        ByteBuffer(bytes: Array(SHA256.hash(data: Data(token.utf8))))
    }
}

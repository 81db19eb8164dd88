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

    /// Whether a text from outside has the shape of a generated token (43 URL-safe characters), before
    /// anything hashes or looks it up.
    public static func looksValid(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 43 && text.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
        }
    }

    /// SHA-256 of the token, as the bytea the tables store.
    public static func hash(_ token: String) -> ByteBuffer {
        ByteBuffer(bytes: Array(SHA256.hash(data: Data(token.utf8))))
    }
}

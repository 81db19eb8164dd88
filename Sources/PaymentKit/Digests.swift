import Crypto
import Foundation

/// The digests bank protocols sign with, so that provider plugins need nothing but PaymentKit.
public enum Digests {
    /// Lowercase hex SHA-1 (legacy bank signatures; not for anything new).
    public static func sha1Hex(_ text: String) -> String {
        Insecure.SHA1.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Base64 of the raw HMAC-SHA-256.
    public static func hmacSHA256Base64(_ text: String, key: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(key.utf8)))
        return Data(mac).base64EncodedString()
    }
}

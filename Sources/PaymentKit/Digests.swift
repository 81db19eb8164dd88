import Crypto
import Foundation

/// The digests bank protocols sign with, so that provider plugins need nothing but PaymentKit.
public enum Digests {
    /// Lowercase hex SHA-1 (legacy bank signatures; not for anything new).
    public static func sha1Hex(_ text: String) -> String {
        hex(Insecure.SHA1.hash(data: Data(text.utf8)))
    }

    /// Base64 of the raw HMAC-SHA-256.
    public static func hmacSHA256Base64(_ text: String, key: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(key.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// Lowercase hex HMAC-SHA-256 of UTF-8 text with a UTF-8 key (Stripe, HelloAsso).
    public static func hmacSHA256Hex(_ text: String, key: String) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(key.utf8))))
    }

    /// Lowercase hex HMAC-SHA-1 of UTF-8 text with a binary key (Monetico).
    public static func hmacSHA1Hex(_ text: String, key: [UInt8]) -> String {
        hex(HMAC<Insecure.SHA1>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: key)))
    }

    public static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of a hex string (either case), or nil if it is not one.
    public static func bytes(hex text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 65...70: c - 55
            case 97...102: c - 87
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = value(chars[index]), let low = value(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

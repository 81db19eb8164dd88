import Crypto
import Foundation
import PaymentKit

/// Time-based one-time passwords (RFC 6238, as every authenticator app reads them: HMAC-SHA-1, 6 digits,
/// 30-second steps), and the Base32 text (RFC 4648) the apps are given the secret in.
enum TOTP {
    static let period: TimeInterval = 30
    static let digits = 6

    /// A new secret of 20 random bytes, in Base32.
    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return base32((0..<20).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// The 30-second step that `date` falls in.
    static func step(at date: Date) -> Int64 { Int64((date.timeIntervalSince1970 / period).rounded(.down)) }

    /// The code of `step` for `secret` (raw bytes), `digits` long with leading zeros.
    static func code(secret: [UInt8], step: Int64, digits: Int = digits) -> String {
        var counter = UInt64(bitPattern: step).bigEndian
        let message = withUnsafeBytes(of: &counter) { Data($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let value = (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        var modulo: UInt32 = 1
        for _ in 0..<digits { modulo *= 10 }
        let text = String(value % modulo)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// The step `code` matches, the current one or one either side (a phone's clock drifts), or nil.
    static func matchingStep(_ code: String, secret: String, at date: Date) -> Int64? {
        let typed = code.filter { !$0.isWhitespace }
        guard typed.count == digits, typed.allSatisfy(\.isASCII), typed.allSatisfy(\.isNumber), let key = decodeBase32(secret) else { return nil }
        let now = step(at: date)
        for candidate in [now, now - 1, now + 1] where constantTimeEquals(self.code(secret: key, step: candidate), typed) {
            return candidate
        }
        return nil
    }

    /// The address an authenticator app reads from a QR code or a link.
    static func provisioningURI(secret: String, account: String, issuer: String) -> String {
        func escape(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }
        return "otpauth://totp/\(escape(issuer)):\(escape(account))?secret=\(secret)&issuer=\(escape(issuer))&algorithm=SHA1&digits=\(digits)&period=\(Int(period))"
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func base32(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: output, as: UTF8.self)
    }

    static func decodeBase32(_ text: String) -> [UInt8]? {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for scalar in text.uppercased().utf8 where scalar != UInt8(ascii: "=") && scalar != UInt8(ascii: " ") {
            guard let value = alphabet.firstIndex(of: scalar) else { return nil }
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                output.append(UInt8((buffer >> UInt32(bits - 8)) & 0xff))
                bits -= 8
            }
        }
        return output.isEmpty ? nil : output
    }
}

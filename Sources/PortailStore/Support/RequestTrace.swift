import Foundation

/// The id of the request being served (Hummingbird's `hb.request.id`), carried by the task that serves
/// it: the database sees it as the transaction's `application_name` ("portail <id>", in
/// pg_stat_activity and in PostgreSQL's logs with `%a`), mails queued by the request keep it (their
/// `X-Portail-Request-Id` header) and calls to banks send it (`X-Request-Id`).
public enum RequestTrace {
    @TaskLocal public static var id: String?

    /// The id as it may travel: letters, digits and dashes, 40 characters at most; nil when none.
    public static var current: String? {
        guard let id, !id.isEmpty else { return nil }
        // Byte by byte (every statement of a page asks): a byte of a non-ASCII character is never one of these.
        var clean: [UInt8] = []
        for byte in id.utf8 where clean.count < 40 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "-"):
                clean.append(byte)
            default: continue
            }
        }
        return clean.isEmpty ? nil : String(decoding: clean, as: UTF8.self)
    }
}

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
        let clean = String(id.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "-" }.prefix(40).map(Character.init))
        return clean.isEmpty ? nil : clean
    }
}

import Foundation
import Hummingbird

/// Bounds on what the outside sends: every number, size and string read from a request is checked
/// against these before it reaches arithmetic, SQL or a mail.
enum InputLimits {
    /// RFC 5321: a path of at most 254 characters.
    static let email = 254
    /// Names of people, children, labels.
    static let name = 200
    /// Free texts (a resolution note, a reference).
    static let text = 2_000
    /// Any single string of a JSON body.
    static let jsonString = 10_000
    /// Form bodies of the parent pages.
    static let formBody = 64 * 1024
    /// A form with a file (a document of the family file, 5 MB at most): what is larger is refused (413)
    /// before it is read whole; between 5 and 8 MB the page says which file is too large.
    static let uploadBody = 8 * 1024 * 1024
    /// JSON bodies of the admin API.
    static let jsonBody = 256 * 1024
    /// Center files posted to the API.
    static let centerFile = 1024 * 1024
    /// The largest page number anyone can ask for; past the last page, the last page is shown.
    static let page = 1_000_000

    /// A page number from a query: absent is 1; anything but a whole number from 1 is refused.
    static func page(_ raw: Substring?) throws -> Int {
        guard let raw else { return 1 }
        guard raw.count <= 7, let n = Int(raw), (1...page).contains(n) else { throw HTTPError(.badRequest) }
        return n
    }

    /// The page to show when `requested` may be past the last one of `total` rows.
    private static func clamp(page requested: Int, size: Int, total: Int) -> Int {
        let last = max(1, (total + size - 1) / size)
        return min(requested, last)
    }

    /// Reads page `requested` of `size` rows with `fetch(offset)`; past the last page, reads the last one.
    /// Returns the rows read and the page they are.
    static func page<Rows>(_ requested: Int, size: Int, _ fetch: (_ offset: Int) async throws -> (rows: Rows, total: Int))
        async throws -> (list: (rows: Rows, total: Int), page: Int) {
        let list = try await fetch((requested - 1) * size)
        let page = clamp(page: requested, size: size, total: list.total)
        return page == requested ? (list, page) : (try await fetch((page - 1) * size), page)
    }

    /// An e-mail address as people type it, trimmed; nil when it is too long or not shaped like one.
    static func email(_ raw: String) -> String? {
        let email = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard email.utf8.count <= Self.email,
              email.range(of: #"^[^@\s]+@[^@\s]+\.[^@\s]+$"#, options: .regularExpression) != nil else { return nil }
        return email
    }

    /// Whether a text holds a NUL character (PostgreSQL refuses them in text; nothing legitimate sends one).
    static func hasNUL(_ text: some StringProtocol) -> Bool { text.utf8.contains(0) }
}

/// Refuses, before any routing, what no route can use: NUL bytes in the address, bodies declared
/// larger than any route accepts. Bodies sent without a length are bounded by each route's read.
struct InputGuardMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let target = request.uri.string
        if InputLimits.hasNUL(target) || target.range(of: "%00") != nil {
            throw HTTPError(.badRequest)
        }
        // A file of the family file comes as multipart/form-data (the session middleware reads it only on
        // the pages that ask for one); every other body is a form, JSON or a center file.
        let multipart = request.headers[.contentType]?.lowercased().hasPrefix("multipart/") == true
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > (multipart ? InputLimits.uploadBody : InputLimits.centerFile) {
            throw HTTPError(.contentTooLarge)
        }
        return try await next(request, context)
    }
}

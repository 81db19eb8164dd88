import Hummingbird
import NIOCore
import PortailStore

/// The request context of the portal: which center the request is for, under which path prefix,
/// the browser session and the posted form.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The center resolved from the Host header or the path prefix; nil for federation-wide routes.
    public var center: CenterRecord?
    /// "" when the center was found by its host, "/opio" when found by its path prefix; links start with it.
    public var basePath: String = ""
    /// The browser session (anonymous or logged in), set by `SessionMiddleware` on a center's pages.
    public var session: FamilySession?
    /// The session's cookie token, to delete or rotate it.
    public var sessionToken: String?
    /// Fields of a posted form (application/x-www-form-urlencoded), in order.
    public var form = FormFields(fields: [])
    /// The files of a multipart form (only on `SessionMiddleware.uploadPaths`).
    var files: [MultipartForm.Part] = []
    /// The client's address, for login throttling.
    public var remoteAddress: String
    /// The request's path (after the center's prefix is stripped), for the menu's marker of the current page.
    public var path: String = ""

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// The center, for routes that only exist inside one (the tenant responder guarantees it).
    public var requireCenter: CenterRecord {
        get throws {
            guard let center else { throw HTTPError(.notFound) }
            return center
        }
    }

    /// The logged-in family, or a redirect to the login box.
    public var requireFamily: Int64 {
        get throws {
            guard let family = session?.familyID else { throw RedirectToLogin(base: basePath) }
            return family
        }
    }

    /// The family, for its invoices, payments and receipts: refused to a member who is not its billing
    /// contact when the family keeps them to that contact.
    public var requireInvoices: Int64 {
        get throws {
            let family = try requireFamily
            guard session?.seesInvoices != false else { throw InvoicesWithheld() }
            return family
        }
    }
}

/// Thrown by pages that need a logged-in family; answered with a redirect to the home page.
/// The family keeps its invoices to its billing contact, who is not the person logged in.
struct InvoicesWithheld: Error {}

struct RedirectToLogin: Error {
    let base: String
}

/// The fields of a posted form.
public struct FormFields: Sendable {
    public var fields: [(name: String, value: String)]

    public subscript(_ name: String) -> String? { fields.first { $0.name == name }?.value }
    public func all(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }
}

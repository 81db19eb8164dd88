import Foundation
import Hummingbird
import PaymentKit
import PortailDomain
import PortailStore

/// Loads the browser session of a center's pages, parses posted forms, and refuses a POST whose `csrf`
/// field does not match. A logged-in family's session lives in PostgreSQL (its CSRF token with it); an
/// anonymous visitor has no row at all, only a random CSRF cookie that its forms must repeat.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let database: Database
    let cookies: SessionCookies
    /// Paths posted by other servers (bank notifications), which carry no browser session.
    let exemptPrefixes: [String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let center = context.center, !request.uri.path.hasPrefix("/static/"),
              !exemptPrefixes.contains(where: { request.uri.path.hasPrefix($0) }) else {
            return try await next(request, context)
        }
        var context = context
        context.path = request.uri.path
        let cookie = request.cookies[cookies.name(SessionCookies.session, context)]?.value
        let token = cookie.flatMap { SecretToken.looksValid($0) ? $0 : nil }
        // A logged-in family's page that reads runs in one transaction, the session's lookup included:
        // one BEGIN and one COMMIT for the whole page; the pages whose read is one statement, without
        // either (`readsInStatements`). Forms (POST) keep their own transactions.
        if let token, request.method == .get || request.method == .head, !Self.queues(request, center: center.center) {
            if Self.readsInStatements(request, center: center.center) {
                return try await database.withPageReads(center.id, session: token) { existing in
                    try await serve(request, context: context, token: token, existing: existing, next: next)
                }
            }
            return try await database.withPageTransaction(center.id, session: token) { existing in
                try await serve(request, context: context, token: token, existing: existing, next: next)
            }
        }
        let existing = try await token.asyncFlatMap { token in try await database.session(center.id, token: token) }
        return try await serve(request, context: context, token: token, existing: existing, next: next)
    }

    /// The forms that send a file (multipart/form-data); every other form is URL-encoded.
    static let uploadPaths: Set<String> = ["/dossier/documents"]
    /// Uploads read at once by this instance (each holds up to 8 MB, a few times over while parsed), one at a
    /// time per family ("center:family").
    static let uploads = ConcurrencyGate<String>(limit: 4)

    /// The pages whose reads are one statement that sets its center itself, or none (`Database.withPageReads`):
    /// the home page (none), Mon compte, Mes factures and the grid (`CenterStatement`), at a center without
    /// priority windows, family file to check nor tariff by quotient. Elsewhere those read more (the family's
    /// standing, its file, its quotient), and one transaction for the page costs fewer round trips than a
    /// transaction for each of them. A read of theirs that is not such a statement (Mes factures' notice of
    /// a credit note) opens a transaction of its own.
    static let statementPages: Set<String> = ["/", "/compte", "/factures", "/reservations/nouvelle"]

    static func readsInStatements(_ request: Request, center: Center) -> Bool {
        guard !center.checksFamiliesBeforeBooking, !center.pricesByQuotient else { return false }
        return statementPages.contains(routerPath(request))
    }

    /// The request's path as the router reads it (empty segments dropped).
    static func routerPath(_ request: Request) -> String {
        "/" + request.uri.path.split(separator: "/").joined(separator: "/")
    }

    /// Whether the page may give a place in a waiting room's line now (its center has a room and a
    /// period opens about now): it then keeps its transactions apart, so that the line's place is taken
    /// outside any transaction (`WaitingRoomLine.place`), its counter never held while the grid renders,
    /// nor a second connection asked for while the page holds one. The room's poll (`/salle-attente/etat`, a few
    /// bytes of JSON) runs in one transaction like any page: it renders nothing that would hold it, and reads the
    /// family's place without ever giving one (the line's counter is never locked inside a page's transaction).
    static func queues(_ request: Request, center: Center) -> Bool {
        guard center.waitingRoom != nil else { return false }
        guard routerPath(request) == "/reservations/nouvelle" else { return false }
        let now = Date()
        return center.periods.contains { center.waitingRoomStands(for: $0, at: now) }
    }

    /// Serves the request with its session `existing`, read from the cookie `token` (nil: none, or not live).
    func serve(_ request: Request, context: Context, token: String?, existing: FamilySession?,
               next: (Request, Context) async throws -> Response) async throws -> Response {
        let center = context.center!
        var context = context
        var request = request
        var newCSRF: String?
        if let existing {
            context.session = existing
            context.sessionToken = token
        } else {
            let sent = request.cookies[cookies.name(SessionCookies.csrf, context)]?.value
            let csrf = sent.flatMap { SecretToken.looksValid($0) ? $0 : nil } ?? SecretToken.generate()
            if csrf != sent { newCSRF = csrf }
            context.session = FamilySession(familyID: nil, csrfToken: csrf, token: nil)
        }

        if request.method == .post {
            let fields: [(name: String, value: String)]?
            if let type = request.headers[.contentType], type.lowercased().hasPrefix("multipart/") {
                let boundary = MultipartForm.boundary(of: type)
                // A file is sent only where a page asks for one; its text fields (the CSRF token) are read as any form's.
                let local = context.path.hasPrefix(context.basePath) ? String(context.path.dropFirst(context.basePath.count)) : context.path
                guard Self.uploadPaths.contains(local) else { throw HTTPError(.unsupportedMediaType) }
                // Only a logged-in family's file is read, and only a few at once on this instance: a stranger
                // never makes the server hold megabytes, nor a crowd of uploads its memory.
                guard let family = existing?.familyID else { return Pages.redirect(context.basePath + "/?connexion=requise") }
                // One upload at a time per family: one account cannot hold every slot of the instance.
                let slot: ConcurrencyGate<String>.Slot
                switch Self.uploads.enter("\(center.id):\(family)") {
                case .success(let place): slot = place
                case .failure(.keyBusy):
                    return Pages.problem(title: "Envoi déjà en cours",
                                         message: "Un document de votre famille est en train d'arriver. Attendez la fin de cet envoi, puis recommencez.",
                                         base: context.basePath, status: .tooManyRequests)
                case .failure(.full):
                    return Pages.problem(title: "Envoi impossible pour l'instant",
                                         message: "Beaucoup de documents arrivent en même temps. Réessayez dans une minute.",
                                         base: context.basePath, status: .serviceUnavailable)
                }
                defer { slot.leave() }
                let body = try await request.collectBody(upTo: InputLimits.uploadBody)
                let parts = boundary.flatMap { MultipartForm.parse(Array(body.readableBytesView), boundary: $0) }
                fields = parts.flatMap { parts in
                    let text = parts.filter { $0.filename == nil }.map { part in (name: part.name, value: String(validating: part.body, as: UTF8.self)) }
                    return text.allSatisfy { $0.value != nil && $0.value!.utf8.count <= InputLimits.text } ? text.map { (name: $0.name, value: $0.value!) } : nil
                }
                context.files = parts?.filter { $0.filename != nil } ?? []
            } else {
                fields = FormURLEncoding.decode(String(buffer: try await request.collectBody(upTo: InputLimits.formBody)))
            }
            guard let fields, !fields.contains(where: { InputLimits.hasNUL($0.name) || InputLimits.hasNUL($0.value) }) else {
                return Pages.problem(title: "Formulaire illisible", message: "Le formulaire envoyé est mal formé. Rechargez la page et recommencez.",
                                     base: context.basePath, status: .badRequest)
            }
            context.form = FormFields(fields: fields)
            // A stale anonymous token is refused too: a new one was just issued, so the form cannot hold it.
            guard newCSRF == nil, let session = context.session, let sent = context.form["csrf"], constantTimeEquals(sent, session.csrfToken) else {
                var refused = Pages.problem(
                    title: "Page expirée",
                    message: "Pour votre sécurité, ce formulaire a expiré. Rechargez la page et recommencez.",
                    base: context.basePath, status: .forbidden
                )
                if let newCSRF { refused.setCookie(cookies.csrf(newCSRF, context: context)) }
                return refused
            }
        }

        var response: Response
        do {
            response = try await next(request, context)
        } catch let redirect as RedirectToLogin {
            response = Pages.redirect(redirect.base + "/?connexion=requise")
        } catch is InvoicesWithheld {
            response = Pages.problem(title: "Factures réservées au payeur",
                                     message: "Les factures de cette famille ne sont visibles que par son payeur. Adressez-vous à lui, ou à l'accueil du centre.",
                                     base: context.basePath, status: .forbidden)
        }
        if let newCSRF {
            response.setCookie(cookies.csrf(newCSRF, context: context))
        }
        return response
    }
}

extension Optional {
    func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        switch self {
        case .some(let value): try await transform(value)
        case .none: nil
        }
    }
}

import Foundation
import Hummingbird
import PaymentKit
import PortailStore

/// Loads the browser session of a center's pages from PostgreSQL (creating an anonymous one when the
/// browser has none, so that every form carries a CSRF token), parses posted forms, and refuses a POST
/// whose `csrf` field does not match its session.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    static let cookieName = "portail_session"

    let database: Database
    /// Paths posted by other servers (bank notifications), which carry no browser session.
    let exemptPrefixes: [String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let center = context.center, !request.uri.path.hasPrefix("/static/"),
              !exemptPrefixes.contains(where: { request.uri.path.hasPrefix($0) }) else {
            return try await next(request, context)
        }
        var context = context
        var request = request
        var newToken: String?
        let cookie = request.cookies[Self.cookieName]?.value
        let existing = try await cookie.asyncFlatMap { token in
            try await database.withCenter(center.id) { c in
                try await SessionRepository.find(c, center: center.id, token: token, logger: context.logger)
            }
        }
        if let existing {
            context.session = existing
            context.sessionToken = cookie
        } else if request.method == .get || request.method == .head {
            let created = try await database.withCenter(center.id) { c in
                try await SessionRepository.create(c, center: center.id, familyID: nil, logger: context.logger)
            }
            context.session = created
            context.sessionToken = created.token
            newToken = created.token
        }

        if request.method == .post {
            let body = try await request.collectBody(upTo: 64 * 1024)
            let text = String(buffer: body)
            guard let fields = FormURLEncoding.decode(text) else {
                return Pages.problem(title: "Formulaire illisible", message: "Le formulaire envoyé est mal formé. Rechargez la page et recommencez.", base: context.basePath, status: .badRequest)
            }
            context.form = FormFields(fields: fields)
            guard let session = context.session, let sent = context.form["csrf"], constantTimeEquals(sent, session.csrfToken) else {
                return Pages.problem(
                    title: "Page expirée",
                    message: "Pour votre sécurité, ce formulaire a expiré. Rechargez la page et recommencez.",
                    base: context.basePath, status: .forbidden
                )
            }
        }

        var response: Response
        do {
            response = try await next(request, context)
        } catch let redirect as RedirectToLogin {
            response = Pages.redirect(redirect.base + "/?connexion=requise")
        }
        if let newToken {
            response.setCookie(Self.cookie(newToken, context: context, request: request))
        }
        return response
    }

    /// HttpOnly, SameSite=Lax, Secure behind https, scoped to the center's path prefix when there is one.
    static func cookie(_ token: String, context: Context, request: Request) -> Cookie {
        let secure = request.headers[.init("X-Forwarded-Proto")!] == "https" || request.head.scheme == "https"
        return Cookie(name: cookieName, value: token, maxAge: Int(SessionRepository.absoluteTimeout),
                      path: context.basePath.isEmpty ? "/" : context.basePath, secure: secure, httpOnly: true, sameSite: .lax)
    }

    static func expiredCookie(context: Context) -> Cookie {
        Cookie(name: cookieName, value: "", maxAge: 0, path: context.basePath.isEmpty ? "/" : context.basePath, httpOnly: true, sameSite: .lax)
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

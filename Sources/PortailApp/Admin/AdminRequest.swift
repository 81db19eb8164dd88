import Foundation
import Hummingbird
import PaymentKit
import PortailDomain
import PortailStore

/// What every back-office page shows around its content: who is signed in, the CSRF token of its forms.
struct AdminChrome {
    let csrf: String
    let signedIn: Bool
    let name: String
}

/// A back-office request: its session (from the staff cookie), its posted form, and the CSRF token its
/// forms carry (the session's, or an anonymous double-submit cookie's before sign-in). The back office
/// answers at `/admin/` on every host of the federation; its cookies are its own (`portail_staff`,
/// SameSite=Strict), never a family's.
struct AdminRequest {
    var session: StaffSession?
    var token: String?
    var form = FormFields(fields: [])
    var csrf: String
    /// A new anonymous CSRF token to set as a cookie with the answer.
    var newCSRF: String?

    var chrome: AdminChrome {
        AdminChrome(csrf: csrf, signedIn: session?.complete == true, name: session.map { $0.name.isEmpty ? $0.email : $0.name } ?? "")
    }
}

extension PortailRoutes {
    static let staffSessionCookie = "portail_staff"
    static let staffCSRFCookie = "portail_staff_csrf"

    /// Secure cookies when the federation's addresses are https (the configuration says so, never a header).
    var adminSecure: Bool { directory.snapshot.centers.contains { publicAddress.isHTTPS($0.center) } }

    func adminCookie(_ base: String, _ value: String, maxAge: Int?) -> Cookie {
        Cookie(name: (adminSecure ? "__Host-" : "") + base, value: value, maxAge: maxAge, path: "/",
               secure: adminSecure, httpOnly: true, sameSite: .strict)
    }

    func adminCookieValue(_ request: Request, _ base: String) -> String? {
        guard let value = request.cookies[(adminSecure ? "__Host-" : "") + base]?.value, SecretToken.looksValid(value) else { return nil }
        return value
    }

    /// Loads the session and, for a POST, the form and its CSRF check; a refused form gets its answer.
    func adminRequest(_ request: inout Request, context: AppRequestContext, bodyLimit: Int = InputLimits.formBody) async throws -> Result<AdminRequest, AdminRefusal> {
        let token = adminCookieValue(request, Self.staffSessionCookie)
        let session = try await token.asyncFlatMap { token in
            try await StaffRepository.federation(database) { c in try await StaffSignIn.session(c, token: token, logger: context.logger) }
        }
        var admin: AdminRequest
        if let session, let token {
            admin = AdminRequest(session: session, token: token, csrf: session.csrf)
        } else {
            let sent = adminCookieValue(request, Self.staffCSRFCookie)
            let csrf = sent ?? SecretToken.generate()
            admin = AdminRequest(session: nil, token: nil, csrf: csrf, newCSRF: sent == nil ? csrf : nil)
        }
        if request.method == .post {
            // A large body (a center file) is read only for a signed-in person.
            let body = try await request.collectBody(upTo: admin.session == nil ? min(bodyLimit, InputLimits.formBody) : bodyLimit)
            guard let fields = FormURLEncoding.decode(String(buffer: body)),
                  !fields.contains(where: { InputLimits.hasNUL($0.name) || InputLimits.hasNUL($0.value) }) else {
                return .failure(AdminRefusal(response: adminProblem("Formulaire illisible", "Le formulaire envoyé est mal formé. Rechargez la page et recommencez.", status: .badRequest)))
            }
            admin.form = FormFields(fields: fields)
            guard admin.newCSRF == nil, let sent = admin.form["csrf"], constantTimeEquals(sent, admin.csrf) else {
                var refused = adminProblem("Page expirée", "Pour votre sécurité, ce formulaire a expiré. Rechargez la page et recommencez.", status: .forbidden)
                if let fresh = admin.newCSRF { refused.setCookie(adminCookie(Self.staffCSRFCookie, fresh, maxAge: nil)) }
                return .failure(AdminRefusal(response: refused))
            }
        }
        return .success(admin)
    }

    /// Renders a back-office page, with the anonymous CSRF cookie when one was just made.
    func adminPage(_ name: String, _ model: Any, _ admin: AdminRequest, status: HTTPResponse.Status = .ok) -> Response {
        var response = templates.page(name, model, status: status)
        if let fresh = admin.newCSRF { response.setCookie(adminCookie(Self.staffCSRFCookie, fresh, maxAge: nil)) }
        return response
    }

    func adminProblem(_ title: String, _ message: String, status: HTTPResponse.Status) -> Response {
        Pages.problem(title: title, message: message, base: "", status: status)
    }

    /// A signed-in back-office page: the complete session, or the way to it.
    func requireStaff(_ admin: AdminRequest) -> Result<(StaffSession, String), AdminRefusal> {
        guard let session = admin.session, let token = admin.token else {
            return .failure(AdminRefusal(response: Pages.redirect("/admin/connexion")))
        }
        guard session.complete else { return .failure(AdminRefusal(response: Pages.redirect("/admin/verification"))) }
        return .success((session, token))
    }

    /// The signed-in person and the center of the route's `code`, if they may see it (a federation
    /// administrator sees every center; anyone else the centers where they hold a role), with their role
    /// there; otherwise the way to sign in, or the same 404 for a center that is not theirs or none at all.
    func staffCenter(_ admin: AdminRequest, context: AppRequestContext) async throws -> (StaffSession, CenterRecord, String) {
        let (session, _) = try requireStaff(admin).get()
        let unknown = AdminRefusal(response: adminProblem("Accueil inconnu", "Il n'y a pas d'accueil de loisirs à cette adresse parmi les vôtres.",
                                                          status: .notFound))
        guard let record = directory.center(forCode: context.parameters.get("code") ?? "") else { throw unknown }
        if session.isFederationAdmin { return (session, record, "federation_admin") }
        let role = try await database.withCenter(record.id) { c in
            try await StaffRepository.role(c, center: record.id, staff: session.staffID, logger: context.logger)
        }
        guard let role else { throw unknown }
        return (session, record, role)
    }
}

/// A back-office request answered before its page (a refused form, a redirect to sign in).
struct AdminRefusal: Error {
    var response: Response
}

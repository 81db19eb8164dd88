import Foundation
import Hummingbird
import PortailStore

/// The cookies of a center's pages: the session of a logged-in family, and the anonymous visitor's
/// CSRF token (double submit: the form must carry the cookie's value), so that an anonymous page
/// writes nothing in the database. Both are HttpOnly and SameSite=Lax; Secure when the center's
/// configured address is https (never decided from a request header). Over https they are named with
/// the `__Host-` prefix (path /, no domain), so that a sibling domain cannot plant them; under a path
/// prefix (`/opio`) their name carries the center's code instead of a path. Over plain http (the demo)
/// they are scoped to the center's prefix.
struct SessionCookies: Sendable {
    static let session = "portail_session"
    static let csrf = "portail_csrf"

    let publicAddress: PublicAddress

    func secure(_ context: AppRequestContext) -> Bool {
        context.center.map { publicAddress.isHTTPS($0.center) } ?? false
    }

    func name(_ base: String, _ context: AppRequestContext) -> String {
        guard secure(context) else { return base }
        return "__Host-" + base + (context.basePath.isEmpty ? "" : "-" + context.basePath.dropFirst())
    }

    func session(_ token: String, context: AppRequestContext) -> Cookie {
        cookie(name(Self.session, context), token, maxAge: Int(SessionRepository.absoluteTimeout), context: context)
    }

    func expiredSession(context: AppRequestContext) -> Cookie {
        cookie(name(Self.session, context), "", maxAge: 0, context: context)
    }

    /// The anonymous CSRF token lives as long as the browser's session.
    func csrf(_ token: String, context: AppRequestContext) -> Cookie {
        cookie(name(Self.csrf, context), token, maxAge: nil, context: context)
    }

    private func cookie(_ name: String, _ value: String, maxAge: Int?, context: AppRequestContext) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: secure(context) || context.basePath.isEmpty ? "/" : context.basePath,
               secure: secure(context), httpOnly: true, sameSite: .lax)
    }
}

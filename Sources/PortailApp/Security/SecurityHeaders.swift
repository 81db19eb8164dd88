import Hummingbird
import HTTPTypes
import PortailStore

/// Headers every answer carries so that a browser refuses what the portal never does: inline or
/// foreign scripts (a Content-Security-Policy without 'unsafe-inline'), being framed (clickjacking),
/// guessing content types, sending page addresses — reset links carry their token — to other sites.
/// HSTS when the center's configured address is https (never decided from a request header).
enum SecurityHeaders {
    /// Forms may post to the bank's hosted payment page (any https address); nothing else leaves the site.
    static let policy = policy(formAction: "'self' https:")
    /// The demo and the tests also post to fake banks on this machine's local ports (plain http).
    static let localPolicy = policy(formAction: "'self' https: http://127.0.0.1:* http://localhost:*")

    static func policy(formAction: String) -> String {
        [
            "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
            "connect-src 'self'", "form-action \(formAction)", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'",
        ].joined(separator: "; ")
    }

    static let csp = HTTPField.Name("Content-Security-Policy")!
    static let frameOptions = HTTPField.Name("X-Frame-Options")!
    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let hsts = HTTPField.Name("Strict-Transport-Security")!

    /// Adds the headers to an answer of `center` (nil: a federation-wide path or an unknown host).
    static func apply(to response: inout Response, center: CenterRecord?, publicAddress: PublicAddress) {
        response.headers[csp] = publicAddress.useListener ? localPolicy : policy
        response.headers[frameOptions] = "DENY"
        response.headers[contentTypeOptions] = "nosniff"
        response.headers[referrerPolicy] = "same-origin"
        if let center, publicAddress.isHTTPS(center.center) {
            response.headers[hsts] = "max-age=31536000"
        }
    }
}

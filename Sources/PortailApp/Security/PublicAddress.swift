import Foundation
import PortailDomain
import Synchronization

/// Where the absolute links the server writes point (mails, the bank's return and notification
/// addresses): each center's configured `portal_url`, never the request's Host or forwarded headers,
/// so that a forged header cannot send a reset link or a payment notification elsewhere.
/// The demo and the tests serve every center under the listener's own address instead
/// (`http://127.0.0.1:8080/opio`), learnt when the server starts.
public final class PublicAddress: Sendable {
    private let listener: Mutex<String?>
    /// Whether centers are served under the listener's address (demo, tests) rather than their portal_url.
    let useListener: Bool

    public init(useListener: Bool) {
        self.useListener = useListener
        listener = Mutex(nil)
    }

    /// Called once the server listens: "http://127.0.0.1:8080".
    func listening(host: String, port: Int) {
        let shown = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
        listener.withLock { $0 = "http://\(shown):\(port)" }
    }

    /// "https://portailfamilles-opio.ifac.asso.fr" (no trailing slash), or "http://127.0.0.1:8080/opio".
    func base(of center: Center) -> String {
        if useListener, let listener = listener.withLock({ $0 }) { return listener + "/" + center.code }
        var url = center.coordinates.portalURL
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// "https://portailfamilles-opio.ifac.asso.fr" or "http://127.0.0.1:8080": the scheme and host of
    /// `base(of:)`, without the center's path (the admin API lives at the root of every host).
    func origin(of center: Center) -> String {
        let base = base(of: center)
        guard let schemeEnd = base.range(of: "://") else { return base }
        let rest = base[schemeEnd.upperBound...]
        return String(base[..<schemeEnd.upperBound]) + String(rest.prefix { $0 != "/" })
    }

    /// Cookies are Secure and pages send HSTS when the center's address is https.
    func isHTTPS(_ center: Center) -> Bool { base(of: center).lowercased().hasPrefix("https://") }
}

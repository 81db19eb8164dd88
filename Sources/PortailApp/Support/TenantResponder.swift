import Hummingbird
import HTTPTypes

/// Resolves the center of each request before routing: by the Host header (a center's `hosts:`) or by a
/// path prefix (`/opio/...`, for development and single-domain deployments), whose prefix it strips.
/// Federation-wide paths (`/healthz`, `/metrics`, `/static/`) need no center. Anything else gets a plain
/// 404 that says nothing about which centers exist.
struct TenantResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == AppRequestContext {
    let inner: Inner
    let directory: CenterDirectory
    let globalPaths: Set<String>
    let globalPrefixes: [String]
    /// Whether each center's address is https (for HSTS).
    let publicAddress: PublicAddress
    static var hostField: HTTPField.Name { HTTPField.Name("Host")! }
    /// The one address of a suspended center still answered: its bank's notifications.
    static var notificationPath: String { "/paiement/notification" }

    /// Every answer, a center's or not, found or not, carries the security headers.
    func respond(to request: Request, context: AppRequestContext) async throws -> Response {
        var resolved = context
        var response = try await route(request, &resolved)
        SecurityHeaders.apply(to: &response, center: resolved.center, publicAddress: publicAddress)
        return response
    }

    private func route(_ request: Request, _ context: inout AppRequestContext) async throws -> Response {
        let path = request.uri.path
        if globalPaths.contains(path) || globalPrefixes.contains(where: { path.hasPrefix($0) }) {
            return try await inner.respond(to: request, context: context)
        }
        // HTTP/1.1 puts Host into the request's authority; a request built in memory may carry it as a field.
        // A suspended center answers its bank's notifications only.
        if let host = request.head.authority ?? request.headers[Self.hostField],
           let center = directory.center(forHost: host, suspended: path == Self.notificationPath) {
            context.center = center
            return try await inner.respond(to: request, context: context)
        }
        // "/opio" or "/opio/..." -> center opio, path "/" or "/...".
        let segments = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let prefix = segments.count >= 2 ? String(segments[1].prefix { $0 != "/" }) : ""
        if segments.count >= 2,
           let center = directory.center(forCode: prefix, suspended: path.dropFirst(prefix.count + 1) == Self.notificationPath) {
            let code = center.center.code
            let rest = String(path.dropFirst(code.count + 1))
            if rest.isEmpty {
                // "/opio" -> "/opio/" so that relative links resolve inside the center.
                let query = request.uri.query.map { "?\($0)" } ?? ""
                return Response(status: .permanentRedirect, headers: [.location: "/\(code)/\(query)"])
            }
            var head = request.head
            let query = request.uri.query.map { "?\($0)" } ?? ""
            head.path = rest + query
            context.center = center
            context.basePath = "/" + code
            return try await inner.respond(to: Request(head: head, body: request.body), context: context)
        }
        return Pages.notFound()
    }
}

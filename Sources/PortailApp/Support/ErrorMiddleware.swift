import Hummingbird
import Logging
import Metrics
import PostgresNIO

/// Maps errors to one answer in one place. On the API every failure is problem+json; on the parent
/// pages a French page. HTTP errors keep their status (400, 404, 413 ...); anything unexpected is
/// logged in full (with the request) and answered with a plain 500.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let api = request.uri.path.hasPrefix("/api/")
        do {
            return try await next(request, context)
        } catch let problem as APIProblem {
            return problem.response
        } catch let redirect as RedirectToLogin {
            return Pages.redirect(redirect.base + "/?connexion=requise")
        } catch let error as PSQLError where Self.isBusy(error) {
            // The database gave up on one of this request's transactions: a lock or statement timeout on
            // the opening day's hot rows, a conflict still there after the retries, or a connection lost
            // in a failover. That transaction is rolled back (or, lost during its COMMIT, unknown), and an
            // earlier one of the same request may have committed: the caller checks, then tries again.
            let state = error.serverInfo?[.sqlState] ?? "connection"
            // A deadlock past the retries is a lock-order bug to fix, not load: an error in the log.
            context.logger.log(level: state == "40P01" ? .error : .warning,
                               "\(request.method) \(Self.loggable(request.uri.path)) answered 503: \(Self.busyReason(error))")
            Counter(label: "portail_http_busy_total", dimensions: [("sqlstate", state)]).increment()
            var response = api ? APIProblem.forStatus(.serviceUnavailable).response
                : Pages.problem(title: "Trop de demandes en même temps",
                                message: "Beaucoup de familles utilisent le portail en ce moment et votre demande n'a peut-être pas abouti. "
                                    + "Vérifiez ce qui a été enregistré (vos réservations sont dans Mon compte), puis réessayez dans quelques secondes.",
                                base: context.basePath, status: .serviceUnavailable,
                                // A center's page: the parent checks Mon compte (the login box first, without a session).
                                link: context.basePath.isEmpty ? nil : ("/compte", "Voir Mon compte"))
            // Spread over a few seconds, so that the families turned away together do not come back together.
            response.headers[.retryAfter] = String(Int.random(in: 3...8))
            return response
        } catch let busy as PortailRoutes.ExportsBusy {
            // The center's own export running is its staff asking too much at once (429); the instance's
            // exports all taken is the server's limit (503). Either way, try again shortly.
            Counter(label: "portail_exports_refused_total").increment()
            let status: HTTPResponse.Status = busy.centerBusy ? .tooManyRequests : .serviceUnavailable
            var response = api
                ? APIProblem(status: status, title: "Exports busy",
                             detail: busy.centerBusy ? "Another export of this center is streaming; one runs at a time per center. Try again after the Retry-After delay."
                                 : "This instance is streaming as many exports as it allows at once. Try again after the Retry-After delay.").response
                : Pages.problem(title: "Export déjà en cours",
                                message: busy.centerBusy
                                    ? "Un autre fichier de cet accueil est en cours de téléchargement (un seul à la fois par accueil). Réessayez dans quelques secondes."
                                    : "Plusieurs fichiers sont en cours de téléchargement sur le portail. Réessayez dans quelques secondes.",
                                base: "", status: status)
            response.headers[.retryAfter] = String(PortailRoutes.ExportsBusy.retryAfterSeconds)
            return response
        } catch let error as any HTTPResponseError {
            return api ? APIProblem.forStatus(error.status).response : Self.page(for: error.status, base: context.basePath)
        } catch {
            context.logger.error("\(request.method) \(Self.loggable(request.uri.path)) failed: \(String(reflecting: error))")
            if api { return APIProblem.forStatus(.internalServerError).response }
            return Pages.problem(title: "Erreur du serveur",
                                 message: "Une erreur est survenue. Réessayez dans un instant ; si elle persiste, contactez l'accueil de loisirs.",
                                 base: context.basePath, status: .internalServerError)
        }
    }

    /// SQL states of a transaction PostgreSQL gave up on, that a new attempt may pass: statement timeout
    /// or cancel (57014), lock timeout (55P03), deadlock and serialization failure past the retries
    /// (40P01, 40001), too many connections (53300), server shutting down (57P01 to 57P03); and a
    /// connection lost or refused.
    static let busyStates: Set<String> = ["57014", "55P03", "40P01", "40001", "53300", "57P01", "57P02", "57P03"]

    static func isBusy(_ error: PSQLError) -> Bool {
        if let state = error.serverInfo?[.sqlState] { return busyStates.contains(state) }
        return [.serverClosedConnection, .connectionError, .uncleanShutdown].contains(error.code)
    }

    static func busyReason(_ error: PSQLError) -> String {
        error.serverInfo.map { "\($0[.sqlState] ?? "?") \($0[.message] ?? "")" } ?? "\(error.code)"
    }

    /// The path as logs may keep it: a calendar feed's address is its secret, and is not written down.
    static func loggable(_ path: String) -> String {
        guard let range = path.range(of: "/calendrier/") else { return path }
        return String(path[..<range.upperBound]) + "…"
    }

    /// The French page of an HTTP error status.
    static func page(for status: HTTPResponse.Status, base: String) -> Response {
        switch status {
        case .notFound: return Pages.notFound()
        case .contentTooLarge:
            return Pages.problem(title: "Envoi trop volumineux", message: "Ce que vous avez envoyé dépasse la taille permise. Raccourcissez-le et recommencez.",
                                 base: base, status: status)
        case .methodNotAllowed:
            return Pages.problem(title: "Action impossible", message: "Cette adresse ne permet pas cette action. Revenez à l'accueil.",
                                 base: base, status: status)
        case .unsupportedMediaType:
            return Pages.problem(title: "Formulaire illisible", message: "Le formulaire envoyé est mal formé. Rechargez la page et recommencez.",
                                 base: base, status: status)
        default:
            if status.code >= 500 {
                return Pages.problem(title: "Erreur du serveur", message: "Une erreur est survenue. Réessayez dans un instant.", base: base, status: status)
            }
            return Pages.problem(title: "Demande invalide", message: "La demande est incomplète ou mal formée. Revenez en arrière et recommencez.",
                                 base: base, status: status.code >= 400 ? status : .badRequest)
        }
    }
}

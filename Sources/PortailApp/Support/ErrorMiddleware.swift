import Hummingbird
import Logging

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

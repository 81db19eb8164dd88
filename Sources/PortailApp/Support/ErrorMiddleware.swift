import Hummingbird
import Logging

/// Maps errors to one answer in one place: HTTP errors keep their status with a French page, anything
/// unexpected is logged in full (with the request) and answered with a plain 500 page.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound: return Pages.notFound()
            case .badRequest:
                return Pages.problem(title: "Demande invalide", message: "La demande est incomplète ou mal formée. Revenez en arrière et recommencez.",
                                     base: context.basePath, status: .badRequest)
            default: throw error
            }
        } catch let redirect as RedirectToLogin {
            return Pages.redirect(redirect.base + "/?connexion=requise")
        } catch {
            context.logger.error("\(request.method) \(request.uri.path) failed: \(String(reflecting: error))")
            return Pages.problem(title: "Erreur du serveur", message: "Une erreur est survenue. Réessayez dans un instant ; si elle persiste, contactez l'accueil de loisirs.",
                                 base: context.basePath, status: .internalServerError)
        }
    }
}

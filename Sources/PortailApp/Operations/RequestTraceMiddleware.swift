import Hummingbird
import Logging
import PortailStore

/// Carries the request's id (Hummingbird's `hb.request.id`, in every log line of the request) to what
/// the request does elsewhere: its transactions' `application_name`, the mails it queues, its calls to
/// banks (`RequestTrace`).
struct RequestTraceMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let id = context.logger[metadataKey: "hb.request.id"]?.description, !id.isEmpty else {
            return try await next(request, context)
        }
        return try await RequestTrace.$id.withValue(id) { try await next(request, context) }
    }
}

import Hummingbird
import PortailStore

/// The request context of the portal: which center the request is for, and under which path prefix.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The center resolved from the Host header or the path prefix; nil for federation-wide routes.
    public var center: CenterRecord?
    /// "" when the center was found by its host, "/opio" when found by its path prefix; links start with it.
    public var basePath: String = ""

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    /// The center, for routes that only exist inside one (the tenant responder guarantees it).
    public var requireCenter: CenterRecord {
        get throws {
            guard let center else { throw HTTPError(.notFound) }
            return center
        }
    }
}

/// What the configuration knows of a payment provider type: how to check its parameters.
/// The executable builds these from the provider registry, so that this module names no provider.
public struct PaymentTypeRule: Sendable {
    public var type: String
    /// Returns (parameter, message) for each problem; `environment` resolves the `*_env` secrets.
    public var validate: @Sendable (_ parameters: [String: String], _ environment: [String: String]) -> [Problem]
    /// The bank account the parameters name ("systempay site_id 12345678"), or nil: two centers never share one.
    public var account: @Sendable (_ parameters: [String: String]) -> String?

    /// A problem with one parameter; `missingSecret` when only the environment is at fault.
    public typealias Problem = (parameter: String, message: String, missingSecret: Bool)

    public init(
        type: String,
        account: @escaping @Sendable ([String: String]) -> String? = { _ in nil },
        validate: @escaping @Sendable ([String: String], [String: String]) -> [Problem]
    ) {
        self.type = type
        self.account = account
        self.validate = validate
    }
}

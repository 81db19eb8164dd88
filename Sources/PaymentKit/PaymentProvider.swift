import Foundation

/// A payment provider type (one bank protocol), as a center's YAML names it under `payment.type`.
/// The flow itself (start a payment, verify a notification) is added with the payment issue;
/// for now a provider describes and checks its configuration.
public protocol PaymentProviderType: Sendable {
    /// The `type` written in a center's YAML: "systempay", "simulator".
    static var type: String { get }
    /// Human name for logs and pages: "SYSTEMPAY".
    static var displayName: String { get }
    /// Checks the parameters of a center's `payment:` block; `environment` resolves the `*_env` secrets.
    static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem]
}

/// A problem with one parameter of a center's payment configuration.
public struct ParameterProblem: Sendable, Hashable {
    public var parameter: String
    public var message: String
    /// The file is right but the environment lacks the secret it names: fatal where the center is
    /// served, a warning when a file is only checked.
    public var isMissingSecret: Bool
    public init(_ parameter: String, _ message: String, isMissingSecret: Bool = false) {
        self.parameter = parameter
        self.message = message
        self.isMissingSecret = isMissingSecret
    }
}

/// The provider types this build knows, keyed by their YAML `type`.
public struct PaymentProviderRegistry: Sendable {
    public private(set) var types: [String: any PaymentProviderType.Type] = [:]

    public init() {}

    public mutating func register(_ provider: any PaymentProviderType.Type) {
        types[provider.type] = provider
    }

    public subscript(type: String) -> (any PaymentProviderType.Type)? { types[type] }
}

extension ParameterProblem {
    /// Checks that the parameter names an environment variable that is set and not empty.
    public static func secret(_ parameter: String, in parameters: [String: String], environment: [String: String]) -> ParameterProblem? {
        guard let name = parameters[parameter] else {
            return ParameterProblem(parameter, "missing \"\(parameter)\": name the environment variable that holds this secret")
        }
        guard let value = environment[name], !value.isEmpty else {
            return ParameterProblem(parameter, "the environment variable \(name) is not set: export it before starting the portal", isMissingSecret: true)
        }
        return nil
    }

    /// Reports the parameters that the provider does not know.
    public static func unknown(in parameters: [String: String], allowed: Set<String>) -> [ParameterProblem] {
        parameters.keys.filter { !allowed.contains($0) }.sorted().map {
            ParameterProblem($0, "unknown parameter \"\($0)\"; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }
}

import PaymentKit

/// A stand-in bank served by the portal itself, for the demo and the tests; never for a production center.
/// The payment issue gives it its pages and signed notifications; here it declares its configuration.
public enum SimulatorProvider: PaymentProviderType {
    public static let type = "simulator"
    public static let displayName = "SIMULATEUR"

    /// `mode: TEST` only; the optional `signing_key_env` names the key its notifications are signed with.
    public static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem] {
        var problems = ParameterProblem.unknown(in: parameters, allowed: ["mode", "signing_key_env"])
        if let mode = parameters["mode"], mode != "TEST" {
            problems.append(ParameterProblem("mode", "the simulator is a stand-in bank: it runs in TEST mode only, found \"\(mode)\""))
        }
        if parameters["signing_key_env"] != nil,
           let problem = ParameterProblem.secret("signing_key_env", in: parameters, environment: environment) {
            problems.append(problem)
        }
        return problems
    }
}

import PaymentKit

/// Lyra's "vads" form protocol, spoken by SystemPay, PayZen, Sogecommerce and Scellius (payments.md §1).
/// The payment issue adds the form and the notification; here it checks a center's configuration.
public enum SystemPayProvider: PaymentProviderType {
    public static let type = "systempay"
    public static let displayName = "SYSTEMPAY"

    /// Platforms whose payment page address is known; `url` overrides them.
    public static let platforms = ["systempay", "payzen", "sogecommerce", "scellius"]

    public static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem] {
        var problems = ParameterProblem.unknown(
            in: parameters,
            allowed: ["site_id", "mode", "test_key_env", "production_key_env", "algorithm", "platform", "url"]
        )
        if let site = parameters["site_id"] {
            if site.count != 8 || !site.allSatisfy(\.isNumber) {
                problems.append(ParameterProblem("site_id", "site_id must be the 8-digit shop identifier given by the bank, found \"\(site)\""))
            }
        } else {
            problems.append(ParameterProblem("site_id", "missing \"site_id\": the 8-digit shop identifier given by the bank"))
        }
        let mode = parameters["mode"] ?? "TEST"
        switch mode {
        case "TEST":
            if let p = ParameterProblem.secret("test_key_env", in: parameters, environment: environment) { problems.append(p) }
        case "PRODUCTION":
            if let p = ParameterProblem.secret("production_key_env", in: parameters, environment: environment) { problems.append(p) }
        default:
            problems.append(ParameterProblem("mode", "mode must be TEST or PRODUCTION, found \"\(mode)\""))
        }
        if let algorithm = parameters["algorithm"], !["HMAC-SHA-256", "SHA-1"].contains(algorithm) {
            problems.append(ParameterProblem("algorithm", "algorithm must be HMAC-SHA-256 (or SHA-1 for old shops), found \"\(algorithm)\""))
        }
        if let platform = parameters["platform"], !platforms.contains(platform) {
            problems.append(ParameterProblem("platform", "unknown platform \"\(platform)\": use \(platforms.joined(separator: ", ")) or give url"))
        }
        if let url = parameters["url"], !url.hasPrefix("https://") {
            problems.append(ParameterProblem("url", "the payment page address must start with https://, found \"\(url)\""))
        }
        return problems
    }
}

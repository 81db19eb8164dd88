import Foundation
import Logging
import PaymentKit
import PortailConfig
import PortailDomain

extension PaymentProviderRegistry {
    /// How center files check their `payment:` blocks: one rule per registered provider type.
    public var rules: [PaymentTypeRule] {
        types.values.map { provider in
            PaymentTypeRule(type: provider.type, account: { provider.accountIdentity(parameters: $0) }) { parameters, environment in
                provider.validate(parameters: parameters, environment: environment).map { ($0.parameter, $0.message, $0.isMissingSecret) }
            }
        }
    }

    /// The provider of a center, made from its `payment:` block; nil (logged) when the block names a type
    /// this build lacks or parameters that no longer make a provider.
    public func provider(for center: Center, environment: [String: String], logger: Logger) -> (any PaymentProvider)? {
        guard let settings = center.payment else { return nil }
        guard let type = self[settings.type] else {
            logger.error("center \(center.code): payment type \(settings.type) is not in this build")
            return nil
        }
        do {
            return try type.make(parameters: settings.parameters, environment: environment)
        } catch {
            logger.error("center \(center.code): payment provider \(settings.type) unusable: \(error)")
            return nil
        }
    }
}

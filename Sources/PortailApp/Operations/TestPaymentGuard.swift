import PaymentKit
import PortailConfig

/// `portail serve` is for real payments: a center paid through a test bank (the simulator, a bank's test
/// platform) would confirm bookings that no bank ever pays. Serving one needs the operator's explicit
/// PORTAIL_ALLOW_TEST_PAYMENTS=1 (a staging server). `portail demo` routes every center to the simulator
/// on purpose and is not checked.
public enum TestPaymentGuard {
    public static let setting = "PORTAIL_ALLOW_TEST_PAYMENTS"

    public static func allowsTestPayments(_ environment: [String: String]) -> Bool {
        environment[setting] == "1"
    }

    /// One sentence per center file whose bank is a test bank, naming the file and the setting; empty
    /// when every bank is real or the operator allowed test banks.
    public static func refusals(
        _ centers: [CenterCatalog.Loaded], providers: PaymentProviderRegistry, environment: [String: String]
    ) -> [String] {
        guard !allowsTestPayments(environment) else { return [] }
        return centers.compactMap { loaded in
            guard let payment = loaded.center.payment,
                  let reason = providers.testBank(type: payment.type, parameters: payment.parameters)
            else { return nil }
            return "\(loaded.file): payment type \(payment.type) is a test bank (\(reason)); "
                + "set \(setting)=1 to serve it anyway"
        }
    }
}

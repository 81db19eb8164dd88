import Foundation
import PortailDomain
import Yams

/// Applies one period or tariff, written as JSON with the keys of a center file's entry, to a center:
/// the body is checked field by field as the file would be, then the whole center as it would
/// become (overlaps, prices of the periods that use a tariff ...). Used by the admin API.
public struct CenterEditor: Sendable {
    /// Why an edit cannot be made; every issue names its field.
    public struct Rejection: Error, Sendable {
        public var issues: [ConfigIssue]
    }

    public enum Entity: String, Sendable {
        case period, tariff
    }

    let paymentRules: [PaymentTypeRule]
    let environment: [String: String]

    public init(paymentRules: [PaymentTypeRule], environment: [String: String]) {
        self.paymentRules = paymentRules
        self.environment = environment
    }

    /// `center` with the entity of `body` added (`replacing` nil: its code must be new) or replacing the
    /// one coded `replacing` (the body keeps that code), and the entity's code.
    public func apply(_ entity: Entity, body: String, to center: Center, replacing: String?) throws(Rejection) -> (center: Center, code: String) {
        let diagnostics = Diagnostics(file: "body")
        let parser = CenterFileParser(diagnostics: diagnostics, paymentRules: [:], environment: environment, secretsRequired: false)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: body) else {
                throw Rejection(issues: [ConfigIssue(file: "body", line: 1, column: 1, path: "", message: "the body is empty: send the \(entity) as a JSON object")])
            }
            root = node
        } catch let rejection as Rejection {
            throw rejection
        } catch {
            throw Rejection(issues: [ConfigIssue(file: "body", line: 1, column: 1, path: "", message: "the body is not JSON: \(error)")])
        }
        let field = Field(node: root, path: "", diagnostics: diagnostics)
        var updated = center
        var code = replacing ?? ""
        switch entity {
        case .period:
            var codes = Set<String>()
            if let period = parser.parsePeriod(field, units: center.units, groups: center.ageGroups, tariffs: center.tariffs, codes: &codes) {
                code = period.code
                try check(code: period.code, replacing: replacing, exists: center.period(period.code) != nil, entity: entity)
                for other in center.periods where other.code != period.code {
                    parser.checkOverlap(period, field, with: other)
                }
                if let index = center.periods.firstIndex(where: { $0.code == period.code }) {
                    updated.periods[index] = period
                } else {
                    updated.periods.append(period)
                }
            }
        case .tariff:
            var codes = Set<String>()
            if let tariff = parser.parseTariff(field, units: center.units, codes: &codes) {
                code = tariff.code
                try check(code: tariff.code, replacing: replacing, exists: center.tariff(tariff.code) != nil, entity: entity)
                if let index = center.tariffs.firstIndex(where: { $0.code == tariff.code }) {
                    updated.tariffs[index] = tariff
                } else {
                    updated.tariffs.append(tariff)
                }
            }
        }
        guard diagnostics.errors.isEmpty else { throw Rejection(issues: diagnostics.errors) }
        return (try validated(updated), code)
    }

    private func check(code: String, replacing: String?, exists: Bool, entity: Entity) throws(Rejection) {
        if let replacing, code != replacing {
            throw Rejection(issues: [ConfigIssue(file: "body", line: 1, column: 1, path: "code",
                                                 message: "the code of \(entity) \"\(replacing)\" cannot change (found \"\(code)\"): create a new \(entity) instead")])
        }
        if replacing == nil, exists {
            throw Rejection(issues: [ConfigIssue(file: "body", line: 1, column: 1, path: "code",
                                                 message: "\(entity) \"\(code)\" already exists: change it with PUT or PATCH on its own address")])
        }
    }

    /// The whole center checked again as a file, so that an edit cannot leave it inconsistent.
    public func validated(_ center: Center) throws(Rejection) -> Center {
        let text: String
        do {
            text = try CenterFileWriter.yaml(center)
        } catch {
            throw Rejection(issues: [ConfigIssue(file: "center", line: 1, column: 1, path: "", message: "cannot write the center: \(error)")])
        }
        let file = "\(center.code) after the change"
        let catalog = CenterCatalog.parse(sources: [(file, .success(text))], paymentRules: paymentRules, environment: environment, secretsRequired: false)
        guard let checked = catalog.centers.first?.center else { throw Rejection(issues: catalog.allIssues) }
        return checked
    }
}

import Foundation
import PortailConfig
import PortailDomain
import PortailStore

/// What became of a change of one period or tariff.
enum CenterEditResult {
    /// The center, or the period or tariff to replace, does not exist.
    case missing
    /// The entity is not valid: each issue names its field.
    case rejected([ConfigIssue])
    /// Valid, but refused by what is stored (places taken, a day booked): `outcome.refusal` says why.
    case refused(CenterImporter.Outcome)
    /// Saved (or, for a dry run, what would be saved): the center as it becomes and the entity's code.
    case saved(CenterImporter.Outcome, center: Center, code: String)
}

extension PortailRoutes {
    /// Adds or changes one period or tariff of a center, as the admin API and the back office both do:
    /// `compose` turns the entity's current JSON (center-file keys; `{}` for a new one) into its new JSON,
    /// which `CenterEditor` checks as the file would be, then the importer writes under the center's lock
    /// (places never below what is taken unless `force`, each forced day audited with `reason`). The
    /// served centers are reloaded after a change.
    func editCenter(
        _ entity: CenterEditor.Entity, record: CenterRecord, actor: String, replacing: String?, force: Bool = false, reason: String? = nil,
        dryRun: Bool, compose: @escaping @Sendable (Data) throws -> String
    ) async throws -> CenterEditResult {
        let editor = CenterEditor(paymentRules: paymentRules, environment: ProcessInfo.processInfo.environment)
        let box = EditBox()
        let outcome: CenterImporter.Outcome?
        do {
            outcome = try await CenterImporter(database: database).edit(
                code: record.center.code, actor: actor, action: "\(entity).\(replacing == nil ? "create" : "update")",
                subject: replacing ?? "new \(entity)", force: force, reason: reason, dryRun: dryRun
            ) { before in
                var current = Data("{}".utf8)
                if let replacing {
                    guard let data = try Self.json(of: entity, replacing, in: before) else { throw MissingEntity() }
                    current = data
                }
                let edited = try editor.apply(entity, body: try compose(current), to: before, replacing: replacing)
                box.edited = edited
                return edited.center
            }
        } catch let rejection as CenterEditor.Rejection {
            return .rejected(rejection.issues)
        } catch is MissingEntity {
            return .missing
        }
        guard let outcome, let edited = box.edited else { return .missing }
        if outcome.refusal != nil { return .refused(outcome) }
        if outcome.applied { try await Bootstrap.reload(directory, database: database) }
        return .saved(outcome, center: edited.center, code: edited.code)
    }

    /// The period or tariff coded `code` of `center` as JSON with its center-file keys; nil if it has none.
    static func json(of entity: CenterEditor.Entity, _ code: String, in center: Center) throws -> Data? {
        switch entity {
        case .period: try center.period(code).map(CenterFileWriter.json)
        case .tariff: try center.tariff(code).map(CenterFileWriter.json)
        }
    }
}

private struct MissingEntity: Error {}

/// Carries the center an edit produced, and the edited entity's code, out of the importer's transaction.
private final class EditBox: @unchecked Sendable {
    var edited: (center: Center, code: String)?
}

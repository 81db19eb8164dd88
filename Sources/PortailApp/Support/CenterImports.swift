import Foundation
import PortailConfig
import PortailDomain
import PortailStore

/// What became of a center file posted by a federation administrator (admin API or back office).
enum CenterFileImport {
    /// The file does not pass the checks of `portail centers check`: each issue names its line and field.
    case invalid([ConfigIssue])
    /// A host of the file is already served by another center.
    case hostServed(by: String)
    /// The file's bank account is already another center's.
    case accountUsed(String, by: String)
    /// Refused by what is stored (something booked would lose what it points at).
    case refused(String)
    /// Imported (or, for a dry run, what would be): the center as the file declares it.
    case done(CenterImporter.Outcome, center: Center)
}

/// A center as the federation's list shows it: its state, last week's figures and its file's errors.
struct CenterSummary: Encodable {
    let code: String
    let name: String
    let state: String
    let hosts: [String]
    let families: Int
    let bookingsThisWeek: Int
    let paymentsThisWeek: Int
    let errors: [String]
}

extension PortailRoutes {
    /// Onboards or updates a center from its file: the same checks as `portail centers check`, hosts and
    /// bank accounts unique across the federation, then the importer (nothing booked loses what it
    /// points at); the served centers are reloaded at once after a change.
    func importCenterFile(_ text: String, actor: String, dryRun: Bool) async throws -> CenterFileImport {
        let catalog = CenterCatalog.parse(sources: [("posted.yaml", .success(text))], paymentRules: paymentRules,
                                          environment: ProcessInfo.processInfo.environment)
        guard let center = catalog.centers.first?.center else { return .invalid(catalog.allIssues) }
        let snapshot = directory.snapshot
        if let clash = snapshot.centers.first(where: { $0.center.code != center.code && !Set($0.center.hosts).isDisjoint(with: center.hosts) }) {
            return .hostServed(by: clash.center.code)
        }
        // The bank notifies one address per account (suspended centers count).
        let rules = Dictionary(paymentRules.map { ($0.type, $0) }, uniquingKeysWith: { a, _ in a })
        func account(_ center: Center) -> String? { center.payment.flatMap { rules[$0.type]?.account($0.parameters) } }
        if let mine = account(center), let clash = (snapshot.centers + snapshot.suspended)
            .first(where: { $0.center.code != center.code && account($0.center) == mine }) {
            return .accountUsed(mine, by: clash.center.code)
        }
        let outcome = try await CenterImporter(database: database).importCenters([(center, actor)], dryRun: dryRun).first!
        if let refusal = outcome.refusal { return .refused(refusal) }
        if outcome.applied { try await Bootstrap.reload(directory, database: database) }
        return .done(outcome, center: center)
    }

    /// Every center of the federation, by code, with its state ("configuration_error" when its file fails).
    func centerSummaries() async throws -> [CenterSummary] {
        let snapshot = directory.snapshot
        var list: [CenterSummary] = []
        for center in try await CenterRepository.states(database) {
            let activity = try await CenterRepository.activity(database, center: center.id)
            let failure = snapshot.failures.first { $0.code == center.code }
            list.append(CenterSummary(
                code: center.code, name: center.name, state: failure == nil ? center.state : "configuration_error",
                hosts: snapshot.centers.first { $0.id == center.id }?.center.hosts ?? [],
                families: activity.families, bookingsThisWeek: activity.bookings, paymentsThisWeek: activity.payments,
                errors: failure?.issues.map(\.description) ?? []
            ))
        }
        return list
    }
}

import ArgumentParser
import Foundation
import PortailApp
import PortailDomain
import PortailStore

struct PaymentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payments",
        abstract: "Online payments.",
        subcommands: [Reconcile.self]
    )

    struct Reconcile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the center's bank what became of the payments it said nothing final about, apply the answers as notifications, print what changed."
        )

        @Option(help: "The center's code.")
        var center: String

        @Option(help: "The first day (YYYY-MM-DD, the center's time zone) of the attempts to ask about.")
        var since: String

        @Option(help: "Only attempts without news for this many minutes (0: all, even one started a moment ago).")
        var quietMinutes = 0

        func validate() throws {
            guard LocalDate(iso: since) != nil else { throw ValidationError("--since must be a date written YYYY-MM-DD, found \"\(since)\"") }
            guard (0...100_000).contains(quietMinutes) else { throw ValidationError("--quiet-minutes must be from 0 to 100000") }
        }

        func run() async throws {
            let changes = try await Runtime.withDatabase { database in
                let record = try Runtime.center(center, in: try await CenterRepository.loadAll(database))
                let first = LocalDate(iso: since)!.instant(at: LocalTime(hour: 0, minute: 0)!, in: record.center.zone)
                let reconciliation = PaymentReconciliation(database: database, paymentProvider: Runtime.paymentProvider(demo: false, logger: database.logger), logger: database.logger)
                do {
                    return try await reconciliation.reconcile(record, quietFor: TimeInterval(quietMinutes * 60), since: first)
                } catch let unavailable as PaymentReconciliation.Unavailable {
                    throw ValidationError(unavailable.description)
                }
            }
            if changes.isEmpty { print("\(center): the bank's answers changed nothing") }
            for change in changes { print("\(center): \(change)") }
        }
    }
}

import Foundation
import Logging
import PortailStore
import ServiceLifecycle

/// Asks the banks that can be asked about payments they said nothing final of (`PaymentReconciliation`),
/// apart from the maintenance job so that a slow or dead bank never delays cart expiry, offers or mail.
/// Centers are served a few at a time, each within a time budget; suspended centers too (their money is
/// still recorded). Attempts are claimed (`checked_at`, SKIP LOCKED): instances share the work, and an
/// attempt whose bank did not answer is asked again only after `quietFor`.
public struct ReconciliationService: Service {
    let reconciliation: PaymentReconciliation
    let directory: CenterDirectory
    let quietFor: TimeInterval
    let interval: Duration
    let logger: Logger
    /// Centers asked at once.
    static let concurrency = 4
    /// How long one center's pass may ask its bank.
    static let budget: TimeInterval = 60

    public init(reconciliation: PaymentReconciliation, directory: CenterDirectory, quietFor: TimeInterval = 15 * 60,
                interval: Duration = .seconds(60), logger: Logger) {
        self.reconciliation = reconciliation
        self.directory = directory
        self.quietFor = quietFor
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await runOnce()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One pass over the centers whose bank can be asked.
    public func runOnce() async {
        let snapshot = directory.snapshot
        let centers = (snapshot.centers + snapshot.suspended).filter { reconciliation.canAsk($0.center) }
        let since = Date().addingTimeInterval(-3 * 86400)
        await withTaskGroup(of: Void.self) { group in
            var next = centers.makeIterator()
            func start(_ record: CenterRecord) {
                group.addTask {
                    do {
                        _ = try await reconciliation.reconcile(record, quietFor: quietFor, since: since,
                                                               deadline: Date().addingTimeInterval(Self.budget))
                    } catch {
                        logger.error("payment reconciliation of center \(record.center.code) failed: \(String(reflecting: error))")
                    }
                }
            }
            for _ in 0..<Self.concurrency { if let record = next.next() { start(record) } }
            for await _ in group { if let record = next.next() { start(record) } }
        }
    }
}

import Foundation
import Logging
import PortailStore
import ServiceLifecycle

/// Background work, on every instance at once: reload the centers when another instance changed them,
/// expire unpaid carts (their places come back), purge old sessions, deliver the mail outbox. Each step locks with SKIP LOCKED, so instances share the work
/// instead of repeating it; correctness never depends on the timing (carts are also expired whenever
/// places are counted or a cart is read).
public struct MaintenanceService: Service {
    let database: Database
    let directory: CenterDirectory
    let mail: any MailTransport
    let interval: Duration
    let logger: Logger

    public init(database: Database, directory: CenterDirectory, mail: any MailTransport, interval: Duration = .seconds(15), logger: Logger) {
        self.database = database
        self.directory = directory
        self.mail = mail
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await runOnce()
            // Wake up at once on shutdown rather than after the interval.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One pass over every center; a failure is logged and does not stop the next pass.
    public func runOnce() async {
        // A center added, edited, suspended or resumed through another instance is served here too.
        do {
            if try await CenterRepository.version(database) != directory.snapshot.version {
                try await Bootstrap.reload(directory, database: database)
                logger.info("centers reloaded after a change made elsewhere")
            }
        } catch {
            logger.error("reloading the centers failed: \(String(reflecting: error))")
        }
        for record in directory.snapshot.centers {
            do {
                let expired = try await database.withCenter(record.id) { c in
                    try await SessionRepository.purgeExpired(c, center: record.id, logger: logger)
                    return try await BookingRepository.expireDueCarts(c, center: record.id, logger: logger)
                }
                if expired > 0 { logger.info("center \(record.center.code): \(expired) unpaid reservation(s) expired") }
                try await deliverMail(record)
            } catch {
                logger.error("maintenance of center \(record.center.code) failed: \(String(reflecting: error))")
            }
        }
    }

    func deliverMail(_ record: CenterRecord) async throws {
        try await database.withCenter(record.id) { c in
            for message in try await Outbox.claimPending(c, center: record.id, limit: 20, logger: logger) {
                do {
                    try await mail.send(message, from: record.center.coordinates.email, logger: logger)
                    try await Outbox.markSent(c, center: record.id, id: message.id, logger: logger)
                } catch {
                    try await Outbox.markFailed(c, center: record.id, id: message.id, error: "\(error)", logger: logger)
                }
            }
        }
    }
}


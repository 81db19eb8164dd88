import Foundation
import Logging
import PortailDomain
import PortailStore
import ServiceLifecycle
import Synchronization

/// Background work, on every instance at once: reload the centers when another instance changed them,
/// expire unpaid carts (their places come back), offer freed places to the waiting lists, purge old
/// sessions, deliver the mail outbox. (Asking the banks is ReconciliationService's.) Each step
/// locks (SKIP LOCKED rows, or the outbox's delivery lock), so instances share the work instead of
/// repeating it; correctness never depends on the timing (carts are also expired whenever places are
/// counted or a cart is read).
public struct MaintenanceService: Service {
    let database: Database
    let directory: CenterDirectory
    let mail: any MailTransport
    let interval: Duration
    let logger: Logger
    /// Where the links of the waiting-list offers point.
    let publicAddress: PublicAddress
    /// How long personal data is kept (RGPD), applied once an hour.
    let retention: RetentionSettings
    private let lastRetention = RetentionClock()

    public init(database: Database, directory: CenterDirectory, mail: any MailTransport, interval: Duration = .seconds(15),
                publicAddress: PublicAddress = PublicAddress(useListener: false), retention: RetentionSettings = RetentionSettings(),
                logger: Logger) {
        self.retention = retention
        self.publicAddress = publicAddress
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
        // Personal data past its time, at most once an hour (every instance may try: the statements are idempotent).
        if lastRetention.due(every: 3600) {
            do {
                let purged = try await Retention.apply(database, settings: retention)
                if !purged.isEmpty { logger.info("retention: \(purged.mails) mail(s), \(purged.notifications) notification text(s), \(purged.auditEntries) audit detail(s), \(purged.staffSessions) staff session(s) removed") }
            } catch {
                logger.error("retention failed: \(String(reflecting: error))")
            }
            // Families nobody has used for years (and sign-ups never confirmed), center by center.
            for record in directory.snapshot.centers {
                do {
                    let families = try await Retention.retireFamilies(database, center: record.id, zone: record.center.zone,
                                                                      years: retention.inactiveFamilyYears, today: LocalDate(Date(), in: record.center.zone))
                    if !families.isEmpty {
                        logger.info("retention at \(record.center.code): \(families.erased) inactive famil(ies) erased, \(families.dormant) made dormant, \(families.unconfirmedSignUps) unconfirmed sign-up(s) erased, \(families.failed) failed")
                    }
                } catch {
                    logger.error("retention of the families of \(record.center.code) failed: \(String(reflecting: error))")
                }
            }
        }
        var failed = false
        for record in directory.snapshot.centers {
            do {
                let expired = try await database.withCenter(record.id) { c in
                    try await SessionRepository.purgeExpired(c, center: record.id, logger: logger)
                    try await People.purgeHandoffs(c, center: record.id, logger: logger)
                    try await LoginThrottle.purge(c, center: record.id, logger: logger)
                    try await WaitingRoomLine.purge(c, center: record.id, logger: logger)
                    return try await BookingRepository.expireDueCarts(c, center: record.id, logger: logger)
                }
                if expired > 0 { logger.info("center \(record.center.code): \(expired) unpaid reservation(s) expired") }
                // A failed offer pass must not keep the center's mail waiting.
                do {
                    let offers = try await offerFreedPlaces(record)
                    if offers > 0 { logger.info("center \(record.center.code): \(offers) freed place(s) offered to the waiting list") }
                } catch {
                    logger.error("waiting-list offers of center \(record.center.code) failed: \(String(reflecting: error))")
                }
                try await deliverMail(record)
            } catch {
                logger.error("maintenance of center \(record.center.code) failed: \(String(reflecting: error))")
                failed = true
            }
        }
        // For the dashboards: the outbox's backlog, and that this pass ended (its age is the job's lag).
        do {
            let pending = try await Outbox.pendingCount(database)
            // A pass where a center failed is not "passed": the lag alert sees a job that keeps failing.
            BusinessMetrics.maintenancePassed(outboxPending: pending, at: failed ? nil : Date().timeIntervalSince1970)
        } catch {
            logger.error("counting the mail outbox failed: \(String(reflecting: error))")
        }
        // The read replica's lag, when there is one (a replica that does not answer is "down").
        if database.replica != nil {
            do {
                BusinessMetrics.replica(lagSeconds: try await database.replicaLagSeconds())
            } catch {
                BusinessMetrics.replica(lagSeconds: nil)
                logger.error("the read replica did not answer: \(String(reflecting: error))")
            }
        }
    }

    /// Offers the places freed since the last pass to the first children in line, each with its e-mail.
    func offerFreedPlaces(_ record: CenterRecord) async throws -> Int {
        let center = record.center
        let cart = publicAddress.base(of: center) + "/panier"
        return try await WaitingList.offerFreedPlaces(database, center: center, centerID: record.id, logger: logger) { offer in
            let unit = center.unit(offer.unit)?.label.lowercased() ?? offer.unit
            return (
                subject: "\(center.name) – une place s'est libérée pour \(offer.childName) le \(offer.day.french)",
                body: """
                Bonjour,

                Une place s'est libérée pour \(offer.childName) le \(offer.day.french) (\(unit)), pour laquelle vous étiez en liste d'attente.

                Nous l'avons mise de côté dans votre panier (réservation n° \(French.number(offer.reservationNumber)), \(offer.total)) jusqu'au \(French.dateTime(offer.expiresAt, in: center.zone)). Pour la confirmer, payez votre panier avant cette heure :
                \(cart)

                Passé ce délai, la place sera proposée à la famille suivante. Si vous n'en avez plus besoin, retirez-la de votre panier : elle sera proposée tout de suite à une autre famille.

                \(center.name)
                """
            )
        }.count
    }

    /// Claims a batch in a short transaction, sends each mail with no transaction open (a slow SMTP
    /// server holds no row lock and no transaction), then records each outcome in a transaction of its
    /// own. Another instance skips the center meanwhile (Outbox.withDeliveryLock); a mail sent just before
    /// a crash, and not yet marked, is sent again: delivery is at least once.
    func deliverMail(_ record: CenterRecord) async throws {
        let sender = record.center.coordinates.email
        let handled = try await Outbox.withDeliveryLock(database, center: record.id) { () async throws -> Int in
            let batch = try await database.withCenter(record.id) { c in
                try await Outbox.claimPending(c, center: record.id, limit: 20, logger: logger)
            }
            for message in batch {
                var failure: String?
                do {
                    try await mail.send(message, from: sender, logger: logger)
                } catch {
                    failure = "\(error)"
                    logger.warning("center \(record.center.code): mail \(message.id) not sent: \(error)")
                }
                try await database.withCenter(record.id) { c in
                    if let failure {
                        try await Outbox.markFailed(
                            c, center: record.id, id: message.id, error: failure, logger: logger
                        )
                    } else {
                        try await Outbox.markSent(c, center: record.id, id: message.id, logger: logger)
                    }
                }
            }
            return batch.count
        }
        if handled == nil { logger.debug("center \(record.center.code): another instance is delivering its mail") }
    }
}

/// When the retention rules last ran on this instance.
final class RetentionClock: Sendable {
    private let last = Atomic<Int>(0)

    /// Whether `seconds` have passed since the last run; if so, this call is the run.
    func due(every seconds: Int) -> Bool {
        let now = Int(Date().timeIntervalSince1970)
        let previous = last.load(ordering: .relaxed)
        guard now - previous >= seconds else { return false }
        return last.compareExchange(expected: previous, desired: now, ordering: .relaxed).exchanged
    }
}

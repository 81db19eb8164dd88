import Metrics

/// What the portal does, for the operators' dashboards (docs/observability/): counted where it is
/// written, so a transaction rolled back and retried may count twice (a deadlock, a bank's retry).
public enum BusinessMetrics {
    /// Reservations made: by families online (`online`) or at the office (`office`).
    public static func booked(byStaff: Bool) {
        Counter(label: "portail_bookings_total", dimensions: [("by", byStaff ? "office" : "online")]).increment()
    }

    /// Payments recorded, by means (card through a bank, cheque, cash…).
    public static func paid(method: String) {
        Counter(label: "portail_payments_total", dimensions: [("method", method)]).increment()
    }

    /// The banks' notifications, by what became of them (applied, duplicate, unknown_attempt, ignored…).
    public static func notified(outcome: String) {
        Counter(label: "portail_payment_notifications_total", dimensions: [("outcome", outcome)]).increment()
    }

    /// Reservations or days cancelled.
    public static func cancelled(whole: Bool) {
        Counter(label: "portail_cancellations_total", dimensions: [("what", whole ? "reservation" : "days")]).increment()
    }

    /// Mails waiting in the outbox after the last maintenance pass, and when a pass last went through
    /// for every center (nil: one failed, the time stays the previous one's).
    public static func maintenancePassed(outboxPending: Int, at seconds: Double?) {
        Gauge(label: "portail_mail_outbox_pending").record(outboxPending)
        if let seconds { Gauge(label: "portail_maintenance_last_pass_timestamp_seconds").record(seconds) }
    }

    /// The read replica's replay lag, and whether it answered (0 when it did not: the lag is then unknown).
    public static func replica(lagSeconds: Double?) {
        Gauge(label: "portail_replica_up").record(lagSeconds == nil ? 0 : 1)
        if let lagSeconds { Gauge(label: "portail_replica_lag_seconds").record(lagSeconds) }
    }
}

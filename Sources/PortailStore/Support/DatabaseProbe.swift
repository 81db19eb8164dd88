import Logging
import PostgresNIO
import Synchronization

/// Whether the database answers, for /healthz, without queueing behind the requests. The probe has a
/// connection of its own (a pool of one, as the serving role): a load balancer's check must not wait for
/// the request pool on an opening day, or it would take every instance out of service just when they are
/// busiest. It asks at most once a second whatever the number of checks (the public /healthz can be asked
/// 10,000 times a minute by anyone: they share one `SELECT 1`), and says "down" when no answer came
/// within 2 s. While a question goes unanswered past that, checks answer "down" at once: nothing piles up.
public final class DatabaseProbe: Sendable {
    let client: PostgresClient
    let freshFor: Duration
    let patience: Duration

    private struct State {
        var last: (up: Bool, at: ContinuousClock.Instant)?
        /// When the question in flight was asked (nil: none).
        var askedAt: ContinuousClock.Instant?
        /// The checks waiting for its answer, at most `patience`.
        var waiting: [CheckedContinuation<Bool, Never>] = []
        /// How many times the database was asked.
        var sent = 0

        /// Records the answer and hands it to the waiting checks.
        mutating func settle(_ up: Bool) {
            last = (up, .now)
            for check in waiting { check.resume(returning: up) }
            waiting = []
        }
    }
    private let state = Mutex(State())

    init(configuration: PostgresClient.Configuration, logger: Logger, freshFor: Duration = .seconds(1), patience: Duration = .seconds(2)) {
        var configuration = configuration
        configuration.options.maximumConnections = 1
        configuration.options.connectTimeout = patience
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.freshFor = freshFor
        self.patience = patience
    }

    /// How many `SELECT 1` it has sent.
    var sent: Int { state.withLock { $0.sent } }

    /// Asks the database, or repeats the answer of the last second; false when it does not answer in time.
    func answer() async -> Bool {
        await withCheckedContinuation { (check: CheckedContinuation<Bool, Never>) in
            let now = ContinuousClock.now
            let ask = state.withLock { state -> Bool in
                if let last = state.last, now - last.at < freshFor {
                    check.resume(returning: last.up)
                    return false
                }
                if let askedAt = state.askedAt {
                    // Unanswered for longer than the patience: down, without waiting again.
                    if now - askedAt >= patience {
                        check.resume(returning: false)
                    } else {
                        state.waiting.append(check)
                    }
                    return false
                }
                state.askedAt = now
                state.sent += 1
                state.waiting.append(check)
                return true
            }
            if ask { start(askedAt: now) }
        }
    }

    /// One question and its timer: the first to end answers the waiting checks.
    private func start(askedAt: ContinuousClock.Instant) {
        let question = Task {
            let up: Bool
            do {
                for try await _ in try await client.query("SELECT 1") {}
                up = true
            } catch {
                up = false
            }
            state.withLock { state in
                state.askedAt = nil
                state.settle(up)
            }
        }
        Task {
            try? await Task.sleep(for: patience)
            let late = state.withLock { state -> Bool in
                // This question still unanswered: down for the waiting checks; it is given up (a connection
                // that never came is no longer waited for), and the next check after `freshFor` asks again.
                guard state.askedAt == askedAt else { return false }
                state.settle(false)
                return true
            }
            if late { question.cancel() }
        }
    }
}

import Logging
import PostgresNIO
import Synchronization

/// Whether the database answers, for /healthz, without queueing behind the requests. The probe has a
/// connection of its own (a pool of one, as the serving role): a load balancer's check must not wait for
/// the request pool on an opening day, or it would take every instance out of service just when they are
/// busiest. It asks at most once a second whatever the number of checks (the public /healthz can be asked
/// 10,000 times a minute by anyone: they share one `SELECT 1`), and answers "down" after 2 s without
/// an answer.
public final class DatabaseProbe: Sendable {
    let client: PostgresClient
    let freshFor: Duration
    let patience: Duration

    private struct State {
        var last: (up: Bool, at: ContinuousClock.Instant)?
        var running: Task<Bool, Never>?
        /// How many times the database was asked.
        var sent = 0
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
        let now = ContinuousClock.now
        let (known, probe) = state.withLock { state -> (Bool?, Task<Bool, Never>?) in
            if let last = state.last, now - last.at < freshFor { return (last.up, nil) }
            if let running = state.running { return (nil, running) }
            state.sent += 1
            let running = Task { [client] in
                let up: Bool
                do {
                    for try await _ in try await client.query("SELECT 1") {}
                    up = true
                } catch {
                    up = false
                }
                self.state.withLock { state in
                    state.last = (up, ContinuousClock.now)
                    state.running = nil
                }
                return up
            }
            state.running = running
            return (nil, running)
        }
        if let known { return known }
        return await Self.first(of: probe!, within: patience)
    }

    /// The task's answer, or false if it has none within `patience` (the task goes on and records its answer).
    private static func first(of probe: Task<Bool, Never>, within patience: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let once = Mutex<CheckedContinuation<Bool, Never>?>(continuation)
            let finish: @Sendable (Bool) -> Void = { up in
                once.withLock { pending in
                    pending?.resume(returning: up)
                    pending = nil
                }
            }
            Task { finish(await probe.value) }
            Task {
                try? await Task.sleep(for: patience)
                finish(false)
            }
        }
    }
}

import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The two connection pools of the portal: `app` serves requests under row-level security,
/// `owner` runs migrations and imports. Both are services to run for as long as they are used.
public final class Database: Sendable {
    public let app: PostgresClient
    public let owner: PostgresClient
    /// The replica's pool (same role as `app`), when `DATABASE_REPLICA_URL` is set.
    public let replica: PostgresClient?
    public let settings: DatabaseSettings
    public let logger: Logger
    /// The places left of the periods, as the families' grids show them (`PlacesLeftCache`): every
    /// transaction of a center that is neither a page's nor read-only (`withCenterReading`) marks the center changed.
    public let placesLeft = PlacesLeftCache()
    /// The CSV exports streaming now, by center. Each holds a connection of the pool for as long as its file
    /// takes to read and send (a large center's month, or a slow reader on a phone): an instance streams at
    /// most a third of its pool at once, and a center one at a time, so that exports started together never
    /// take the connections every center's parents need.
    public let exports: ConcurrencyGate<Int64>
    /// /healthz's connection, beside the request pool (`DatabaseProbe`).
    let probe: DatabaseProbe

    public init(settings: DatabaseSettings, logger: Logger) {
        var appConfiguration = settings.app
        appConfiguration.options.maximumConnections = settings.appPoolSize
        // A request never holds the database for long: one slow statement, lock or forgotten transaction
        // of one center cannot stall the others (the owner's migrations and imports are not bounded).
        // No JIT: it compiles a statement PostgreSQL estimates costly (a large center's register of a busy
        // day, an export) for 0.3 to 0.6 s before the first row, and the portal's statements, index lookups
        // over at most a center's day or month, never win that back (docs/operations.md).
        appConfiguration.options.additionalStartupParameters = [
            ("statement_timeout", "\(settings.statementTimeoutMilliseconds)ms"), ("lock_timeout", "\(settings.lockTimeoutMilliseconds)ms"),
            ("idle_in_transaction_session_timeout", "60s"), ("jit", "off"),
        ]
        var ownerConfiguration = settings.owner
        ownerConfiguration.options.maximumConnections = settings.ownerPoolSize
        self.app = PostgresClient(configuration: appConfiguration, backgroundLogger: logger)
        self.replica = settings.replica.map { configuration in
            var replicaConfiguration = configuration
            replicaConfiguration.options.maximumConnections = settings.appPoolSize
            replicaConfiguration.options.additionalStartupParameters = appConfiguration.options.additionalStartupParameters
            return PostgresClient(configuration: replicaConfiguration, backgroundLogger: logger)
        }
        self.owner = PostgresClient(configuration: ownerConfiguration, backgroundLogger: logger)
        self.probe = DatabaseProbe(configuration: appConfiguration, logger: logger)
        self.settings = settings
        self.logger = logger
        self.exports = ConcurrencyGate(limit: Self.exportLimit(poolSize: settings.appPoolSize))
    }

    /// Exports streaming at once on an instance: a third of its pool, at least one.
    static func exportLimit(poolSize: Int) -> Int { max(1, poolSize / 3) }

    /// Publishes the pool sizes; called once the metrics system is set up.
    public func reportPoolSizes() {
        Gauge(label: "portail_db_pool_max_connections", dimensions: [("pool", "app")]).record(settings.appPoolSize)
        Gauge(label: "portail_db_pool_max_connections", dimensions: [("pool", "owner")]).record(settings.ownerPoolSize)
    }

    /// Connections of the app pool in use now, and how long tenant transactions take (lease included).
    private static let inUse = Meter(label: "portail_db_pool_connections_in_use")
    private static let transactionTimer = Timer(label: "portail_db_transaction_duration")

    /// The pools as services, for an application's service group.
    public var services: [any Service] { pools }

    private var pools: [PostgresClient] { [app, owner, probe.client] + (replica.map { [$0] } ?? []) }

    /// Runs the pools around `body`, for commands that are not a long-running server. `body` starts once
    /// each pool's task has begun its `run()`: a connection asked for before would be served all the same,
    /// but PostgresNIO warns of it.
    public func run<T: Sendable>(_ body: @Sendable (Database) async throws -> T) async throws -> T {
        let pools = pools
        let (started, starting) = AsyncStream<Void>.makeStream()
        return try await withThrowingTaskGroup(of: T?.self) { group in
            for pool in pools {
                group.addTask { starting.yield(); await pool.run(); return nil }
            }
            defer { group.cancelAll() }
            var count = 0
            for await _ in started {
                count += 1
                if count == pools.count { break }
            }
            return try await body(self)
        }
    }

    /// Applies the pending migrations as the owner.
    @discardableResult
    public func migrate() async throws -> [String] {
        try await owner.withConnection { connection in
            try await Migrator().migrate(connection, logger: logger)
        }
    }

    /// Runs `body` in one transaction of the application role, scoped to one center: row-level
    /// security shows and accepts only that center's rows. A transaction that PostgreSQL aborts as a
    /// deadlock or a serialization failure is run again (up to 3 times in all, after a short random
    /// pause): nothing of it was written, and `body` has no effect outside the database.
    public func withCenter<T>(
        _ centerID: Int64,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        try await withCenter(centerID, opening: nil, access: .readWrite, body)
    }

    /// `withCenter` for a transaction that only reads (`BEGIN READ ONLY`: PostgreSQL refuses a write in it),
    /// which therefore leaves the grids' places left (`placesLeft`) as they are: the booking wizard's reads
    /// outside a page's transaction (while a waiting room stands, and its forms).
    public func withCenterReading<T>(
        _ centerID: Int64,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        try await withCenter(centerID, opening: nil, access: .readOnly, body)
    }

    /// `withCenter`, where `opening` (a statement that sets the center itself, see `transaction`) may
    /// take the place of the statement that sets it.
    private func withCenter<T>(
        _ centerID: Int64, opening: ((PostgresConnection) async throws -> Void)?, access: Access,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        if let page = openPage(centerID) {
            if let opening { try await Self.run(in: page) { connection in try await opening(connection) } }
            return try await Self.run(in: page, body)
        }
        let start = ContinuousClock.now
        defer { Self.transactionTimer.record(duration: ContinuousClock.now - start) }
        return try await withAppConnection { connection in
            var attempt = 1
            while true {
                do {
                    // A transaction of its own may have written places (a page's reads run in the branch above).
                    defer { if opening == nil && access == .readWrite { placesLeft.changed(centerID) } }
                    return try await Self.transaction(on: connection, center: centerID, logger: logger, access: access, opening: opening, body)
                } catch let error as PSQLError where attempt < Self.attempts && Self.isRetryable(error) {
                    logger.notice("transaction of center \(centerID) retried after \(error.serverInfo?[.sqlState] ?? "?") (attempt \(attempt))")
                    Self.retries.increment()
                    try await Task.sleep(for: .milliseconds(Int.random(in: 5...40) * attempt))
                    attempt += 1
                }
            }
        }
    }

    /// Runs `body` on a connection of the application role outside any transaction: each statement is its
    /// own, committed as it ends, so that a lock it takes is never held across a round trip. Row-level
    /// security sees no center there: `body` calls SECURITY DEFINER functions that name their center (the
    /// waiting room's place), or statements that set it themselves (`CenterStatement`: a page's one read,
    /// one round trip instead of BEGIN, the center, the read and COMMIT). Anything else reads nothing and
    /// writes nothing there. Inside a page's transaction of this center, `body` joins it instead, as
    /// `withCenter` does, so that a page never holds two connections.
    public func withoutTransaction<T>(
        _ centerID: Int64,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        if let page = openPage(centerID) { return try await Self.run(in: page, body) }
        return try await withAppConnection(body)
    }

    /// A connection of the application pool, counted in `portail_db_pool_connections_in_use` while held; in a
    /// page that reads in statements (`withPageReads`), the connection that page holds, when free.
    private func withAppConnection<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        if let held = Self.held, held.database == ObjectIdentifier(self), held.take() {
            defer { held.give() }
            return try await body(held.connection)
        }
        return try await app.withConnection { connection in
            Self.inUse.increment()
            defer { Self.inUse.decrement() }
            return try await body(connection)
        }
    }

    /// The connection a page that reads in statements holds from its session's read to its end
    /// (`withPageReads`): its statements, and any transaction it opens, run on it one after another, so
    /// that the page asks the pool once and never holds two connections. Taken by one call at a time;
    /// a call that finds it taken, or the page over, asks the pool.
    final class HeldConnection: Sendable {
        let database: ObjectIdentifier
        let connection: PostgresConnection
        /// 0 free, 1 taken by a call, 2 the page over (for good).
        private let state = Atomic<Int>(0)

        init(database: ObjectIdentifier, connection: PostgresConnection) {
            self.database = database
            self.connection = connection
        }

        func take() -> Bool { state.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged }
        func give() { _ = state.compareExchange(expected: 1, desired: 0, ordering: .acquiringAndReleasing) }
        /// Ends the page's hold for good: false if a call still runs on the connection (a task the page started).
        func end() -> Bool { state.exchange(2, ordering: .acquiringAndReleasing) == 0 }
    }

    @TaskLocal static var held: HeldConnection?

    /// The page's own transaction (`withPageTransaction`) that a call for `centerID` joins: of this
    /// database and center, and still open (a task started by the page may outlive it).
    private func openPage(_ centerID: Int64) -> PageTransaction? {
        guard let page = Self.page, page.database == ObjectIdentifier(self), page.center == centerID, page.state.isOpen else { return nil }
        return page
    }

    /// Runs `body` in the page's transaction. A failed statement marks it: it is rolled back, never
    /// committed half done.
    private static func run<T>(
        in page: PageTransaction, isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        do {
            return try await body(page.connection)
        } catch let error as PSQLError {
            page.state.fail()
            throw error
        }
    }

    /// Runs `body` in one read-only snapshot of one center (every statement sees the same moment) on the
    /// replica, for reads that tolerate a few seconds of lag (the month's ledger and balances exports); on
    /// the primary when there is no replica. Nothing that decides places or money reads here, nor anything
    /// that writes. On the primary, the connection counts in `portail_db_pool_connections_in_use` (the pool's
    /// saturation alert must see a long export); the transaction timer leaves exports out, their seconds
    /// would hide the pages' transactions.
    /// `onReplica: false` reads the same way on the primary (a day's register, which a booking made a second ago
    /// must be on).
    public func withReplica<T>(
        _ centerID: Int64,
        onReplica: Bool = true,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        let pool = onReplica ? replica ?? app : app
        let onPrimary = pool === app
        return try await pool.withConnection { connection in
            if onPrimary { Self.inUse.increment() }
            defer { if onPrimary { Self.inUse.decrement() } }
            return try await Self.transaction(on: connection, center: centerID, logger: logger, access: .snapshot, body)
        }
    }

    /// How far the replica's replay is behind, in seconds (0 when it has replayed all it received); nil
    /// without a replica. For the dashboards' replica lag (docs/observability/).
    public func replicaLagSeconds() async throws -> Double? {
        guard let replica else { return nil }
        return try await replica.withConnection { c in
            try await c.first("""
                SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8
                """, (Double.self), logger: logger)
        }
    }

    /// The transaction of the page being served, if it runs in one.
    struct PageTransaction: Sendable {
        let database: ObjectIdentifier
        let center: Int64
        let connection: PostgresConnection
        let state: PageState
    }

    /// Whether a page's transaction may still be joined, and whether something in it failed.
    final class PageState: Sendable {
        private let open = Atomic<Bool>(true)
        private let failed = Atomic<Bool>(false)
        var isOpen: Bool { open.load(ordering: .acquiring) }
        var hasFailed: Bool { failed.load(ordering: .acquiring) }
        func fail() { failed.store(true, ordering: .releasing) }
        func close() { open.store(false, ordering: .releasing) }
    }

    /// A page's statement failed inside its transaction, and the page went on regardless: nothing of
    /// the transaction is committed.
    struct PageTransactionFailed: Error {}

    @TaskLocal static var page: PageTransaction?

    /// Transactions opened on the app pool since the start (the tests count a page's).
    static let opened = Atomic<Int>(0)

    /// Runs a page in one transaction of its center: every `withCenter` of that center inside `body`
    /// (the session's lookup, the page's queries) joins it instead of opening one more, so a page
    /// costs one BEGIN and one COMMIT whatever it reads. For pages that read: a conflict runs the whole
    /// of `body` again, as `withCenter` does.
    ///
    /// The transaction's first statement reads the session of the page's cookie `token` and sets the
    /// center (`SessionRepository.find`), so that a page costs BEGIN, that statement, its own reads and
    /// COMMIT; `body` is given the session (nil: unknown, idle too long or ended).
    public func withPageTransaction<T: Sendable>(
        _ centerID: Int64, session token: String, isolation: isolated (any Actor)? = #isolation,
        _ body: (FamilySession?) async throws -> T
    ) async throws -> T {
        var session: FamilySession?
        let logger = logger
        return try await withCenter(centerID, opening: { connection in
            session = try await SessionRepository.find(connection, center: centerID, token: token, logger: logger)
        }, access: .readWrite) { connection in
            let state = PageState()
            defer { state.close() }
            let value = try await Self.$page.withValue(PageTransaction(database: ObjectIdentifier(self), center: centerID, connection: connection, state: state)) {
                try await body(session)
            }
            state.close()
            if state.hasFailed { throw PageTransactionFailed() }
            return value
        }
    }

    /// Runs a page that reads in statements of their own, each its own transaction: the session of the cookie
    /// `token` is read by one statement outside any transaction (`SessionRepository.read`), then `body` runs
    /// outside any page transaction, on the same connection (`HeldConnection`). A page whose reads are one
    /// statement that sets its center itself (`CenterStatement`, run by `withoutTransaction`) then costs two
    /// round trips in all, against BEGIN, the session, its statement and COMMIT in `withPageTransaction`; a
    /// `withCenter` of `body` opens a transaction of its own (correct, dearer). The idle clock, when due,
    /// moves in a short transaction.
    public func withPageReads<T: Sendable>(
        _ centerID: Int64, session token: String, isolation: isolated (any Actor)? = #isolation,
        _ body: (FamilySession?) async throws -> T
    ) async throws -> T {
        let logger = logger
        // Timed with the transactions, as the page's hold of its connection (a page in one transaction is).
        let start = ContinuousClock.now
        defer { Self.transactionTimer.record(duration: ContinuousClock.now - start) }
        return try await withAppConnection { connection in
            let found = try await SessionRepository.read(connection, center: centerID, token: token, logger: logger)
            if found?.touch == true {
                // Its own short transaction, which writes no place: the grids' places left stay as they are.
                try await Self.transaction(on: connection, center: centerID, logger: logger) { c in
                    try await SessionRepository.touch(c, center: centerID, token: token, logger: logger)
                }
            }
            let held = HeldConnection(database: ObjectIdentifier(self), connection: connection)
            let result: Result<T, any Error>
            do {
                result = .success(try await Self.$page.withValue(nil) {
                    try await Self.$held.withValue(held) { try await body(found?.0) }
                })
            } catch {
                result = .failure(error)
            }
            // A task of the page's still on the connection: closed rather than given back to the pool in use.
            if !held.end() { try? await connection.close() }
            return try result.get()
        }
    }

    /// The session of the cookie `token` (nil: unknown, idle too long or ended), read in a transaction of its
    /// own: BEGIN, the statement that reads it and sets the center, COMMIT. For a page that keeps its
    /// transactions apart (see `withPageTransaction` for the others).
    public func session(_ centerID: Int64, token: String) async throws -> FamilySession? {
        try await withPageTransaction(centerID, session: token) { $0 }
    }

    /// How many times a transaction runs at most when PostgreSQL aborts it for a conflict.
    static let attempts = 3
    private static let retries = Counter(label: "portail_db_transaction_retries")

    /// Deadlock (40P01) and serialization failure (40001): the transaction was rolled back whole.
    static func isRetryable(_ error: PSQLError) -> Bool {
        ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? "")
    }

    /// How a transaction opens: reading and writing (`BEGIN`), only reading (`BEGIN READ ONLY`: PostgreSQL
    /// refuses a write), or reading one snapshot (every statement sees the same moment: the exports).
    enum Access {
        case readWrite, readOnly, snapshot
    }

    /// BEGIN, set the center, run, COMMIT; ROLLBACK and rethrow the original error on failure. `opening`,
    /// when given, is the transaction's first statement in place of the one that sets the center: it must
    /// set it itself (`SessionRepository.find` does). Were it not to, row-level security would show
    /// and accept nothing of any center: the page would fail, never read another center's rows.
    static func transaction<T>(
        on connection: PostgresConnection, center: Int64?, logger: Logger, access: Access = .readWrite,
        opening: ((PostgresConnection) async throws -> Void)? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        switch access {
        case .readWrite: try await connection.run(Begin(), logger: logger)
        case .readOnly: try await connection.run(BeginReadOnly(), logger: logger)
        case .snapshot: try await connection.run(BeginSnapshot(), logger: logger)
        }
        opened.add(1, ordering: .relaxed)
        do {
            if let opening {
                try await opening(connection)
            } else if let center {
                // The request being served names the transaction (in the same round trip as the center).
                var bindings = PostgresBindings()
                try bindings.append(String(center))
                try bindings.append(RequestTrace.current.map { "portail " + $0 })
                try await connection.run(SetCenter(bindings: bindings), logger: logger)
            }
            let value = try await body(connection)
            try await connection.run(Commit(), logger: logger)
            return value
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// A transaction's first and last statements and the center it is for, prepared on each connection like
    /// the pages' statements: unnamed, each would be parsed again at every transaction.
    struct Begin: PreparedQuery {
        static let sql = "BEGIN"
        var bindings: PostgresBindings { PostgresBindings() }
    }
    struct BeginReadOnly: PreparedQuery {
        static let sql = "BEGIN READ ONLY"
        var bindings: PostgresBindings { PostgresBindings() }
    }
    struct BeginSnapshot: PreparedQuery {
        static let sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        var bindings: PostgresBindings { PostgresBindings() }
    }
    struct Commit: PreparedQuery {
        static let sql = "COMMIT"
        var bindings: PostgresBindings { PostgresBindings() }
    }
    /// The center ($1) for row-level security, and the request being served ($2, when there is one) as the
    /// transaction's name in `pg_stat_activity`.
    struct SetCenter: PreparedQuery {
        static let sql = """
            SELECT set_config('portail.center_id', $1, true),
                   CASE WHEN $2::text IS NOT NULL THEN set_config('application_name', $2, true) END
            """
        let bindings: PostgresBindings
    }

    /// Whether the database answers, for /healthz: on a connection of its own, at most once a second,
    /// within 2 s (`DatabaseProbe`).
    public func ping() async -> Bool {
        await probe.answer()
    }
}

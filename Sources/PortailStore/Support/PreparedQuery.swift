import Logging
import PostgresNIO
import Synchronization

/// Whether the hot path's statements are prepared by name on each connection (the default). Off
/// (`PORTAIL_DB_PREPARED=off`) they are sent as unnamed statements, as every other query is: for a
/// PgBouncer in transaction pooling older than 1.21, which cannot follow named prepared statements.
public enum PreparedStatements {
    private static let on = Atomic<Bool>(true)
    public static var enabled: Bool {
        get { on.load(ordering: .relaxed) }
        set { on.store(newValue, ordering: .relaxed) }
    }
}

/// A statement of the pages' hot path that PostgreSQL parses and plans once per connection instead of
/// at every request (PostgresNIO prepares it under its type's name on first use). Parsing and planning
/// were most of the database's work for a page: its plans are cached, its values still bound.
protocol PreparedQuery: PostgresPreparedStatement where Row == PostgresRow {
    var bindings: PostgresBindings { get }
}

extension PreparedQuery {
    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }

    /// The statement's name on each connection: its type's full name, worked out once per type (PostgresNIO's
    /// default spells it with `String(reflecting:)` at every execution).
    static var name: String {
        let type = ObjectIdentifier(Self.self)
        if let name = preparedStatementNames.withLock({ $0[type] }) { return name }
        let name = String(reflecting: Self.self)
        preparedStatementNames.withLock { $0[type] = name }
        return name
    }
}

private let preparedStatementNames = Mutex<[ObjectIdentifier: String]>([:])

extension PostgresConnection {
    /// Every row of a prepared statement, decoded; the whole result is always read.
    func rows<Query: PreparedQuery, each Column: PostgresDecodable>(
        _ query: Query, _ type: (repeat each Column).Type, logger: Logger
    ) async throws -> [(repeat each Column)] {
        var rows: [(repeat each Column)] = []
        try await each(query, logger: logger) { row in rows.append(try row.decode((repeat each Column).self)) }
        return rows
    }

    /// Runs a prepared statement and reads its whole result, whatever it returns (BEGIN, COMMIT, setting the center).
    func run<Query: PreparedQuery>(_ query: Query, logger: Logger) async throws {
        try await each(query, logger: logger) { _ in }
    }

    /// Runs `query`, prepared by name (or unnamed when `PreparedStatements` are off), and hands each row to `body`.
    private func each<Query: PreparedQuery>(_ query: Query, logger: Logger, _ body: (PostgresRow) throws -> Void) async throws {
        guard PreparedStatements.enabled else {
            for try await row in try await self.query(PostgresQuery(unsafeSQL: Query.sql, binds: query.bindings), logger: logger) {
                try body(row)
            }
            return
        }
        do {
            for try await row in try await execute(query, logger: logger) {
                try body(row)
            }
        } catch let error as PSQLError where error.serverInfo.map({ Self.poisonsTheStatement($0[.sqlState] ?? "") }) == true {
            // PostgresNIO keeps a statement that failed to prepare as failed for the connection's life,
            // and PostgreSQL refuses a cached plan whose columns changed type (after a migration): this
            // connection could fail the statement for good. Closed, the pool replaces it. An error of the
            // data (a sum out of range, 22003) says nothing of the statement: the connection stays (closing
            // it in the middle of a page's transaction left the page without an answer).
            logger.warning("closing a connection after its prepared statement \(Query.name) failed: \(error.serverInfo?[.sqlState] ?? "?")")
            try? await close()
            throw error
        }
    }

    /// The errors after which a prepared statement cannot be used again on its connection: a plan that no
    /// longer fits (0A000 "cached plan must not change result type"), a statement unknown or invalid
    /// (26000), anything PostgreSQL refused to prepare (class 42: undefined column, syntax ...).
    static func poisonsTheStatement(_ sqlState: String) -> Bool {
        sqlState == "0A000" || sqlState == "26000" || sqlState.hasPrefix("42")
    }

    /// The first row of a prepared statement, or nil.
    func row<Query: PreparedQuery, each Column: PostgresDecodable>(
        _ query: Query, _ type: (repeat each Column).Type, logger: Logger
    ) async throws -> (repeat each Column)? {
        try await rows(query, type, logger: logger).first
    }
}

extension PostgresBindings {
    /// Bindings from values, in the order of the statement's $1, $2 ...
    static func of(_ values: any PostgresThrowingDynamicTypeEncodable...) throws -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values { try bindings.append(value) }
        return bindings
    }
}

/// A statement that sets its center itself, so that it can run outside any transaction (one round trip, it is
/// its own transaction: `Database.withPageReads`, `Database.withoutTransaction`). `wrap(sql)` reads `sql` (whose
/// `$1` is the center, as in every page's statement) only after setting `$1` as the transaction's center:
/// `sql` is a lateral subquery of the row that sets it (`OFFSET 0` keeps PostgreSQL from merging it into the
/// outer query), so none of its scans, and none of row-level security's checks in them, runs before that row
/// exists. Outside a transaction, the center lasts for the statement alone. Inside one already set to another
/// center, it sets nothing and reads nothing (its readers throw `NotSet`): it never moves a transaction to
/// another center. Inside one set to no center (none of the pages'), it would set it for the rest of it.
enum CenterStatement {
    /// A center statement read nothing: it ran in a transaction of another center.
    struct NotSet: Error {}

    static func wrap(_ sql: String) -> String {
        """
        SELECT q.* FROM (SELECT CASE WHEN coalesce(current_setting('portail.center_id', true), '') IN ('', $1::text)
                                     THEN set_config('portail.center_id', $1::text, true) END AS center) c
        CROSS JOIN LATERAL (SELECT * FROM (
        \(sql)
        ) q WHERE c.center IS NOT NULL OFFSET 0) q
        """
    }
}

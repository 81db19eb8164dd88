import Logging
import PostgresNIO

extension PostgresConnection {
    /// Every row of a query, decoded; the whole result is always read, so that errors that come with
    /// the rows are not missed.
    func all<each Column: PostgresDecodable>(
        _ query: PostgresQuery, _ type: (repeat each Column).Type, logger: Logger
    ) async throws -> [(repeat each Column)] {
        var rows: [(repeat each Column)] = []
        for try await row in try await self.query(query, logger: logger).decode((repeat each Column).self) {
            rows.append(row)
        }
        return rows
    }

    /// The first row of a query, or nil.
    func first<each Column: PostgresDecodable>(
        _ query: PostgresQuery, _ type: (repeat each Column).Type, logger: Logger
    ) async throws -> (repeat each Column)? {
        try await all(query, type, logger: logger).first
    }

    /// Runs a statement and reads its result to the end.
    func run(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}

/// How many rows a list read one page at a time has in all: the page itself tells when it is neither full
/// nor past the end (a family's 8 reservations on a page of 10), which spares the count's round trip;
/// otherwise `count` asks the database.
func listTotal(offset: Int, limit: Int, read: Int, count: () async throws -> Int) async rethrows -> Int {
    if read < limit, read > 0 || offset == 0 { return offset + read }
    return try await count()
}

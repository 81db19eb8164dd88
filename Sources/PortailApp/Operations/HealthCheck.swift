import Foundation
import Hummingbird
import PortailStore

/// Whether the portal can serve. The public /healthz says up or down and nothing else (load balancers
/// need no more, and center codes, file paths and missing secret names are not for the internet); the
/// administration listener's /healthz adds which centers are served and which files failed.
struct HealthCheck: Sendable {
    let database: Database
    let directory: CenterDirectory

    struct Status: Encodable { let status: String }

    struct Report: Encodable {
        struct DatabaseState: Encodable { let reachable: Bool }
        struct FailedCenter: Encodable {
            let file: String
            let code: String?
            let errors: [String]
        }
        struct Centers: Encodable {
            let loaded: [String]
            let failed: [FailedCenter]
        }
        let status: String
        let database: DatabaseState
        let centers: Centers
    }

    /// 200 `{"status": "up"}` when the database answers, else 503 `{"status": "down"}`.
    func publicResponse() async throws -> Response {
        let reachable = await database.ping()
        return try Self.json(Status(status: reachable ? "up" : "down"), status: reachable ? .ok : .serviceUnavailable)
    }

    /// The detailed report, for the administration listener only.
    func response() async throws -> Response {
        let reachable = await database.ping()
        let snapshot = directory.snapshot
        let report = Report(
            status: reachable ? (snapshot.failures.isEmpty ? "ok" : "degraded") : "down",
            database: .init(reachable: reachable),
            centers: .init(
                loaded: snapshot.centers.map(\.center.code),
                failed: snapshot.failures.map { .init(file: $0.file, code: $0.code, errors: $0.issues.map(\.description)) }
            )
        )
        return try Self.json(report, status: reachable ? .ok : .serviceUnavailable)
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(data: try encoder.encode(value)))
        )
    }
}

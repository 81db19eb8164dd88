import Foundation
import Hummingbird
import PortailStore

/// GET /healthz: whether the database answers, which centers are served and which files failed.
struct HealthCheck: Sendable {
    let database: Database
    let directory: CenterDirectory

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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: reachable ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(data: try encoder.encode(report)))
        )
    }
}

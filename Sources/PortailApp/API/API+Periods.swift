import Foundation
import Hummingbird
import PortailConfig
import PortailDomain
import PortailStore

/// Periods and tariffs through the admin API. A body is a JSON object with the keys of the center
/// file's entry (docs/centers.md), checked as the file is; every change goes through the importer, so
/// that its rules hold here too (places never below what is taken unless forced, tariff versions).
extension PortailRoutes {
    func addPeriodRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/centers/:code/periods") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let periods = try record.center.periods.map { try Self.object(CenterFileWriter.json($0)) }
                return try API.object(["periods": periods])
            }
        }

        // One period with its places and places taken, day by day.
        router.get("/api/centers/:code/periods/:period") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let code = context.parameters.get("period") ?? ""
                guard let period = record.center.period(code) else { throw APIProblem.notFound("Center \(record.center.code) has no period \(code).") }
                let days = try await database.withCenter(record.id) { c in
                    guard let id = try await BookingRepository.periodID(c, center: record.id, code: code, logger: database.logger) else { return [(day: String, unit: String, places: Int, taken: Int, forced: Bool)]() }
                    return try await BookingRepository.capacities(c, center: record.id, periodID: id, logger: database.logger)
                }
                var body = try Self.object(CenterFileWriter.json(period))
                body["days"] = days.map { ["day": $0.day, "unit": $0.unit, "places": $0.places, "taken": $0.taken, "forced": $0.forced] as [String: Any] }
                return try API.object(body)
            }
        }

        router.post("/api/centers/:code/periods") { request, context in
            try await editEntity(.period, request, context, replacing: nil, created: true) { body, _ in body }
        }

        // The whole period again (PUT) or only the keys to change (PATCH, JSON merge patch, RFC 7396).
        router.put("/api/centers/:code/periods/:period") { request, context in
            try await editEntity(.period, request, context, replacing: context.parameters.get("period")) { body, _ in body }
        }
        router.patch("/api/centers/:code/periods/:period") { request, context in
            try await editEntity(.period, request, context, replacing: context.parameters.get("period")) { body, current in
                try Self.mergePatch(body, onto: current)
            }
        }

        // Closing stops new bookings (what is booked stays); reopening allows them again.
        for (action, closed) in [("close", true), ("reopen", false)] {
            router.post(RouterPath("/api/centers/:code/periods/:period/\(action)")) { request, context in
                try await editEntity(.period, request, context, replacing: context.parameters.get("period")) { _, current in
                    var object = try Self.object(current)
                    object["closed"] = closed
                    return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
                }
            }
        }

        router.get("/api/centers/:code/tariffs") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let versions = try await database.withCenter(record.id) { c in
                    try await CenterRepository.tariffVersions(c, center: record.id, logger: database.logger)
                }
                let tariffs = try record.center.tariffs.map { tariff -> [String: Any] in
                    var object = try Self.object(CenterFileWriter.json(tariff))
                    object["versions"] = versions.filter { $0.code == tariff.code }.map {
                        ["version": $0.version, "created_at": ISO8601DateFormatter().string(from: $0.createdAt)] as [String: Any]
                    }
                    return object
                }
                return try API.object(["tariffs": tariffs])
            }
        }

        router.post("/api/centers/:code/tariffs") { request, context in
            try await editEntity(.tariff, request, context, replacing: nil, created: true) { body, _ in body }
        }
        // A changed tariff is a new version: it prices the bookings made from now on, older ones keep theirs.
        router.put("/api/centers/:code/tariffs/:tariff") { request, context in
            try await editEntity(.tariff, request, context, replacing: context.parameters.get("tariff")) { body, _ in body }
        }
    }

    /// Adds or changes one period or tariff of the path's center. `compose` turns the request body and
    /// the entity's current JSON into the entity's new JSON. `?dry_run=true` answers the difference
    /// only; `?force=true&reason=…` lets a day's places go below what is taken (audited with the reason).
    private func editEntity(
        _ entity: CenterEditor.Entity, _ request: Request, _ context: AppRequestContext, replacing: String?, created: Bool = false,
        compose: @escaping @Sendable (String, Data) throws -> String
    ) async throws -> Response {
        try await API.handle(request, database) { staff in
            let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
            var request = request
            let body = String(buffer: try await request.collectBody(upTo: 256 * 1024))
            let dryRun = request.uri.queryParameters["dry_run"] == "true"
            let force = request.uri.queryParameters["force"] == "true"
            let reason = request.uri.queryParameters["reason"].map { String($0.prefix(500)).trimmingCharacters(in: .whitespaces) }
            if force, (reason ?? "").count < 3 {
                throw Self.invalid("Reason needed", "force=true lets places go below what is taken: say why with reason=… (kept in the audit log).")
            }
            let code = record.center.code
            let result = try await editCenter(entity, record: record, actor: "staff:\(staff.email)", replacing: replacing, force: force,
                                              reason: reason, dryRun: dryRun) { current in try compose(body, current) }
            switch result {
            case .missing:
                throw APIProblem.notFound(replacing.map { "Center \(code) has no \(entity) \($0)." } ?? "There is no center \(code).")
            case .rejected(let issues):
                throw APIProblem.invalid("Invalid \(entity)", detail: "The \(entity) has \(issues.count) problem(s); each names its field.", issues: issues)
            case .refused(let outcome):
                throw APIProblem(status: .conflict, title: "Change refused", detail: outcome.refusal ?? "")
            case .saved(let outcome, let center, let edited):
                let saved = try Self.json(of: entity, edited, in: center)!
                let answer: [String: Any] = [
                    entity.rawValue: try Self.object(saved), "dry_run": dryRun, "applied": outcome.applied,
                    "changes": outcome.diff.changes.map(\.description),
                ]
                return try API.object(answer, status: created && outcome.applied ? .created : .ok)
            }
        }
    }

    static func object(_ data: Data) throws -> [String: Any] {
        (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// RFC 7396: keys of the patch replace those of the target, null removes, objects merge.
    static func mergePatch(_ patch: String, onto target: Data) throws -> String {
        guard let patchObject = (try? JSONSerialization.jsonObject(with: Data(patch.utf8))) as? [String: Any] else {
            throw APIProblem(status: .unprocessableContent, title: "Invalid JSON body", detail: "A PATCH body is a JSON object with the keys to change (JSON merge patch).")
        }
        func merge(_ target: Any?, _ patch: Any) -> Any {
            guard let patch = patch as? [String: Any] else { return patch }
            var result = (target as? [String: Any]) ?? [:]
            for (key, value) in patch {
                if value is NSNull { result[key] = nil } else { result[key] = merge(result[key], value) }
            }
            return result
        }
        let merged = merge(try JSONSerialization.jsonObject(with: target), patchObject)
        return String(decoding: try JSONSerialization.data(withJSONObject: merged), as: UTF8.self)
    }
}

extension API {
    /// A JSON answer built from Foundation values (periods and tariffs keep their center-file keys).
    static func object(_ value: [String: Any], status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}

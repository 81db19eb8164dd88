import Foundation
import Hummingbird
import PortailConfig
import PortailDomain
import PortailStore

/// Center staff endpoints, each scoped to the token's centers: another center answers 404.
extension PortailRoutes {
    /// The center of the path if the caller may act there (federation administrator, or a role there):
    /// another center answers 404; a role too low answers 403 saying which role is needed.
    func accessibleCenter(_ context: AppRequestContext, _ staff: StaffIdentity, managerOnly: Bool = false) async throws -> (CenterRecord, String) {
        let code = context.parameters.get("code") ?? ""
        let notFound = APIProblem.notFound("There is no center \(code) among yours.")
        guard let record = directory.center(forCode: code) else { throw notFound }
        if staff.isFederationAdmin { return (record, "federation_admin") }
        let role = try await database.withCenter(record.id) { c in
            try await StaffRepository.role(c, center: record.id, staff: staff.id, logger: database.logger)
        }
        guard let role else { throw notFound }
        if managerOnly && role != "manager" {
            throw APIProblem.forbidden("This needs the manager role at center \(code); your role there is \(role) (it reads and books).")
        }
        return (record, role)
    }

    /// Decodes a JSON body; anything that does not fit the schema is a 422 problem, never a 500.
    static func decode<T: Decodable>(_ type: T.Type, _ request: inout Request, emptyAs empty: T? = nil) async throws -> T {
        let body = try await request.collectBody(upTo: InputLimits.jsonBody)
        if body.readableBytes == 0, let empty { return empty }
        if let problem = Self.hostileJSON(body) { throw problem }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(T.self, from: body)
        } catch {
            throw APIProblem(status: .unprocessableContent, title: "Invalid JSON body", detail: "The body does not match the schema in docs/openapi.yaml: \(error)")
        }
    }

    /// What no JSON body may hold, whatever its schema: NUL characters (raw or escaped), strings longer
    /// than `InputLimits.jsonString`, nesting deeper than 32 levels.
    static func hostileJSON(_ body: ByteBuffer) -> APIProblem? {
        let bytes = body.readableBytesView
        let text = String(decoding: bytes, as: UTF8.self)
        if bytes.contains(0) || text.range(of: #"\\u0000"#, options: [.regularExpression, .caseInsensitive]) != nil {
            return APIProblem(status: .badRequest, title: "NUL character", detail: "Strings must not contain the NUL character (\\u0000).")
        }
        guard let value = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { return nil }
        func longest(_ value: Any, depth: Int) -> Int {
            if depth > 32 { return Int.max }
            switch value {
            case let s as String: return s.count
            case let a as [Any]: return a.map { longest($0, depth: depth + 1) }.max() ?? 0
            case let d as [String: Any]: return d.map { max($0.key.count, longest($0.value, depth: depth + 1)) }.max() ?? 0
            default: return 0
            }
        }
        if longest(value, depth: 0) > InputLimits.jsonString {
            return APIProblem(status: .unprocessableContent, title: "String too long",
                              detail: "No string of the body may be longer than \(InputLimits.jsonString) characters, nor nested deeper than 32 levels.")
        }
        return nil
    }

    func addCenterStaffRoutes(to router: Router<AppRequestContext>) {
        // The attendance list of a day.
        router.get("/api/centers/:code/attendance") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                guard let day = request.uri.queryParameters["day"].flatMap({ LocalDate(iso: String($0)) }) else {
                    throw APIProblem(status: .unprocessableContent, title: "Missing day", detail: "Give the day as ?day=YYYY-MM-DD.")
                }
                let lines = try await database.withCenter(record.id) { c in
                    try await ReservationQueries.attendance(c, center: record.id, day: day, logger: database.logger)
                }
                struct Attendance: Encodable { let day: String; let children: [AttendanceLine] }
                return try API.json(Attendance(day: day.iso, children: lines))
            }
        }

        // Staff cancel a confirmed reservation: a credit note, the places free again.
        router.post("/api/centers/:code/reservations/:number/cancel") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                guard let number = context.parameters.get("number").flatMap({ Int($0) }) else { throw APIProblem.notFound("No such reservation.") }
                do {
                    let note = try await database.withCenter(record.id) { c in
                        try await LedgerRepository.cancel(number: number, family: nil, now: nil, center: record.center, centerID: record.id,
                                                          actor: "staff:\(staff.email)", c, logger: database.logger)
                    }
                    return try API.json(["reservation": String(format: "%05d", number), "credit_note": note?.number ?? ""])
                } catch is CancellationRefusal {
                    throw APIProblem.notFound("Reservation \(number) is not a confirmed reservation of this center.")
                }
            }
        }

        // The center's configuration as a center file, as the database holds it now: staff edits can
        // be reviewed and committed back to git.
        router.get("/api/centers/:code/configuration") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                let text = try CenterFileWriter.yaml(record.center)
                return Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }

        router.get("/api/centers/:code/audit") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let entries = try await database.withCenter(record.id) { c in
                    try await AuditLog.entries(c, center: record.id, limit: 200, logger: database.logger)
                }
                struct Entry: Encodable { let at: Date; let actor: String; let action: String; let subject: String; let before: String?; let after: String? }
                return try API.json(["entries": entries.map { Entry(at: $0.at, actor: $0.actor, action: $0.action, subject: $0.subject, before: $0.before, after: $0.after) }])
            }
        }
    }
}


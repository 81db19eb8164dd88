import Foundation
import Hummingbird
import PortailConfig
import PortailDomain
import PortailStore

/// Center staff endpoints, each scoped to the token's centers: another center answers 404.
extension PortailRoutes {
    /// The center of the path if the caller may act there (federation administrator, or a role there).
    func accessibleCenter(_ context: AppRequestContext, _ staff: StaffIdentity, managerOnly: Bool = false) async throws -> (CenterRecord, String) {
        let code = context.parameters.get("code") ?? ""
        let notFound = APIProblem.notFound("There is no center \(code) among yours.")
        guard let record = directory.center(forCode: code) else { throw notFound }
        if staff.isFederationAdmin { return (record, "federation_admin") }
        let role = try await database.withCenter(record.id) { c in
            try await StaffRepository.role(c, center: record.id, staff: staff.id, logger: database.logger)
        }
        guard let role else { throw notFound }
        if managerOnly && role != "manager" { throw APIProblem.forbidden("Only the center's managers can do this.") }
        return (record, role)
    }

    struct NewStaff: Encodable {
        let email: String
        let role: String
        let token: String
    }

    struct FamilyInput: Decodable {
        struct Child: Decodable {
            let firstName: String
            let lastName: String
            let birthDate: String
        }
        let email: String
        let name: String
        let children: [Child]?
        let quotient: Int?
    }

    struct PaymentInput: Decodable {
        struct Allocation: Decodable {
            let invoice: String
            let amountCents: Int
        }
        let familyId: Int64
        let method: String
        let amountCents: Int
        let reference: String?
        let allocations: [Allocation]?
    }

    /// Decodes a JSON body; anything that does not fit the schema is a 422 problem, never a 500.
    static func decode<T: Decodable>(_ type: T.Type, _ request: inout Request, emptyAs empty: T? = nil) async throws -> T {
        let body = try await request.collectBody(upTo: 256 * 1024)
        if body.readableBytes == 0, let empty { return empty }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(T.self, from: body)
        } catch {
            throw APIProblem(status: .unprocessableContent, title: "Invalid JSON body", detail: "The body does not match the schema in docs/openapi.yaml: \(error)")
        }
    }

    func addCenterStaffRoutes(to router: Router<AppRequestContext>) {
        // The center's managers and staff: a federation administrator creates the first manager.
        router.post("/api/centers/:code/staff") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                var request = request
                struct Input: Decodable { let email: String; let name: String?; let role: String }
                let input = try await Self.decode(Input.self, &request)
                guard ["manager", "staff"].contains(input.role) else {
                    throw APIProblem(status: .unprocessableContent, title: "Invalid role", detail: "role must be manager or staff.")
                }
                guard input.email.contains("@") else { throw APIProblem(status: .unprocessableContent, title: "Invalid e-mail", detail: "email must be an e-mail address.") }
                let token = try await StaffRepository.createCenterStaff(database, center: record.id, email: input.email, name: input.name ?? "",
                                                                        role: input.role, actor: "staff:\(staff.email)")
                return try API.json(NewStaff(email: input.email, role: input.role, token: token), status: .created)
            }
        }

        router.get("/api/centers/:code/families") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let families = try await database.withCenter(record.id) { c in
                    try await AccountRepository.families(c, center: record.id, logger: database.logger)
                }
                return try API.json(["families": families])
            }
        }

        // A family created by staff gets an activation link by e-mail.
        router.post("/api/centers/:code/families") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                var request = request
                let input = try await Self.decode(FamilyInput.self, &request)
                guard input.email.range(of: #"^[^@\s]+@[^@\s]+\.[^@\s]+$"#, options: .regularExpression) != nil else {
                    throw APIProblem(status: .unprocessableContent, title: "Invalid e-mail", detail: "email must be an e-mail address such as parent@example.org.")
                }
                let children = try (input.children ?? []).map { child -> (String, String, LocalDate) in
                    guard let birth = LocalDate(iso: child.birthDate) else {
                        throw APIProblem(status: .unprocessableContent, title: "Invalid birth date", detail: "birth_date must be written YYYY-MM-DD, found \(child.birthDate).")
                    }
                    return (child.firstName, child.lastName, birth)
                }
                let link = (record.center.coordinates.portalURL.hasSuffix("/") ? String(record.center.coordinates.portalURL.dropLast()) : record.center.coordinates.portalURL) + "/activation?jeton="
                let id: Int64 = try await database.withCenter(record.id) { c in
                    if try await AccountRepository.family(c, center: record.id, email: input.email, logger: database.logger) != nil {
                        throw APIProblem(status: .conflict, title: "Family exists", detail: "A family account already uses \(input.email) at this center.")
                    }
                    let id = try await AccountRepository.createFamily(c, center: record.id, email: input.email, name: input.name, passwordHash: nil,
                                                                      state: "invited", category: nil, logger: database.logger)
                    for (first, last, birth) in children {
                        try await AccountRepository.addChild(c, center: record.id, family: id, firstName: first, lastName: last, birthDate: birth, logger: database.logger)
                    }
                    if let qf = input.quotient {
                        try await AccountRepository.addQuotient(c, center: record.id, family: id, quotient: qf, from: LocalDate(Date(), in: record.center.zone), to: nil, logger: database.logger)
                    }
                    let token = try await AccountRepository.issueToken(c, center: record.id, family: id, purpose: "activation", validFor: Self.activationValidity, logger: database.logger)
                    try await Outbox.enqueue(c, center: record.id, to: input.email, subject: "\(record.center.name) – votre compte famille", body: """
                        Bonjour,

                        Votre compte famille du portail de \(record.center.name) est prêt. Pour choisir votre mot de passe, ouvrez ce lien (valable 7 jours) :
                        \(link)\(token)

                        \(record.center.coordinates.name)
                        """, logger: database.logger)
                    try await AuditLog.record(c, center: record.id, actor: "staff:\(staff.email)", action: "family.create", subject: input.email,
                                              after: ["name": input.name], logger: database.logger)
                    return id
                }
                return try API.json(["id": id], status: .created)
            }
        }

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

        // A payment taken at the office, allocated to invoices; an Idempotency-Key makes retries safe.
        router.post("/api/centers/:code/payments") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                guard let key = request.headers[.init("Idempotency-Key")!], !key.isEmpty else {
                    throw APIProblem(status: .badRequest, title: "Idempotency-Key required", detail: "Send an Idempotency-Key header (a random string per payment) so that a retry cannot record it twice.")
                }
                var request = request
                let input = try await Self.decode(PaymentInput.self, &request)
                let methods = ["cheque": "CHÈQUE", "especes": "ESPÈCES", "cesu": "CESU", "ancv": "ANCV", "virement": "VIREMENT"]
                guard let label = methods[input.method] else {
                    throw APIProblem(status: .unprocessableContent, title: "Invalid method", detail: "method must be one of \(methods.keys.sorted().joined(separator: ", ")).")
                }
                guard input.amountCents > 0 else { throw APIProblem(status: .unprocessableContent, title: "Invalid amount", detail: "amount_cents must be positive.") }
                let allocations = input.allocations ?? []
                guard allocations.reduce(0, { $0 + $1.amountCents }) <= input.amountCents, allocations.allSatisfy({ $0.amountCents > 0 }) else {
                    throw APIProblem(status: .unprocessableContent, title: "Invalid allocations", detail: "Allocations must be positive and add up to at most the payment's amount.")
                }
                let (status, body) = try await database.withCenter(record.id) { c -> (Int, String) in
                    if let stored = try await StaffRepository.idempotent(c, center: record.id, key: key, logger: database.logger) { return stored }
                    guard try await AccountRepository.family(c, center: record.id, id: input.familyId, logger: database.logger) != nil else {
                        throw APIProblem.notFound("There is no family \(input.familyId) at this center.")
                    }
                    let payment = try await LedgerRepository.recordPayment(
                        center: record.center, centerID: record.id, family: input.familyId, amount: Money(cents: input.amountCents), method: input.method,
                        provider: nil, label: "Paiement n° \(input.reference ?? "") (par \(label))", attempt: nil, c, logger: database.logger)
                    for allocation in allocations {
                                guard let invoice = try await LedgerQueries.invoice(c, center: record.id, family: input.familyId, number: allocation.invoice, logger: database.logger)
                        else { throw APIProblem.notFound("The family has no invoice \(allocation.invoice).") }
                        let invoiceID = invoice.id
                        guard allocation.amountCents <= invoice.remaining.cents else {
                            throw APIProblem(status: .unprocessableContent, title: "Allocation too large", detail: "Invoice \(allocation.invoice) only lacks \(invoice.remaining).")
                        }
                        try await LedgerRepository.allocate(payment: payment.id, invoice: invoiceID, amount: Money(cents: allocation.amountCents), center: record.id, c, logger: database.logger)
                    }
                    struct Recorded: Encodable, Sendable { let amount_cents: Int; let method: String }
                    try await AuditLog.record(c, center: record.id, actor: "staff:\(staff.email)", action: "payment.record", subject: payment.number,
                                              after: Recorded(amount_cents: input.amountCents, method: input.method), logger: database.logger)
                    let body = String(decoding: try API.encoder.encode(["number": payment.number]), as: UTF8.self)
                    try await StaffRepository.remember(c, center: record.id, key: key, status: 201, body: body, logger: database.logger)
                    return (201, body)
                }
                return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
            }
        }

        // Staff cancel a confirmed reservation: a credit note, the places free again.
        router.post("/api/centers/:code/reservations/:number/cancel") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
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
                struct Entry: Encodable { let at: Date; let actor: String; let action: String; let subject: String; let after: String? }
                return try API.json(["entries": entries.map { Entry(at: $0.at, actor: $0.actor, action: $0.action, subject: $0.subject, after: $0.after) }])
            }
        }
    }
}


import Foundation
import Hummingbird
import PaymentKit
import PortailDomain
import PortailStore
import PostgresNIO

/// Money through the admin API: payments taken at the office, refunds of credits, and the payment
/// attempts the bank's notifications flagged for the staff. The POSTs that move money need an
/// Idempotency-Key: the same key answers the same response, and records nothing twice.
extension PortailRoutes {
    struct PaymentInput: Decodable {
        struct Allocation: Decodable {
            let invoice: String
            let amountCents: Int
        }
        let familyId: Int64
        let method: String
        let amountCents: Int
        /// The cheque's number, the transfer's reference ...
        let reference: String?
        /// The cheque's bank.
        let bank: String?
        let allocations: [Allocation]?
    }

    struct RefundInput: Decodable {
        let familyId: Int64
        let amountCents: Int
        let method: String
        let reference: String?
        /// An online payment (its number, "OPI-P00012") to give back through the bank, to the card it came from.
        let payment: String?
    }

    /// Amounts the office handles: a cent to 100 000 €.
    static func checkAmount(_ cents: Int) throws {
        guard (1...10_000_000).contains(cents) else { throw invalid("Invalid amount", "amount_cents must be between 1 and 10000000 (100 000 €).") }
    }

    /// Runs `body` once per Idempotency-Key in the center's transaction; a retry gets the stored answer.
    func idempotent(_ request: Request, _ record: CenterRecord, _ body: @escaping @Sendable (PostgresConnection) async throws -> (Int, String)) async throws -> Response {
        let (status, text) = try await idempotentAnswer(request, record, body)
        return Self.jsonResponse(status, text)
    }

    static func jsonResponse(_ status: Int, _ text: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func idempotentAnswer(_ request: Request, _ record: CenterRecord, _ body: @escaping @Sendable (PostgresConnection) async throws -> (Int, String)) async throws -> (Int, String) {
        guard let key = request.headers[.init("Idempotency-Key")!], !key.isEmpty, key.count <= 200 else {
            throw APIProblem(status: .badRequest, title: "Idempotency-Key required",
                             detail: "Send an Idempotency-Key header (a random string of at most 200 characters per operation) so that a retry cannot record it twice.")
        }
        return try await database.withCenter(record.id) { c -> (Int, String) in
            if let stored = try await StaffRepository.idempotent(c, center: record.id, key: key, logger: database.logger) { return stored }
            let (status, text) = try await body(c)
            try await StaffRepository.remember(c, center: record.id, key: key, status: status, body: text, logger: database.logger)
            return (status, text)
        }
    }

    static func jsonText<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try API.encoder.encode(value), as: UTF8.self)
    }

    static let snakeCaseDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    struct Refunded: Codable {
        let number: String
        let amountCents: Int
        /// The bank's id of the refund, and "done" or "pending" (accepted, still processing), when made through the bank.
        let bankRefund: String?
        let bankState: String?
    }

    /// Asks the bank to make a recorded refund (or says what it answered before): the refund's number is
    /// the bank's idempotency key, so asking again after a call that got no answer never refunds twice.
    func askBank(_ bank: any RefundingProvider, refund number: String, payment: String, family: Int64, record: CenterRecord,
                 actor: String) async throws -> Response {
        let logger = database.logger
        let found = try await database.withCenter(record.id) { c -> (BankRefunds.Row, Int64, String, AttemptRecord)? in
            guard let row = try await BankRefunds.row(c, center: record.id, number: number, logger: logger),
                  let paid = try await PaymentRepository.onlinePayment(c, center: record.id, family: family, number: payment, logger: logger)
            else { return nil }
            return (row, paid.payment, paid.transaction, paid.attempt)
        }
        guard let (row, _, transaction, attempt) = found else { throw APIProblem.notFound("There is no refund \(number) through the bank.") }
        func made(_ row: BankRefunds.Row, _ refund: String?, _ state: String?) throws -> Response {
            Self.jsonResponse(201, try Self.jsonText(Refunded(number: row.number, amountCents: row.amount.cents, bankRefund: refund, bankState: state)))
        }
        switch row.state {
        case "done", "pending": return try made(row, row.providerRefund, row.state)
        case "refused":
            throw APIProblem(status: .badGateway, title: "The bank refused the refund",
                             detail: "\(bank.displayName) refused refund \(row.number): \(row.detail ?? "no reason given"). Nothing was refunded; the money is the family's credit again.")
        default: break
        }
        let services = ProviderServices.portal(database: database, center: record, provider: bank, http: paymentHTTP, now: clock)
        let identity = AttemptIdentity(reference: attempt.reference, amountCents: attempt.amount.cents, currency: "EUR",
                                       createdAt: attempt.createdAt, providerReference: attempt.providerReference)
        do {
            let result = try await bank.refund(RefundRequest(attempt: identity, providerTransaction: transaction, amountCents: row.amount.cents,
                                                             refundReference: row.number), services: services)
            try await database.withCenter(record.id) { c in
                try await BankRefunds.settle(c, center: record.id, row: row, providerRefund: result.providerRefund, completed: result.completed,
                                             actor: actor, logger: logger)
            }
            return try made(row, result.providerRefund, result.completed ? "done" : "pending")
        } catch let refused as RefundRefused {
            try await database.withCenter(record.id) { c in
                try await BankRefunds.refuse(c, center: record.id, row: row, reason: refused.reason, actor: actor, logger: logger)
            }
            throw APIProblem(status: .badGateway, title: "The bank refused the refund",
                             detail: "\(bank.displayName) refused refund \(row.number): \(refused.reason). Nothing was refunded; the money is the family's credit again.")
        } catch {
            logger.error("center \(record.center.code): refund \(row.number) not confirmed by \(bank.displayName): \(error)")
            throw APIProblem(status: .badGateway, title: "The bank did not confirm the refund",
                             detail: "\(bank.displayName) did not confirm refund \(row.number) (\(error)). Send the same request again (same Idempotency-Key): the bank is asked again for this same refund and never refunds twice.")
        }
    }

    func addMoneyAPIRoutes(to router: Router<AppRequestContext>) {
        // A payment taken at the office, allocated to invoices.
        router.post("/api/centers/:code/payments") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                var request = request
                let input = try await Self.decode(PaymentInput.self, &request)
                guard let label = OfficePayments.methods.first(where: { $0.code == input.method })?.label else {
                    throw Self.invalid("Invalid method", "method must be one of \(OfficePayments.methods.map(\.code).sorted().joined(separator: ", ")).")
                }
                try Self.checkAmount(input.amountCents)
                // Each allocation is bounded before any sum: no amount from outside can overflow.
                if let allocations = input.allocations {
                    guard allocations.count <= 100, allocations.allSatisfy({ (1...10_000_000).contains($0.amountCents) }),
                          allocations.reduce(0, { $0 + $1.amountCents }) <= input.amountCents else {
                        throw Self.invalid("Invalid allocations", "Allocations (at most 100) must each be between 1 and 10000000 cents and add up to at most the payment's amount.")
                    }
                }
                let reference = [input.reference, input.bank].compactMap { $0?.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
                return try await idempotent(request, record) { c in
                    try await requireFamily(c, record, input.familyId)
                    // Without allocations, the family's oldest open invoices are settled first.
                    let payment: (number: String, allocated: [(invoice: String, amount: Money)])
                    do {
                        payment = try await OfficePayments.record(
                            c, center: record.center, centerID: record.id, family: input.familyId, amount: Money(cents: input.amountCents),
                            method: input.method, label: "Paiement n° \(reference) (par \(label))",
                            allocations: input.allocations?.map { (invoice: $0.invoice, amount: Money(cents: $0.amountCents)) }, logger: database.logger)
                    } catch OfficePayments.Refusal.unknownInvoice(let number) {
                        throw APIProblem.notFound("The family has no invoice \(number).")
                    } catch OfficePayments.Refusal.tooMuchFor(let number, let lacks) {
                        throw Self.invalid("Allocation too large", "Invoice \(number) only lacks \(lacks).")
                    }
                    struct Recorded: Encodable, Sendable { let amount_cents: Int; let method: String; let reference: String }
                    try await AuditLog.record(c, center: record.id, actor: "staff:\(staff.email)", action: "payment.record", subject: payment.number,
                                              after: Recorded(amount_cents: input.amountCents, method: input.method, reference: reference), logger: database.logger)
                    struct Allocated: Encodable { let invoice: String; let amountCents: Int }
                    struct Answer: Encodable { let number: String; let allocations: [Allocated] }
                    return (201, try Self.jsonText(Answer(number: payment.number, allocations: payment.allocated.map {
                        Allocated(invoice: $0.invoice, amountCents: $0.amount.cents)
                    })))
                }
            }
        }

        // Gives a family back money it has with the center (its available credit).
        router.post("/api/centers/:code/refunds") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                var request = request
                let input = try await Self.decode(RefundInput.self, &request)
                let methods = ["virement", "cheque", "especes", "online"]
                guard methods.contains(input.method) else { throw Self.invalid("Invalid method", "method must be one of \(methods.joined(separator: ", ")).") }
                try Self.checkAmount(input.amountCents)
                // Through the bank: the payment's card gets the money back. The refund is recorded first (with its
                // bank refund 'asking'), then the bank is asked outside any transaction, its number as the bank's
                // idempotency key, and its answer settles it (see BankRefunds).
                let bank: (any RefundingProvider)? = try {
                    guard input.payment != nil else { return nil }
                    guard input.method == "online" else {
                        throw Self.invalid("Invalid payment", "payment names an online payment to refund through the bank: use it with method online.")
                    }
                    guard let refunding = paymentProvider(record.center) as? any RefundingProvider else {
                        throw APIProblem(status: .conflict, title: "The bank cannot refund through the portal",
                                         detail: "Refund in the bank's back office, then record it here without payment.")
                    }
                    return refunding
                }()
                if let reference = input.reference, reference.count > 200 {
                    throw Self.invalid("Invalid reference", "reference is at most 200 characters.")
                }
                let (status, text) = try await idempotentAnswer(request, record) { c in
                    try await requireFamily(c, record, input.familyId)
                    var paymentID: Int64?
                    if let number = input.payment {
                        guard let paid = try await PaymentRepository.onlinePayment(c, center: record.id, family: input.familyId, number: number,
                                                                                  logger: database.logger) else {
                            throw APIProblem.notFound("There is no online payment \(number) of this family at this center.")
                        }
                        paymentID = paid.payment
                    }
                    do {
                        let refund = try await LedgerRepository.refund(
                            amount: Money(cents: input.amountCents), method: input.method,
                            reference: input.reference ?? (input.payment.map { "carte du paiement \($0)" } ?? ""), center: record.center,
                            centerID: record.id, family: input.familyId, actor: "staff:\(staff.email)", fromPayment: paymentID, c, logger: database.logger)
                        if let paymentID {
                            try await BankRefunds.begin(c, center: record.id, refund: refund.id, payment: paymentID, amount: refund.total, logger: database.logger)
                        }
                        return (201, try Self.jsonText(Refunded(number: refund.number, amountCents: refund.total.cents, bankRefund: nil, bankState: nil)))
                    } catch let refusal as RefundRefusal {
                        throw APIProblem(status: .conflict, title: "Not enough credit",
                                         detail: input.payment.map { "\(refusal.available) of payment \($0) is still the family's credit: refund at most that." }
                                             ?? "The family has \(refusal.available) of credit: refund at most that.")
                    }
                }
                guard status == 201, let bank, let payment = input.payment,
                      let number = (try? Self.snakeCaseDecoder.decode(Refunded.self, from: Data(text.utf8)))?.number else {
                    return Self.jsonResponse(status, text)
                }
                return try await askBank(bank, refund: number, payment: payment, family: input.familyId, record: record, actor: "staff:\(staff.email)")
            }
        }

        // Payment attempts flagged by the bank's notifications; ?all=true adds the resolved ones.
        router.get("/api/centers/:code/payment-attempts") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let all = request.uri.queryParameters["all"] == "true"
                struct Review: Encodable {
                    let attempts: [FlaggedAttempt]
                    /// Money the bank took for no attempt of the portal.
                    let unmatched: [UnmatchedNotification]
                }
                let review = try await database.withCenter(record.id) { c in
                    Review(attempts: try await PaymentReview.flagged(c, center: record.id, includeResolved: all, logger: database.logger),
                           unmatched: try await PaymentReview.unmatched(c, center: record.id, includeResolved: all, logger: database.logger))
                }
                return try API.json(review)
            }
        }

        router.post("/api/centers/:code/payment-attempts/:reference/resolve") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                let reference = context.parameters.get("reference") ?? ""
                var request = request
                struct Input: Decodable { let resolution: String }
                let input = try await Self.decode(Input.self, &request)
                guard let resolution = try Self.name(input.resolution, "resolution") else { throw Self.invalid("Missing resolution", "Say in resolution what was done.") }
                guard try await database.withCenter(record.id, { c in
                    try await PaymentReview.resolve(c, center: record.id, reference: reference, resolution: resolution, actor: "staff:\(staff.email)", logger: database.logger)
                }) else { throw APIProblem.notFound("There is no unresolved flagged attempt or unmatched payment \(reference) at this center.") }
                return Response(status: .noContent)
            }
        }
    }
}

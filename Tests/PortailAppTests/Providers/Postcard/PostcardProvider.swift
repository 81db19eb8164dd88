import Foundation
import PaymentKit

// "Postcard", a made-up bank: the whole of a provider is this folder and one `register` call
// (PluginWalkthroughTests), without a line in PortailApp or PortailStore. It imports PaymentKit only.

enum PostcardProvider: PaymentProviderType {
    static let type = "postcard"
    static let displayName = "POSTCARD"

    static func validate(parameters: [String: String], environment: [String: String]) -> [ParameterProblem] {
        var problems = ParameterProblem.unknown(in: parameters, allowed: ["api_url", "key_env"])
        if let problem = ParameterProblem.secret("key_env", in: parameters, environment: environment) { problems.append(problem) }
        if parameters["api_url"] == nil {
            problems.append(ParameterProblem("api_url", "missing \"api_url\": the address of the bank's API"))
        } else if let problem = ParameterProblem.bankURL("api_url", in: parameters, testMode: true) {
            problems.append(problem)
        }
        return problems
    }

    static func testBank(parameters: [String: String]) -> String? { "Postcard is a made-up bank" }

    static func make(parameters: [String: String], environment: [String: String]) throws -> any PaymentProvider {
        if let problem = validate(parameters: parameters, environment: environment).first {
            throw ProviderConfigurationError("\(problem.parameter): \(problem.message)")
        }
        return PostcardAccount(api: parameters["api_url"]!, key: environment[parameters["key_env"]!]!)
    }
}

/// Sessions opened over a JSON API, notifications signed with an HMAC header, and a status query.
struct PostcardAccount: StatusQueryingProvider {
    let api: String
    let key: String
    var displayName: String { PostcardProvider.displayName }
    var sessionLimit: TimeInterval { 5 * 60 }

    struct Session: Codable {
        var id: String
        var url: String?
        var status: String?
        var amount: Int?
    }

    func start(_ attempt: PaymentAttempt, services: ProviderServices) async throws -> PaymentStart {
        let body = try JSONSerialization.data(withJSONObject: [
            "reference": attempt.reference, "amount": attempt.amountCents, "notify": attempt.notificationURL, "back": attempt.returnURL,
        ])
        let answer = try await services.http.send(ProviderHTTPRequest(
            method: "POST", url: api + "/sessions", headers: [("Authorization", "Key \(key)"), ("Content-Type", "application/json")],
            body: String(decoding: body, as: UTF8.self)
        ))
        guard answer.isSuccess, let session = try? JSONDecoder().decode(Session.self, from: Data(answer.body.utf8)), let url = session.url else {
            throw ProviderCallFailed("Postcard answered \(answer.status): \(answer.body.prefix(200))")
        }
        try await services.references.set(attempt.reference, for: "session:\(session.id)")
        return .redirect(url, providerReference: session.id)
    }

    func verify(_ notification: IncomingNotification, services: ProviderServices) async throws -> VerifiedNotification {
        guard let signature = notification.header("X-Postcard-Signature"),
              constantTimeEquals(signature, Digests.hmacSHA256Hex(notification.body, key: key)) else {
            throw NotificationRejected("X-Postcard-Signature missing or wrong")
        }
        guard let session = try? JSONDecoder().decode(Session.self, from: Data(notification.body.utf8)), let status = session.status else {
            throw NotificationRejected("not a Postcard session")
        }
        guard let reference = try await services.references.value(for: "session:\(session.id)") else {
            throw NotificationRejected("session \(session.id) was not opened by this center")
        }
        return Self.verified(session, status: status, reference: reference)
    }

    func status(of attempt: AttemptIdentity, services: ProviderServices) async throws -> VerifiedNotification? {
        guard let id = attempt.providerReference else { return nil }
        let answer = try await services.http.send(ProviderHTTPRequest(method: "GET", url: api + "/sessions/" + id,
                                                                      headers: [("Authorization", "Key \(key)")]))
        guard answer.isSuccess, let session = try? JSONDecoder().decode(Session.self, from: Data(answer.body.utf8)),
              let status = session.status else { throw ProviderCallFailed("Postcard answered \(answer.status)") }
        return status == "open" ? nil : Self.verified(session, status: status, reference: attempt.reference)
    }

    static func verified(_ session: Session, status: String, reference: String) -> VerifiedNotification {
        let normalised: PaymentStatus = switch status {
        case "paid": .paid
        case "refused": .refused
        case "expired": .expired
        case "open": .pending
        default: .review
        }
        return VerifiedNotification(idempotencyKey: "\(session.id)|\(status)", attemptReference: reference, status: normalised,
                                    amountCents: session.amount, currency: "EUR", providerStatus: status, providerTransaction: session.id)
    }

    func acknowledgement(_ outcome: NotificationOutcome) -> (status: Int, body: String) {
        switch outcome {
        case .handled: (200, "thanks")
        case .rejected: (400, "no")
        case .failed: (503, "later")
        }
    }
}

import Foundation
import Hummingbird
import PortailConfig
import PortailStore

/// An error of the admin API, answered as RFC 9457 problem details with a message a person can act on.
struct APIProblem: Error {
    var status: HTTPResponse.Status
    var title: String
    var detail: String
    /// Field-level problems (a center file's errors with their lines).
    var errors: [[String: String]] = []

    static func unauthorized() -> APIProblem {
        APIProblem(status: .unauthorized, title: "Authentication required",
                   detail: "Send an API token as 'Authorization: Bearer ptk_…'; create one with 'portail admin create-federation-admin EMAIL'.")
    }

    static func forbidden(_ detail: String) -> APIProblem { APIProblem(status: .forbidden, title: "Not allowed", detail: detail) }
    static func notFound(_ detail: String) -> APIProblem { APIProblem(status: .notFound, title: "Not found", detail: detail) }

    /// The problem of a bare HTTP status (a body too large, a malformed address, a method not routed).
    static func forStatus(_ status: HTTPResponse.Status) -> APIProblem {
        switch status {
        case .contentTooLarge:
            return APIProblem(status: status, title: "Body too large", detail: "The body exceeds this operation's limit (see docs/admin-api.md).")
        case .notFound: return .notFound("There is no such resource.")
        case .methodNotAllowed: return APIProblem(status: status, title: "Method not allowed", detail: "This path does not take this method.")
        case .internalServerError:
            return APIProblem(status: status, title: "Server error", detail: "The server failed; the error is in its log. Try again later.")
        case .serviceUnavailable:
            return APIProblem(status: status, title: "Busy", detail: "The database could not serve this request in time (lock or statement timeout, "
                                  + "conflict or lost connection). It may not have been applied: check, then send it again after the Retry-After "
                                  + "delay, with the same Idempotency-Key where the operation takes one.")
        default:
            return APIProblem(status: status.code >= 400 ? status : .badRequest, title: "Bad request",
                              detail: "The request is malformed (NUL bytes, invalid parameters or encoding).")
        }
    }

    /// A 422 listing each problem of a center file (or of one of its entries) with its line, column and field.
    static func invalid(_ title: String, detail: String, issues: [ConfigIssue]) -> APIProblem {
        var problem = APIProblem(status: .unprocessableContent, title: title, detail: detail)
        problem.errors = issues.map { ["line": String($0.line), "column": String($0.column), "field": $0.path, "message": $0.message] }
        return problem
    }

    var response: Response {
        var body: [String: Any] = ["type": "about:blank", "title": title, "status": Int(status.code), "detail": detail]
        if !errors.isEmpty { body["errors"] = errors }
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/problem+json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}

enum API {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: try encoder.encode(value))))
    }

    /// Runs an API handler that needs no token (accepting an invitation), mapping problems to answers.
    static func handlePublic(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let problem as APIProblem {
            return problem.response
        }
    }

    /// The request's bearer token, as sent.
    static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        return String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
    }

    /// Runs an API handler: authenticates the bearer token and maps problems to their answers.
    static func handle(_ request: Request, _ database: Database, _ body: (StaffIdentity) async throws -> Response) async throws -> Response {
        do {
            guard let secret = bearer(request) else { throw APIProblem.unauthorized() }
            guard let staff = try await StaffRepository.federation(database, { c in
                try await StaffRepository.authenticate(c, secret: secret, logger: database.logger)
            }) else { throw APIProblem.unauthorized() }
            return try await body(staff)
        } catch let problem as APIProblem {
            return problem.response
        }
    }
}

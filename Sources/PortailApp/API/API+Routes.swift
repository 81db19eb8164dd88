import Foundation
import Hummingbird
import PortailConfig
import PortailDomain
import PortailStore

/// The admin API (federation administrators for now; center staff endpoints come next), described in docs/openapi.yaml.
extension PortailRoutes {
    struct ImportResult: Encodable {
        let code: String
        let dryRun: Bool
        let applied: Bool
        let changes: [String]
    }

    struct NewToken: Encodable {
        let id: Int64
        let label: String
        let token: String
        let expiresAt: Date
    }

    func addAPIRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/centers") { request, _ in
            try await API.handle(request, database) { staff in
                guard staff.isFederationAdmin else { throw APIProblem.forbidden("Listing every center is for federation administrators.") }
                let list = try await centerSummaries()
                return try API.json(["centers": list])
            }
        }

        // Onboard or update a center from its YAML file (the body); ?dry_run=true returns the difference only.
        router.post("/api/centers") { request, _ in
            try await API.handle(request, database) { staff in
                guard staff.isFederationAdmin else { throw APIProblem.forbidden("Onboarding centers is for federation administrators.") }
                var request = request
                let text = String(buffer: try await request.collectBody(upTo: 1024 * 1024))
                let dryRun = request.uri.queryParameters["dry_run"] == "true"
                let outcome: CenterImporter.Outcome
                let center: Center
                switch try await importCenterFile(text, actor: "api:\(staff.email)", dryRun: dryRun) {
                case .invalid(let issues):
                    throw APIProblem.invalid("Invalid center file", detail: "The center file has \(issues.count) problem(s); each names its line, column and field.",
                                             issues: issues)
                case .hostServed(let other):
                    throw APIProblem(status: .conflict, title: "Host already served", detail: "A host of this file is already served by center \(other).")
                case .accountUsed(let account, let other):
                    throw APIProblem(status: .conflict, title: "Bank account already used",
                                     detail: "The bank account of this file (\(account)) is already center \(other)'s: each center needs its own.")
                case .refused(let refusal):
                    throw APIProblem(status: .conflict, title: "Import refused", detail: refusal)
                case .done(let done, let imported):
                    outcome = done
                    center = imported
                }
                let created = outcome.applied && outcome.diff.changes.contains { $0.entity == "center" && $0.kind == .added }
                return try API.json(ImportResult(code: center.code, dryRun: dryRun, applied: outcome.applied, changes: outcome.diff.changes.map(\.description)),
                                    status: created ? .created : .ok)
            }
        }

        for (action, state) in [("suspend", "suspended"), ("resume", "active")] {
            router.post(RouterPath("/api/centers/:code/\(action)")) { request, context in
                try await API.handle(request, database) { staff in
                    guard staff.isFederationAdmin else { throw APIProblem.forbidden("Suspending and resuming centers is for federation administrators.") }
                    let code = context.parameters.get("code") ?? ""
                    guard try await CenterRepository.setState(database, code: code, state: state, actor: "staff:\(staff.email)") else {
                        throw APIProblem.notFound("There is no center \(code).")
                    }
                    try await Bootstrap.reload(directory, database: database)
                    return try API.json(["code": code, "state": state])
                }
            }
        }

        router.get("/api/tokens") { request, _ in
            try await API.handle(request, database) { staff in
                let tokens = try await StaffRepository.federation(database) { c in
                    try await StaffRepository.tokens(c, staff: staff.id, logger: database.logger)
                }
                return try API.json(["tokens": tokens])
            }
        }

        router.post("/api/tokens") { request, _ in
            try await API.handle(request, database) { _ in
                var request = request
                struct Input: Decodable { let label: String?; let expiresInDays: Int? }
                let input = try await Self.decode(Input.self, &request, emptyAs: Input(label: nil, expiresInDays: nil))
                // Every token expires: 90 days unless the owner asks for another life within a year.
                let expires = try Self.tokenExpiry(days: input.expiresInDays)
                let label = try Self.name(input.label, "label") ?? "token"
                let caller = API.bearer(request) ?? ""
                guard let created = try await StaffRepository.federation(database, { c in
                    try await StaffRepository.issueOwnToken(c, caller: caller, label: label, expiresAt: expires, logger: database.logger)
                }) else { throw APIProblem.unauthorized() }
                return try API.json(NewToken(id: created.id, label: label, token: created.secret, expiresAt: expires), status: .created)
            }
        }

        router.delete("/api/tokens/:id") { request, context in
            try await API.handle(request, database) { staff in
                guard let id = context.parameters.get("id").flatMap({ Int64($0) }) else { throw APIProblem.notFound("No such token.") }
                let revoked = try await StaffRepository.federation(database) { c in
                    try await StaffRepository.revoke(c, staff: staff.id, token: id, logger: database.logger)
                }
                guard revoked else { throw APIProblem.notFound("You have no live token \(id).") }
                return Response(status: .noContent)
            }
        }
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore
import PostgresNIO

/// Who works at a center, and how they get in. Giving a role never hands out a token: the person is
/// invited by e-mail and exchanges the invitation for a token of their own. A manager manages the staff
/// of their own center only, and never an account that holds a role elsewhere or a federation role.
extension PortailRoutes {
    /// How long an invitation can be accepted.
    static let invitationValidity: TimeInterval = 7 * 24 * 3600

    struct StaffInput: Decodable {
        let email: String
        let name: String?
        let role: String
    }

    struct Invited: Encodable {
        let id: Int64
        let email: String
        let role: String
        let invited: Bool
        let invitationExpiresAt: Date
    }

    struct InvitationInput: Decodable {
        let code: String
        let label: String?
        let expiresInDays: Int?
    }

    /// Days a new token lives: the caller's choice within 1...365, else PORTAIL_TOKEN_DAYS, else 90.
    static func tokenExpiry(days: Int?) throws -> Date {
        if let days, !(1...StaffRepository.maxTokenDays).contains(days) {
            throw invalid("Invalid expiry", "expires_in_days must be between 1 and \(StaffRepository.maxTokenDays).")
        }
        let configured = ProcessInfo.processInfo.environment["PORTAIL_TOKEN_DAYS"].flatMap { Int($0) }
            .map { min(max($0, 1), StaffRepository.maxTokenDays) }
        return Date().addingTimeInterval(Double(days ?? configured ?? StaffRepository.defaultTokenDays) * 86400)
    }

    /// The staff member of the path, who must hold a role at this center and nowhere else (nor be a
    /// federation administrator) for a manager to act on them; a federation administrator may act on
    /// anyone with a role here.
    func manageableStaff(_ c: PostgresConnection, _ record: CenterRecord, _ caller: StaffIdentity,
                         _ context: AppRequestContext) async throws -> Int64 {
        let log = database.logger
        guard let id = context.parameters.get("staff").flatMap({ Int64($0) }),
              try await StaffRepository.role(c, center: record.id, staff: id, logger: log) != nil else {
            throw APIProblem.notFound("There is no staff member with that id at center \(record.center.code).")
        }
        if !caller.isFederationAdmin, let standing = try await StaffRepository.standing(c, center: record.id, staff: id, logger: log),
           standing.isFederationAdmin || standing.rolesElsewhere > 0 {
            throw APIProblem.forbidden("This person also works elsewhere in the federation: ask a federation administrator.")
        }
        return id
    }

    /// Gives `input.role` at the center to the person of `input.email` (creating their account), invites
    /// them by e-mail and audits the grant, in the caller's transaction.
    func grantRole(_ c: PostgresConnection, _ record: CenterRecord, _ input: StaffInput, name: String,
                   by caller: StaffIdentity) async throws -> Invited {
        let log = database.logger
        let actor = "staff:\(caller.email)"
        let standing = try await StaffRepository.standing(c, center: record.id, email: input.email, logger: log)
        // A manager learns nothing about accounts elsewhere: one answer for a federation administrator's
        // e-mail and for someone with a role at another center.
        if let standing, !caller.isFederationAdmin, standing.isFederationAdmin || standing.rolesElsewhere > 0 {
            throw APIProblem.forbidden("A center manager cannot give \(input.email) a role: ask a federation administrator.")
        }
        if let standing, standing.isFederationAdmin {
            throw APIProblem(status: .conflict, title: "Federation administrator",
                             detail: "\(input.email) is a federation administrator: that account is not given center roles.")
        }
        let id: Int64
        if let existing = standing?.id {
            id = existing
        } else {
            id = try await StaffRepository.createCenterAccount(c, email: input.email, name: name, logger: log)
        }
        let before = try await StaffRepository.role(c, center: record.id, staff: id, logger: log)
        try await StaffRepository.grant(c, center: record.id, staff: id, role: input.role, logger: log)
        guard let code = try await StaffRepository.invite(c, staff: id, by: actor, validFor: Self.invitationValidity, logger: log) else {
            throw APIProblem(status: .conflict, title: "Not invited", detail: "\(input.email) cannot be invited to this center.")
        }
        try await AuditLog.record(c, center: record.id, actor: actor, action: "staff.grant", subject: input.email,
                                  before: before.map { ["role": $0] }, after: ["role": input.role], logger: log)
        try await sendStaffInvitation(c, record: record, to: input.email, role: input.role, code: code)
        return Invited(id: id, email: input.email, role: input.role, invited: true,
                       invitationExpiresAt: Date().addingTimeInterval(Self.invitationValidity))
    }

    func addStaffAccountRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/centers/:code/staff") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                let members = try await database.withCenter(record.id) { c in
                    try await StaffRepository.members(c, center: record.id, logger: database.logger)
                }
                return try API.json(["staff": members])
            }
        }

        // Gives someone a role at the center and e-mails them an invitation; no token is returned.
        router.post("/api/centers/:code/staff") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                var request = request
                let input = try await Self.decode(StaffInput.self, &request)
                guard ["manager", "staff"].contains(input.role) else {
                    throw Self.invalid("Invalid role", "role must be manager or staff.")
                }
                try Self.checkEmail(input.email)
                let name = try Self.name(input.name, "name") ?? ""
                let invited = try await database.withCenter(record.id) { c in
                    try await grantRole(c, record, input, name: name, by: staff)
                }
                return try API.json(invited, status: .created)
            }
        }

        // Removes a staff member's role at this center: their tokens stop working here at once.
        router.delete("/api/centers/:code/staff/:staff") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                try await database.withCenter(record.id) { c in
                    let id = try await manageableStaff(c, record, staff, context)
                    guard id != staff.id else {
                        throw APIProblem(status: .conflict, title: "Your own role", detail: "Ask another manager to remove your role.")
                    }
                    let email = try await StaffRepository.email(c, staff: id, logger: database.logger) ?? "\(id)"
                    let removed = try await StaffRepository.removeRole(c, center: record.id, staff: id, logger: database.logger)
                    try await AuditLog.record(c, center: record.id, actor: "staff:\(staff.email)", action: "staff.revoke", subject: email,
                                              before: removed.map { ["role": $0] }, after: ["role": "none"], logger: database.logger)
                }
                return Response(status: .noContent)
            }
        }

        // A center's managers see and revoke the tokens of the staff they manage.
        router.get("/api/centers/:code/staff/:staff/tokens") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                let tokens = try await database.withCenter(record.id) { c in
                    let id = try await manageableStaff(c, record, staff, context)
                    return try await StaffRepository.tokens(c, staff: id, logger: database.logger)
                }
                return try API.json(["tokens": tokens])
            }
        }

        router.delete("/api/centers/:code/staff/:staff/tokens/:token") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                guard let token = context.parameters.get("token").flatMap({ Int64($0) }) else { throw APIProblem.notFound("No such token.") }
                try await database.withCenter(record.id) { c in
                    let id = try await manageableStaff(c, record, staff, context)
                    guard try await StaffRepository.revoke(c, staff: id, token: token, logger: database.logger) else {
                        throw APIProblem.notFound("That staff member has no live token \(token).")
                    }
                    try await AuditLog.record(c, center: record.id, actor: "staff:\(staff.email)", action: "token.revoke", subject: "\(id)",
                                              after: ["token": "\(token)"], logger: database.logger)
                }
                return Response(status: .noContent)
            }
        }

        // The invited person exchanges the e-mailed code for a token of their own (no token needed).
        router.post("/api/invitations/accept") { request, _ in
            try await API.handlePublic {
                var request = request
                let input = try await Self.decode(InvitationInput.self, &request)
                let label = try Self.name(input.label, "label") ?? "invitation"
                let expires = try Self.tokenExpiry(days: input.expiresInDays)
                guard let accepted = try await StaffRepository.federation(database, { c in
                    try await StaffRepository.acceptInvitation(c, code: input.code, label: label, expiresAt: expires, logger: database.logger)
                }) else {
                    throw APIProblem.notFound("This invitation is unknown, already used or expired: ask your center's manager for a new one.")
                }
                if let center = accepted.center {
                    try await database.withCenter(center) { c in
                        try await AuditLog.record(c, center: center, actor: "staff:\(accepted.identity.email)", action: "token.create",
                                                  subject: accepted.identity.email, after: ["token": "\(accepted.tokenID)"], logger: database.logger)
                    }
                }
                return try API.json(NewToken(id: accepted.tokenID, label: label, token: accepted.secret, expiresAt: expires), status: .created)
            }
        }
    }

    /// The invitation mail: the code and how to exchange it for a token.
    func sendStaffInvitation(_ c: PostgresConnection, record: CenterRecord, to email: String, role: String, code: String) async throws {
        // The API answers at the root of any of the portal's hosts, whatever the center's path prefix.
        let base = publicAddress.origin(of: record.center)
        let what = role == "manager" ? "responsable" : "membre de l'équipe"
        try await Outbox.enqueue(c, center: record.id, to: email, subject: "\(record.center.name) – invitation à l'espace du personnel", body: """
            Bonjour,

            Vous êtes invité(e) comme \(what) de \(record.center.name). Cette invitation est valable 7 jours.
            Choisissez votre mot de passe pour l'espace du personnel en ouvrant ce lien :

            \(base)/admin/invitation?code=\(code)

            Ou, pour un script, obtenez un jeton d'accès à l'API d'administration (affiché une seule fois) :

            curl -X POST \(base)/api/invitations/accept -H 'Content-Type: application/json' -d '{"code": "\(code)"}'

            Si vous n'attendiez pas cette invitation, ignorez ce message.

            \(record.center.coordinates.name)
            """, logger: database.logger)
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The staff of a center (its managers and federation administrators): who works there, an invitation
/// by e-mail, a role removed, an authenticator app reset for someone who lost it; and each person's own
/// API tokens for their scripts. The same rules as the admin API (`grantRole`, `manageableStaff`): a
/// manager never acts on someone who also works elsewhere or on a federation administrator.
extension PortailRoutes {
    struct AdminTeamModel {
        struct Member {
            let id: Int64
            let name: String
            let email: String
            let role: String
            let invited: Bool
            let isSelf: Bool
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let members: [Member]
        let notice: String?
        let error: String?
        let email: String
        let name: String
    }

    struct AdminTokensModel {
        struct Token {
            let id: Int64
            let label: String
            let created: String
            let expires: String
            let used: String
            let live: Bool
        }
        let page: AdminChrome
        let tokens: [Token]
        let hasTokens: Bool
        let secret: String?
        let error: String?
        let notice: String?
    }

    func addAdminTeamRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/centres/:code/equipe", use: admin { admin, context, request in
            let (session, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            let notice: String? = switch request.uri.queryParameters["etat"].map(String.init) {
            case "invite": "Invitation envoyée : la personne choisit son mot de passe depuis le lien reçu par e-mail (valable 7 jours)."
            case "retire": "Rôle retiré : la personne n'a plus accès à cet accueil."
            case "reinitialise": "Vérification en deux étapes réinitialisée : à sa prochaine connexion, la personne active une nouvelle application."
            default: nil
            }
            return try await teamPage(admin, session: session, record: record, notice: notice, context: context)
        })

        router.post("/admin/centres/:code/equipe", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            let name = Self.field(admin.form["nom"])
            guard let email = InputLimits.email(admin.form["email"] ?? "") else {
                return try await teamPage(admin, session: session, record: record, error: "Indiquez l'adresse e-mail de la personne, par exemple prenom.nom@example.org.",
                                          context: context, status: .unprocessableContent)
            }
            let newRole = admin.form["role"] == "manager" ? "manager" : "staff"
            let caller = StaffIdentity(id: session.staffID, email: session.email, isFederationAdmin: session.isFederationAdmin)
            do {
                _ = try await database.withCenter(record.id) { c in
                    try await grantRole(c, record, StaffInput(email: email, name: name, role: newRole), name: name, by: caller)
                }
            } catch let problem as APIProblem {
                let message = switch problem.status {
                case .forbidden: "\(email) travaille aussi dans un autre accueil de la fédération (ou l'administre) : demandez à l'administration de la fédération."
                case .conflict where problem.title == "Federation administrator": "\(email) est un compte de l'administration de la fédération : il ne reçoit pas de rôle dans un accueil."
                default: "\(email) ne peut pas être invité(e) dans cet accueil."
                }
                return try await teamPage(admin, session: session, record: record, error: message, context: context, status: .conflict)
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/equipe?etat=invite")
        })

        router.post("/admin/centres/:code/equipe/:staff/retirer", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            let caller = StaffIdentity(id: session.staffID, email: session.email, isFederationAdmin: session.isFederationAdmin)
            do {
                try await database.withCenter(record.id) { c in
                    let id = try await manageableStaff(c, record, caller, context)
                    guard id != caller.id else { throw APIProblem(status: .conflict, title: "", detail: "") }
                    let email = try await StaffRepository.email(c, staff: id, logger: context.logger) ?? "\(id)"
                    let removed = try await StaffRepository.removeRole(c, center: record.id, staff: id, logger: context.logger)
                    try await AuditLog.record(c, center: record.id, actor: "staff:\(session.email)", action: "staff.revoke", subject: email,
                                              before: removed.map { ["role": $0] }, after: ["role": "none"], logger: context.logger)
                }
            } catch let problem as APIProblem {
                return try await teamProblem(problem, admin, session: session, record: record, context: context)
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/equipe?etat=retire")
        })

        router.post("/admin/centres/:code/equipe/:staff/reinitialiser", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff", let token = admin.token else { return managersOnly }
            let caller = StaffIdentity(id: session.staffID, email: session.email, isFederationAdmin: session.isFederationAdmin)
            do {
                try await database.withCenter(record.id) { c in
                    let id = try await manageableStaff(c, record, caller, context)
                    guard try await StaffSignIn.resetSecondFactor(c, session: token, staff: id, logger: context.logger) else {
                        throw APIProblem(status: .conflict, title: "", detail: "")
                    }
                    let email = try await StaffRepository.email(c, staff: id, logger: context.logger) ?? "\(id)"
                    try await AuditLog.record(c, center: record.id, actor: "staff:\(session.email)", action: "staff.totp_reset", subject: email,
                                              after: ["second_factor": "reset"], logger: context.logger)
                }
            } catch let problem as APIProblem {
                return try await teamProblem(problem, admin, session: session, record: record, context: context)
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/equipe?etat=reinitialise")
        })

        router.get("/admin/jetons", use: admin { admin, context, _ in
            let (session, _) = try requireStaff(admin).get()
            return try await tokensPage(admin, session: session, context: context)
        })

        // A token for the person's own scripts, shown once.
        router.post("/admin/jetons", use: admin { admin, context, _ in
            let (session, token) = try requireStaff(admin).get()
            let label = Self.field(admin.form["libelle"])
            let daysText = Self.field(admin.form["jours"], limit: 10)
            let days = daysText.isEmpty ? StaffRepository.defaultTokenDays : Int(daysText) ?? 0
            guard !label.isEmpty, (1...StaffRepository.maxTokenDays).contains(days) else {
                return try await tokensPage(admin, session: session, error: "Donnez un nom au jeton (le script qui l'utilise) et une durée de 1 à \(StaffRepository.maxTokenDays) jours.",
                                            context: context, status: .unprocessableContent)
            }
            let created = try await StaffRepository.federation(database) { c in
                try await StaffSignIn.issueToken(c, session: token, label: label, expiresAt: Date().addingTimeInterval(Double(days) * 86400), logger: context.logger)
            }
            guard let created else { return Pages.redirect("/admin/connexion") }
            return try await tokensPage(admin, session: session, secret: created.secret, context: context, status: .created)
        })

        router.post("/admin/jetons/:id/revoquer", use: admin { admin, context, _ in
            let (session, _) = try requireStaff(admin).get()
            guard let id = context.parameters.get("id").flatMap(Int64.init),
                  try await StaffRepository.federation(database, { c in
                      try await StaffRepository.revoke(c, staff: session.staffID, token: id, logger: context.logger)
                  }) else {
                return try await tokensPage(admin, session: session, error: "Ce jeton n'est pas l'un des vôtres, ou il est déjà révoqué ou expiré.", context: context, status: .notFound)
            }
            return try await tokensPage(admin, session: session, notice: "Jeton révoqué : il ne sert plus à rien.", context: context)
        })
    }

    /// A refusal of the team's rules, in French, on the team's page.
    private func teamProblem(_ problem: APIProblem, _ admin: AdminRequest, session: StaffSession, record: CenterRecord,
                             context: AppRequestContext) async throws -> Response {
        let message: String = switch problem.status {
        case .notFound: "Cette personne ne travaille pas dans cet accueil."
        case .forbidden: "Cette personne travaille aussi ailleurs dans la fédération : demandez à l'administration de la fédération."
        default: "Pas pour vous-même : demandez à un autre responsable ou à la fédération."
        }
        return try await teamPage(admin, session: session, record: record, error: message, context: context,
                                  status: problem.status == .notFound ? .notFound : .conflict)
    }

    func teamPage(_ admin: AdminRequest, session: StaffSession, record: CenterRecord, notice: String? = nil, error: String? = nil,
                  context: AppRequestContext, status: HTTPResponse.Status = .ok) async throws -> Response {
        let (members, pending) = try await database.withCenter(record.id) { c in
            (try await StaffRepository.members(c, center: record.id, logger: context.logger),
             try await StaffRepository.pendingInvitations(c, center: record.id, logger: context.logger))
        }
        return adminPage("admin-team", AdminTeamModel(
            page: admin.chrome, code: record.center.code, centerName: record.center.name,
            members: members.map { .init(id: $0.id, name: $0.name, email: $0.email, role: Self.roleNames[$0.role] ?? $0.role,
                                         invited: pending.contains($0.id), isSelf: $0.id == session.staffID) },
            notice: notice, error: error, email: error == nil ? "" : admin.form["email"] ?? "", name: error == nil ? "" : admin.form["nom"] ?? ""
        ), admin, status: status)
    }

    func tokensPage(_ admin: AdminRequest, session: StaffSession, secret: String? = nil, notice: String? = nil, error: String? = nil,
                    context: AppRequestContext, status: HTTPResponse.Status = .ok) async throws -> Response {
        let tokens = try await StaffRepository.federation(database) { c in
            try await StaffRepository.tokens(c, staff: session.staffID, logger: context.logger)
        }
        let zone = TimeZone(identifier: "Europe/Paris")!
        let now = Date()
        return adminPage("admin-tokens", AdminTokensModel(
            page: admin.chrome,
            tokens: tokens.reversed().map { t in
                .init(id: t.id, label: t.label, created: LocalDate(t.createdAt, in: zone).french, expires: LocalDate(t.expiresAt, in: zone).french,
                      used: t.lastUsedAt.map { French.dateTime($0, in: zone) } ?? "jamais",
                      live: t.revokedAt == nil && t.expiresAt > now)
            },
            hasTokens: !tokens.isEmpty, secret: secret, error: error, notice: notice
        ), admin, status: status)
    }
}

import Foundation
import Hummingbird
import PortailConfig
import PortailDomain
import PortailStore

/// The federation's pages, for its administrators: every center with its state, last week's figures and
/// its file's errors; suspending and resuming one; onboarding or updating a center from its file, with
/// what it changes shown before it is applied. The same code as the admin API (`importCenterFile`,
/// `centerSummaries`, `CenterRepository.setState`).
extension PortailRoutes {
    struct AdminFederationModel {
        struct Line {
            let center: String
            let name: String
            let state: String
            let suspended: Bool
            let hosts: String
            let families: Int
            let bookings: Int
            let payments: Int
            let errors: [String]
            let hasErrors: Bool
        }
        let page: AdminChrome
        let centers: [Line]
        let hasCenters: Bool
        let notice: String?
    }

    struct AdminImportModel {
        let page: AdminChrome
        let text: String
        let errors: [String]
        let hasErrors: Bool
    }

    /// The largest center file the back office takes (the form's encoding at most triples it).
    static let centerFileLimit = 256 * 1024

    func addAdminFederationRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/federation", use: admin { admin, _, request in
            _ = try federationAdmin(admin)
            let parameters = request.uri.queryParameters
            let named = parameters["centre"].flatMap { directory.center(forCode: String($0)) }
            let notice: String? = switch parameters["etat"].map(String.init) {
            case "importe": named.map { "L'accueil « \($0.center.name) » est enregistré : son portail répond à \($0.center.hosts.joined(separator: ", "))." }
            case "suspendu": "L'accueil est suspendu : son portail et son espace du personnel ne répondent plus, rien n'est effacé."
            case "repris": "L'accueil est de nouveau ouvert."
            default: nil
            }
            let lines = try await centerSummaries().map { c in
                AdminFederationModel.Line(
                    center: c.code, name: c.name, state: French.centerStates[c.state] ?? c.state, suspended: c.state == "suspended",
                    hosts: c.hosts.joined(separator: ", "), families: c.families, bookings: c.bookingsThisWeek, payments: c.paymentsThisWeek,
                    errors: c.errors, hasErrors: !c.errors.isEmpty)
            }
            return adminPage("admin-federation", AdminFederationModel(page: admin.chrome, centers: lines, hasCenters: !lines.isEmpty, notice: notice), admin)
        })

        for (action, state, done) in [("suspendre", "suspended", "suspendu"), ("reprendre", "active", "repris")] {
            router.post(RouterPath("/admin/federation/centres/:code/\(action)"), use: admin { admin, context, _ in
                let session = try federationAdmin(admin)
                let code = context.parameters.get("code") ?? ""
                guard admin.form["confirme"] == "oui" else {
                    return adminProblem("Confirmation demandée", "Cochez la case de confirmation à côté du bouton, puis recommencez.", status: .unprocessableContent)
                }
                guard code.count <= 40, try await CenterRepository.setState(database, code: code, state: state, actor: "staff:\(session.email)") else {
                    return adminProblem("Accueil inconnu", "Il n'y a pas d'accueil de ce code dans la fédération.", status: .notFound)
                }
                try await Bootstrap.reload(directory, database: database)
                return Pages.redirect("/admin/federation?etat=\(done)")
            })
        }

        router.get("/admin/federation/importer", use: admin { admin, _, _ in
            _ = try federationAdmin(admin)
            return adminPage("admin-import", AdminImportModel(page: admin.chrome, text: "", errors: [], hasErrors: false), admin)
        })

        // The file is previewed (a dry run of the import), then applied from the preview's button.
        router.post("/admin/federation/importer", use: admin(bodyLimit: 3 * Self.centerFileLimit) { admin, _, _ in
            let session = try federationAdmin(admin)
            let text = admin.form["fichier"] ?? ""
            func again(_ errors: [String], status: HTTPResponse.Status = .unprocessableContent) -> Response {
                adminPage("admin-import", AdminImportModel(page: admin.chrome, text: text, errors: errors, hasErrors: true), admin, status: status)
            }
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                return again(["Collez le fichier de l'accueil (YAML) ou choisissez-le sur votre ordinateur."])
            }
            guard text.utf8.count <= Self.centerFileLimit else { return again(["Le fichier dépasse 256 Ko : est-ce bien le fichier d'un accueil ?"]) }
            let save = admin.form["etape"] == "enregistrer"
            let before = directory.snapshot
            switch try await importCenterFile(text, actor: "staff:\(session.email)", dryRun: !save) {
            case .invalid(let issues):
                return again(issues.map { "Ligne \($0.line), colonne \($0.column)\($0.path.isEmpty ? "" : " (\($0.path))") : \($0.message)" })
            case .hostServed(let other):
                return again(["Une adresse de ce fichier est déjà celle de l'accueil \(other) : chaque accueil a les siennes."], status: .conflict)
            case .accountUsed(let account, let other):
                return again(["Le compte bancaire de ce fichier (\(account)) est déjà celui de l'accueil \(other) : chaque accueil a le sien."], status: .conflict)
            case .refused(let refusal):
                return again(["L'import est refusé par ce qui est déjà enregistré : \(refusal)"], status: .conflict)
            case .done(let outcome, let center):
                if save { return Pages.redirect("/admin/federation?etat=importe&centre=\(center.code)") }
                let old = (before.centers + before.suspended).first { $0.center.code == center.code }?.center
                let changes = French.centerChanges(outcome.diff, from: old, to: center)
                var model = AdminPreviewModel(
                    page: admin.chrome, home: "/admin/federation", homeName: "Fédération",
                    title: old == nil ? "Nouvel accueil « \(center.name) »" : "Accueil « \(center.name) »",
                    action: "/admin/federation/importer", back: "/admin/federation/importer", changes: changes, hasChanges: !changes.isEmpty,
                    conflicts: [], hasConflicts: false, canForce: false, forced: [], hasForced: false, reason: "", error: nil,
                    carried: [.init(name: "fichier", value: text)])
                model.confirm = "Appliquer"
                return adminPage("admin-preview", model, admin)
            }
        })
    }

    /// The signed-in federation administrator; anyone else is refused.
    func federationAdmin(_ admin: AdminRequest) throws -> StaffSession {
        let (session, _) = try requireStaff(admin).get()
        guard session.isFederationAdmin else {
            throw AdminRefusal(response: adminProblem("Réservé à la fédération", "Cette page est réservée à l'administration de la fédération.", status: .forbidden))
        }
        return session
    }
}

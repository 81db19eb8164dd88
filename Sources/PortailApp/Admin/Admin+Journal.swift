import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// A center's audit log in the back office: who did what and when, with what it changed, filtered by
/// who did it and by kind of action (the same entries as the admin API's `…/audit`).
extension PortailRoutes {
    struct AdminJournalModel {
        struct Entry {
            let at: String
            let actor: String
            let action: String
            let subject: String
            let before: String?
            let after: String?
        }
        struct Choice {
            let value: String
            let selected: Bool
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let actor: String
        let actions: [Choice]
        let entries: [Entry]
        let hasEntries: Bool
        let limit: Int
    }

    static let journalSize = 200

    func addAdminJournalRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/centres/:code/journal", use: admin { admin, context, request in
            let (_, record, _) = try await staffCenter(admin, context: context)
            let parameters = request.uri.queryParameters
            let actor = parameters["acteur"].map { String($0.prefix(100)).trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
            let action = parameters["action"].map { String($0.prefix(60)) }.flatMap { $0.isEmpty ? nil : $0 }
            let (entries, actions) = try await database.withCenter(record.id) { c in
                (try await AuditLog.entries(c, center: record.id, actor: actor, action: action, limit: Self.journalSize, logger: context.logger),
                 try await AuditLog.actions(c, center: record.id, logger: context.logger))
            }
            let zone = record.center.zone
            func short(_ json: String?) -> String? { json.map { $0.count > 400 ? String($0.prefix(400)) + "…" : $0 } }
            return adminPage("admin-journal", AdminJournalModel(
                page: admin.chrome, code: record.center.code, centerName: record.center.name, actor: actor ?? "",
                actions: actions.map { .init(value: $0, selected: $0 == action) },
                entries: entries.map { .init(at: French.dateTime($0.at, in: zone), actor: $0.actor, action: $0.action, subject: $0.subject,
                                             before: short($0.before), after: short($0.after)) },
                hasEntries: !entries.isEmpty, limit: Self.journalSize
            ), admin)
        })
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The back office's "Accès au portail" on a family's page: give a person access (managers), designate the
/// billing contact (managers), remove a person's access (any staff). The same rules as the admin API
/// (`addFamilyMember`, `changeFamilyMember`).
extension PortailRoutes {
    func addAdminFamilyMemberRoutes(to router: Router<AppRequestContext>) {
        router.post("/admin/centres/:code/familles/:family/acces", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            let id = try familyParameter(context)
            guard role != "staff" else {
                return adminProblem("Réservé aux responsables", "Donner accès à une famille est réservé aux responsables de l'accueil.", status: .forbidden)
            }
            let email = (admin.form["email"] ?? "").trimmingCharacters(in: .whitespaces)
            guard InputLimits.email(email) == email, !email.isEmpty else {
                return try await familyPage(admin, record: record, role: role, family: id,
                                            fileError: "Indiquez une adresse e-mail valable, par exemple parent@example.org.", context: context, status: .unprocessableContent)
            }
            do {
                guard try await database.withCenter(record.id, { c -> Bool in
                    guard let family = try await AccountRepository.family(c, center: record.id, id: id, logger: context.logger) else { return false }
                    _ = try await addFamilyMember(c, record: record, family: family, email: email, billingContact: admin.form["payeur"] == "oui",
                                                  actor: "staff:\(session.email)")
                    return true
                }) else { return familyNotFound }
            } catch let refusal as MemberRefusal {
                return try await familyPage(admin, record: record, role: role, family: id, fileError: refusal.french, context: context, status: .conflict)
            }
            return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=acces")
        })

        for (path, state, managersOnly) in [("retirer", "acces-retire", false), ("payeur", "payeur", true)] {
            router.post(RouterPath("/admin/centres/:code/familles/:family/acces/\(path)"), use: admin { admin, context, _ in
                let (session, record, role) = try await staffCenter(admin, context: context)
                let id = try familyParameter(context)
                guard !managersOnly || role != "staff" else {
                    return adminProblem("Réservé aux responsables", "Désigner le payeur est réservé aux responsables de l'accueil.", status: .forbidden)
                }
                guard let person = admin.form["personne"].flatMap({ Int64($0) }) else { return familyNotFound }
                do {
                    guard try await database.withCenter(record.id, { c -> Bool in
                        guard try await AccountRepository.family(c, center: record.id, id: id, logger: context.logger) != nil else { return false }
                        try await changeFamilyMember(c, record: record, family: id, person: person, managersOnly ? .designateBillingContact : .remove,
                                                     actor: "staff:\(session.email)")
                        return true
                    }) else { return familyNotFound }
                } catch let refusal as MemberRefusal {
                    return try await familyPage(admin, record: record, role: role, family: id, fileError: refusal.french, context: context, status: .conflict)
                }
                return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(id)?etat=\(state)")
            })
        }
    }
}

import Foundation
import Hummingbird
import PortailDomain

extension PortailRoutes {
    /// GET / — the center's home page; POST /connexion — the login box (accounts come with the parent portal).
    func addHomeRoutes(to router: Router<AppRequestContext>) {
        router.get("/") { _, context in
            let record = try context.requireCenter
            let today = LocalDate(Date(), in: record.center.zone)
            return templates.page("home", HomeModel(record: record, base: context.basePath, today: today))
        }
        router.post("/connexion") { _, context in
            let record = try context.requireCenter
            let today = LocalDate(Date(), in: record.center.zone)
            let notice = "La connexion aux comptes famille n'est pas encore ouverte sur ce portail. Contactez l'accueil de loisirs pour réserver."
            return templates.page("home", HomeModel(record: record, base: context.basePath, today: today, notice: notice), status: .serviceUnavailable)
        }
    }
}

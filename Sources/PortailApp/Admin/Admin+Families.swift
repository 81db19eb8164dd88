import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// The back office's families: a search by name, e-mail or child, and a family's page (contact, children,
/// QF, reservations, balance), for every member of the center's staff.
extension PortailRoutes {
    struct AdminFamiliesModel {
        struct Found {
            let id: Int64
            let name: String
            let email: String
            let children: String
            let inactive: Bool
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let query: String
        let families: [Found]
        let searched: Bool
        let more: Bool
        let hasFamilies: Bool
    }

    struct AdminFamilyModel {
        struct Child {
            let name: String
            let born: String
            let age: Int
        }
        struct Quotient {
            let quotient: Int
            let valid: String
        }
        struct Reservation {
            let number: String
            let child: String
            let period: String
            let days: String
            let state: String
            let total: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let name: String
        let email: String
        let phone: String?
        let address: [String]
        let inactive: Bool
        let category: String?
        let children: [Child]
        let quotients: [Quotient]
        let reservations: [Reservation]
        let moreReservations: Bool
        let invoiced: String
        let paid: String
        let due: String
        let credit: String
        let hasCredit: Bool
        let hasChildren: Bool
        let hasQuotients: Bool
        let hasReservations: Bool
    }

    static let familyPageSize = 50

    func addAdminFamilyRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/centres/:code/familles", use: admin { admin, context, request in
            let (session, _) = try requireStaff(admin).get()
            guard let (record, _) = try await adminCenter(context.parameters.get("code") ?? "", session: session, context: context) else {
                return adminProblem("Accueil inconnu", "Il n'y a pas d'accueil de loisirs à cette adresse parmi les vôtres.", status: .notFound)
            }
            let query = String((request.uri.queryParameters["q"].map(String.init) ?? "").prefix(100))
            let found = try await database.withCenter(record.id) { c in
                try await FamilyAdministration.search(c, center: record.id, query: query, limit: Self.familyPageSize + 1, logger: context.logger)
            }
            return adminPage("admin-families", AdminFamiliesModel(
                page: admin.chrome, code: record.center.code, centerName: record.center.name, query: query,
                families: found.prefix(Self.familyPageSize).map {
                    .init(id: $0.id, name: $0.name, email: $0.email, children: $0.children.joined(separator: ", "), inactive: $0.state != "active")
                },
                searched: !query.isEmpty, more: found.count > Self.familyPageSize, hasFamilies: !found.isEmpty
            ), admin)
        })

        router.get("/admin/centres/:code/familles/:family", use: admin { admin, context, _ in
            let (session, _) = try requireStaff(admin).get()
            guard let (record, _) = try await adminCenter(context.parameters.get("code") ?? "", session: session, context: context) else {
                return adminProblem("Accueil inconnu", "Il n'y a pas d'accueil de loisirs à cette adresse parmi les vôtres.", status: .notFound)
            }
            let notFound = adminProblem("Famille inconnue", "Il n'y a pas de famille à cette adresse dans cet accueil.", status: .notFound)
            guard let id = context.parameters.get("family").flatMap(Int64.init), id > 0 else { return notFound }
            let loaded = try await database.withCenter(record.id) { c -> (FamilyDetail, LedgerTotals, [ReservationSummary], Int)? in
                guard let family = try await FamilyAdministration.detail(c, center: record.id, family: id, logger: context.logger) else { return nil }
                let totals = try await LedgerQueries.totals(c, center: record.id, family: id, logger: context.logger)
                let reservations = try await ReservationQueries.page(c, center: record.id, family: id, offset: 0, limit: 20, logger: context.logger)
                return (family, totals, reservations.rows, reservations.total)
            }
            guard let (family, totals, reservations, total) = loaded else { return notFound }
            let zone = record.center.zone
            let today = LocalDate(clock(), in: zone)
            let credit = Money(cents: max(0, totals.paid.cents - totals.allocated.cents))
            return adminPage("admin-family", AdminFamilyModel(
                page: admin.chrome, code: record.center.code, centerName: record.center.name, name: family.name, email: family.email,
                phone: family.phone.isEmpty ? nil : family.phone, address: family.addressLines + [[family.postcode, family.city].filter { !$0.isEmpty }.joined(separator: " ")].filter { !$0.isEmpty },
                inactive: family.state != "active", category: family.category,
                children: family.children.compactMap { child in
                    LocalDate(iso: child.birthDate).map { born in
                        .init(name: "\(child.firstName) \(child.lastName)", born: born.french, age: born.age(on: today))
                    }
                },
                quotients: family.quotients.map { q in
                    .init(quotient: q.quotient, valid: "du \(LocalDate(iso: q.validFrom)?.french ?? q.validFrom)"
                          + (q.validTo.map { " au \(LocalDate(iso: $0)?.french ?? $0)" } ?? ", sans fin"))
                },
                reservations: reservations.map { r in
                    .init(number: String(format: "%05d", r.number), child: r.childFirstName, period: r.periodLabel,
                          days: r.firstDay == r.lastDay ? r.firstDay.french : "du \(r.firstDay.french) au \(r.lastDay.french)",
                          state: French.state(r.state).words, total: r.total.description)
                },
                moreReservations: total > reservations.count,
                invoiced: totals.invoiced.description, paid: totals.paid.description, due: totals.due.description,
                credit: credit.description, hasCredit: credit.cents > 0,
                hasChildren: !family.children.isEmpty, hasQuotients: !family.quotients.isEmpty, hasReservations: !reservations.isEmpty
            ), admin)
        })
    }
}

import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PaymentKit
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// Who gets in where: every route of the router × every kind of visitor, against one table. A route
/// added without a row fails the test, so that nobody forgets to decide who may use it.
@Suite struct RouteMatrixTests {
    /// Who sends the request. Parents are browsers (cookies, the CSRF token of their session); staff
    /// and administrators send their API token (and no cookie) everywhere.
    enum Actor: String, CaseIterable, Sendable {
        case anonymous, parent, neighbour, parentElsewhere, staff, manager, staffElsewhere, managerElsewhere, federationAdmin
    }

    /// What an actor gets, by status class: the point is who gets in, not what the page says.
    enum Outcome: String, Sendable {
        case ok  // 2xx
        case redirect  // 303, not to the login box
        case login  // 303 to the center's login box
        case badRequest, unauthorized, forbidden, notFound, conflict, gone, invalid
        case csrf  // 403 "Page expirée": the form does not carry the session's token

        func matches(status: Int, location: String?, body: String) -> Bool {
            let isLogin = status == 303 && location?.hasSuffix("/?connexion=requise") == true
            let expired = body.contains("ce formulaire a expiré")
            switch self {
            case .ok: return (200..<300).contains(status)
            case .redirect: return status == 303 && !isLogin
            case .login: return isLogin
            case .badRequest: return status == 400
            case .unauthorized: return status == 401
            case .forbidden: return status == 403 && !expired
            case .csrf: return status == 403 && expired
            case .notFound: return status == 404
            case .conflict: return status == 409
            case .gone: return status == 410
            case .invalid: return status == 422
            }
        }
    }

    /// One row of the table: the outcome of each actor.
    struct Access: Sendable {
        var outcomes: [Actor: Outcome]

        static func everyone(_ outcome: Outcome) -> Access {
            Access(outcomes: Dictionary(uniqueKeysWithValues: Actor.allCases.map { ($0, outcome) }))
        }

        /// A form of petit's pages anyone may post (the login box): past the CSRF check for petit's
        /// browsers; refused for a session of another center and for requests with no cookie.
        static func form(_ outcome: Outcome) -> Access {
            everyone(.csrf).with([.anonymous: outcome, .parent: outcome, .neighbour: outcome])
        }

        /// A page of the family account: its own family (parent), another family of the center
        /// (neighbour); everyone else is sent to the login box.
        static func familyPage(parent: Outcome, neighbour: Outcome) -> Access {
            everyone(.login).with([.parent: parent, .neighbour: neighbour])
        }

        /// A form of the family account: an anonymous visitor passes the CSRF check and goes to the
        /// login box; without petit's cookies the form is refused.
        static func familyForm(parent: Outcome, neighbour: Outcome) -> Access {
            form(.login).with([.parent: parent, .neighbour: neighbour])
        }

        /// The staff API of petit: another center's staff get 404 as if petit did not exist; no token is 401.
        static func staffAPI(staff: Outcome, manager: Outcome, admin: Outcome? = nil) -> Access {
            everyone(.unauthorized).with([.staff: staff, .manager: manager, .federationAdmin: admin ?? manager,
                                          .staffElsewhere: .notFound, .managerElsewhere: .notFound])
        }

        /// Read and booked by every staff member of the center.
        static func centerStaff(_ outcome: Outcome) -> Access { staffAPI(staff: outcome, manager: outcome) }

        /// Managers of the center (and federation administrators) only.
        static func managers(_ outcome: Outcome) -> Access { staffAPI(staff: .forbidden, manager: outcome) }

        /// Federation-wide operations: any token that is not a federation administrator's is 403.
        static func federation(_ outcome: Outcome) -> Access {
            everyone(.forbidden).with([.anonymous: .unauthorized, .parent: .unauthorized, .neighbour: .unauthorized,
                                       .parentElsewhere: .unauthorized, .federationAdmin: outcome])
        }

        /// Any valid token, acting on its own account.
        static func anyToken(_ outcome: Outcome) -> Access { federation(outcome).with(tokens: outcome) }

        func with(_ changes: [Actor: Outcome]) -> Access {
            Access(outcomes: outcomes.merging(changes) { $1 })
        }

        func with(tokens outcome: Outcome) -> Access {
            with([.staff: outcome, .manager: outcome, .staffElsewhere: outcome, .managerElsewhere: outcome,
                  .federationAdmin: outcome])
        }
    }

    /// THE table: every route of the router, with development pages on. Parent pages are asked at
    /// petit (/petit/...), with petit's ids; /api, /healthz and /static at the root.
    static let table: [String: Access] = [
        "GET /healthz": .everyone(.ok),
        "GET /static/portail.css": .everyone(.ok),
        "GET /static/portail.js": .everyone(.ok),

        // Pages anyone may see, forms anyone may post.
        "GET /": .everyone(.ok),
        "POST /connexion": .form(.badRequest),  // no identifiant: "Saisissez votre identifiant"
        "POST /deconnexion": .form(.redirect),
        "GET /mot-de-passe-oublie": .everyone(.ok),
        "POST /mot-de-passe-oublie": .form(.ok),
        "GET /reinitialisation": .everyone(.gone),  // no token
        "POST /reinitialisation": .form(.gone),
        "GET /activation": .everyone(.gone),
        "POST /activation": .form(.gone),

        // The family account: reservation 00001, invoice PET00001 and payment PET-P00001 are the parent's.
        "GET /compte": .familyPage(parent: .ok, neighbour: .ok),
        "GET /reservations/nouvelle": .familyPage(parent: .ok, neighbour: .ok),
        "POST /reservations/recapitulatif": .familyForm(parent: .ok, neighbour: .notFound),  // the parent's child
        "POST /reservations/confirmer": .familyForm(parent: .badRequest, neighbour: .notFound),  // no day ticked
        "GET /reservations/{numero}": .familyPage(parent: .ok, neighbour: .notFound),
        "POST /reservations/liste-attente": .familyForm(parent: .conflict, neighbour: .notFound),  // places left: book instead
        "POST /liste-attente/retirer": .familyForm(parent: .notFound, neighbour: .notFound),  // no such entry
        "GET /reservations/{numero}/annuler": .familyPage(parent: .ok, neighbour: .notFound),  // asks first
        "POST /reservations/{numero}/annuler": .familyForm(parent: .redirect, neighbour: .notFound),
        "GET /panier": .familyPage(parent: .ok, neighbour: .ok),
        "GET /salle-attente/etat": .familyPage(parent: .ok, neighbour: .ok),  // no room at petit: "admitted"
        "POST /panier/retirer": .familyForm(parent: .ok, neighbour: .ok),  // "n'est plus dans votre panier"
        "POST /panier/paiement": .familyForm(parent: .ok, neighbour: .ok),  // empty carts: nothing to pay
        "GET /paiement/retour": .familyPage(parent: .ok, neighbour: .notFound),  // the parent's attempt
        "GET /factures": .familyPage(parent: .ok, neighbour: .ok),
        "GET /factures/{numero}": .familyPage(parent: .ok, neighbour: .notFound),
        "POST /factures/{numero}/paiement": .familyForm(parent: .ok, neighbour: .notFound),  // paid already: "rien à payer"
        "GET /paiements/{numero}": .familyPage(parent: .ok, neighbour: .notFound),
        "GET /attestations/{annee}": .familyPage(parent: .ok, neighbour: .ok),  // each family's own certificate
        "GET /agenda": .familyPage(parent: .ok, neighbour: .ok),
        "POST /agenda": .familyForm(parent: .ok, neighbour: .ok),  // a new link for each family (201)
        "POST /agenda/retirer": .familyForm(parent: .notFound, neighbour: .notFound),  // no such link
        // The family file: a family's own file; another family's child or document is the same 404 as none.
        "GET /dossier": .familyPage(parent: .ok, neighbour: .ok),
        "POST /dossier/coordonnees": .familyForm(parent: .invalid, neighbour: .invalid),  // empty: "Indiquez votre adresse"
        "POST /dossier/personnes": .familyForm(parent: .invalid, neighbour: .invalid),
        "POST /dossier/personnes/retirer": .familyForm(parent: .notFound, neighbour: .notFound),  // no such person
        "GET /dossier/enfants/{enfant}": .familyPage(parent: .ok, neighbour: .notFound),  // the parent's child
        "POST /dossier/enfants/{enfant}": .familyForm(parent: .invalid, neighbour: .notFound),  // empty: "Dites si les vaccinations…"
        "POST /dossier/documents": .familyForm(parent: .invalid, neighbour: .invalid),  // no file: "Choisissez un fichier"
        "GET /dossier/documents/{document}": .familyPage(parent: .notFound, neighbour: .notFound),  // no such document
        "POST /dossier/documents/retirer": .familyForm(parent: .notFound, neighbour: .notFound),
        "POST /dossier/confirmer": .familyForm(parent: .redirect, neighbour: .redirect),
        // Self sign-up: petit does not allow it (SignUpTests turns it on), so its pages are 404 to all.
        "GET /inscription": .everyone(.notFound),
        "POST /inscription": .form(.notFound),
        "POST /dossier/enfants": .familyForm(parent: .notFound, neighbour: .notFound),
        // One login per parent: the person's families (parent@ has one at autre too); a family of another
        // center is never chosen here, and a handoff is issued only for the person's own family there.
        "GET /familles": .familyPage(parent: .ok, neighbour: .ok),
        "POST /familles/choisir": .familyForm(parent: .notFound, neighbour: .notFound),  // autre's family id
        "POST /familles/relais": .familyForm(parent: .redirect, neighbour: .notFound),  // to autre's portal
        "POST /familles/factures": .familyForm(parent: .ok, neighbour: .ok),  // each is their family's billing contact
        "GET /connexion/relais": .everyone(.gone),  // no token
        "POST /connexion/relais": .form(.gone),
        // The subscribed calendar: its secret address is its only key (CalendarFeedTests reads a real one).
        "GET /calendrier/{fichier}": .everyone(.notFound),

        // The bank's server (no session, no CSRF): an unsigned body is refused whoever sends it.
        "POST /paiement/notification": .everyone(.badRequest),
        // PayFiP may call with the idOp in the query string: the same check.
        "GET /paiement/notification": .everyone(.badRequest),
        // Development pages (withPortal turns them on): the outbox is open; the simulated bank is not
        // this center's bank.
        "GET /dev/courriels": .everyone(.ok),
        "POST /simulateur/paiement": .everyone(.notFound),
        "POST /simulateur/choix": .everyone(.notFound),

        // The back office's pages: their own cookie session (no API token, no family cookie opens them), so
        // every actor here is a stranger to them: sent to sign in, or refused by the form's token.
        // BackOfficeSignInTests signs in for real.
        "GET /admin": .everyone(.redirect),  // /admin/ too
        "GET /admin/connexion": .everyone(.ok),
        "POST /admin/connexion": .everyone(.csrf),
        "GET /admin/verification": .everyone(.redirect),
        "POST /admin/verification": .everyone(.csrf),
        "POST /admin/deconnexion": .everyone(.csrf),
        "GET /admin/invitation": .everyone(.notFound),  // no code
        "POST /admin/invitation": .everyone(.csrf),
        "GET /admin/centres/{code}": .everyone(.redirect),
        "GET /admin/centres/{code}/familles": .everyone(.redirect),
        "GET /admin/centres/{code}/familles/{family}": .everyone(.redirect),
        "POST /admin/centres/{code}/familles/{family}/reglements": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/acces": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/acces/retirer": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/acces/payeur": .everyone(.csrf),
        "GET /admin/centres/{code}/registre": .everyone(.redirect),
        "GET /admin/centres/{code}/registre.csv": .everyone(.redirect),
        "GET /admin/centres/{code}/periodes": .everyone(.redirect),
        "GET /admin/centres/{code}/periodes/{period}": .everyone(.redirect),
        "GET /admin/centres/{code}/periodes/{period}/modifier": .everyone(.redirect),
        "GET /admin/centres/{code}/nouvelle-periode": .everyone(.redirect),
        "POST /admin/centres/{code}/nouvelle-periode": .everyone(.csrf),
        "POST /admin/centres/{code}/periodes/{period}/modifier": .everyone(.csrf),
        "POST /admin/centres/{code}/periodes/{period}/places": .everyone(.csrf),
        "POST /admin/centres/{code}/periodes/{period}/fermer": .everyone(.csrf),
        "POST /admin/centres/{code}/periodes/{period}/rouvrir": .everyone(.csrf),
        "GET /admin/centres/{code}/journal": .everyone(.redirect),
        "GET /admin/centres/{code}/dossiers": .everyone(.redirect),
        "POST /admin/centres/{code}/dossiers/{change}": .everyone(.csrf),
        "GET /admin/centres/{code}/familles/{family}/dossier": .everyone(.redirect),
        "GET /admin/centres/{code}/familles/{family}/documents/{document}": .everyone(.redirect),
        "GET /admin/centres/{code}/familles/{family}/reservations/{number}": .everyone(.redirect),
        "GET /admin/centres/{code}/familles/{family}/reserver": .everyone(.redirect),
        "GET /admin/centres/{code}/nouvelle-famille": .everyone(.redirect),
        "GET /admin/centres/{code}/equipe": .everyone(.redirect),
        "POST /admin/centres/{code}/equipe": .everyone(.csrf),
        "POST /admin/centres/{code}/equipe/{staff}/retirer": .everyone(.csrf),
        "POST /admin/centres/{code}/equipe/{staff}/reinitialiser": .everyone(.csrf),
        "GET /admin/jetons": .everyone(.redirect),
        "POST /admin/jetons": .everyone(.csrf),
        "POST /admin/jetons/{id}/revoquer": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/avoir": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/remboursements": .everyone(.csrf),
        "GET /admin/centres/{code}/paiements": .everyone(.redirect),
        "POST /admin/centres/{code}/paiements/{reference}/resoudre": .everyone(.csrf),
        "GET /admin/centres/{code}/exports": .everyone(.redirect),
        "GET /admin/centres/{code}/exports/factures-paiements.csv": .everyone(.redirect),
        "GET /admin/centres/{code}/exports/soldes.csv": .everyone(.redirect),
        "POST /admin/centres/{code}/nouvelle-famille": .everyone(.csrf),
        "GET /admin/centres/{code}/familles/{family}/modifier": .everyone(.redirect),
        "POST /admin/centres/{code}/familles/{family}/modifier": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/enfants": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/quotients": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/invitation": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/enfants/{child}": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/desactiver": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/reactiver": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/adresse-residence": .everyone(.csrf),
        "GET /admin/centres/{code}/familles/{family}/donnees.json": .everyone(.redirect),
        "POST /admin/centres/{code}/familles/{family}/effacer": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/reserver": .everyone(.csrf),
        "POST /admin/centres/{code}/familles/{family}/reservations/{number}/annulation": .everyone(.csrf),
        "GET /admin/centres/{code}/tarifs": .everyone(.redirect),
        "GET /admin/centres/{code}/tarifs/{tariff}": .everyone(.redirect),
        "GET /admin/centres/{code}/tarifs/{tariff}/modifier": .everyone(.redirect),
        "GET /admin/centres/{code}/nouveau-tarif": .everyone(.redirect),
        "POST /admin/centres/{code}/nouveau-tarif": .everyone(.csrf),
        "POST /admin/centres/{code}/tarifs/{tariff}/modifier": .everyone(.csrf),
        "GET /admin/federation": .everyone(.redirect),
        "GET /admin/federation/importer": .everyone(.redirect),
        "POST /admin/federation/importer": .everyone(.csrf),
        "POST /admin/federation/centres/{code}/suspendre": .everyone(.csrf),
        "POST /admin/federation/centres/{code}/reprendre": .everyone(.csrf),

        // Federation administration.
        "GET /api/centers": .federation(.ok),
        "POST /api/centers": .federation(.invalid),  // ?dry_run=true, a file with no center in it
        "POST /api/centers/{code}/suspend": .federation(.ok),  // resumed at once
        "POST /api/centers/{code}/resume": .federation(.ok),
        "GET /api/tokens": .anyToken(.ok),
        "POST /api/tokens": .anyToken(.ok),
        "DELETE /api/tokens/{id}": .anyToken(.notFound).with([.federationAdmin: .ok]),  // the administrator's spare token
        "POST /api/invitations/accept": .everyone(.invalid),  // no token needed; an empty body is no code

        // Staff accounts: managers only. {staff} is a staff member of petit only.
        "GET /api/centers/{code}/staff": .managers(.ok),
        "POST /api/centers/{code}/staff": .managers(.invalid),
        "DELETE /api/centers/{code}/staff/{staff}": .managers(.ok),  // given back at once
        "GET /api/centers/{code}/staff/{staff}/tokens": .managers(.ok),
        "DELETE /api/centers/{code}/staff/{staff}/tokens/{token}": .managers(.ok),

        // Periods and tariffs: read by all staff, edited by managers (?dry_run=true: nothing written).
        // Once the caller's rights are checked, an empty body is 422 and an edit's dry run 200: both
        // mean "let in".
        "GET /api/centers/{code}/periods": .centerStaff(.ok),
        "GET /api/centers/{code}/periods/{period}": .centerStaff(.ok),
        "POST /api/centers/{code}/periods": .managers(.invalid),
        "PUT /api/centers/{code}/periods/{period}": .managers(.invalid),
        "PATCH /api/centers/{code}/periods/{period}": .managers(.ok),
        "POST /api/centers/{code}/periods/{period}/close": .managers(.ok),
        "POST /api/centers/{code}/periods/{period}/reopen": .managers(.ok),
        "GET /api/centers/{code}/tariffs": .centerStaff(.ok),
        "POST /api/centers/{code}/tariffs": .managers(.invalid),
        "PUT /api/centers/{code}/tariffs/{tariff}": .managers(.invalid),
        "GET /api/centers/{code}/configuration": .managers(.ok),

        // Families: all staff of the center.
        "GET /api/centers/{code}/families": .centerStaff(.ok),
        "POST /api/centers/{code}/families": .centerStaff(.invalid),
        "GET /api/centers/{code}/families/{family}": .centerStaff(.ok),
        "PATCH /api/centers/{code}/families/{family}": .centerStaff(.ok),
        "POST /api/centers/{code}/families/{family}/children": .centerStaff(.invalid),
        "PATCH /api/centers/{code}/families/{family}/children/{child}": .centerStaff(.ok),
        "POST /api/centers/{code}/families/{family}/quotients": .centerStaff(.invalid),
        "POST /api/centers/{code}/families/{family}/deactivate": .centerStaff(.ok),
        "POST /api/centers/{code}/families/{family}/reactivate": .centerStaff(.ok),
        "POST /api/centers/{code}/families/{family}/invitation": .centerStaff(.ok),
        // RGPD: a copy for every staff member; erasure for managers, refused here (the family has invoices).
        "GET /api/centers/{code}/families/{family}/export": .centerStaff(.ok),
        "POST /api/centers/{code}/families/{family}/erase": .managers(.conflict),

        // Reservations and money: staff read and book; cancelling, invoicing and money are for managers.
        "GET /api/centers/{code}/reservations": .centerStaff(.ok),
        "GET /api/centers/{code}/waiting-list": .centerStaff(.ok),
        // The family file: every staff member of the center reads it and decides the queue.
        "GET /api/centers/{code}/family-file/changes": .centerStaff(.ok),
        "POST /api/centers/{code}/family-file/changes/{change}": .centerStaff(.invalid),  // {}: no decision
        "GET /api/centers/{code}/families/{family}/file": .centerStaff(.ok),
        // Who logs in to a family: every staff member reads and removes, managers give access and designate who pays.
        "GET /api/centers/{code}/families/{family}/members": .centerStaff(.ok),
        "POST /api/centers/{code}/families/{family}/members": .managers(.invalid),  // {}: no e-mail
        "DELETE /api/centers/{code}/families/{family}/members/{person}": .centerStaff(.notFound),  // no such member
        "PUT /api/centers/{code}/families/{family}/members/{person}/billing-contact": .managers(.notFound),
        "GET /api/centers/{code}/families/{family}/documents/{document}": .centerStaff(.notFound),  // no such document
        "POST /api/centers/{code}/reservations": .centerStaff(.invalid),
        "POST /api/centers/{code}/reservations/{number}/cancel": .managers(.ok),
        "GET /api/centers/{code}/attendance": .centerStaff(.ok),
        "POST /api/centers/{code}/invoices": .managers(.ok),
        "POST /api/centers/{code}/payments": .managers(.invalid),
        "POST /api/centers/{code}/refunds": .managers(.invalid),
        "GET /api/centers/{code}/payment-attempts": .centerStaff(.ok),
        "POST /api/centers/{code}/payment-attempts/{reference}/resolve": .managers(.invalid),
        "GET /api/centers/{code}/audit": .centerStaff(.ok),
        "GET /api/centers/{code}/exports/attendance.csv": .centerStaff(.ok),
        "GET /api/centers/{code}/exports/ledger.csv": .centerStaff(.ok),
        "GET /api/centers/{code}/exports/balances.csv": .centerStaff(.ok),
    ]

    /// Operations where the body decides the role needed: a row per guarded body, beside the table's.
    static let bodies: [(route: String, json: String, access: Access)] = [
        // The e-mail is the family's login: changing it is for managers.
        ("PATCH /api/centers/{code}/families/{family}", #"{"email": "cible-bis@example.org"}"#, .managers(.ok)),
    ]

    @Test func everyRouteAnswersEachActorAsTheTableSays() async throws {
        try await withPortal { client, fixture in
            let routes = try await RouteCatalog.routes(fixture.database)
            let missing = routes.filter { Self.table[$0] == nil }
            let stale = Self.table.keys.filter { !routes.contains($0) }.sorted()
            #expect(missing.isEmpty, "routes with no row in RouteMatrixTests.table (decide who may use them): \(missing)")
            #expect(stale.isEmpty, "rows of RouteMatrixTests.table for routes the router no longer has: \(stale)")
            #expect(routes.count > 60)

            #expect(Self.bodies.filter { !routes.contains($0.route) }.isEmpty, "RouteMatrixTests.bodies names a route that is gone")

            let world = try await RouteWorld.build(client, fixture)
            var failures: [String] = []
            var sent = 0
            let rows = routes.compactMap { route in Self.table[route].map { (route, nil as String?, $0) } }
                + Self.bodies.map { ($0.route, $0.json as String?, $0.access) }
            for (route, json, access) in rows {
                for actor in Actor.allCases {
                    let expected = try #require(access.outcomes[actor])
                    let answer = try await Self.send(route, as: actor, world, json: json)
                    sent += 1
                    if !expected.matches(status: answer.status, location: answer.location, body: answer.body) {
                        failures.append("\(route)\(json.map { " " + $0 } ?? "") as \(actor.rawValue) [\(answer.uri)]: "
                                        + "expected \(expected.rawValue), got \(answer.status)"
                                        + "\(answer.location.map { " → \($0)" } ?? "") \(answer.excerpt)")
                    }
                    try await Self.restore(route, actor: actor, status: answer.status, world)
                }
            }
            #expect(failures.isEmpty,
                    "\(failures.count) of \(sent) answers differ from the table:\n\(failures.joined(separator: "\n"))")
        }
    }

    /// Each route replayed with the other center's numbers, ids and host: the same 404 as a number
    /// nobody has, and never the other center's family in a page.
    @Test func anotherCentersNumbersIdsAndHostsShowNothing() async throws {
        try await withPortal { client, fixture in
            let world = try await RouteWorld.build(client, fixture)
            let owned = Set(["00001"] + world.parentCancellable + world.staffCancellable)
            #expect(!world.autreReservations.isEmpty && owned.isDisjoint(with: world.autreReservations),
                    "autre's parent needs numbers petit's parent has not: \(world.autreReservations)")
            var failures = try await Self.replayNumbers(world)
            failures += try await Self.replayIDs(world)
            failures += try await Self.replayHosts(world)
            #expect(failures.isEmpty,
                    "\(failures.count) requests reached another center's data:\n\(failures.joined(separator: "\n"))")
        }
    }

    /// Petit's parent, logged in at petit, asks for autre's numbers; autre's parent for petit's.
    static func replayNumbers(_ world: RouteWorld) async throws -> [String] {
        var failures: [String] = []
        func check(_ what: @autoclosure () -> String, _ ok: Bool) { if !ok { failures.append(what()) } }
        let parent = world.parent
        let unknown = try await parent.get("/petit/reservations/99999")
        #expect(unknown.status == .notFound)
        let documents = ["/factures/AUT00001", "/factures/AUT00001.pdf", "/paiements/AUT-P00001", "/paiements/AUT-P00001.pdf",
                         "/paiement/retour?ref=\(world.attempts["autre"]!)"]
        for path in world.autreReservations.map({ "/reservations/\($0)" }) + documents {
            let page = try await parent.get("/petit" + path)
            check("/petit\(path) as petit's parent: \(page.status)", page.status == .notFound && page.body == unknown.body)
        }
        for number in world.autreReservations {
            let cancel = try await parent.post("/petit/reservations/\(number)/annuler", [("confirmer", "oui")])
            check("cancel \(number) at petit: \(cancel.status)", cancel.status == .notFound && cancel.body == unknown.body)
            let removal = try await parent.post("/petit/panier/retirer", [("numero", number)])
            check("remove \(number) from petit's cart: \(removal.status)",
                  removal.status == .ok && removal.text.contains("n'est plus dans votre panier"))
            let cart = try await parent.get("/petit/panier?ajout=\(number)")
            check("petit's cart naming \(number): \(cart.status)", cart.status == .ok && !cart.body.contains(number))
        }
        // Autre's child in petit's booking wizard: petit's own child or 404, never autre's.
        let child = String(world.children["parent@autre"]!), day = world.period.startsOn.adding(days: 12).iso
        let wizard = try await parent.get("/petit/reservations/nouvelle?enfant=\(child)&periode=vacances")
        check("petit's wizard with autre's child: \(wizard.status)",
              wizard.status == .ok && !wizard.text.contains("ÉLIOT-AUTRE"))
        for step in ["recapitulatif", "confirmer"] {
            let posted = try await parent.post("/petit/reservations/\(step)", [("enfant", child), ("periode", "vacances"),
                                                                              ("jour", "\(day):journee")])
            check("petit's \(step) with autre's child: \(posted.status)",
                  posted.status == .notFound && posted.body == unknown.body)
        }
        for query in ["avoir=AUT00001", "annulation=AUT00001"] {
            let ledger = try await parent.get("/petit/factures?\(query)")
            check("petit's ledger ?\(query): \(ledger.status)", ledger.status == .ok && !ledger.body.contains("AUT00001"))
        }
        // The other way round, with autre's neighbour's 00001 too.
        let petitDocuments = ["/factures/PET00001", "/paiements/PET-P00001", "/paiement/retour?ref=\(world.attempts["petit"]!)",
                              "/reservations/00001"]
        for path in petitDocuments {
            let page = try await world.parentElsewhere.get("/autre" + path)
            check("/autre\(path) as autre's parent: \(page.status)", page.status == .notFound && page.body == unknown.body)
        }
        return failures
    }

    /// Petit's manager with autre's families, children, reservations, invoices, attempts, staff and tokens.
    static func replayIDs(_ world: RouteWorld) async throws -> [String] {
        var failures: [String] = []
        let fixture = world.fixture, client = world.client
        let manager = world.tokens["manager@petit"]!
        let family = world.families["parent@autre"]!, child = world.children["parent@autre"]!
        let petitFamily = world.families["parent@petit"]!
        let (staff, token) = try await fixture.database.owner.withConnection { c in
            let staff = try await c.first("SELECT id FROM staff_users WHERE email = 'manager@autre.example.org'", (Int64.self),
                                          logger: fixture.database.logger)!
            let token = try await c.first("SELECT id FROM api_tokens WHERE staff_id = \(staff) LIMIT 1", (Int64.self),
                                          logger: fixture.database.logger)!
            return (staff, token)
        }
        let base = "/api/centers/petit"
        let days = #"[{"day": "\#(world.period.startsOn.adding(days: 15).iso)", "units": ["journee"]}]"#
        let foreign: [(HTTPRequest.Method, String, String)] = [
            (.get, "\(base)/families/\(family)", "{}"),
            (.patch, "\(base)/families/\(family)", #"{"name": "VOLÉE"}"#),
            (.post, "\(base)/families/\(family)/children",
             #"{"first_name": "A", "last_name": "B", "birth_date": "2019-01-01"}"#),
            (.patch, "\(base)/families/\(family)/children/\(child)", #"{"first_name": "A"}"#),
            (.patch, "\(base)/families/\(petitFamily)/children/\(child)", #"{"first_name": "A"}"#),
            (.post, "\(base)/families/\(family)/quotients", #"{"quotient": 500, "valid_from": "2026-01-01"}"#),
            (.post, "\(base)/families/\(family)/deactivate", "{}"),
            (.post, "\(base)/families/\(family)/reactivate", "{}"),
            (.post, "\(base)/families/\(family)/invitation", "{}"),
            (.post, "\(base)/reservations",
             #"{"family_id": \#(family), "child_id": \#(child), "period": "vacances", "days": \#(days)}"#),
            (.post, "\(base)/reservations",
             #"{"family_id": \#(petitFamily), "child_id": \#(child), "period": "vacances", "days": \#(days)}"#),
            (.post, "\(base)/payments", #"{"family_id": \#(family), "method": "cheque", "amount_cents": 100}"#),
            (.post, "\(base)/payments", #"{"family_id": \#(petitFamily), "method": "cheque", "amount_cents": 100, "#
                + #""allocations": [{"invoice": "AUT00001", "amount_cents": 100}]}"#),
            (.post, "\(base)/refunds", #"{"family_id": \#(family), "method": "virement", "amount_cents": 100}"#),
            (.post, "\(base)/invoices", #"{"family_id": \#(family)}"#),
            (.post, "\(base)/payment-attempts/\(world.attempts["autre"]!)/resolve", #"{"resolution": "rien"}"#),
            (.get, "\(base)/staff/\(staff)/tokens", "{}"),
            (.delete, "\(base)/staff/\(staff)", "{}"),
            (.delete, "\(base)/staff/\(world.victimStaff)/tokens/\(token)", "{}"),
            (.delete, "/api/tokens/\(token)", "{}"),
        ] + world.autreReservations.map { (.post, "\(base)/reservations/\($0)/cancel", "{}") }
        let payments = { try await count(fixture, "SELECT count(*)::int FROM payments") }
        let before = try await payments()
        for (method, uri, json) in foreign {
            let answer = try await apiJSON(client, method, uri, token: manager, json: json,
                                           headers: [HTTPField.Name("Idempotency-Key")!: UUID().uuidString])
            if answer.status != .notFound {
                failures.append("\(method) \(uri) as petit's manager: \(answer.status) \(answer.json)")
            }
        }
        for filter in ["family_id=\(family)", "child_id=\(child)"] {
            let list = try await apiJSON(client, .get, "\(base)/reservations?\(filter)", token: manager)
            if list.status != .ok || list.json["total"] as? Int != 0 {
                failures.append("petit's reservations ?\(filter): \(list.status) \(list.json)")
            }
        }
        #expect(try await payments() == before)
        let untouched = try await apiJSON(client, .get, "/api/centers/autre/families/\(family)", token: world.admin)
        #expect(untouched.json["name"] as? String == "FAMILLE AUTRE-JULES" && untouched.json["state"] as? String == "active")
        return failures
    }

    /// TenantResponder believes the Host first: another center's path prefix is then an unknown path
    /// there, and a session is one center's only. X-Forwarded-Host is never believed.
    static func replayHosts(_ world: RouteWorld) async throws -> [String] {
        var failures: [String] = []
        func check(_ what: @autoclosure () -> String, _ ok: Bool) { if !ok { failures.append(what()) } }
        let petit = "\(SessionCookies.session)=\(world.parent.jar[SessionCookies.session]!)"
        let autre = "\(SessionCookies.session)=\(world.parentElsewhere.jar[SessionCookies.session]!)"
        let names = ["FAMILLE PETIT-JULES", "FAMILLE AUTRE-JULES"]
        let cases: [(host: String, path: String, cookie: String, status: Int, shows: String?)] = [
            ("petit.example.org", "/compte", petit, 200, names[0]),
            ("autre.example.org", "/compte", autre, 200, names[1]),
            ("PETIT.example.org.:8080", "/compte", petit, 200, names[0]),
            ("inconnu.example.org", "/petit/compte", petit, 200, names[0]),  // no center at that host: the path's
            ("autre.example.org", "/compte", petit, 303, nil),
            ("petit.example.org", "/compte", autre, 303, nil),
            ("autre.example.org", "/petit/compte", petit, 404, nil),
            ("autre.example.org", "/petit/compte", autre, 404, nil),
            ("petit.example.org", "/autre/compte", autre, 404, nil),
            ("petit.example.org", "/autre/compte", petit, 404, nil),
            ("autre.example.org", "/factures/PET00001", autre, 404, nil),
            ("autre.example.org", "/factures/PET00001", petit, 303, nil),
            ("autre.example.org", "/petit/factures/PET00001", petit, 404, nil),
            ("autre.example.org", "/reservations/00001", petit, 303, nil),
            ("petit.example.org", "/factures/AUT00001", petit, 404, nil),
            ("inconnu.example.org", "/compte", petit, 404, nil),
        ]
        for test in cases {
            let headers = [("Cookie", test.cookie), ("X-Forwarded-Host", "autre.example.org")]
            let answer = try await RawHTTP.send(port: world.port, RawHTTP.request("GET", Array(test.path.utf8), host: test.host,
                                                                                  headers: headers))
            let what = "GET \(test.path) Host: \(test.host) with \(test.cookie == petit ? "petit's" : "autre's") session"
            check("\(what): \(answer)", answer.status == test.status)
            if test.status == 303 {
                let location = answer.header("Location") ?? ""
                check("\(what) → \(location)", location.hasSuffix("/?connexion=requise"))
            }
            if let shows = test.shows { check("\(what) does not show \(shows)", answer.body.contains(shows)) }
            for name in names where name != test.shows { check("\(what) shows \(name)", !answer.body.contains(name)) }
        }
        // The API does not depend on the host: a token is worth its own centers only.
        for (token, status) in [(world.tokens["manager@autre"]!, 404), (world.tokens["manager@petit"]!, 200)] {
            let request = RawHTTP.request("GET", Array("/api/centers/petit/families".utf8), host: "autre.example.org",
                                          headers: [("Authorization", "Bearer \(token)")])
            let answer = try await RawHTTP.send(port: world.port, request)
            check("/api/centers/petit/families at autre's host: \(answer)", answer.status == status)
        }
        return failures
    }

    struct Answer {
        let uri: String
        let status: Int
        let location: String?
        let body: String

        /// The words of the body, for a failure's message.
        var excerpt: String {
            String(body.replacing(/<[^>]+>/, with: " ").replacing(/\s+/, with: " ").prefix(160))
        }
    }

    /// The token or the browser of each actor.
    static func credentials(_ actor: Actor, _ world: RouteWorld) -> (browser: Browser?, token: String?) {
        switch actor {
        case .anonymous: (world.anonymous, nil)
        case .parent: (world.parent, nil)
        case .neighbour: (world.neighbour, nil)
        case .parentElsewhere: (world.parentElsewhere, nil)
        case .staff: (nil, world.tokens["staff@petit"])
        case .manager: (nil, world.tokens["manager@petit"])
        case .staffElsewhere: (nil, world.tokens["staff@autre"])
        case .managerElsewhere: (nil, world.tokens["manager@autre"])
        case .federationAdmin: (nil, world.admin)
        }
    }

    /// The path of `route` at petit with real ids of petit, and the query each route needs.
    static func uri(_ route: String, _ world: RouteWorld) -> String {
        let path = String(route.split(separator: " ", maxSplits: 1)[1])
        let year = Calendar(identifier: .gregorian).component(.year, from: Date())
        var values: [String: String] = [
            "code": "petit", "period": "vacances", "tariff": "base", "annee": "\(year).pdf", "fichier": SecretToken.generate() + ".ics", "document": "999999", "change": "999999", "person": "999999",
            "enfant": String(world.children["parent@petit"]!),
            "id": String(world.adminSpareToken),
            "staff": String(world.victimStaff), "token": String(world.victimToken), "reference": world.attempts["petit"]!,
            "family": String(world.families["cible"]!), "child": String(world.children["cible"]!),
            "number": world.staffCancellable.first ?? "99999",
        ]
        switch path {
        case "/reservations/{numero}": values["numero"] = "00001"
        case "/reservations/{numero}/annuler": values["numero"] = world.parentCancellable.first ?? "99999"
        case "/factures/{numero}", "/factures/{numero}/paiement": values["numero"] = "PET00001"
        case "/paiements/{numero}": values["numero"] = "PET-P00001"
        case "/api/centers/{code}/families/{family}/invitation": values["family"] = String(world.families["invitee"]!)
        case "/api/centers/{code}/families/{family}/erase": values["family"] = String(world.families["parent@petit"]!)
        default: break
        }
        var uri = path.replacing(/\{([a-z_]+)\}/) { values[String($0.1)] ?? "?" }
        let day = world.period.startsOn.iso
        let queries: [String: String] = [
            "/paiement/retour": "ref=\(world.attempts["petit"]!)",
            "/salle-attente/etat": "periode=vacances",
            "/api/centers": "dry_run=true",
            "/api/centers/{code}/attendance": "day=\(day)",
            "/api/centers/{code}/exports/attendance.csv": "day=\(day)",
            "/api/centers/{code}/exports/ledger.csv": "month=\(day.prefix(7))",
        ]
        if let query = queries[path] {
            uri += "?" + query
        } else if path.hasPrefix("/api/centers/{code}/periods") || path.hasPrefix("/api/centers/{code}/tariffs") {
            if !route.hasPrefix("GET") { uri += "?dry_run=true" }
        }
        return RouteCatalog.isGlobal(path) ? uri : "/petit" + uri
    }

    /// The form fields of petit's pages that need some: the parent's child and the period's first day.
    static func form(_ route: String, _ world: RouteWorld) -> [(String, String)] {
        let child = String(world.children["parent@petit"]!)
        switch route {
        case "POST /reservations/recapitulatif":
            let day = world.period.startsOn.adding(days: 12).iso
            return [("enfant", child), ("periode", "vacances"), ("jour", "\(day):journee")]
        case "POST /reservations/confirmer": return [("enfant", child), ("periode", "vacances")]
        case "POST /panier/retirer": return [("numero", "00001")]
        case "POST /reservations/liste-attente":
            return [("enfant", child), ("periode", "vacances"), ("attente", "\(world.period.startsOn.adding(days: 12).iso):journee")]
        case "POST /liste-attente/retirer": return [("entree", "1")]
        case "POST /agenda/retirer": return [("lien", "999999")]
        case "POST /familles/choisir": return [("famille", String(world.families["parent@autre"]!))]
        case "POST /familles/relais": return [("famille", String(world.families["parent@autre"]!)), ("centre", "autre")]
        case "POST /dossier/personnes/retirer": return [("personne", "999999")]
        case "POST /dossier/documents/retirer": return [("document", "999999")]
        case "POST /reservations/{numero}/annuler": return [("confirmer", "oui")]
        case "POST /paiement/notification", "POST /simulateur/paiement", "POST /simulateur/choix":
            return [("vads_amount", "1")]
        default: return []
        }
    }

    static func send(_ route: String, as actor: Actor, _ world: RouteWorld, json: String? = nil) async throws -> Answer {
        let method = HTTPRequest.Method(rawValue: String(route.prefix { $0 != " " }))!
        let uri = uri(route, world)
        let (browser, token) = credentials(actor, world)
        var headers: HTTPFields = [:]
        if let cookie = browser?.cookie { headers[.cookie] = cookie }
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: String?
        if method != .get && method != .delete {
            if uri.hasPrefix("/api/") {
                // An empty object: each operation's own checks come after the caller's rights.
                headers[.contentType] = route == "POST /api/centers" ? "application/yaml" : "application/json"
                headers[HTTPField.Name("Idempotency-Key")!] = UUID().uuidString
                body = json ?? "{}"
            } else {
                headers[.contentType] = "application/x-www-form-urlencoded"
                let csrf = browser.map { [("csrf", $0.csrf)] } ?? []
                body = FormURLEncoding.encode(csrf + form(route, world))
            }
        }
        let response = try await world.client.execute(uri: uri, method: method, headers: headers,
                                                      body: body.map { ByteBuffer(string: $0) })
        return Answer(uri: uri, status: Int(response.status.code), location: response.headers[.location],
                      body: String(buffer: response.body))
    }

    /// Puts back what a successful request changed, so that the next rows find the same world.
    static func restore(_ route: String, actor: Actor, status: Int, _ world: RouteWorld) async throws {
        guard (200..<400).contains(status) else { return }
        let client = world.client
        switch route {
        case "POST /api/centers/{code}/suspend":
            #expect(try await apiJSON(client, .post, "/api/centers/petit/resume", token: world.admin).status == .ok)
        case "POST /deconnexion" where actor == .parent:
            try await world.session(world.parent, center: "petit", email: "parent@example.org")
        case "POST /deconnexion" where actor == .neighbour:
            try await world.session(world.neighbour, center: "petit", email: "voisin@example.org")
        case "POST /reservations/{numero}/annuler":
            world.parentCancellable.removeFirst()
        case "POST /api/centers/{code}/reservations/{number}/cancel":
            world.staffCancellable.removeFirst()
        case "DELETE /api/centers/{code}/staff/{staff}":
            let regranted = try await apiJSON(client, .post, "/api/centers/petit/staff", token: world.admin,
                                              json: #"{"email": "victime@petit.example.org", "role": "staff"}"#)
            #expect(regranted.status == .created)
        case "DELETE /api/centers/{code}/staff/{staff}/tokens/{token}":
            try await world.renewVictimToken()
        case "DELETE /api/tokens/{id}":
            try await world.renewAdminSpareToken()
        default: break
        }
    }
}

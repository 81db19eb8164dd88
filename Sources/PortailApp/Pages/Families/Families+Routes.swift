import Foundation
import HTTPTypes
import Hummingbird
import PortailDomain
import PortailStore

extension PortailRoutes {
    /// One login per parent (issue 15, item 6). GET /familles lists every family the person may enter, at
    /// this center and at the federation's others; POST /familles/choisir enters another family of this
    /// center (a new session); POST /familles/relais hands the person to another center's portal through a
    /// single-use token of two minutes, which GET and POST /connexion/relais on that portal turn into a
    /// session there once the person confirms; POST /familles/factures lets the billing contact keep the
    /// family's invoices to themself.
    func addFamiliesRoutes(to router: Router<AppRequestContext>) {
        router.get("/familles") { _, context in
            try await familiesPage(context)
        }

        router.post("/familles/choisir") { _, context in
            let record = try context.requireCenter
            _ = try context.requireFamily
            guard let person = context.session?.personID, let family = context.form["famille"].flatMap({ Int64($0) }) else {
                throw HTTPError(.badRequest)
            }
            let session = try await database.withCenter(record.id) { c -> FamilySession? in
                guard try await People.mayEnter(c, center: record.id, family: family, person: person, logger: context.logger) else { return nil }
                if let old = context.sessionToken {
                    try await SessionRepository.delete(c, center: record.id, token: old, logger: context.logger)
                }
                return try await SessionRepository.create(c, center: record.id, familyID: family, personID: person, severalFamilies: true, logger: context.logger)
            }
            guard let session else { throw HTTPError(.notFound) }
            var response = Pages.redirect(context.basePath + "/compte")
            response.setCookie(sessionCookies.session(session.token!, context: context))
            return response
        }

        router.post("/familles/relais") { _, context in
            let record = try context.requireCenter
            _ = try context.requireFamily
            guard let session = context.sessionToken, let family = context.form["famille"].flatMap({ Int64($0) }),
                  let code = context.form["centre"], let target = directory.center(forCode: code), target.id != record.id else {
                throw HTTPError(.badRequest)
            }
            // Issued here for the person of this session, to a family of that center they may enter (the
            // database reads the person from the session and checks the family).
            guard let token = try await database.withCenter(record.id, { c in
                try await People.issueHandoff(c, session: session, center: target.id, family: family, logger: context.logger)
            }) else { throw HTTPError(.notFound) }
            return Pages.redirect(publicAddress.base(of: target.center) + "/connexion/relais?jeton=" + token)
        }

        router.post("/familles/factures") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard let person = context.session?.personID else { throw HTTPError(.badRequest) }
            let only = context.form["reservees"] == "oui"
            let allowed = try await database.withCenter(record.id) { c -> Bool in
                try await FamilyFile.lockFamily(c, center: record.id, family: family, logger: context.logger)
                let members = try await People.members(c, center: record.id, family: family, logger: context.logger)
                guard members.contains(where: { $0.personID == person && $0.billingContact }) else { return false }
                try await People.setInvoicesBillingOnly(c, center: record.id, family: family, only, logger: context.logger)
                try await AuditLog.record(c, center: record.id, actor: "famille \(family)", action: "family.invoices_billing_only",
                                          subject: "famille \(family)", after: ["billing_only": String(only)], logger: context.logger)
                return true
            }
            guard allowed else {
                return try await familiesPage(context, error: "Seul le payeur de la famille choisit qui voit ses factures.", status: .forbidden)
            }
            return try await familiesPage(context, notice: only ? "Les factures de la famille ne sont plus visibles que par vous."
                                                               : "Les factures de la famille sont visibles par chacun de ses parents.")
        }

        // The link a handoff sends the browser to: it names the family and the login, and asks to confirm,
        // so that a link sent by someone else cannot put a parent in a family that is not theirs without
        // their seeing it; a browser logged in here as someone else is told to log out first.
        router.get("/connexion/relais") { request, context in
            let record = try context.requireCenter
            let token = request.uri.queryParameters["jeton"].map(String.init) ?? ""
            let handoff = SecretToken.looksValid(token) ? try await database.withCenter(record.id) { c in
                try await People.handoff(c, center: record.id, token: token, logger: context.logger)
            } : nil
            let other = handoff.flatMap { h in context.session?.personID.flatMap { $0 == h.person ? nil : $0 } } != nil
            return templates.page("handoff", HandoffModel(page: PageChrome(context), token: token, familyName: handoff?.familyName,
                                                          email: handoff?.email, otherLogin: other),
                                  status: handoff == nil ? .gone : other ? .conflict : .ok)
        }

        router.post("/connexion/relais") { _, context in
            let record = try context.requireCenter
            let token = context.form["jeton"] ?? ""
            let current = context.session?.personID
            let session = SecretToken.looksValid(token) ? try await database.withCenter(record.id) { c -> FamilySession? in
                if let current, let handoff = try await People.handoff(c, center: record.id, token: token, logger: context.logger),
                   handoff.person != current { return nil }
                guard let handoff = try await People.takeHandoff(c, center: record.id, token: token, logger: context.logger) else { return nil }
                if let old = context.sessionToken {
                    try await SessionRepository.delete(c, center: record.id, token: old, logger: context.logger)
                }
                return try await SessionRepository.create(c, center: record.id, familyID: handoff.family, personID: handoff.person, severalFamilies: true,
                                                          logger: context.logger)
            } : nil
            guard let session else {
                return templates.page("handoff", HandoffModel(page: PageChrome(context), token: "", familyName: nil, email: nil, otherLogin: false),
                                      status: .gone)
            }
            var response = Pages.redirect(context.basePath + "/compte")
            response.setCookie(sessionCookies.session(session.token!, context: context))
            return response
        }
    }

    /// "Mes familles": where the person is, where else they may go, who shares the family, and (for its
    /// billing contact) who sees its invoices.
    func familiesPage(_ context: AppRequestContext, error: String? = nil, notice: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let record = try context.requireCenter
        let family = try context.requireFamily
        guard let person = context.session?.personID, let session = context.sessionToken else { throw RedirectToLogin(base: context.basePath) }
        let (memberships, members, billingOnly) = try await database.withCenter(record.id) { c in
            (try await People.families(c, session: session, logger: context.logger),
             try await People.members(c, center: record.id, family: family, logger: context.logger),
             try await People.invoicesBillingOnly(c, center: record.id, family: family, logger: context.logger))
        }
        let centers = directory.snapshot.centers
        let entries: [FamiliesModel.Entry] = memberships.compactMap { membership in
            guard let center = centers.first(where: { $0.id == membership.centerID }) else { return nil }
            let here = center.id == record.id
            return .init(family: membership.familyID, name: membership.familyName, center: center.center.name, code: center.center.code,
                         current: here && membership.familyID == family, here: here)
        }
        let me = members.first { $0.personID == person }
        let model = FamiliesModel(
            page: PageChrome(context),
            current: entries.first(where: \.current),
            others: entries.filter { !$0.current },
            members: members.map { .init(email: $0.email, billing: $0.billingContact, me: $0.personID == person, waiting: !$0.hasLoggedIn) },
            shared: members.count > 1,
            isBillingContact: me?.billingContact ?? false,
            billingOnly: billingOnly,
            error: error, notice: notice,
            hasOthers: entries.contains { !$0.current }
        )
        return templates.page("families", model, status: status)
    }
}

struct FamiliesModel {
    struct Entry {
        let family: Int64
        let name: String
        let center: String
        let code: String
        let current: Bool
        /// At this center (entered with a new session) rather than at another one (a handoff).
        let here: Bool
    }
    struct Member {
        let email: String
        let billing: Bool
        let me: Bool
        /// Has not chosen a password yet.
        let waiting: Bool
    }
    let page: PageChrome
    let current: Entry?
    let others: [Entry]
    let members: [Member]
    let shared: Bool
    let isBillingContact: Bool
    let billingOnly: Bool
    let error: String?
    let notice: String?
    let hasOthers: Bool
}

struct HandoffModel {
    let page: PageChrome
    let token: String
    let familyName: String?
    /// The login the handoff is for.
    let email: String?
    /// The browser is logged in here as someone else.
    let otherLogin: Bool
}

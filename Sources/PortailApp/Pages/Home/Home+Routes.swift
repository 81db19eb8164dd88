import Foundation
import Hummingbird
import PortailDomain
import PortailStore

extension PortailRoutes {
    /// GET / — the home page; POST /connexion and /deconnexion — log in and out.
    func addHomeRoutes(to router: Router<AppRequestContext>) {
        router.get("/") { request, context in
            let record = try context.requireCenter
            let notice = request.uri.queryParameters["connexion"] == "requise" ? "Connectez-vous pour accéder à votre compte famille." : nil
            // A logged-in family reads its own opening of each period (its priority window's, if any).
            var standing = PriorityStanding.none
            if let family = context.session?.familyID, record.center.hasPriorityWindows {
                standing = try await database.withCenterReading(record.id) { c in
                    try await PriorityQueries.standing(c, center: record.center, centerID: record.id, family: family, logger: context.logger)
                }
            }
            return templates.page("home", HomeModel(context, notice: notice, standing: standing))
        }

        router.post("/connexion") { _, context in
            let record = try context.requireCenter
            let email = (context.form["identifiant"] ?? "").trimmingCharacters(in: .whitespaces)
            let password = context.form["mot_de_passe"] ?? ""
            guard !email.isEmpty, !password.isEmpty else {
                return templates.page("home", HomeModel(context, error: "Saisissez votre identifiant et votre mot de passe.", identifiant: email), status: .badRequest)
            }
            // Nothing longer than an e-mail or a password can be is looked up, hashed or counted.
            guard email.utf8.count <= InputLimits.email, password.utf8.count <= Passwords.maxLength else {
                return templates.page("home", HomeModel(context, error: "Identifiant ou mot de passe incorrect.", identifiant: ""), status: .unauthorized)
            }
            let logger = context.logger
            // Refused while blocked, before any password check, whether the account exists or not. The
            // attempt is charged to its (login, client) pair first, across the federation (one password opens
            // a person's families at every center), so that parallel guesses count.
            let address = LoginThrottle.addressKey(context.remoteAddress)
            let (account, blocked) = try await database.withCenter(record.id) { c in
                let account = try await AccountRepository.credentials(c, email: email, logger: logger)
                if let until = try await LoginThrottle.blockedUntil(c, center: record.id, keys: [address], logger: logger) {
                    return (account, Optional(until))
                }
                return (account, try await LoginThrottle.chargeLogin(c, login: email, client: context.remoteAddress, rule: LoginThrottle.pair, logger: logger))
            }
            if let blocked {
                let minutes = max(1, Int((blocked.timeIntervalSinceNow / 60).rounded(.up)))
                let error = "Trop de tentatives de connexion. Pour protéger votre compte, réessayez dans \(minutes) minute\(minutes > 1 ? "s" : "")."
                return templates.page("home", HomeModel(context, error: error, identifiant: email), status: .tooManyRequests)
            }
            // The person's password; else, until they choose one, the password their open family's own address
            // had at this center before people had one (two centers' accounts of one address kept theirs).
            var valid = try await Passwords.verify(password, hash: account?.passwordHash)
            for family in account?.families ?? [] where !valid && family.open && family.ownPasswordHash != nil {
                valid = try await Passwords.verify(password, hash: family.ownPasswordHash)
            }
            // The family of their own address first, else their first family here that is open; none is
            // answered as a wrong password (the answer never says more than that).
            let open = account?.families.filter(\.open) ?? []
            guard valid, let account, let family = open.first(where: \.ownAddress) ?? open.first else {
                try await database.withCenter(record.id) { c in
                    try await LoginThrottle.recordFailure(c, center: record.id, key: address, rule: LoginThrottle.address, logger: logger)
                }
                return templates.page("home", HomeModel(context, error: "Identifiant ou mot de passe incorrect.", identifiant: email), status: .unauthorized)
            }
            // A new session id at login: a session fixed before login is worth nothing after it.
            let session = try await database.withCenter(record.id) { c in
                try await LoginThrottle.clearLogin(c, login: email, client: context.remoteAddress, logger: logger)
                if let old = context.sessionToken {
                    try await SessionRepository.delete(c, center: record.id, token: old, logger: logger)
                }
                try await People.activateOnLogin(c, center: record.id, family: family.id, logger: logger)
                var session = try await SessionRepository.create(c, center: record.id, familyID: family.id, personID: account.personID, logger: logger)
                if try await People.families(c, session: session.token!, logger: logger).count > 1 {
                    try await SessionRepository.markSeveralFamilies(c, center: record.id, token: session.token!, logger: logger)
                    session.severalFamilies = true
                }
                return session
            }
            // A parent of several families lands in the one of their own address, with "Changer de famille" in the menu.
            var response = Pages.redirect(context.basePath + "/compte")
            response.setCookie(sessionCookies.session(session.token!, context: context))
            return response
        }

        router.post("/deconnexion") { _, context in
            let record = try context.requireCenter
            if let token = context.sessionToken {
                try await database.withCenter(record.id) { c in
                    try await SessionRepository.delete(c, center: record.id, token: token, logger: context.logger)
                }
            }
            var response = Pages.redirect(context.basePath + "/")
            response.setCookie(sessionCookies.expiredSession(context: context))
            return response
        }
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// Signing in to the back office: e-mail and password, then for managers and federation administrators a
/// TOTP code (enrolled at the first sign-in, with ten single-use recovery codes), and the invitation's
/// link that chooses the password.
extension PortailRoutes {
    struct AdminSignInModel {
        let page: AdminChrome
        let email: String
        let error: String?
        let notice: String?
    }

    struct AdminVerificationModel {
        let page: AdminChrome
        /// Enrolling: the secret to type in the app (grouped by 4) and its otpauth address.
        let enrolling: Bool
        let secretGroups: String
        let otpauth: String
        let error: String?
    }

    struct AdminRecoveryCodesModel {
        let page: AdminChrome
        let codes: [String]
    }

    struct AdminInvitationModel {
        let page: AdminChrome
        let code: String
        let email: String
        let error: String?
    }

    /// A back-office handler: the request's session and form loaded, a refused form answered.
    func admin(bodyLimit: Int = InputLimits.formBody, _ handler: @escaping @Sendable (AdminRequest, AppRequestContext, Request) async throws -> Response)
        -> @Sendable (Request, AppRequestContext) async throws -> Response
    {
        { request, context in
            var request = request
            switch try await adminRequest(&request, context: context, bodyLimit: bodyLimit) {
            case .failure(let refusal): return refusal.response
            case .success(let admin):
                do {
                    return try await handler(admin, context, request)
                } catch let refusal as AdminRefusal {
                    return refusal.response
                }
            }
        }
    }

    func addAdminSignInRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/connexion", use: admin { admin, _, request in
            if admin.session?.complete == true { return Pages.redirect("/admin/") }
            let notice: String? = switch request.uri.queryParameters["etat"].map(String.init) {
            case "mot-de-passe-choisi": "Votre mot de passe est enregistré : connectez-vous."
            case "deconnecte": "Vous êtes déconnecté(e)."
            default: nil
            }
            return adminPage("admin-sign-in", AdminSignInModel(page: admin.chrome, email: "", error: nil, notice: notice), admin)
        })

        router.post("/admin/connexion", use: admin { admin, context, _ in
            let email = (admin.form["email"] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            let password = admin.form["mot_de_passe"] ?? ""
            func refuse(_ message: String, _ status: HTTPResponse.Status) -> Response {
                adminPage("admin-sign-in", AdminSignInModel(page: admin.chrome, email: email, error: message, notice: nil), admin, status: status)
            }
            guard !email.isEmpty, email.count <= 254, !password.isEmpty, password.utf8.count <= Passwords.maxLength else {
                return refuse("Indiquez votre adresse e-mail et votre mot de passe.", .badRequest)
            }
            let client = LoginThrottle.clientKey(context.remoteAddress)
            let pair = "staff:\(email)|\(client)", address = "staff-address:\(client)"
            let blocked = try await StaffRepository.federation(database) { c -> Date? in
                if let until = try await StaffSignIn.blockedUntil(c, keys: [address], logger: context.logger) { return until }
                return try await StaffSignIn.charge(c, key: pair, rule: StaffSignIn.pairRule, logger: context.logger)
            }
            if let blocked {
                return refuse("Trop d'essais : réessayez après \(French.time(blocked, in: TimeZone(identifier: "Europe/Paris")!)).", .tooManyRequests)
            }
            let credentials = try await StaffRepository.federation(database) { c in
                try await StaffSignIn.credentials(c, email: email, logger: context.logger)
            }
            guard try await Passwords.verify(password, hash: credentials?.hash), let credentials else {
                try await StaffRepository.federation(database) { c in
                    _ = try await StaffSignIn.charge(c, key: address, rule: StaffSignIn.addressRule, logger: context.logger)
                }
                context.logger.notice("back office: sign-in refused for \(email)")
                return refuse("Adresse e-mail ou mot de passe incorrect.", .unauthorized)
            }
            let opened = try await StaffRepository.federation(database) { c in
                try await StaffSignIn.clear(c, key: pair, logger: context.logger)
                return try await StaffSignIn.open(c, staff: credentials.id, logger: context.logger)
            }
            guard let opened else { return refuse("Adresse e-mail ou mot de passe incorrect.", .unauthorized) }
            var response = Pages.redirect(opened.complete ? "/admin/" : "/admin/verification")
            response.setCookie(adminCookie(Self.staffSessionCookie, opened.token, maxAge: Int(StaffSignIn.sessionLifetime)))
            return response
        })

        router.get("/admin/verification", use: admin { admin, context, _ in
            guard let session = admin.session, let token = admin.token else { return Pages.redirect("/admin/connexion") }
            if session.complete { return Pages.redirect("/admin/") }
            return try await verificationPage(admin, session: session, token: token, context: context, error: nil)
        })

        router.post("/admin/verification", use: admin { admin, context, _ in
            guard let session = admin.session, let token = admin.token else { return Pages.redirect("/admin/connexion") }
            if session.complete { return Pages.redirect("/admin/") }
            let key = "staff-second-factor:\(session.staffID)"
            if let blocked = try await StaffRepository.federation(database, { c in
                try await StaffSignIn.charge(c, key: key, rule: StaffSignIn.pairRule, logger: context.logger)
            }) {
                return try await verificationPage(admin, session: session, token: token, status: .tooManyRequests, context: context,
                                                  error: "Trop d'essais : réessayez après \(French.time(blocked, in: TimeZone(identifier: "Europe/Paris")!)).")
            }
            let code = (admin.form["code"] ?? "").trimmingCharacters(in: .whitespaces)
            let recovery = (admin.form["code_secours"] ?? "").trimmingCharacters(in: .whitespaces)
            if !recovery.isEmpty, session.totpEnabled {
                guard recovery.count <= 20, try await StaffRepository.federation(database, { c in
                    try await StaffSignIn.useRecoveryCode(c, token: token, code: recovery, logger: context.logger)
                }) else {
                    return try await verificationPage(admin, session: session, token: token, status: .unauthorized, context: context,
                                                      error: "Ce code de secours n'est pas valable (chaque code ne sert qu'une fois).")
                }
                try await StaffRepository.federation(database) { c in try await StaffSignIn.clear(c, key: key, logger: context.logger) }
                context.logger.notice("back office: \(session.email) signed in with a recovery code")
                return try await renewed(Pages.redirect("/admin/"), token: token, context: context)
            }
            let secret = try await StaffRepository.federation(database) { c in
                try await StaffSignIn.totpSecret(c, token: token, logger: context.logger)
            }
            guard let secret, let step = TOTP.matchingStep(code, secret: secret.secret, at: clock()) else {
                return try await verificationPage(admin, session: session, token: token, status: .unauthorized, context: context,
                                                  error: "Ce code n'est pas le bon : tapez les 6 chiffres que l'application affiche maintenant.")
            }
            let codes = secret.enrolled ? [] : StaffSignIn.newRecoveryCodes()
            guard let outcome = try await StaffRepository.federation(database, { c in
                try await StaffSignIn.passTOTP(c, token: token, step: step, recoveryCodes: codes, logger: context.logger)
            }) else {
                return try await verificationPage(admin, session: session, token: token, status: .unauthorized, context: context,
                                                  error: "Ce code a déjà servi : attendez le suivant.")
            }
            try await StaffRepository.federation(database) { c in try await StaffSignIn.clear(c, key: key, logger: context.logger) }
            // The codes are shown only when the database stored them (another session may have enrolled first).
            guard outcome == .enrolled, !codes.isEmpty else { return try await renewed(Pages.redirect("/admin/"), token: token, context: context) }
            return try await renewed(adminPage("admin-recovery-codes", AdminRecoveryCodesModel(page: AdminRequest(session: nil, token: nil, csrf: admin.csrf).chrome, codes: codes), admin),
                                     token: token, context: context)
        })

        router.post("/admin/deconnexion", use: admin { admin, context, _ in
            if let token = admin.token {
                try await StaffRepository.federation(database) { c in try await StaffSignIn.close(c, token: token, logger: context.logger) }
            }
            var response = Pages.redirect("/admin/connexion?etat=deconnecte")
            response.setCookie(adminCookie(Self.staffSessionCookie, "", maxAge: 0))
            return response
        })

        router.get("/admin/invitation", use: admin { admin, context, request in
            let code = request.uri.queryParameters["code"].map(String.init) ?? ""
            guard let email = try await StaffRepository.federation(database, { c in
                try await StaffSignIn.invitation(c, code: code, logger: context.logger)
            }) else {
                return adminProblem("Invitation inconnue", "Cette invitation est inconnue, déjà utilisée ou expirée : demandez-en une nouvelle au responsable de votre accueil de loisirs.", status: .notFound)
            }
            return adminPage("admin-invitation", AdminInvitationModel(page: admin.chrome, code: code, email: email, error: nil), admin)
        })

        router.post("/admin/invitation", use: admin { admin, context, _ in
            let code = admin.form["code"] ?? ""
            let password = admin.form["mot_de_passe"] ?? ""
            guard let email = try await StaffRepository.federation(database, { c in
                try await StaffSignIn.invitation(c, code: code, logger: context.logger)
            }) else {
                return adminProblem("Invitation inconnue", "Cette invitation est inconnue, déjà utilisée ou expirée : demandez-en une nouvelle au responsable de votre accueil de loisirs.", status: .notFound)
            }
            let problem = password.utf8.count > Passwords.maxLength ? "Le mot de passe est trop long."
                : Passwords.weakness(of: password) ?? (password != admin.form["confirmation"] ? "Les deux mots de passe ne sont pas identiques." : nil)
            if let problem {
                return adminPage("admin-invitation", AdminInvitationModel(page: admin.chrome, code: code, email: email, error: problem), admin, status: .unprocessableContent)
            }
            let hash = try await Passwords.hash(password)
            guard let chosen = try await StaffRepository.federation(database, { c in
                try await StaffSignIn.setPassword(c, code: code, hash: hash, logger: context.logger)
            }) else {
                return adminProblem("Invitation inconnue", "Cette invitation vient d'être utilisée ou a expiré : demandez-en une nouvelle.", status: .notFound)
            }
            if let center = chosen.center {
                try await database.withCenter(center) { c in
                    try await AuditLog.record(c, center: center, actor: "staff:\(chosen.email)", action: "staff.password_set", subject: chosen.email,
                                              after: ["by": "invitation"], logger: context.logger)
                }
            }
            return Pages.redirect("/admin/connexion?etat=mot-de-passe-choisi")
        })
    }

    /// The answer with the session's new token: the one seen before the second factor no longer opens anything.
    func renewed(_ response: Response, token: String, context: AppRequestContext) async throws -> Response {
        var response = response
        if let fresh = try await StaffRepository.federation(database, { c in try await StaffSignIn.renew(c, token: token, logger: context.logger) }) {
            response.setCookie(adminCookie(Self.staffSessionCookie, fresh, maxAge: Int(StaffSignIn.sessionLifetime)))
        }
        return response
    }

    /// The second step: the code of the authenticator app, or the enrolment of one (a new secret is kept
    /// until a first code confirms it).
    func verificationPage(_ admin: AdminRequest, session: StaffSession, token: String, status: HTTPResponse.Status = .ok,
                          context: AppRequestContext, error: String?) async throws -> Response {
        if session.totpEnabled {
            return adminPage("admin-verification", AdminVerificationModel(page: admin.chrome, enrolling: false, secretGroups: "", otpauth: "", error: error),
                             admin, status: status)
        }
        let secret = try await StaffRepository.federation(database) { c -> String in
            if let pending = try await StaffSignIn.totpSecret(c, token: token, logger: context.logger) { return pending.secret }
            let fresh = TOTP.newSecret()
            _ = try await StaffSignIn.beginTOTP(c, token: token, secret: fresh, logger: context.logger)
            return fresh
        }
        let groups = stride(from: 0, to: secret.count, by: 4).map { start -> String in
            let from = secret.index(secret.startIndex, offsetBy: start)
            return String(secret[from..<(secret.index(from, offsetBy: 4, limitedBy: secret.endIndex) ?? secret.endIndex)])
        }.joined(separator: " ")
        return adminPage("admin-verification", AdminVerificationModel(
            page: admin.chrome, enrolling: true, secretGroups: groups,
            otpauth: TOTP.provisioningURI(secret: secret, account: session.email, issuer: "Portail Famille"), error: error
        ), admin, status: status)
    }
}

import Foundation
import Hummingbird
import PortailStore

/// "Mot de passe oublié" (a single-use link valid one hour) and account activation (the link staff send
/// with a new account): both end on the same "choose your password" form.
struct PasswordModel {
    let page: PageChrome
    let token: String
    let purpose: String
    let title: String
    let error: String?
    let notice: String?
    let valid: Bool
}

struct ForgotModel {
    let page: PageChrome
    let notice: String?
}

extension PortailRoutes {
    static let resetValidity: TimeInterval = 3600
    static let activationValidity: TimeInterval = 7 * 24 * 3600

    func addPasswordRoutes(to router: Router<AppRequestContext>) {
        router.get("/mot-de-passe-oublie") { _, context in
            _ = try context.requireCenter
            return templates.page("password-forgot", ForgotModel(page: PageChrome(context), notice: nil))
        }

        router.post("/mot-de-passe-oublie") { _, context in
            let record = try context.requireCenter
            let email = (context.form["identifiant"] ?? "").trimmingCharacters(in: .whitespaces)
            let logger = context.logger
            let link = publicAddress.base(of: record.center) + "/reinitialisation?jeton="
            let address = "reset-address:" + LoginThrottle.clientKey(context.remoteAddress)
            let allowed = try await database.withCenter(record.id) { c -> Bool in
                // One client asking again and again is told to wait; one account gets at most a few mails an
                // hour, and the answer stays the same whether a mail left or not.
                guard try await LoginThrottle.allow(c, center: record.id, key: address, rule: LoginThrottle.resetAddress, logger: logger) else {
                    return false
                }
                // A person with a family at this center (not closed by the staff); the link goes through it.
                guard email.utf8.count <= InputLimits.email,
                      let account = try await AccountRepository.credentials(c, email: email, logger: logger),
                      let family = account.families.first(where: { $0.ownAddress && $0.state != "deactivated" })
                        ?? account.families.first(where: { $0.state != "deactivated" }),
                      try await LoginThrottle.allow(c, center: record.id, key: "reset:person:\(account.personID)",
                                                    rule: LoginThrottle.resetAccount, logger: logger),
                      // And across the federation: a person's centers together send at most a few more.
                      try await LoginThrottle.chargeLogin(c, login: account.email, client: LoginThrottle.resetMails,
                                                          rule: LoginThrottle.resetPerson, logger: logger) == nil else { return true }
                let token = try await AccountRepository.issueToken(c, center: record.id, family: family.id, person: account.personID, purpose: "reset",
                                                                   validFor: Self.resetValidity, logger: logger)
                // To the address as stored: one typed with look-alike letters (which lower() folds) gets nothing.
                try await Outbox.enqueue(c, center: record.id, to: account.email, subject: "\(record.center.name) – réinitialisation de votre mot de passe", body: """
                    Bonjour,

                    Pour choisir un nouveau mot de passe pour votre compte famille, ouvrez ce lien dans l'heure :
                    \(link)\(token)

                    Ce mot de passe sera celui de tous vos comptes famille, dans chaque centre où vous en avez un.

                    Si vous n'avez rien demandé, ignorez ce message : votre mot de passe reste inchangé.

                    \(record.center.coordinates.name)
                    """, logger: logger)
                return true
            }
            guard allowed else {
                return templates.page("password-forgot", ForgotModel(
                    page: PageChrome(context), notice: "Trop de demandes depuis cette connexion. Réessayez dans une heure."
                ), status: .tooManyRequests)
            }
            // The same answer whether the account exists or not.
            return templates.page("password-forgot", ForgotModel(
                page: PageChrome(context),
                notice: "Si un compte existe pour cette adresse, un e-mail vient de lui être envoyé avec un lien valable une heure."
            ))
        }

        for (path, purpose, title) in [("/reinitialisation", "reset", "Choisir un nouveau mot de passe"), ("/activation", "activation", "Activer mon compte famille")] {
            /// Whether the link's token is live (a token of the wrong shape is refused before the database).
            @Sendable func isLive(_ token: String, _ context: AppRequestContext) async throws -> Bool {
                let record = try context.requireCenter
                guard SecretToken.looksValid(token) else { return false }
                return try await database.withCenter(record.id) { c in
                    try await AccountRepository.tokenIsValid(c, center: record.id, token: token, purpose: purpose, logger: context.logger)
                }
            }

            router.get(RouterPath(path)) { request, context in
                let token = request.uri.queryParameters["jeton"].map(String.init) ?? ""
                let valid = try await isLive(token, context)
                return templates.page("password-choose", PasswordModel(
                    page: PageChrome(context), token: token, purpose: path, title: title,
                    error: valid ? nil : "Ce lien n'est plus valable (déjà utilisé ou expiré). Demandez-en un nouveau.", notice: nil, valid: valid
                ), status: valid ? .ok : .gone)
            }

            router.post(RouterPath(path)) { _, context in
                let record = try context.requireCenter
                let token = context.form["jeton"] ?? ""
                let password = context.form["mot_de_passe"] ?? ""
                let again = context.form["confirmation"] ?? ""
                let gone = PasswordModel(page: PageChrome(context), token: "", purpose: path, title: title,
                                         error: "Ce lien n'est plus valable (déjà utilisé ou expiré). Demandez-en un nouveau.", notice: nil, valid: false)
                // The link is checked before any password work: a guessed token costs no bcrypt.
                guard try await isLive(token, context) else { return templates.page("password-choose", gone, status: .gone) }
                let problem = Passwords.weakness(of: password) ?? (password == again ? nil : "Les deux mots de passe saisis sont différents.")
                if let problem {
                    return templates.page("password-choose", PasswordModel(page: PageChrome(context), token: token, purpose: path, title: title,
                                                                           error: problem, notice: nil, valid: true), status: .badRequest)
                }
                let hash = try await Passwords.hash(password)
                let logger = context.logger
                // The person's password at every center of the federation; their sessions everywhere end.
                let done = try await database.withCenter(record.id) { c in
                    try await AccountRepository.useToken(c, token: token, purpose: purpose, passwordHash: hash, logger: logger) != nil
                }
                guard done else { return templates.page("password-choose", gone, status: .gone) }
                return templates.page("home", HomeModel(context, notice: "Votre mot de passe est enregistré. Connectez-vous avec votre identifiant et ce mot de passe."))
            }
        }

        // Development only: the outbox, so that a demo can follow the links mails would carry.
        if developmentPages {
            router.get("/dev/courriels") { _, context in
                let record = try context.requireCenter
                let mails = try await database.withCenter(record.id) { c in
                    try await Outbox.recent(c, center: record.id, logger: context.logger)
                }
                struct Model { let page: PageChrome; let mails: [Outbox.Mail]; let empty: Bool }
                return templates.page("dev-mails", Model(page: PageChrome(context), mails: mails, empty: mails.isEmpty))
            }
        }
    }
}

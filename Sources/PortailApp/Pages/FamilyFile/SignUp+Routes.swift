import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// Self sign-up (issue 15, item 5) where the center's `family_file.self_sign_up` allows it: GET and POST
/// /inscription (e-mail and name; the activation link by e-mail; the same answer whether the address has
/// an account or not), and POST /dossier/enfants, the children the family adds itself.
struct SignUpModel {
    let page: PageChrome
    let email: String
    let name: String
    let errors: [String]
    let hasErrors: Bool
    let done: Bool
    let approval: Bool
}

extension PortailRoutes {
    func addSignUpRoutes(to router: Router<AppRequestContext>) {
        router.get("/inscription") { _, context in
            let record = try context.requireCenter
            guard let rules = record.center.familyFile, rules.selfSignUp else { throw HTTPError(.notFound) }
            return templates.page("sign-up", SignUpModel(page: PageChrome(context), email: "", name: "", errors: [], hasErrors: false, done: false,
                                                         approval: rules.approveSignUps))
        }

        router.post("/inscription") { _, context in
            let record = try context.requireCenter
            guard let rules = record.center.familyFile, rules.selfSignUp else { throw HTTPError(.notFound) }
            let typed = (context.form["identifiant"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let name = (context.form["nom"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            var errors: [String] = []
            let email = InputLimits.email(typed)
            if email == nil { errors.append("Indiquez une adresse e-mail valide : elle sera votre identifiant.") }
            if name.count < 2 || name.count > 100 { errors.append("Indiquez votre nom et votre prénom (100 caractères au plus).") }
            func page(_ errors: [String], done: Bool, status: HTTPResponse.Status) -> Response {
                templates.page("sign-up", SignUpModel(page: PageChrome(context), email: done ? "" : String(typed.prefix(254)), name: done ? "" : String(name.prefix(100)),
                                                      errors: errors, hasErrors: !errors.isEmpty, done: done, approval: rules.approveSignUps), status: status)
            }
            guard errors.isEmpty, let email else { return page(errors, done: false, status: .unprocessableContent) }
            let logger = context.logger
            let link = publicAddress.base(of: record.center) + "/activation?jeton="
            let allowed = try await database.withCenter(record.id) { c -> Bool in
                // One connection signing up again and again is told to wait; one address gets a few mails an hour.
                guard try await LoginThrottle.allow(c, center: record.id, key: "signup-address:" + LoginThrottle.clientKey(context.remoteAddress),
                                                    rule: LoginThrottle.resetAddress, logger: logger) else { return false }
                guard try await LoginThrottle.allow(c, center: record.id, key: "signup:" + email.lowercased(), rule: LoginThrottle.resetAccount,
                                                    logger: logger) else { return true }
                let center = record.center
                switch try await FamilySignUp.signUp(c, center: record.id, email: email, name: name, approval: rules.approveSignUps,
                                                     validFor: Self.activationValidity, logger: logger) {
                case .activate(let token):
                    try await Outbox.enqueue(c, center: record.id, to: email, subject: "\(center.name) – création de votre compte famille", body: """
                        Bonjour,

                        Pour créer votre compte famille sur le portail de \(center.name), choisissez votre mot de passe avec ce lien, valable 7 jours :
                        \(link)\(token)

                        Vous pourrez ensuite ajouter vos enfants et compléter votre dossier.\(rules.approveSignUps ? " L'accueil valide ensuite votre inscription avant votre première réservation." : "")
                        Si vous n'avez rien demandé, ignorez ce message : aucun compte ne sera ouvert.

                        \(center.coordinates.name)
                        """, logger: logger)
                case .existing:
                    try await Outbox.enqueue(c, center: record.id, to: email, subject: "\(center.name) – votre compte famille", body: """
                        Bonjour,

                        Quelqu'un (vous, sans doute) a demandé à créer un compte famille avec cette adresse, qui en a déjà un.
                        Connectez-vous avec elle ; si vous avez oublié votre mot de passe : \(publicAddress.base(of: center))/mot-de-passe-oublie

                        \(center.coordinates.name)
                        """, logger: logger)
                }
                return true
            }
            guard allowed else { return page(["Trop de demandes depuis cette connexion. Réessayez dans une heure."], done: false, status: .tooManyRequests) }
            return page([], done: true, status: .ok)
        }

        router.post("/dossier/enfants") { _, context in
            let record = try context.requireCenter
            let family = try context.requireFamily
            guard record.center.familyFile?.selfSignUp == true else { throw HTTPError(.notFound) }
            let form = FamilyFileForms.NewChild(context.form, today: LocalDate(Date(), in: record.center.zone))
            guard form.errors.isEmpty, let birth = form.birthDate else {
                return try await familyFilePage(context, errors: form.errors, childForm: form, status: .unprocessableContent)
            }
            do {
                try await database.withCenter(record.id) { c in
                    try await FamilySignUp.addChild(c, center: record.id, family: family, firstName: form.firstName.uppercased(), lastName: form.lastName.uppercased(),
                                                    birthDate: birth, logger: context.logger)
                }
            } catch FamilySignUp.ChildRefusal.tooMany {
                return try await familyFilePage(context, errors: ["Votre famille compte déjà \(FamilySignUp.childrenPerFamily) enfants : adressez-vous à l'accueil."],
                                                childForm: form, status: .conflict)
            } catch FamilySignUp.ChildRefusal.duplicate {
                return try await familyFilePage(context, errors: ["\(form.firstName) est déjà dans votre dossier."], childForm: form, status: .conflict)
            }
            return Pages.redirect("\(context.basePath)/dossier?ok=enfant-ajoute#enfants")
        }
    }
}

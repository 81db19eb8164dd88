import Foundation
import Hummingbird
import PortailDomain
import PortailStore
import PostgresNIO

/// The people who log in to a family (issue 15, item 6): a parent of two households, a grandparent who
/// books, a co-parent at another center. GET lists them; POST adds one by e-mail (managers: it opens the
/// family's data, health forms included, to that person), who receives a link to choose a password or may
/// use the one they already have; DELETE removes one (any staff: removing access is always safe);
/// PUT …/billing-contact designates who pays and may keep the invoices to themself.
extension PortailRoutes {
    struct MemberInput: Decodable {
        let email: String
        let billingContact: Bool?
    }

    struct MembersBody: Encodable {
        struct Member: Encodable {
            let personId: Int64
            let email: String
            let hasLoggedIn: Bool
            let billingContact: Bool
            let ownAddress: Bool
        }
        let members: [Member]
        let invoicesBillingOnly: Bool
    }

    /// Why a member could not be added or removed, in the API's words and the back office's.
    enum MemberRefusal: Error {
        case refused(People.Refusal)
        case closedFamily
        /// The address was sent this mail a few times in the last hour.
        case tooManyMails

        var english: String {
            switch self {
            case .refused(.alreadyMember): "This person already belongs to the family."
            case .refused(.tooMany): "A family has at most \(People.membersPerFamily) people who log in to it."
            case .refused(.ownAddress): "The family's own address cannot be removed: change the family's e-mail instead."
            case .refused(.notMember): "This person does not belong to the family."
            case .closedFamily: "The family is deactivated or erased: reactivate it first."
            case .tooManyMails: "This address was given access several times in the last hour: try again later."
            }
        }

        var french: String {
            switch self {
            case .refused(.alreadyMember): "Cette personne a déjà accès à la famille."
            case .refused(.tooMany): "Une famille a au plus \(People.membersPerFamily) personnes qui s'y connectent."
            case .refused(.ownAddress): "L'adresse de la famille ne se retire pas : modifiez plutôt l'e-mail de la famille."
            case .refused(.notMember): "Cette personne n'a pas accès à la famille."
            case .closedFamily: "La famille est désactivée ou effacée : réactivez-la d'abord."
            case .tooManyMails: "Cette adresse a déjà reçu plusieurs invitations dans l'heure : réessayez plus tard."
            }
        }
    }

    func membersBody(_ c: PostgresConnection, record: CenterRecord, family: Int64) async throws -> MembersBody {
        let members = try await People.members(c, center: record.id, family: family, logger: database.logger)
        return MembersBody(
            members: members.map { .init(personId: $0.personID, email: $0.email, hasLoggedIn: $0.hasLoggedIn, billingContact: $0.billingContact,
                                         ownAddress: $0.ownAddress) },
            invoicesBillingOnly: try await People.invoicesBillingOnly(c, center: record.id, family: family, logger: database.logger))
    }

    /// Adds the person of `email` to the family, mails them their link (the same mail whether the address
    /// already has a login or not: nothing tells the staff of one center about another's), audited.
    func addFamilyMember(_ c: PostgresConnection, record: CenterRecord, family: FamilyAccount, email: String, billingContact: Bool,
                         actor: String) async throws -> People.Member {
        guard family.state != "deactivated" else { throw MemberRefusal.closedFamily }
        // One address gets a few of these mails an hour from a center, whatever its staff do.
        guard try await LoginThrottle.allow(c, center: record.id, key: "member-invite:" + email.lowercased(), rule: LoginThrottle.resetAccount,
                                            logger: database.logger) else { throw MemberRefusal.tooManyMails }
        try await FamilyFile.lockFamily(c, center: record.id, family: family.id, logger: database.logger)
        try await FamilyAdministration.touch(c, center: record.id, family: family.id, logger: database.logger)
        let member: People.Member
        do {
            member = try await People.addMember(c, center: record.id, family: family.id, email: email, logger: database.logger)
        } catch let refusal as People.Refusal {
            throw MemberRefusal.refused(refusal)
        }
        if billingContact {
            try await People.setBillingContact(c, center: record.id, family: family.id, person: member.personID, logger: database.logger)
        }
        let portal = publicAddress.base(of: record.center)
        let token = try await AccountRepository.issueToken(c, center: record.id, family: family.id, person: member.personID, purpose: "activation",
                                                           validFor: Self.activationValidity, logger: database.logger)
        try await Outbox.enqueue(c, center: record.id, to: email, subject: "\(record.center.name) – accès à un compte famille", body: """
            Bonjour,

            L'accueil de loisirs \(record.center.name) vous donne accès au compte famille \(family.name) sur son portail.

            Si vous avez déjà un identifiant sur un portail famille de la fédération, connectez-vous avec votre adresse \
            et votre mot de passe habituels : vous pourrez passer d'une famille à l'autre.
            Sinon, choisissez votre mot de passe avec ce lien (valable 7 jours) :
            \(portal)/activation?jeton=\(token)

            Si vous ne connaissez pas cette famille, ignorez ce message et prévenez l'accueil : \(record.center.coordinates.phone).

            \(record.center.coordinates.name)
            """, logger: database.logger)
        try await AuditLog.record(c, center: record.id, actor: actor, action: "family.member_add", subject: "famille \(family.id)",
                                  after: ["person": String(member.personID), "billing_contact": String(billingContact)], logger: database.logger)
        return member
    }

    /// What the staff change about one member of a family.
    enum MemberChange { case remove, designateBillingContact }

    /// Removes a member or makes them the billing contact: the family locked, a refusal in the staff's words,
    /// the audit log.
    func changeFamilyMember(_ c: PostgresConnection, record: CenterRecord, family: Int64, person: Int64, _ change: MemberChange,
                            actor: String) async throws {
        try await FamilyFile.lockFamily(c, center: record.id, family: family, logger: database.logger)
        do {
            switch change {
            case .remove: try await People.removeMember(c, center: record.id, family: family, person: person, logger: database.logger)
            case .designateBillingContact:
                try await People.setBillingContact(c, center: record.id, family: family, person: person, logger: database.logger)
            }
        } catch let refusal as People.Refusal {
            throw MemberRefusal.refused(refusal)
        }
        try await AuditLog.record(c, center: record.id, actor: actor, action: change == .remove ? "family.member_remove" : "family.billing_contact",
                                  subject: "famille \(family)", after: ["person": String(person)], logger: database.logger)
    }

    func addFamilyMemberRoutes(to router: Router<AppRequestContext>) {
        @Sendable func personID(_ context: AppRequestContext) throws -> Int64 {
            guard let id = context.parameters.get("person").flatMap({ Int64($0) }) else { throw APIProblem.notFound("Person ids are whole numbers.") }
            return id
        }
        @Sendable func problem(_ refusal: MemberRefusal) -> APIProblem {
            switch refusal {
            case .refused(.notMember): APIProblem.notFound(refusal.english)
            case .refused(.tooMany), .closedFamily, .refused(.alreadyMember), .refused(.ownAddress):
                APIProblem(status: .conflict, title: "Member refused", detail: refusal.english)
            case .tooManyMails: APIProblem(status: .tooManyRequests, title: "Too many invitations", detail: refusal.english)
            }
        }

        router.get("/api/centers/:code/families/:family/members") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let id = try familyID(context)
                let body = try await database.withCenter(record.id) { c in
                    try await requireFamily(c, record, id)
                    return try await membersBody(c, record: record, family: id)
                }
                return try API.json(body)
            }
        }

        router.post("/api/centers/:code/families/:family/members") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                let id = try familyID(context)
                var request = request
                let input = try await Self.decode(MemberInput.self, &request)
                try Self.checkEmail(input.email)
                do {
                    let body = try await database.withCenter(record.id) { c in
                        let family = try await requireFamily(c, record, id)
                        _ = try await addFamilyMember(c, record: record, family: family, email: input.email, billingContact: input.billingContact ?? false,
                                                      actor: "staff:\(staff.email)")
                        return try await membersBody(c, record: record, family: id)
                    }
                    return try API.json(body, status: .created)
                } catch let refusal as MemberRefusal {
                    throw problem(refusal)
                }
            }
        }

        router.delete("/api/centers/:code/families/:family/members/:person") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff)
                let id = try familyID(context)
                let person = try personID(context)
                do {
                    try await database.withCenter(record.id) { c in
                        try await requireFamily(c, record, id)
                        try await changeFamilyMember(c, record: record, family: id, person: person, .remove, actor: "staff:\(staff.email)")
                    }
                } catch let refusal as MemberRefusal {
                    throw problem(refusal)
                }
                return Response(status: .noContent)
            }
        }

        router.put("/api/centers/:code/families/:family/members/:person/billing-contact") { request, context in
            try await API.handle(request, database) { staff in
                let (record, _) = try await accessibleCenter(context, staff, managerOnly: true)
                let id = try familyID(context)
                let person = try personID(context)
                do {
                    let body = try await database.withCenter(record.id) { c in
                        try await requireFamily(c, record, id)
                        try await changeFamilyMember(c, record: record, family: id, person: person, .designateBillingContact, actor: "staff:\(staff.email)")
                        return try await membersBody(c, record: record, family: id)
                    }
                    return try API.json(body)
                } catch let refusal as MemberRefusal {
                    throw problem(refusal)
                }
            }
        }
    }
}

import Foundation

/// What a center asks of a family's file (dossier famille), from the `family_file:` block of its center
/// file: the items required before booking, the documents among them, how often parents confirm the file
/// is up to date, and the changes its staff validate.
public struct FamilyFileRules: Sendable, Hashable, Codable {
    public enum Item: String, Sendable, Hashable, Codable, CaseIterable {
        /// The family's address and phone.
        case contacts
        /// At least one other parent or legal guardian.
        case guardians
        /// At least one person allowed to pick the children up.
        case pickup
        /// Each child's health form.
        case health
        /// Each child's image, outing and going-home authorisations answered.
        case authorisations
        /// The documents listed in `documents`.
        case documents
    }

    public enum DocumentKind: String, Sendable, Hashable, Codable, CaseIterable {
        /// One per child.
        case vaccinations
        /// One per family.
        case insurance
        case caf

        public var perChild: Bool { self == .vaccinations }
    }

    public var required: [Item]
    public var documents: [DocumentKind]
    /// Parents confirm their file at least this often (days) before booking; nil: never asked.
    public var confirmEveryDays: Int?
    /// Items whose changes by parents wait for the staff's validation.
    public var validation: [Item]
    /// Families may create their account themselves (`/inscription`), then their file and children.
    public var selfSignUp: Bool
    /// An account created that way is approved by the staff before its first booking.
    public var approveSignUps: Bool

    public init(required: [Item] = [], documents: [DocumentKind] = [], confirmEveryDays: Int? = nil, validation: [Item] = [],
                selfSignUp: Bool = false, approveSignUps: Bool = false) {
        self.required = required
        self.documents = documents
        self.confirmEveryDays = confirmEveryDays
        self.validation = validation
        self.selfSignUp = selfSignUp
        self.approveSignUps = approveSignUps
    }

    enum CodingKeys: String, CodingKey {
        case required, documents, confirmEveryDays, validation, selfSignUp, approveSignUps
    }

    /// Rules stored before a key existed read as its default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(required: try c.decodeIfPresent([Item].self, forKey: .required) ?? [],
                  documents: try c.decodeIfPresent([DocumentKind].self, forKey: .documents) ?? [],
                  confirmEveryDays: try c.decodeIfPresent(Int.self, forKey: .confirmEveryDays),
                  validation: try c.decodeIfPresent([Item].self, forKey: .validation) ?? [],
                  selfSignUp: try c.decodeIfPresent(Bool.self, forKey: .selfSignUp) ?? false,
                  approveSignUps: try c.decodeIfPresent(Bool.self, forKey: .approveSignUps) ?? false)
    }

    /// Whether anything is asked before booking.
    public var asksAnything: Bool { !required.isEmpty || confirmEveryDays != nil || approveSignUps }
}

/// A family's file as the rules read it (no names of the database): what is filled in.
public struct FamilyFileSnapshot: Sendable {
    public struct Child: Sendable {
        public var id: Int64
        public var firstName: String
        public var healthDone: Bool
        public var authorisationsDone: Bool
        public init(id: Int64, firstName: String, healthDone: Bool, authorisationsDone: Bool) {
            self.id = id
            self.firstName = firstName
            self.healthDone = healthDone
            self.authorisationsDone = authorisationsDone
        }
    }

    public struct Document: Sendable {
        public var kind: FamilyFileRules.DocumentKind
        public var childID: Int64?
        /// Refused by the staff: as if missing.
        public var refused: Bool
        public init(kind: FamilyFileRules.DocumentKind, childID: Int64?, refused: Bool) {
            self.kind = kind
            self.childID = childID
            self.refused = refused
        }
    }

    public var contactsDone: Bool
    public var guardians: Int
    public var pickup: Int
    public var children: [Child]
    public var documents: [Document]
    public var confirmedAt: Date?
    /// Signed up by itself and not approved by the staff yet.
    public var awaitingApproval = false

    public init(contactsDone: Bool, guardians: Int, pickup: Int, children: [Child], documents: [Document], confirmedAt: Date?) {
        self.contactsDone = contactsDone
        self.guardians = guardians
        self.pickup = pickup
        self.children = children
        self.documents = documents
        self.confirmedAt = confirmedAt
    }
}

/// Something the center requires that the family's file lacks.
public enum FamilyFileGap: Sendable, Hashable {
    case contacts
    case guardians
    case pickup
    case health(child: String)
    case authorisations(child: String)
    case document(FamilyFileRules.DocumentKind, child: String?)
    /// Never confirmed, or confirmed too long ago.
    case confirmation
    /// The account the family created waits for the staff's approval.
    case approval
}

extension FamilyFileRules {
    /// What the file lacks before booking, in the order of the file's page.
    public func gaps(_ file: FamilyFileSnapshot, now: Date) -> [FamilyFileGap] {
        var gaps: [FamilyFileGap] = []
        if approveSignUps && file.awaitingApproval { gaps.append(.approval) }
        let required = Set(required)
        if required.contains(.contacts), !file.contactsDone { gaps.append(.contacts) }
        if required.contains(.guardians), file.guardians == 0 { gaps.append(.guardians) }
        if required.contains(.pickup), file.pickup == 0 { gaps.append(.pickup) }
        for child in file.children {
            if required.contains(.health), !child.healthDone { gaps.append(.health(child: child.firstName)) }
            if required.contains(.authorisations), !child.authorisationsDone { gaps.append(.authorisations(child: child.firstName)) }
        }
        if required.contains(.documents) {
            let held = file.documents.filter { !$0.refused }
            for kind in documents {
                if kind.perChild {
                    for child in file.children where !held.contains(where: { $0.kind == kind && $0.childID == child.id }) {
                        gaps.append(.document(kind, child: child.firstName))
                    }
                } else if !held.contains(where: { $0.kind == kind }) {
                    gaps.append(.document(kind, child: nil))
                }
            }
        }
        if let days = confirmEveryDays {
            if let confirmed = file.confirmedAt {
                if now.timeIntervalSince(confirmed) > Double(days) * 86_400 { gaps.append(.confirmation) }
            } else {
                gaps.append(.confirmation)
            }
        }
        return gaps
    }
}

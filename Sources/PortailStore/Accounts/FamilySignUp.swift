import Foundation
import Logging
import PortailDomain
import PostgresNIO

/// Self sign-up (issue 15, item 5), where a center's `family_file.self_sign_up` allows it: a family gives
/// its e-mail and name, receives the activation link (7 days), chooses its password, then fills its file
/// and adds its children. With `approve_sign_ups` the account joins the staff's queue and books only once
/// approved. The answer never says whether an address already has an account.
public enum FamilySignUp {
    public enum Outcome: Sendable, Equatable {
        /// A new account, or one created before and never activated: this activation link to send.
        case activate(token: String)
        /// The address already has an active (or closed) account: the mail says so, nothing is created.
        case existing
    }

    /// Children a family may add itself.
    public static let childrenPerFamily = 8

    public static func signUp(
        _ c: PostgresConnection, center: Int64, email: String, name: String, approval: Bool, validFor: TimeInterval, logger: Logger
    ) async throws -> Outcome {
        if let account = try await AccountRepository.family(c, center: center, email: email, logger: logger) {
            // Created before by this form and never activated: a new link; any other account: nothing new.
            let unactivated = try await c.first("""
                SELECT 1 FROM families WHERE center_id = \(center) AND id = \(account.id) AND state = 'invited' AND signed_up_at IS NOT NULL
                """, (Int.self), logger: logger) != nil
            guard unactivated else { return .existing }
            return .activate(token: try await AccountRepository.issueToken(c, center: center, family: account.id, purpose: "activation",
                                                                           validFor: validFor, logger: logger))
        }
        // Two sign-ups of one new address at once: the second finds the first's row, and answers as for
        // any address that has an account (never a 500 that would tell the address was new). Without
        // approval asked, the account is approved as it is created: turning approval on later does not
        // hold back accounts nobody was asked to approve.
        guard let family = try await c.first("""
            INSERT INTO families (center_id, email, name, state, signed_up_at, approved_at)
            VALUES (\(center), \(email), \(name), 'invited', now(), CASE WHEN \(approval) THEN NULL ELSE now() END)
            ON CONFLICT DO NOTHING
            RETURNING id
            """, (Int64.self), logger: logger) else { return .existing }
        try await AccountRepository.addOwnMember(c, center: center, family: family, email: email, logger: logger)
        if approval {
            try await c.run("""
                INSERT INTO family_file_changes (center_id, family_id, item, summary)
                VALUES (\(center), \(family), 'sign_up', \("Nouvelle inscription : \(name) (\(email))"))
                """, logger: logger)
        }
        try await AuditLog.record(c, center: center, actor: "famille \(family)", action: "family.sign_up", subject: "famille \(family)",
                                  after: ["approval": approval ? "asked" : "none"], logger: logger)
        return .activate(token: try await AccountRepository.issueToken(c, center: center, family: family, purpose: "activation", validFor: validFor,
                                                                       logger: logger))
    }

    public enum ChildRefusal: Error, Sendable, Equatable { case tooMany, duplicate }

    /// A child the family adds itself (a family that signed up has no one else to add them).
    @discardableResult
    public static func addChild(
        _ c: PostgresConnection, center: Int64, family: Int64, firstName: String, lastName: String, birthDate: LocalDate, logger: Logger
    ) async throws -> Int64 {
        try await FamilyFile.lockFamily(c, center: center, family: family, logger: logger)
        let children = try await AccountRepository.children(c, center: center, family: family, logger: logger)
        guard children.count < childrenPerFamily else { throw ChildRefusal.tooMany }
        guard !children.contains(where: { $0.firstName.lowercased() == firstName.lowercased() && $0.birthDate == birthDate }) else {
            throw ChildRefusal.duplicate
        }
        let id = try await AccountRepository.addChild(c, center: center, family: family, firstName: firstName, lastName: lastName,
                                                      birthDate: birthDate, logger: logger)
        try await AuditLog.record(c, center: center, actor: "famille \(family)", action: "family.child_added", subject: "famille \(family)",
                                  after: ["child": String(id)], logger: logger)
        return id
    }
}

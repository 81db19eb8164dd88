import Foundation
import Logging
import PostgresNIO

/// Who holds a back-office session, as `portail_staff_session` tells it.
public struct StaffSession: Sendable {
    public var staffID: Int64
    public var email: String
    public var name: String
    public var isFederationAdmin: Bool
    public var csrf: String
    /// The password, and the second factor when one is required, were given.
    public var complete: Bool
    /// A manager or a federation administrator: a TOTP code (or a recovery code) after the password.
    public var needsSecondFactor: Bool
    public var totpEnabled: Bool
}

/// The back office's sign-in, through the database's functions (migration 0023): the application never
/// reads a staff password hash but the one it checks, nor a session token, TOTP secret or recovery code.
public enum StaffSignIn {
    /// How long a back-office session lives without a new sign-in; it ends sooner after 30 minutes without a
    /// request (migration 0030).
    public static let sessionLifetime: TimeInterval = 12 * 3600

    /// The id and password hash of the active person with that e-mail, if any.
    public static func credentials(_ c: PostgresConnection, email: String, logger: Logger) async throws -> (id: Int64, hash: String?)? {
        try await c.first("SELECT id, password_hash FROM portail_staff_credentials(\(email))", (Int64, String?).self, logger: logger)
            .map { (id: $0.0, hash: $0.1) }
    }

    /// Opens a session after the password: returns its token and whether it is complete already (no second
    /// factor required); nil when the person cannot sign in (deactivated, no password).
    public static func open(_ c: PostgresConnection, staff: Int64, logger: Logger) async throws -> (token: String, complete: Bool)? {
        let token = SecretToken.generate()
        let complete = try await c.first("""
            SELECT portail_staff_open_session(\(staff), \(SecretToken.hash(token)), \(SecretToken.generate()),
                                              now() + make_interval(secs => \(sessionLifetime)))
            """, (Bool?.self), logger: logger)
        guard let complete, let complete else { return nil }
        return (token, complete)
    }

    public static func session(_ c: PostgresConnection, token: String, logger: Logger) async throws -> StaffSession? {
        guard SecretToken.looksValid(token) else { return nil }
        return try await c.first("""
            SELECT staff_id, email, name, is_federation_admin, csrf, complete, needs_second_factor, totp_enabled
            FROM portail_staff_session(\(SecretToken.hash(token)))
            """, (Int64, String, String, Bool, String, Bool, Bool, Bool).self, logger: logger).map {
            StaffSession(staffID: $0.0, email: $0.1, name: $0.2, isFederationAdmin: $0.3, csrf: $0.4, complete: $0.5,
                         needsSecondFactor: $0.6, totpEnabled: $0.7)
        }
    }

    /// A new token for a session whose second factor was just given; nil when it cannot be renewed.
    public static func renew(_ c: PostgresConnection, token: String, logger: Logger) async throws -> String? {
        let fresh = SecretToken.generate()
        let renewed = try await c.first("SELECT portail_staff_renew_session(\(SecretToken.hash(token)), \(SecretToken.hash(fresh)))",
                                        (Bool?.self), logger: logger)
        return renewed == .some(.some(true)) ? fresh : nil
    }

    public static func close(_ c: PostgresConnection, token: String, logger: Logger) async throws {
        guard SecretToken.looksValid(token) else { return }
        try await c.run("SELECT portail_staff_close_session(\(SecretToken.hash(token)))", logger: logger)
    }

    /// The secret to check a TOTP code against, and whether it is the enabled one (false: being enrolled).
    public static func totpSecret(_ c: PostgresConnection, token: String, logger: Logger) async throws -> (secret: String, enrolled: Bool)? {
        try await c.first("SELECT secret, enrolled FROM portail_staff_totp_secret(\(SecretToken.hash(token)))", (String, Bool).self, logger: logger)
            .map { (secret: $0.0, enrolled: $0.1) }
    }

    /// Starts enrolling `secret` (while no TOTP secret is enabled); false otherwise.
    public static func beginTOTP(_ c: PostgresConnection, token: String, secret: String, logger: Logger) async throws -> Bool {
        let began = try await c.first("SELECT portail_staff_begin_totp(\(SecretToken.hash(token)), \(secret))", (Bool?.self), logger: logger)
        return began == .some(.some(true))
    }

    /// What a TOTP code did: enabled the enrolled secret (with the recovery codes given), or passed.
    public enum TOTPOutcome: Sendable { case enrolled, passed }

    /// A code of `step`, checked against the secret: accepted once per step; the first enables the secret
    /// with `recoveryCodes` (ten, shown once to the person). Nil when refused (a step already seen).
    public static func passTOTP(_ c: PostgresConnection, token: String, step: Int64, recoveryCodes: [String], logger: Logger) async throws -> TOTPOutcome? {
        let hashes = recoveryCodes.map { SecretToken.hash(normalisedRecoveryCode($0)).readableBytesView.map { String(format: "%02x", $0) }.joined() }
        let answer: String?? = try await c.first("""
            SELECT portail_staff_pass_totp(\(SecretToken.hash(token)), \(step), ARRAY(SELECT decode(h, 'hex') FROM unnest(\(hashes)::text[]) AS h))
            """, (String?.self), logger: logger)
        switch answer {
        case .some(.some("enrolled")): return .enrolled
        case .some(.some("passed")): return .passed
        default: return nil
        }
    }

    public static func useRecoveryCode(_ c: PostgresConnection, token: String, code: String, logger: Logger) async throws -> Bool {
        try await c.first("""
            SELECT portail_staff_use_recovery_code(\(SecretToken.hash(token)), \(SecretToken.hash(normalisedRecoveryCode(code))))
            """, (Bool.self), logger: logger) ?? false
    }

    public static func recoveryCodesLeft(_ c: PostgresConnection, token: String, logger: Logger) async throws -> Int {
        try await c.first("SELECT portail_staff_recovery_codes_left(\(SecretToken.hash(token)))", (Int.self), logger: logger) ?? 0
    }

    /// Ten new recovery codes, "ABCD-EFGH" (no 0/O or 1/I to confuse).
    public static func newRecoveryCodes() -> [String] {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return (0..<10).map { _ in
            let letters = (0..<8).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
            return String(letters[0..<4]) + "-" + String(letters[4..<8])
        }
    }

    /// A recovery code as typed, made comparable: capitals, no spaces nor dashes.
    public static func normalisedRecoveryCode(_ code: String) -> String {
        code.uppercased().filter { $0.isLetter || $0.isNumber }
    }

    /// The person an invitation code is for, while it is live.
    public static func invitation(_ c: PostgresConnection, code: String, logger: Logger) async throws -> String? {
        guard SecretToken.looksValid(code) else { return nil }
        return try await c.first("SELECT email FROM portail_staff_invitation(\(SecretToken.hash(code)))", (String.self), logger: logger)
    }

    /// Chooses the password of the person an invitation is for (using it up, and closing their sessions).
    public static func setPassword(_ c: PostgresConnection, code: String, hash: String, logger: Logger) async throws -> (staff: Int64, email: String, center: Int64?)? {
        guard SecretToken.looksValid(code) else { return nil }
        return try await c.first("""
            SELECT staff_id, email, center_id FROM portail_staff_set_password(\(SecretToken.hash(code)), \(hash))
            """, (Int64, String, Int64?).self, logger: logger).map { (staff: $0.0, email: $0.1, center: $0.2) }
    }

    /// The centers where the session's holder has a role, with that role ("manager", "staff").
    public static func centers(_ c: PostgresConnection, token: String, logger: Logger) async throws -> [(center: Int64, role: String)] {
        try await c.all("SELECT center_id, role FROM portail_staff_centers(\(SecretToken.hash(token)))", (Int64, String).self, logger: logger)
            .map { (center: $0.0, role: $0.1) }
    }

    // MARK: The owner's door (the CLI, the demo)

    /// Sets a person's password and closes their sessions; false when there is no such active person.
    /// The owner's connection only: the application role cannot write a password hash.
    /// `keepingOne`: only when the person has none yet (the demo's next start changes nothing).
    public static func ownerSetPassword(_ c: PostgresConnection, email: String, hash: String, keepingOne: Bool = false,
                                        logger: Logger) async throws -> Bool {
        guard let id = try await c.first("""
            UPDATE staff_users SET password_hash = \(hash)
            WHERE lower(email) = lower(\(email)) AND state = 'active' AND (NOT \(keepingOne) OR password_hash IS NULL) RETURNING id
            """, (Int64.self), logger: logger) else { return false }
        try await c.run("DELETE FROM staff_sessions WHERE staff_id = \(id)", logger: logger)
        return true
    }

    /// Gives a person a role at a center (the demo's staff); the owner's connection only.
    public static func ownerGrant(_ c: PostgresConnection, staff: Int64, center: Int64, role: String, logger: Logger) async throws {
        try await c.run("""
            INSERT INTO staff_center_roles (center_id, staff_id, role) VALUES (\(center), \(staff), \(role))
            ON CONFLICT (center_id, staff_id) DO NOTHING
            """, logger: logger)
    }

    // MARK: Throttle

    /// One client guessing one person's password: 5 tries, then 1 min, doubling up to 15 min. Charged
    /// before the check (parallel guesses see each other), cleared by a success.
    public static let pairRule = LoginThrottle.Rule(freeFailures: 5, firstBlock: 60, maxBlock: 15 * 60)
    /// One client across people: 30 failures, then 1 min doubling up to 30 min.
    public static let addressRule = LoginThrottle.Rule(freeFailures: 30, firstBlock: 60, maxBlock: 30 * 60)

    /// Charges one attempt to `key`; nil when charged, else until when the key is blocked.
    public static func charge(_ c: PostgresConnection, key: String, rule: LoginThrottle.Rule, logger: Logger) async throws -> Date? {
        if try await c.first("""
            INSERT INTO staff_sign_in_failures AS t (key, failures) VALUES (\(key), 1)
            ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN t.last_failure_at < now() - make_interval(secs => \(rule.window)) THEN 1 ELSE t.failures + 1 END,
                last_failure_at = now(),
                blocked_until = CASE
                    WHEN t.last_failure_at < now() - make_interval(secs => \(rule.window)) THEN NULL
                    WHEN t.failures + 1 >= \(rule.freeFailures)
                    THEN now() + make_interval(secs => least(\(rule.maxBlock),
                                                             \(rule.firstBlock) * power(2, least(t.failures + 1 - \(rule.freeFailures), 20))))
                    ELSE NULL END
            WHERE t.blocked_until IS NULL OR t.blocked_until <= now()
            RETURNING 1
            """, (Int.self), logger: logger) != nil {
            return nil
        }
        return try await c.first("SELECT blocked_until FROM staff_sign_in_failures WHERE key = \(key)", (Date?.self), logger: logger) ?? Date()
    }

    /// When the latest of `keys` may try again, if any is blocked now.
    public static func blockedUntil(_ c: PostgresConnection, keys: [String], logger: Logger) async throws -> Date? {
        try await c.first("""
            SELECT max(blocked_until) FROM staff_sign_in_failures WHERE key = ANY(\(keys)) AND blocked_until > now()
            """, (Date?.self), logger: logger) ?? nil
    }

    public static func clear(_ c: PostgresConnection, key: String, logger: Logger) async throws {
        try await c.run("DELETE FROM staff_sign_in_failures WHERE key = \(key)", logger: logger)
    }

    /// A new API token for the holder of a complete back-office session, for their own scripts; the
    /// secret is returned once. Nil when the session is not complete.
    public static func issueToken(_ c: PostgresConnection, session token: String, label: String, expiresAt: Date, logger: Logger) async throws
        -> (id: Int64, secret: String)? {
        let secret = StaffRepository.tokenPrefix + SecretToken.generate()
        let row = try await c.first("""
            SELECT portail_staff_session_token(\(SecretToken.hash(token)), \(label), \(SecretToken.hash(secret)), \(expiresAt))
            """, (Int64?.self), logger: logger)
        guard let found = row, let id = found else { return nil }
        return (id, secret)
    }

    /// Clears the authenticator app and recovery codes of `staff` and ends their sessions, when the holder of
    /// `token` may (a federation administrator; a manager of the current center for someone who works
    /// there only). Run in the center's transaction.
    public static func resetSecondFactor(_ c: PostgresConnection, session token: String, staff: Int64, logger: Logger) async throws -> Bool {
        try await c.first("SELECT portail_staff_reset_totp(\(SecretToken.hash(token)), \(staff))", (Bool.self), logger: logger) ?? false
    }
}

import HummingbirdBcrypt
import NIOPosix

/// bcrypt, off the request threads (each hash or check takes tens of milliseconds by design).
public enum Passwords {
    public static let cost: UInt8 = 10
    /// Longer input is refused before any hashing (bcrypt reads 72 bytes; nobody types 256).
    public static let maxLength = 256

    public static func hash(_ password: String) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// Checks a password; with no stored hash it still spends the same time, so that timing does not
    /// tell whether an account exists.
    public static func verify(_ password: String, hash: String?) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive {
            Bcrypt.verify(password, hash: hash ?? dummyHash) && hash != nil
        }
    }

    /// The hash of a random string, to compare against when there is no account.
    static let dummyHash = Bcrypt.hash("no account here: \(UInt64.random(in: .min ... .max))", cost: cost)

    /// What a new password must satisfy, as a French sentence, or nil when it is fine.
    public static func weakness(of password: String) -> String? {
        if password.count < 10 { return "Le mot de passe doit contenir au moins 10 caractères." }
        if password.utf8.count > 72 { return "Le mot de passe doit contenir au plus 72 caractères." }
        if Set(password).count < 4 { return "Le mot de passe est trop simple : variez les caractères." }
        return nil
    }
}

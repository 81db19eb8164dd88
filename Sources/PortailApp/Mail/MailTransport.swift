import Logging
import PortailStore

/// How mails leave the outbox.
public protocol MailTransport: Sendable {
    func send(_ mail: Outbox.Mail, from: String, logger: Logger) async throws
}

/// The demo's and development's transport: the mail is written to the log (and stays listed on the
/// development mail page).
public struct LogMailTransport: MailTransport {
    public init() {}

    public func send(_ mail: Outbox.Mail, from: String, logger: Logger) async throws {
        logger.notice("mail to \(mail.to) from \(from): \(mail.subject)\n\(mail.body)")
    }
}

import Foundation
import Logging
import NIOCore
import NIOSSL
import PortailConfig
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// A real SMTP server (aiosmtpd, from PyPI) on loopback, storing what it receives in a maildir.
final class LocalSMTPServer {
    let port = Int.random(in: 20_000...40_000)
    let maildir = NSTemporaryDirectory() + "maildir-\(UUID().uuidString)"
    let process = Process()

    /// How the server speaks: in clear, with STARTTLS required before AUTH (RFC 3207), or TLS from the
    /// first byte; with TLS it asks for a user and a password (`LocalSMTPServer.user`, `.password`).
    enum Security { case plain, startTLS, implicitTLS }

    static let user = "portail"
    static let password = "mot de passe"

    /// A self-signed certificate for 127.0.0.1, made by openssl for this server only.
    private(set) var certificate: String?

    init(_ security: Security = .plain) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        switch security {
        case .plain:
            process.arguments = ["python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "aiosmtpd.handlers.Mailbox", maildir]
        case .startTLS, .implicitTLS:
            let (certificate, key) = try Self.makeCertificate(in: maildir + "-tls")
            self.certificate = certificate
            process.arguments = ["python3", "-c", Self.tlsServer, String(port), maildir, certificate, key,
                                 security == .startTLS ? "starttls" : "smtps", Self.user, Self.password]
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// aiosmtpd's command line has no AUTH: a few lines of its API do.
    static let tlsServer = """
        import ssl, sys, time
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox
        from aiosmtpd.smtp import AuthResult, LoginPassword
        port, maildir, cert, key, mode, user, password = sys.argv[1:8]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        def check(server, session, envelope, mechanism, data):
            # handled=False: aiosmtpd answers 235 or 535 itself.
            return AuthResult(success=isinstance(data, LoginPassword)
                              and data.login == user.encode() and data.password == password.encode(), handled=False)
        if mode == "starttls":
            options = dict(tls_context=context, require_starttls=True, auth_require_tls=True)
        else:
            # TLS from the first byte; aiosmtpd does not count it as TLS for AUTH, so it is not asked to.
            options = dict(ssl_context=context, server_hostname="127.0.0.1", auth_require_tls=False)
        Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port), authenticator=check, **options).start()
        while True:
            time.sleep(3600)
        """

    static func makeCertificate(in folder: String) throws -> (certificate: String, key: String) {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (certificate, key) = (folder + "/cert.pem", folder + "/key.pem")
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                             "-keyout", key, "-out", certificate]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else { throw POSIXError(.EIO) }
        return (certificate, key)
    }

    /// A client that trusts this server's certificate (and nothing else).
    func clientTLS() throws -> TLSConfiguration {
        guard let certificate else { throw POSIXError(.ENOENT) }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate))
        return tls
    }

    /// Waits until the server accepts connections (it is a real process: it takes a moment).
    func waitUntilReady() async throws {
        for _ in 0..<100 {
            if process.isRunning == false { Issue.record("aiosmtpd did not start: pip install aiosmtpd (scripts/test does)"); return }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if connected == 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("aiosmtpd is not listening on port \(port)")
    }

    var messages: [String] {
        let folder = maildir + "/new"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.compactMap { try? String(contentsOfFile: folder + "/" + $0, encoding: .utf8) }
    }

    /// Stops the server and waits for it, so that no test leaves it running (aiosmtpd ignores SIGTERM).
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: maildir)
        try? FileManager.default.removeItem(atPath: maildir + "-tls")
    }

    deinit { stop() }
}

/// A transport that keeps what it sends; `during` runs inside each send, and a subject in `failing` fails.
final class RecordingTransport: MailTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var mails: [Outbox.Mail] = []
    let failing: Set<String>
    let during: @Sendable (Outbox.Mail) async throws -> Void

    init(failing: Set<String> = [], during: @escaping @Sendable (Outbox.Mail) async throws -> Void = { _ in }) {
        self.failing = failing
        self.during = during
    }

    var sent: [Outbox.Mail] { lock.withLock { mails } }

    func send(_ mail: Outbox.Mail, from: String, logger: Logger) async throws {
        try await during(mail)
        if failing.contains(mail.subject) {
            throw SMTPMailTransport.SMTPError(step: "RCPT TO", reply: "550 no such user")
        }
        lock.withLock { mails.append(mail) }
    }
}

/// One center in a fresh database, its pools running, for the outbox's delivery.
func withOutbox(_ body: @Sendable (Database, CenterRecord) async throws -> Void) async throws {
    let settings = try await TestCluster.shared.freshDatabase()
    let logger = TestCluster.logger
    let folder = NSTemporaryDirectory() + "outbox-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try TestCenters.small(code: "petit", places: 3)
        .write(toFile: folder + "/petit.yaml", atomically: true, encoding: .utf8)
    let files = try CenterCatalog.files(in: folder)
    try await Database(settings: settings, logger: logger).run { database in
        let snapshot = try await Bootstrap.loadCenters(
            files: files, paymentRules: [], environment: [:], database: database, logger: logger
        )
        try await body(database, try #require(snapshot.centers.first))
    }
}

@Suite struct MailTests {
    static let logger = Logger(label: "test")

    static func mail(_ subject: String = "Essai") -> Outbox.Mail {
        Outbox.Mail(id: 1, to: "parent@example.org", subject: subject, body: "Bonjour.", createdAt: Date(), sentAt: nil)
    }

    static func send(_ settings: SMTPSettings, tls: TLSConfiguration = .makeClientConfiguration()) async throws {
        try await SMTPMailTransport(settings: settings, tls: tls).send(mail(), from: "alsh@example.org", logger: logger)
    }

    static func job(_ database: Database, _ record: CenterRecord, _ transport: some MailTransport)
        -> MaintenanceService {
        let directory = CenterDirectory(.init(centers: [record], failures: []))
        return MaintenanceService(database: database, directory: directory, mail: transport, logger: database.logger)
    }

    @Test func smtpURLsAreParsed() throws {
        let plain = try SMTPSettings(url: "smtp://relay.example.org")
        #expect(try plain == SMTPSettings(url: "smtp://relay.example.org:25"))
        #expect(!plain.implicitTLS && plain.username == nil)
        let tls = try SMTPSettings(url: "smtps://user%40example.org:p%40ss@smtp.example.org")
        #expect(tls.port == 465 && tls.implicitTLS)
        #expect(tls.username == "user@example.org" && tls.password == "p@ss")
        #expect(throws: SMTPSettings.InvalidURL.self) { try SMTPSettings(url: "http://smtp.example.org") }
        #expect(throws: SMTPSettings.InvalidURL.self) { try SMTPSettings(url: "smtp://user@smtp.example.org") }
    }

    @Test func aMailCrossesARealSMTPServer() async throws {
        let server = try LocalSMTPServer()
        defer { server.stop() }
        try await server.waitUntilReady()
        let transport = SMTPMailTransport(settings: try SMTPSettings(url: "smtp://127.0.0.1:\(server.port)"))
        let mail = Outbox.Mail(id: 7, to: "parent@example.org", subject: "ALSH d'Opio – réinitialisation",
                               body: "Bonjour,\n\nVoici le lien : https://portail.example.org/reinitialisation?jeton=abc\n\nÀ bientôt.",
                               createdAt: Date(), sentAt: nil, requestID: "3f2a9c")
        try await transport.send(mail, from: "alsh.opio@example.org", logger: Logger(label: "test"))
        let message = try #require(server.messages.first)
        #expect(message.contains("To: <parent@example.org>"))
        #expect(message.contains("From: <alsh.opio@example.org>"))
        #expect(message.contains("X-Portail-Request-Id: 3f2a9c"))
        #expect(message.contains("Subject: =?UTF-8?B?\(Data("ALSH d'Opio – réinitialisation".utf8).base64EncodedString())?="))
        let body = try #require(message.components(separatedBy: "\n\n").dropFirst().first ?? message.components(separatedBy: "\r\n\r\n").dropFirst().first)
        let decoded = String(decoding: Data(base64Encoded: body.replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\n", with: ""))!, as: UTF8.self)
        #expect(decoded.contains("À bientôt."))
        #expect(decoded.contains("jeton=abc"))
    }

    @Test func aRefusingServerIsAnError() async throws {
        // Nothing listens on this port: the outbox keeps the mail and counts the attempt.
        let transport = SMTPMailTransport(settings: try SMTPSettings(url: "smtp://127.0.0.1:9"))
        let mail = Outbox.Mail(id: 1, to: "a@example.org", subject: "s", body: "b", createdAt: Date(), sentAt: nil)
        await #expect(throws: (any Error).self) { try await transport.send(mail, from: "b@example.org", logger: Logger(label: "test")) }
    }

    // MARK: TLS and timeouts

    @Test func credentialsGoThroughSTARTTLS() async throws {
        let server = try LocalSMTPServer(.startTLS)
        defer { server.stop() }
        try await server.waitUntilReady()
        // The server refuses everything but STARTTLS before TLS, and AUTH in clear: a mail through proves both.
        var settings = try SMTPSettings(url: "smtp://portail:mot%20de%20passe@127.0.0.1:\(server.port)")
        let tls = try server.clientTLS()
        try await Self.send(settings, tls: tls)
        #expect(server.messages.count == 1)
        #expect(server.messages.first?.contains("To: <parent@example.org>") == true)

        // The password is checked after TLS: a wrong one is refused at AUTH.
        settings.password = "faux"
        await #expect {
            try await Self.send(settings, tls: tls)
        } throws: { ($0 as? SMTPMailTransport.SMTPError)?.step == "AUTH" }
        // The certificate is checked: with the system's trust roots, the self-signed one stops the mail at TLS
        // (the handshake fails; under load the server may have closed the connection first).
        await #expect {
            try await Self.send(settings)
        } throws: { $0 is NIOSSLError || ($0 as? ChannelError) == .ioOnClosedChannel }
        #expect(server.messages.count == 1)
    }

    @Test func smtpsSpeaksTLSFromTheFirstByte() async throws {
        let server = try LocalSMTPServer(.implicitTLS)
        defer { server.stop() }
        try await server.waitUntilReady()
        let settings = try SMTPSettings(url: "smtps://portail:mot%20de%20passe@127.0.0.1:\(server.port)")
        try await Self.send(settings, tls: try server.clientTLS())
        #expect(server.messages.count == 1)
    }

    @Test func credentialsAreNotSentInClear() async throws {
        // This server offers no STARTTLS: the password would cross the network as it is.
        let server = try LocalSMTPServer()
        defer { server.stop() }
        try await server.waitUntilReady()
        let settings = try SMTPSettings(url: "smtp://portail:secret@127.0.0.1:\(server.port)")
        await #expect(throws: SMTPMailTransport.CleartextCredentials.self) {
            try await Self.send(settings)
        }
        #expect(server.messages.isEmpty)
    }

    @Test func aSilentServerTimesOut() async throws {
        let (fd, port) = try silentSocket()
        defer { close(fd) }
        var settings = try SMTPSettings(url: "smtp://127.0.0.1:\(port)")
        settings.readTimeout = .milliseconds(300)
        var start = ContinuousClock.now
        await #expect {
            try await Self.send(settings)
        } throws: { ($0 as? SMTPMailTransport.Timeout)?.what.contains("no answer") == true }
        #expect(ContinuousClock.now - start < .seconds(5))

        // The whole conversation has a limit too, whatever the reads do.
        settings.readTimeout = .seconds(30)
        settings.conversationTimeout = .milliseconds(300)
        start = ContinuousClock.now
        await #expect {
            try await Self.send(settings)
        } throws: { ($0 as? SMTPMailTransport.Timeout)?.what.contains("conversation") == true }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    // MARK: Delivery of the outbox

    @Test func mailsAreSentWithNoTransactionOpenAndEachOutcomeIsRecorded() async throws {
        try await withOutbox { database, record in
            let logger = database.logger
            try await database.withCenter(record.id) { c in
                for subject in ["Un", "Deux"] {
                    try await Outbox.enqueue(
                        c, center: record.id, to: "a@example.org", subject: subject, body: "…", logger: logger
                    )
                }
            }
            let transport = RecordingTransport(failing: ["Deux"]) { mail in
                // While a mail goes out its row is not locked, and no session of this database is in a
                // transaction.
                try await database.owner.withConnection { c in
                    _ = try await c.all(
                        "SELECT id FROM mail_outbox WHERE id = \(mail.id) FOR UPDATE NOWAIT", (Int64.self),
                        logger: logger
                    )
                    let open = try await c.first("""
                        SELECT count(*)::int FROM pg_stat_activity
                        WHERE datname = current_database() AND pid <> pg_backend_pid()
                          AND state LIKE 'idle in transaction%'
                        """, (Int.self), logger: logger)
                    #expect(open == 0)
                }
            }
            await Self.job(database, record, transport).runOnce()
            #expect(transport.sent.map(\.subject) == ["Un"])
            let rows = try await database.owner.withConnection { c in
                try await c.all(
                    "SELECT subject, sent_at IS NOT NULL, attempts, last_error FROM mail_outbox ORDER BY id",
                    (String, Bool, Int, String?).self, logger: logger
                )
            }
            #expect(rows.map(\.0) == ["Un", "Deux"])
            #expect(rows[0].1 && rows[0].2 == 1 && rows[0].3 == nil)
            #expect(!rows[1].1 && rows[1].2 == 1 && rows[1].3?.contains("550") == true)
        }
    }

    @Test func anotherInstanceDeliveringIsLeftAloneAndACrashedOneIsTakenOver() async throws {
        try await withOutbox { database, record in
            let logger = database.logger
            try await database.withCenter(record.id) { c in
                try await Outbox.enqueue(
                    c, center: record.id, to: "a@example.org", subject: "Un", body: "…", logger: logger
                )
            }
            let transport = RecordingTransport()
            let job = Self.job(database, record, transport)
            let other = Database(settings: database.settings, logger: logger)
            try await other.run { other in
                // Another instance is delivering this center's mail: this one leaves it alone.
                let ran = try await Outbox.withDeliveryLock(other, center: record.id) {
                    await job.runOnce()
                    return true
                }
                #expect(ran == true)
                #expect(transport.sent.isEmpty)
                // It dies while delivering: it never unlocks.
                let (space, key) = (Outbox.deliveryLockSpace, Outbox.deliveryLockKey(record.id))
                try await other.app.withConnection { c in
                    try await c.run("SELECT pg_advisory_lock(\(space), \(key))", logger: logger)
                }
                await job.runOnce()
                #expect(transport.sent.isEmpty)
            }
            // Its connections closed with it, and its lock with them: a next pass here delivers the mail.
            for _ in 0..<50 where transport.sent.isEmpty {
                await job.runOnce()
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(transport.sent.map(\.subject) == ["Un"])
        }
    }
}

import Foundation
import Logging
import NIOSSL
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

@Suite struct MailTests {
    static let logger = Logger(label: "test")

    static func mail(_ subject: String = "Essai") -> Outbox.Mail {
        Outbox.Mail(id: 1, to: "parent@example.org", subject: subject, body: "Bonjour.", createdAt: Date(), sentAt: nil)
    }

    static func send(_ settings: SMTPSettings, tls: TLSConfiguration = .makeClientConfiguration()) async throws {
        try await SMTPMailTransport(settings: settings, tls: tls).send(mail(), from: "alsh@example.org", logger: logger)
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
                               createdAt: Date(), sentAt: nil)
        try await transport.send(mail, from: "alsh.opio@example.org", logger: Logger(label: "test"))
        let message = try #require(server.messages.first)
        #expect(message.contains("To: <parent@example.org>"))
        #expect(message.contains("From: <alsh.opio@example.org>"))
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
        // The certificate is checked: with the system's trust roots, the self-signed one stops the mail at TLS.
        await #expect {
            try await Self.send(settings)
        } throws: { $0 is NIOSSLError }
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
}

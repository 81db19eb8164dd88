import Foundation
import Logging
import Testing
@testable import PortailApp
@testable import PortailStore

/// A real SMTP server (aiosmtpd, from PyPI) on loopback, storing what it receives in a maildir.
final class LocalSMTPServer {
    let port = Int.random(in: 20_000...40_000)
    let maildir = NSTemporaryDirectory() + "maildir-\(UUID().uuidString)"
    let process = Process()

    init() throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "aiosmtpd.handlers.Mailbox", maildir]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
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
    }

    deinit { stop() }
}

@Suite struct MailTests {
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
}

import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PortailStore

/// Where the SMTP server is: `SMTP_URL=smtp://user:password@relay.example.org:25` (plain, for a relay on
/// a trusted network) or `smtps://user:password@smtp.example.org:465` (TLS from the first byte).
public struct SMTPSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var implicitTLS: Bool
    public var username: String?
    public var password: String?

    public struct InvalidURL: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "SMTP_URL is not usable (\(reason)); expected smtp://USER:PASSWORD@HOST:PORT or smtps://…" }
    }

    public init(url text: String) throws {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["smtp", "smtps"].contains(scheme) else {
            throw InvalidURL(reason: "it must start with smtp:// or smtps://")
        }
        guard let host = url.host, !host.isEmpty else { throw InvalidURL(reason: "no host") }
        self.host = host
        implicitTLS = scheme == "smtps"
        port = url.port ?? (implicitTLS ? 465 : 25)
        username = url.user?.removingPercentEncoding
        password = url.password?.removingPercentEncoding
        if (username == nil) != (password == nil) { throw InvalidURL(reason: "give both user and password, or neither") }
    }
}

/// Sends the outbox over SMTP: EHLO, AUTH PLAIN when credentials are given, MAIL FROM, RCPT TO, DATA
/// with a UTF-8 text body in base64, QUIT. One connection per mail: the outbox is small and retried.
public struct SMTPMailTransport: MailTransport {
    let settings: SMTPSettings

    public init(settings: SMTPSettings) { self.settings = settings }

    public struct SMTPError: Error, CustomStringConvertible {
        public let step: String
        public let reply: String
        public var description: String { "SMTP \(step) refused: \(reply)" }
    }

    public func send(_ mail: Outbox.Mail, from: String, logger: Logger) async throws {
        let settings = self.settings
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: settings.host, port: settings.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if settings.implicitTLS {
                        let context = try NIOSSLContext(configuration: .makeClientConfiguration())
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: settings.host))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var session = SMTPSession(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            try await session.expect("greeting", 220)
            try await session.command("EHLO portail-famille", step: "EHLO", 250)
            if let user = settings.username, let password = settings.password {
                let credentials = Data("\u{0}\(user)\u{0}\(password)".utf8).base64EncodedString()
                try await session.command("AUTH PLAIN \(credentials)", step: "AUTH", 235)
            }
            try await session.command("MAIL FROM:<\(Self.clean(from))>", step: "MAIL FROM", 250)
            try await session.command("RCPT TO:<\(Self.clean(mail.to))>", step: "RCPT TO", 250, 251)
            try await session.command("DATA", step: "DATA", 354)
            try await session.write(Self.message(mail, from: from) + "\r\n.\r\n")
            try await session.expect("message", 250)
            try? await session.command("QUIT", step: "QUIT", 221)
        }
        logger.info("mail \(mail.id) sent to \(mail.to) through \(settings.host)")
    }

    /// No CR or LF in what goes into a command or a header.
    static func clean(_ text: String) -> String {
        text.filter { $0 != "\r" && $0 != "\n" }
    }

    /// The RFC 5322 message: UTF-8 subject as an encoded word, body in base64 lines of 76.
    static func message(_ mail: Outbox.Mail, from: String) -> String {
        let subject = "=?UTF-8?B?\(Data(clean(mail.subject).utf8).base64EncodedString())?="
        let date = DateFormatter()
        date.locale = Locale(identifier: "en_US_POSIX")
        date.timeZone = TimeZone(identifier: "UTC")
        date.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        let domain = from.split(separator: "@").last.map(String.init) ?? "portail.local"
        let body = Data(mail.body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n").utf8)
            .base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        return [
            "From: <\(clean(from))>",
            "To: <\(clean(mail.to))>",
            "Subject: \(subject)",
            "Date: \(date.string(from: mail.createdAt))",
            "Message-ID: <outbox-\(mail.id)-\(Int(mail.createdAt.timeIntervalSince1970))@\(clean(domain))>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: base64",
            "",
            body,
        ].joined(separator: "\r\n")
    }
}

/// The reply reading and command writing of one SMTP conversation.
struct SMTPSession {
    var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var pending = ""

    mutating func line() async throws -> String {
        while true {
            if let range = pending.range(of: "\r\n") {
                let line = String(pending[..<range.lowerBound])
                pending.removeSubrange(..<range.upperBound)
                return line
            }
            guard let buffer = try await inbound.next() else { throw SMTPMailTransport.SMTPError(step: "connection", reply: "closed by the server") }
            pending += String(buffer: buffer)
        }
    }

    /// Reads one reply (its continuation lines "250-..." up to "250 ...") and checks its code.
    mutating func expect(_ step: String, _ codes: Int...) async throws {
        try await expect(step, codes)
    }

    mutating func expect(_ step: String, _ codes: [Int]) async throws {
        var text: [String] = []
        while true {
            let line = try await line()
            text.append(line)
            if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-" { break }
        }
        let code = Int(text.last!.prefix(3)) ?? 0
        guard codes.contains(code) else { throw SMTPMailTransport.SMTPError(step: step, reply: text.joined(separator: " | ")) }
    }

    mutating func command(_ command: String, step: String, _ codes: Int...) async throws {
        try await write(command + "\r\n")
        try await expect(step, codes)
    }

    func write(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }
}

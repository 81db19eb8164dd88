import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PortailStore

/// Where the SMTP server is: `SMTP_URL=smtp://user:password@smtp.example.org:587` (STARTTLS before the
/// password is sent; a relay on a trusted network takes `smtp://relay:25` without credentials, in clear)
/// or `smtps://user:password@smtp.example.org:465` (TLS from the first byte).
public struct SMTPSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var implicitTLS: Bool
    public var username: String?
    public var password: String?
    /// A dead or silent server must not hold the maintenance job: connecting, each reply, and the whole
    /// conversation of one mail have their limits.
    public var connectTimeout: Duration = .seconds(10)
    public var readTimeout: Duration = .seconds(30)
    public var conversationTimeout: Duration = .seconds(120)

    public struct InvalidURL: Error, CustomStringConvertible {
        public let reason: String
        public var description: String {
            "SMTP_URL is not usable (\(reason)); expected smtp://USER:PASSWORD@HOST:PORT or smtps://…"
        }
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

/// Sends the outbox over SMTP: EHLO, STARTTLS (RFC 3207) and EHLO again when credentials go over
/// smtp://, AUTH PLAIN when credentials are given, MAIL FROM, RCPT TO, DATA with a UTF-8 text body in
/// base64, QUIT. One connection per mail: the outbox is small and retried.
public struct SMTPMailTransport: MailTransport {
    let settings: SMTPSettings
    /// How the server's certificate is checked: the system's trust roots; tests trust their own.
    let tls: TLSConfiguration

    public init(settings: SMTPSettings, tls: TLSConfiguration = .makeClientConfiguration()) {
        self.settings = settings
        self.tls = tls
    }

    public struct SMTPError: Error, CustomStringConvertible {
        public let step: String
        public let reply: String
        public var description: String { "SMTP \(step) refused: \(reply)" }
    }

    /// The password would cross the network in clear: the mail is not sent (and stays in the outbox).
    public struct CleartextCredentials: Error, CustomStringConvertible {
        public let server: String
        public var description: String {
            "the SMTP server \(server) does not offer STARTTLS: the password is not sent in clear; "
                + "use smtps:// or a server that offers STARTTLS"
        }
    }

    /// The server said nothing for too long, or the conversation took too long.
    public struct Timeout: Error, CustomStringConvertible {
        public let server: String
        public let what: String
        public var description: String { "the SMTP server \(server) timed out: \(what)" }
    }

    public func send(_ mail: Outbox.Mail, from: String, logger: Logger) async throws {
        let settings = self.settings
        let server = "\(settings.host):\(settings.port)"
        let context = try NIOSSLContext(configuration: tls)
        let silence = Timeout(server: server, what: "no answer within \(settings.readTimeout)")
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(settings.connectTimeout))
                .connect(host: settings.host, port: settings.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if settings.implicitTLS {
                            try pipeline.addHandler(Self.tlsHandler(context, host: settings.host))
                        }
                        try pipeline.addHandler(IdleStateHandler(readTimeout: TimeAmount(settings.readTimeout)))
                        try pipeline.addHandler(SilenceHandler(error: silence))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch ChannelError.connectTimeout {
            throw Timeout(server: server, what: "no connection within \(settings.connectTimeout)")
        }
        // A server that answers a byte at a time escapes the read timeout: the whole conversation has one too.
        let slow = Timeout(server: server, what: "the conversation took more than \(settings.conversationTimeout)")
        let raw = channel.channel
        let deadline = raw.eventLoop.scheduleTask(in: TimeAmount(settings.conversationTimeout)) {
            raw.pipeline.fireErrorCaught(slow)
            raw.close(promise: nil)
        }
        defer { deadline.cancel() }
        try await channel.executeThenClose { inbound, outbound in
            var session = SMTPSession(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            try await session.expect("greeting", 220)
            let extensions = try await session.hello()
            if settings.username != nil && !settings.implicitTLS {
                guard extensions.contains("STARTTLS") else { throw CleartextCredentials(server: server) }
                try await session.command("STARTTLS", step: "STARTTLS", 220)
                // Anything the server sent after its 220 came before TLS: it cannot be trusted (RFC 3207 §6).
                guard session.pending.isEmpty else { throw SMTPError(step: "STARTTLS", reply: "data before TLS") }
                try await raw.eventLoop.submit {
                    try raw.pipeline.syncOperations.addHandler(
                        Self.tlsHandler(context, host: settings.host), position: .first
                    )
                }.get()
                // RFC 3207 §4.2: what the server said before TLS is forgotten; ask again.
                _ = try await session.hello()
            }
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
        logger.info("mail \(mail.id) sent to \(mail.to) through \(server)")
    }

    /// TLS to `host`, its certificate checked; an IP address is checked against the certificate's IP
    /// entries, as it cannot be sent as a server name (SNI).
    static func tlsHandler(_ context: NIOSSLContext, host: String) throws -> NIOSSLClientHandler {
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
    }

    /// No CR or LF in what goes into a command or a header.
    static func clean(_ text: String) -> String {
        // By scalars: "\r\n" is one Character, equal to neither "\r" nor "\n".
        String(String.UnicodeScalarView(text.unicodeScalars.filter { $0 != "\r" && $0 != "\n" }))
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
        let trace: [String] = mail.requestID.map { ["X-Portail-Request-Id: \(clean($0))"] } ?? []
        let headers: [String] = [
            "From: <\(clean(from))>",
            "To: <\(clean(mail.to))>",
            "Subject: \(subject)",
            "Date: \(date.string(from: mail.createdAt))",
            "Message-ID: <outbox-\(mail.id)-\(Int(mail.createdAt.timeIntervalSince1970))@\(clean(domain))>",
        ] + trace + [
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: base64",
        ]
        return (headers + ["", body]).joined(separator: "\r\n")
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

    @discardableResult
    mutating func expect(_ step: String, _ codes: [Int]) async throws -> [String] {
        var text: [String] = []
        while true {
            let line = try await line()
            text.append(line)
            if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-" { break }
        }
        let code = Int(text.last!.prefix(3)) ?? 0
        guard codes.contains(code) else { throw SMTPMailTransport.SMTPError(step: step, reply: text.joined(separator: " | ")) }
        return text
    }

    /// EHLO, and the extensions the server offers ("STARTTLS", "AUTH", …), upper-cased keywords.
    mutating func hello() async throws -> Set<String> {
        try await write("EHLO portail-famille\r\n")
        let lines = try await expect("EHLO", [250])
        return Set(lines.dropFirst().compactMap { $0.dropFirst(4).split(separator: " ").first?.uppercased() })
    }

    mutating func command(_ command: String, step: String, _ codes: Int...) async throws {
        try await write(command + "\r\n")
        try await expect(step, codes)
    }

    func write(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }
}

/// Turns the idle event of the read timeout into an error, so that the waiting read throws it and the
/// connection closes.
final class SilenceHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let error: SMTPMailTransport.Timeout

    init(error: SMTPMailTransport.Timeout) { self.error = error }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.fireErrorCaught(error)
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

import Foundation
import Logging

/// One JSON object per line on standard output (`PORTAIL_LOG_FORMAT=json`), for log collectors (Loki,
/// Elasticsearch, CloudWatch): time (UTC, milliseconds), level, label, message, source, and the entry's
/// metadata, among them Hummingbird's `hb.request.id`, which ties every line of one request together.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardOutput) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
                    file: String, function: String, line: UInt) {
        var fields: [String: Any] = [:]
        let merged = self.metadata.merging(metadataProvider?.get() ?? [:]) { $1 }.merging(explicit ?? [:]) { $1 }
        for (key, value) in merged { fields[key] = Self.json(value) }
        fields["time"] = Self.timestamp(Date())
        fields["level"] = level.rawValue
        fields["label"] = label
        fields["message"] = message.description
        fields["source"] = source
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        write(String(decoding: data, as: UTF8.self))
    }

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(json)
        case .dictionary(let values): values.mapValues(json)
        }
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    private static let lock = NSLock()

    /// A whole line at a time, so that lines of concurrent requests never interleave.
    public static let standardOutput: @Sendable (String) -> Void = { line in
        lock.withLock { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    }

    /// Logs as JSON lines when `PORTAIL_LOG_FORMAT` is `json`; the default text otherwise. Call once, first.
    public static func bootstrap(environment: [String: String]) {
        guard environment["PORTAIL_LOG_FORMAT"] == "json" else { return }
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
    }
}

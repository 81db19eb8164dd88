import Foundation
import PortailDomain

/// The result of reading a set of center files: the valid centers and, per file, its problems.
public struct CenterCatalog: Sendable {
    /// A center file that was read and found valid.
    public struct Loaded: Sendable {
        public var file: String
        public var center: Center
        /// The file's text, whose digest tells whether it changed since it was last imported.
        public var text: String
    }

    /// A center file with at least one problem; the other files are still usable.
    public struct Failed: Sendable {
        public var file: String
        /// The center's code when it could be read, so that health reports can name it.
        public var code: String?
        public var issues: [ConfigIssue]

        public init(file: String, code: String?, issues: [ConfigIssue]) {
            self.file = file
            self.code = code
            self.issues = issues
        }
    }

    public var centers: [Loaded]
    public var failures: [Failed]
    /// Problems that do not stop a file from loading.
    public var warnings: [ConfigIssue] = []

    public var allIssues: [ConfigIssue] { failures.flatMap(\.issues) }

    /// Reads every file; cross-file rules (unique codes and hosts) are checked over the whole set.
    public static func load(
        files: [String],
        paymentRules: [PaymentTypeRule],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        secretsRequired: Bool = true
    ) -> CenterCatalog {
        let texts = files.concurrentMap { file -> (file: String, text: Result<String, ConfigIssue>) in
            do {
                return (file, .success(try String(contentsOfFile: file, encoding: .utf8)))
            } catch {
                return (file, .failure(ConfigIssue(file: file, line: 1, column: 1, path: "", message: "cannot read the file: \(error.localizedDescription)")))
            }
        }
        return parse(sources: texts, paymentRules: paymentRules, environment: environment, secretsRequired: secretsRequired)
    }

    /// Reads centers from in-memory texts (file name, text), as the admin API will post them.
    public static func parse(
        sources: [(file: String, text: Result<String, ConfigIssue>)],
        paymentRules: [PaymentTypeRule],
        environment: [String: String],
        secretsRequired: Bool = true
    ) -> CenterCatalog {
        let rules = Dictionary(paymentRules.map { ($0.type, $0) }, uniquingKeysWith: { a, _ in a })
        typealias Position = (line: Int, column: Int, path: String)
        typealias Parsed = (file: String, text: String, center: Center?, issues: [ConfigIssue], warnings: [ConfigIssue],
                            positions: [String: Position])
        // Each file is parsed on its own, so they are parsed on every core (a federation has many).
        var parsed = sources.concurrentMap { source -> Parsed in
            let file = source.file
            switch source.text {
            case .failure(let issue):
                return (file, "", nil, [issue], [], [:])
            case .success(let text):
                let diagnostics = Diagnostics(file: file)
                let parser = CenterFileParser(diagnostics: diagnostics, paymentRules: rules, environment: environment, secretsRequired: secretsRequired)
                let center = parser.parse(text: text)
                return (file, text, center, diagnostics.errors, diagnostics.warnings, diagnostics.positions)
            }
        }
        let warnings = parsed.flatMap(\.warnings)
        // Codes, hosts and bank accounts are unique across the federation: the later file is the one reported.
        var codeOwner: [String: String] = [:]
        var hostOwner: [String: String] = [:]
        var accountOwner: [String: String] = [:]
        for i in parsed.indices {
            guard let center = parsed[i].center else { continue }
            let file = parsed[i].file
            let positions = parsed[i].positions
            if let other = codeOwner[center.code] {
                let at = positions["code"] ?? (1, 1, "code")
                parsed[i].issues.append(ConfigIssue(file: file, line: at.line, column: at.column, path: at.path,
                                                    message: "center code \"\(center.code)\" is already used by \(other)"))
            } else {
                codeOwner[center.code] = file
            }
            if let payment = center.payment, let account = rules[payment.type]?.account(payment.parameters) {
                if let other = accountOwner[account] {
                    let at = positions["payment"] ?? (1, 1, "payment")
                    parsed[i].issues.append(ConfigIssue(file: file, line: at.line, column: at.column, path: at.path,
                                                        message: "the bank account (\(account)) is already \(other)'s: each center needs its own, "
                                                            + "since the bank notifies one address per account"))
                } else {
                    accountOwner[account] = file
                }
            }
            for host in center.hosts {
                if let other = hostOwner[host] {
                    let at = positions["host:\(host)"] ?? (1, 1, "hosts")
                    parsed[i].issues.append(ConfigIssue(file: file, line: at.line, column: at.column, path: at.path,
                                                        message: "host \"\(host)\" is already served by \(other)"))
                } else {
                    hostOwner[host] = file
                }
            }
        }
        var catalog = CenterCatalog(centers: [], failures: [], warnings: warnings)
        for entry in parsed {
            if let center = entry.center, entry.issues.isEmpty {
                catalog.centers.append(Loaded(file: entry.file, center: center, text: entry.text))
            } else {
                catalog.failures.append(Failed(file: entry.file, code: entry.center?.code, issues: entry.issues))
            }
        }
        return catalog
    }

    /// The `*.yaml` and `*.yml` files of a folder, sorted by name.
    public static func files(in directory: String) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            .map { (directory as NSString).appendingPathComponent($0) }
    }
}

extension Array where Element: Sendable {
    /// `map` run on all cores, results in the order of the elements.
    func concurrentMap<T: Sendable>(_ transform: @Sendable (Element) -> T) -> [T] {
        let results = ConcurrentResults<T>(count: count)
        withoutActuallyEscaping(transform) { transform in
            DispatchQueue.concurrentPerform(iterations: count) { index in
                results.set(index, transform(self[index]))
            }
        }
        return results.values.map { $0! }
    }
}

/// The slots that `concurrentMap` fills, each from one iteration, under a lock.
private final class ConcurrentResults<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [T?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: T) { lock.withLock { values[index] = value } }
}

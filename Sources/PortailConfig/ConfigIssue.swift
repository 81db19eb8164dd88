/// One problem found in a center file, with where it is and what to do about it.
public struct ConfigIssue: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// Field path such as `periods[1].units[0]`.
    public var path: String
    public var message: String
    /// A warning does not stop the file from loading (a secret missing where files are only checked).
    public var isWarning: Bool

    public init(file: String, line: Int, column: Int, path: String, message: String, isWarning: Bool = false) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
        self.isWarning = isWarning
    }

    /// "centers/opio.yaml:42:7: periods[1].ends_on: ..." — the form compilers use, so editors can jump to it.
    public var description: String {
        "\(file):\(line):\(column): \(isWarning ? "warning: " : "")\(path.isEmpty ? "" : "\(path): ")\(message)"
    }
}

/// The problems of a set of center files, thrown when any was found.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]
    public init(issues: [ConfigIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// The closest candidate to a misspelled word, for "did you mean" hints.
func nearest(to word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    let limit = max(2, word.count / 3)
    return best.1 <= limit ? best.0 : nil
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

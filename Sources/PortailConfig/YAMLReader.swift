import Foundation
import PortailDomain
import Yams

/// Reads a center file's YAML tree. The parser types every value itself (text, whole number, date ...),
/// so Yams' default resolver, which tried seven regular expressions on every key of every mapping (to
/// find duplicate keys), is left out: it was most of the time spent reading a file. Without it every
/// plain scalar is text, and two keys written alike (`1:` and `"1":`) are the duplicates that the parser
/// would take them for.
enum YAMLTree {
    /// An anchor (`&x`) or alias (`*x`) where YAML would read one. A center file needs neither, and an
    /// alias repeats a subtree without its cost in bytes ("billion laughs"): checking the keys of such a
    /// tree would hold a core for minutes.
    struct AliasFound: Error, CustomStringConvertible {
        var line: Int
        var column: Int
        var description: String {
            "anchors and aliases (&name, *name) are not accepted in a center file: write the values out, or quote a text that starts with & or *"
        }
    }

    static func compose(_ text: String) throws -> Node? {
        if let found = aliasOrAnchor(in: text) { throw found }
        // An empty constructor: the tree is walked, never turned into Swift values by Yams.
        return try Yams.compose(yaml: text, .basic, Constructor([:], [:], [:]))
    }

    /// The first `&` or `*` that starts a node outside quotes and comments: at the start of a line, after
    /// "- ", ": ", "? ", "[", "{" or ",". A plain scalar cannot start with either, so this finds every
    /// anchor and alias; a "*" inside a text ("Vacances * été") is not one.
    static func aliasOrAnchor(in text: String) -> AliasFound? {
        var line = 1
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            defer { line += 1 }
            var quote: Character?
            var atStart = true
            var previous: Character = " "
            for (offset, c) in raw.enumerated() {
                defer { previous = c }
                if let open = quote {
                    if c == open { quote = nil }
                    continue
                }
                if c == "#" && (previous == " " || previous == "\t" || offset == 0) { break }
                if c == " " || c == "\t" {
                    if previous == ":" { atStart = true }
                    continue
                }
                if "[{,".contains(c) { atStart = true; continue }
                guard atStart else { continue }
                if c == "&" || c == "*" { return AliasFound(line: line, column: offset + 1) }
                if c == "-" || c == "?" { continue }
                if c == "\"" || c == "'" { quote = c }
                atStart = false
            }
        }
        return nil
    }
}

/// Collects the issues of one file while its YAML tree is read.
final class Diagnostics {
    let file: String
    private(set) var issues: [ConfigIssue] = []
    /// Where some values were written (the code, each host), for checks made after parsing.
    var positions: [String: (line: Int, column: Int, path: String)] = [:]

    init(file: String) { self.file = file }

    func report(_ message: String, at node: Node?, path: String) {
        report(message, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, path: path)
    }

    func report(_ message: String, line: Int, column: Int, path: String = "", isWarning: Bool = false) {
        issues.append(ConfigIssue(file: file, line: line, column: column, path: path, message: message, isWarning: isWarning))
    }

    var errors: [ConfigIssue] { issues.filter { !$0.isWarning } }
    var warnings: [ConfigIssue] { issues.filter(\.isWarning) }
}

/// A node of the YAML tree with its field path, and typed accessors that report instead of throwing.
struct Field {
    let node: Node
    let path: String
    let diagnostics: Diagnostics

    func child(_ key: String, _ node: Node) -> Field {
        Field(node: node, path: path.isEmpty ? key : "\(path).\(key)", diagnostics: diagnostics)
    }

    func element(_ index: Int, _ node: Node) -> Field {
        Field(node: node, path: "\(path)[\(index)]", diagnostics: diagnostics)
    }

    func report(_ message: String) { diagnostics.report(message, at: node, path: path) }

    /// Remembers where this field was written, under `name`.
    func remember(as name: String) {
        diagnostics.positions[name] = (node.mark?.line ?? 1, node.mark?.column ?? 1, path)
    }

    /// A plain string; numbers and dates written without quotes are taken as their text.
    var string: String? {
        guard case .scalar(let scalar) = node else {
            report("expected a text value, found \(node.kindName)")
            return nil
        }
        // Compared by name: `Tag(.null)` would build a tag (and its constructor) for every value read.
        if scalar.tag.rawValue == Tag.Name.null.rawValue && scalar.style == .plain {
            report("expected a text value, found nothing")
            return nil
        }
        if scalar.string.utf8.contains(0) {
            report("contains a NUL character: remove it")
            return nil
        }
        if scalar.string.count > Self.maxText {
            report("is \(scalar.string.count) characters long: at most \(Self.maxText)")
            return nil
        }
        return scalar.string
    }

    /// The longest text a center file may hold in one value (a legal mention is a few lines).
    static let maxText = 2_000

    var nonEmptyString: String? {
        guard let s = string else { return nil }
        let trimmed = s.trimmedOfWhitespace
        if trimmed.isEmpty { report("must not be empty"); return nil }
        return trimmed
    }

    var int: Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let value = Int(scalar.string) else {
            report("expected a whole number, found \(node.describedValue)")
            return nil
        }
        return value
    }

    var bool: Bool? {
        guard case .scalar(let scalar) = node, scalar.style == .plain else {
            report("expected true or false, found \(node.describedValue)")
            return nil
        }
        switch scalar.string.lowercased() {
        case "true", "yes", "oui": return true
        case "false", "no", "non": return false
        default:
            report("expected true or false, found \(node.describedValue)")
            return nil
        }
    }

    var date: LocalDate? {
        guard let s = string else { return nil }
        guard let d = LocalDate(iso: s) else {
            report("expected a date written YYYY-MM-DD, found \"\(s)\"")
            return nil
        }
        return d
    }

    var time: LocalTime? {
        guard let s = string else { return nil }
        guard let t = LocalTime(parsing: s) else {
            report("expected a time written HH:MM (24 h), found \"\(s)\"")
            return nil
        }
        return t
    }

    var dateTime: LocalDateTime? {
        guard let s = string else { return nil }
        guard let v = LocalDateTime(parsing: s) else {
            report("expected a date and time written YYYY-MM-DDTHH:MM, found \"\(s)\"")
            return nil
        }
        return v
    }

    var money: Money? {
        guard case .scalar(let scalar) = node else {
            report("expected an amount in euros such as \"12.50\", found \(node.kindName)")
            return nil
        }
        guard let m = Money(parsing: scalar.string), m.cents >= 0 else {
            report("expected an amount in euros with at most two decimals, such as \"12.50\", found \(node.describedValue)")
            return nil
        }
        return m
    }

    var weekday: Weekday? {
        guard let s = string else { return nil }
        guard let w = Weekday(rawValue: s.lowercased()) else {
            let hint = nearest(to: s, in: Weekday.allCases.map(\.rawValue)).map { " (did you mean \"\($0)\"?)" } ?? ""
            report("unknown weekday \"\(s)\"\(hint); write lundi, mardi, mercredi, jeudi, vendredi, samedi or dimanche")
            return nil
        }
        return w
    }

    /// The elements of a sequence (a single scalar is not accepted as a one-element list).
    var list: [Field]? {
        guard case .sequence(let sequence) = node else {
            report("expected a list, found \(node.kindName)")
            return nil
        }
        return sequence.enumerated().map { element($0.offset, $0.element) }
    }

    /// Reads a mapping whose keys must all be among `keys`; unknown keys are reported with a hint.
    func mapping(keys: [String]) -> MappingFields? {
        guard case .mapping(let mapping) = node else {
            report("expected a mapping of keys to values, found \(node.kindName)")
            return nil
        }
        var values: [String: Field] = [:]
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string else { continue }
            let field = child(key, valueNode)
            if keys.contains(key) {
                values[key] = field
            } else {
                let hint = nearest(to: key, in: keys).map { "; did you mean \"\($0)\"?" } ?? "; allowed keys: \(keys.joined(separator: ", "))"
                diagnostics.report("unknown key \"\(key)\"\(hint)", at: keyNode, path: field.path)
            }
        }
        return MappingFields(owner: self, values: values)
    }

    /// A mapping whose keys are free (codes), in file order.
    var entries: [(key: String, keyNode: Node, field: Field)]? {
        guard case .mapping(let mapping) = node else {
            report("expected a mapping, found \(node.kindName)")
            return nil
        }
        return mapping.compactMap { keyNode, valueNode in
            guard let key = keyNode.string else { return nil }
            return (key, keyNode, child(key, valueNode))
        }
    }
}

/// The known keys of one mapping.
struct MappingFields {
    let owner: Field
    let values: [String: Field]

    subscript(_ key: String) -> Field? { values[key] }

    /// A key that must be present; reports it at the mapping when missing.
    func required(_ key: String) -> Field? {
        if let field = values[key] { return field }
        owner.diagnostics.report("missing required key \"\(key)\"", at: owner.node, path: owner.path.isEmpty ? key : "\(owner.path).\(key)")
        return nil
    }
}

extension Node {
    var kindName: String {
        switch self {
        case .scalar: "a single value"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    var describedValue: String {
        if case .scalar(let s) = self { return "\"\(s.string)\"" }
        return kindName
    }
}

extension String {
    /// The text without white space and line breaks at either end: what
    /// `trimmingCharacters(in: .whitespacesAndNewlines)` gives (both are Unicode's White_Space), without
    /// its detour through NSString, which a file's hundreds of values made a tenth of the parsing time.
    var trimmedOfWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        if first == scalars.startIndex && last == scalars.index(before: scalars.endIndex) { return self }
        return String(scalars[first...last])
    }
}

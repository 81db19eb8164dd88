import NIOCore

/// A value a template reads: what `TemplateValues` makes of a page's model before rendering.
indirect enum TemplateValue: Sendable {
    case text(String)
    /// HTML the model wrote and escaped itself (`Markup`), copied as it is by `{{{name}}}`.
    case markup([UInt8])
    case bool(Bool)
    case list([TemplateValue])
    case object([String: TemplateValue])
}

/// The page templates' Mustache, parsed once at start into nodes whose names are already split, and rendered
/// into bytes. It reads the Mustache the templates use, with swift-mustache's meaning (which the templates were
/// written for): variables (`{{name}}`, `{{a.b}}`, `{{.}}`, `{{{raw}}}`, `{{&raw}}`), sections and inverted
/// sections, comments, partials (`{{> name}}`), a layout and its blocks (`{{<layout}}{{$block}}…{{/block}}`);
/// a line holding only a section's, a comment's, a partial's or a block's tag leaves no line in the page. It
/// escapes every `{{value}}` with `HTML.escape`.
/// Why not swift-mustache itself (docs/architecture.md, "The templates are Mustache read by the portal's own
/// engine"): its name lookups (splitting each dotted name and trying dynamic casts at every `{{name}}`) took a
/// fifth of the server's time on "Mon compte".
struct TemplateEngine: Sendable {
    private let templates: [String: [TemplateNode]]

    /// Parses every template: `name` → its text (the file's name without `.mustache`).
    init(sources: [String: String]) throws {
        var templates: [String: [TemplateNode]] = [:]
        for (name, source) in sources {
            do {
                var parser = TemplateParser(source)
                templates[name] = try parser.parse(TemplateParser.State())
            } catch let error as TemplateParser.Failure {
                throw TemplateParser.Failure(message: "\(name).mustache: \(error.message)")
            }
        }
        for (name, nodes) in templates {
            for partial in TemplateNode.partials(in: nodes) where templates[partial] == nil {
                throw TemplateParser.Failure(message: "\(name).mustache: no template \(partial).mustache")
            }
        }
        self.templates = templates
    }

    /// The page, or nil when there is no such template.
    func render(_ name: String, _ value: TemplateValue) -> ByteBuffer? {
        guard let nodes = templates[name] else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(16_384)
        render(nodes, Scope(stack: [value], indentation: "", blocks: [:]), into: &out)
        return ByteBuffer(bytes: out)
    }

    private struct Scope {
        var stack: [TemplateValue]
        /// Put before each line of a partial written alone on its line, after the first.
        var indentation: String
        /// The blocks a page gives its layout; the outermost page's block wins.
        var blocks: [String: [TemplateNode]]

        func pushing(_ value: TemplateValue) -> Scope {
            var scope = self
            scope.stack.append(value)
            return scope
        }
    }

    private func render(_ nodes: [TemplateNode], _ scope: Scope, into out: inout [UInt8]) {
        if scope.indentation.isEmpty {
            for node in nodes { render(node, scope, into: &out) }
            return
        }
        // Indented: a node's output that starts a line (of this template's output) gets the indentation first.
        let start = out.count
        for node in nodes {
            var part: [UInt8] = []
            render(node, scope, into: &part)
            if !part.isEmpty, out.count > start, out.last == UInt8(ascii: "\n") { out.append(contentsOf: scope.indentation.utf8) }
            out.append(contentsOf: part)
        }
    }

    private func render(_ node: TemplateNode, _ scope: Scope, into out: inout [UInt8]) {
        switch node {
        case .text(let bytes):
            out.append(contentsOf: bytes)
        case .variable(let path, let escaped):
            guard let value = Self.lookup(path, in: scope.stack) else { return }
            switch value {
            case .text(let text): escaped ? HTML.append(escaping: text, to: &out) : HTML.append(text, to: &out)
            case .markup(let bytes): escaped ? HTML.append(escaping: String(decoding: bytes, as: UTF8.self), to: &out) : out.append(contentsOf: bytes)
            case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
            case .list, .object: break
            }
        case .section(let path, let children, let inverted):
            let value = Self.lookup(path, in: scope.stack)
            if inverted {
                switch value {
                case .none, .bool(false): render(children, scope, into: &out)
                case .list(let items) where items.isEmpty: render(children, scope, into: &out)
                default: break
                }
                return
            }
            switch value {
            case .none, .bool(false): break
            case .bool(true): render(children, scope, into: &out)
            case .list(let items): for item in items { render(children, scope.pushing(item), into: &out) }
            case .some(let value): render(children, scope.pushing(value), into: &out)
            }
        case .partial(let name, let indentation, let blocks):
            guard let nodes = templates[name] else { return }
            var inner = scope
            inner.indentation += indentation
            inner.blocks.merge(blocks) { outer, _ in outer }
            render(nodes, inner, into: &out)
        case .block(let name, let defaults, let indentation):
            var inner = scope
            inner.indentation += indentation
            render(scope.blocks[name] ?? defaults, inner, into: &out)
        }
    }

    private static func lookup(_ path: TemplatePath, in stack: [TemplateValue]) -> TemplateValue? {
        guard let first = path.names.first else { return stack.last }
        var value: TemplateValue?
        if path.fromTop {
            value = stack.last.flatMap { child(first, of: $0) }
        } else {
            for frame in stack.reversed() {
                if let found = child(first, of: frame) { value = found; break }
            }
        }
        for name in path.names.dropFirst() {
            guard let parent = value else { return nil }
            value = child(name, of: parent)
        }
        return value
    }

    private static func child(_ name: String, of value: TemplateValue) -> TemplateValue? {
        if case .object(let fields) = value { return fields[name] }
        return nil
    }
}

/// A name as a template writes it: `a.b` is `["a", "b"]`; `.` is the current value (no names); `.a` reads
/// `a` of the current value only, without looking further up.
struct TemplatePath: Sendable {
    let names: [String]
    let fromTop: Bool

    init(_ written: String) {
        names = written.split(separator: ".").map(String.init)
        fromTop = written.hasPrefix(".")
    }
}

enum TemplateNode: Sendable {
    case text([UInt8])
    case variable(TemplatePath, escaped: Bool)
    case section(TemplatePath, [TemplateNode], inverted: Bool)
    /// `{{> name}}`, or `{{<name}}` with the blocks it gives.
    case partial(String, indentation: String, blocks: [String: [TemplateNode]])
    /// `{{$name}}default{{/name}}` in a layout.
    case block(String, [TemplateNode], indentation: String)

    static func partials(in nodes: [TemplateNode]) -> [String] {
        nodes.flatMap { node -> [String] in
            switch node {
            case .text, .variable: return []
            case .section(_, let children, _): return partials(in: children)
            case .partial(let name, _, let blocks): return [name] + blocks.values.flatMap(partials(in:))
            case .block(_, let children, _): return partials(in: children)
            }
        }
    }
}

/// Reads a template's text into nodes. Lines are cut at each newline; whitespace that starts a line is held
/// until the line shows whether it holds only a tag that leaves no line ("standalone").
struct TemplateParser {
    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    struct State {
        /// The section (or layout, or block) this level closes.
        var closing: String?
        /// Nothing but spaces has been read on this line yet.
        var newLine = true
        /// Inside `{{<layout}}` … (blocks given to a layout), and directly at its level.
        var inLayoutCall = false
        var atLayoutCallLevel = false
        /// Inside a block given to a layout: the first line's leading spaces, taken off each following line.
        var definitionIndent: Int?
    }

    private enum Parsed {
        case node(TemplateNode)
        case blockDefinition(String, [TemplateNode])
    }

    private let bytes: [UInt8]
    private var position = 0

    init(_ source: String) {
        bytes = Array(source.utf8)
    }

    private static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), newline = UInt8(ascii: "\n")
    private static let open = UInt8(ascii: "{"), close = UInt8(ascii: "}")

    mutating func parse(_ initial: State) throws -> [TemplateNode] {
        nodes(try parseLevel(initial))
    }

    private mutating func parseLevel(_ initial: State) throws -> [Parsed] {
        var state = initial
        var parsed: [Parsed] = []
        var spacesBefore: ArraySlice<UInt8> = []
        func text(_ bytes: ArraySlice<UInt8>) { if !bytes.isEmpty { parsed.append(.node(.text(Array(bytes)))) } }
        while position < bytes.count {
            if state.newLine {
                let spaces = readSpaces()
                if state.inLayoutCall, !state.atLayoutCallLevel {
                    if let indent = state.definitionIndent {
                        spacesBefore = spaces.dropFirst(indent)
                    } else {
                        state.definitionIndent = spaces.count
                    }
                } else {
                    spacesBefore = spaces
                }
            }
            let line = readTextUntilTagOrNewline()
            if position < bytes.count, bytes[position] == Self.newline {
                position += 1
                text(spacesBefore + line + [Self.newline])
                state.newLine = true
                continue
            }
            if !line.isEmpty {
                text(spacesBefore + line)
                spacesBefore = []
                state.newLine = false
            }
            guard position < bytes.count else { break }
            // At a tag: `position` is just after "{{".
            var standalone = false
            let kind = bytes[position]
            switch kind {
            case UInt8(ascii: "#"), UInt8(ascii: "^"):
                position += 1
                let name = try readName()
                if isStandalone(state) { standalone = true } else { text(spacesBefore); spacesBefore = [] }
                let children = try parseLevel(nested(state, closing: name, newLine: standalone))
                parsed.append(.node(.section(TemplatePath(name), nodes(children), inverted: kind == UInt8(ascii: "^"))))
            case UInt8(ascii: "/"):
                position += 1
                let name = try readName()
                guard name == state.closing else {
                    throw Failure(message: "{{/\(name)}} closes nothing open" + (state.closing.map { " (expected {{/\($0)}})" } ?? ""))
                }
                if !isStandalone(state) { text(spacesBefore) }
                return parsed
            case UInt8(ascii: "!"):
                position += 1
                try skipPast("}}")
                standalone = isStandalone(state)
            case UInt8(ascii: "{"), UInt8(ascii: "&"):
                text(spacesBefore); spacesBefore = []
                position += 1
                let name = try readName()
                if kind == UInt8(ascii: "{") {
                    guard position < bytes.count, bytes[position] == Self.close else { throw Failure(message: "{{{\(name)}} lacks its third }") }
                    position += 1
                }
                parsed.append(.node(.variable(TemplatePath(name), escaped: false)))
            case UInt8(ascii: ">"):
                position += 1
                let name = try readName()
                text(spacesBefore)
                standalone = isStandalone(state)
                parsed.append(.node(.partial(name, indentation: standalone ? String(decoding: spacesBefore, as: UTF8.self) : "", blocks: [:])))
                spacesBefore = []
            case UInt8(ascii: "<"):
                position += 1
                let name = try readName()
                text(spacesBefore)
                standalone = isStandalone(state)
                var call = state
                call.closing = name
                call.newLine = true
                call.inLayoutCall = true
                call.atLayoutCallLevel = true
                var blocks: [String: [TemplateNode]] = [:]
                for item in try parseLevel(call) {
                    switch item {
                    case .blockDefinition(let block, let children): blocks[block] = children
                    case .node(.text): continue
                    case .node: throw Failure(message: "{{<\(name)}} may hold only blocks ({{$name}}…{{/name}})")
                    }
                }
                parsed.append(.node(.partial(name, indentation: String(decoding: spacesBefore, as: UTF8.self), blocks: blocks)))
                spacesBefore = []
            case UInt8(ascii: "$"):
                position += 1
                let name = try readName()
                if state.atLayoutCallLevel {
                    standalone = isStandalone(state)
                    parsed.append(.blockDefinition(name, nodes(try parseLevel(nested(state, closing: name, newLine: standalone)))))
                } else {
                    text(spacesBefore)
                    standalone = isStandalone(state)
                    let defaults = nodes(try parseLevel(nested(state, closing: name, newLine: standalone)))
                    parsed.append(.node(.block(name, defaults, indentation: String(decoding: spacesBefore, as: UTF8.self))))
                    spacesBefore = []
                }
            case UInt8(ascii: "="), UInt8(ascii: "%"):
                throw Failure(message: "changing the delimiters ({{=…=}}) and pragmas ({{%…}}) are not supported")
            default:
                text(spacesBefore); spacesBefore = []
                parsed.append(.node(.variable(TemplatePath(try readName()), escaped: true)))
            }
            state.newLine = standalone
        }
        if let closing = state.closing { throw Failure(message: "{{\(closing)}} is never closed ({{/\(closing)}})") }
        return parsed
    }

    private func nested(_ state: State, closing: String, newLine: Bool) -> State {
        var inner = state
        inner.closing = closing
        inner.atLayoutCallLevel = false
        inner.newLine = state.newLine && newLine
        return inner
    }

    private func nodes(_ parsed: [Parsed]) -> [TemplateNode] {
        parsed.compactMap { if case .node(let node) = $0 { node } else { nil } }
    }

    private mutating func readSpaces() -> ArraySlice<UInt8> {
        let start = position
        while position < bytes.count, bytes[position] == Self.space || bytes[position] == Self.tab { position += 1 }
        return bytes[start..<position]
    }

    /// Text up to a newline (not read) or up to and past "{{".
    private mutating func readTextUntilTagOrNewline() -> ArraySlice<UInt8> {
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if byte == Self.newline { return bytes[start..<position] }
            if byte == Self.open, position + 1 < bytes.count, bytes[position + 1] == Self.open {
                position += 2
                return bytes[start..<position - 2]
            }
            position += 1
        }
        return bytes[start..<position]
    }

    private static let nameBytes = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_?*/".utf8)

    /// A tag's name and its closing "}}", spaces allowed around the name.
    private mutating func readName() throws -> String {
        _ = readWhitespace()
        let start = position
        while position < bytes.count, Self.nameBytes.contains(bytes[position]) { position += 1 }
        let name = String(decoding: bytes[start..<position], as: UTF8.self)
        _ = readWhitespace()
        guard position + 1 < bytes.count, bytes[position] == Self.close, bytes[position + 1] == Self.close, !name.isEmpty else {
            throw Failure(message: "a tag at byte \(start) is not a name followed by }} (\(String(decoding: bytes[start..<min(bytes.count, start + 20)], as: UTF8.self)))")
        }
        position += 2
        return name
    }

    private mutating func readWhitespace() -> Int {
        let start = position
        while position < bytes.count, [Self.space, Self.tab, Self.newline].contains(bytes[position]) { position += 1 }
        return position - start
    }

    private mutating func skipPast(_ end: String) throws {
        let marker = Array(end.utf8), start = position
        while position + marker.count <= bytes.count {
            if bytes[position..<position + marker.count].elementsEqual(marker) {
                position += marker.count
                return
            }
            position += 1
        }
        throw Failure(message: "a tag at byte \(start) is never closed with \(end)")
    }

    /// The tag just read is alone on its line: only spaces follow it up to the newline (read with it), or it ends the text.
    private mutating func isStandalone(_ state: State) -> Bool {
        guard state.newLine else { return false }
        if position == bytes.count { return true }
        var ahead = position
        while ahead < bytes.count, bytes[ahead] == Self.space || bytes[ahead] == Self.tab { ahead += 1 }
        guard ahead < bytes.count, bytes[ahead] == Self.newline else { return false }
        position = ahead + 1
        return true
    }
}

import Foundation

/// What an import would change in a center, as lines a person reviews before applying.
public struct CenterDiff: Sendable, Equatable {
    public enum Kind: String, Sendable { case added, removed, changed }

    public struct Change: Sendable, Equatable, CustomStringConvertible {
        /// "center", "unit", "age group", "tariff", "period".
        public var entity: String
        public var code: String
        public var kind: Kind
        /// For a change: "label: \"a\" -> \"b\"" per field.
        public var fields: [String]

        public var description: String {
            switch kind {
            case .added: "+ \(entity) \(code)"
            case .removed: "- \(entity) \(code)"
            case .changed: "~ \(entity) \(code): " + fields.joined(separator: "; ")
            }
        }
    }

    public var changes: [Change]
    public var isEmpty: Bool { changes.isEmpty }

    public func removed(_ entity: String) -> [String] {
        changes.filter { $0.entity == entity && $0.kind == .removed }.map(\.code)
    }

    public init(changes: [Change]) { self.changes = changes }

    /// Compares the stored declaration (nil for a new center) with the file's.
    public init(from old: Center?, to new: Center) {
        guard let old else {
            changes = [Change(entity: "center", code: new.code, kind: .added, fields: [])]
            return
        }
        var changes: [Change] = []
        var oldTop = old, newTop = new
        oldTop.units = []; newTop.units = []
        oldTop.ageGroups = []; newTop.ageGroups = []
        oldTop.tariffs = []; newTop.tariffs = []
        oldTop.periods = []; newTop.periods = []
        oldTop.hosts.sort(); newTop.hosts.sort()
        let top = Self.fieldChanges(oldTop, newTop)
        if !top.isEmpty { changes.append(Change(entity: "center", code: new.code, kind: .changed, fields: top)) }
        changes += Self.compare("unit", old.units, new.units, key: \.code)
        changes += Self.compare("age group", old.ageGroups, new.ageGroups, key: \.code)
        changes += Self.compare("tariff", old.tariffs, new.tariffs, key: \.code)
        changes += Self.compare("period", old.periods.map(Self.normalized), new.periods.map(Self.normalized), key: \.code)
        self.changes = changes
    }

    static func normalized(_ p: Period) -> Period {
        var p = p
        p.closedDays.sort()
        p.weekdays.sort()
        return p
    }

    static func compare<T: Encodable & Equatable>(_ entity: String, _ old: [T], _ new: [T], key: KeyPath<T, String>) -> [Change] {
        let oldByKey = Dictionary(old.map { ($0[keyPath: key], $0) }, uniquingKeysWith: { a, _ in a })
        let newKeys = Set(new.map { $0[keyPath: key] })
        var result: [Change] = []
        for item in new {
            let code = item[keyPath: key]
            if let before = oldByKey[code] {
                if before != item {
                    result.append(Change(entity: entity, code: code, kind: .changed, fields: fieldChanges(before, item)))
                }
            } else {
                result.append(Change(entity: entity, code: code, kind: .added, fields: []))
            }
        }
        for item in old where !newKeys.contains(item[keyPath: key]) {
            result.append(Change(entity: entity, code: item[keyPath: key], kind: .removed, fields: []))
        }
        return result
    }

    /// Field-by-field differences of two values, through their JSON form.
    static func fieldChanges<T: Encodable>(_ a: T, _ b: T) -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let da = try? encoder.encode(a), let db = try? encoder.encode(b),
              let ja = (try? JSONSerialization.jsonObject(with: da)) as? [String: Any],
              let jb = (try? JSONSerialization.jsonObject(with: db)) as? [String: Any] else { return [] }
        func text(_ value: Any?) -> String {
            guard let value, !(value is NSNull) else { return "(none)" }
            if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]) {
                return String(decoding: data, as: UTF8.self)
            }
            return "\(value)"
        }
        return Set(ja.keys).union(jb.keys).sorted().compactMap { field in
            let before = text(ja[field]), after = text(jb[field])
            return before == after ? nil : "\(field): \(before) -> \(after)"
        }
    }
}

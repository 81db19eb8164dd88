import Foundation

/// A page model that is not a `TemplateModel` (the back office's, whose models hold dictionaries of `Any`, and
/// the parent pages' less visited ones) turned into template values by reflection (`Mirror`), once before rendering. Values that describe
/// themselves (String, numbers, Money, LocalDate) are their text; a nil Optional is a missing name, which a
/// section reads as false.
enum TemplateValues {
    static func value(_ value: Any) -> TemplateValue? {
        switch value {
        case let text as String: return .text(text)
        case let flag as Bool: return .bool(flag)
        case let markup as Markup: return .markup(markup.bytes)
        case let number as Int: return .text(String(number))
        case is Substring, is Int64, is Double: return .text(String(describing: value))
        case let array as [Any]: return .list(array.compactMap(Self.value))
        case let dictionary as [String: Any]: return .object(dictionary.compactMapValues(Self.value))
        default:
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .optional:
                return mirror.children.first.flatMap { Self.value($0.value) }
            case .set, .collection:
                return .list(mirror.children.compactMap { Self.value($0.value) })
            case .struct, .class:
                if value is CustomStringConvertible { return .text(String(describing: value)) }
                var fields: [String: TemplateValue] = [:]
                for child in mirror.children {
                    if let label = child.label, let field = Self.value(child.value) { fields[label] = field }
                }
                return .object(fields)
            case .tuple:
                var fields: [String: TemplateValue] = [:]
                for (index, child) in mirror.children.enumerated() {
                    if let field = Self.value(child.value) { fields[child.label ?? ".\(index)"] = field }
                }
                return .object(fields)
            default:
                return .text(String(describing: value))
            }
        }
    }
}

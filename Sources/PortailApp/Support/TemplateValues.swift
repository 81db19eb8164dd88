import Foundation

/// A page model turned once into dictionaries and arrays before rendering. swift-mustache looks names up
/// in a struct through `Mirror` at every `{{name}}`, walking the context stack and filtering the struct's
/// fields each time: that was half of the CPU of "Mon compte". A dictionary answers each lookup directly.
/// Values that describe themselves (String, numbers, Money, LocalDate) stay as they are; a nil Optional
/// becomes a missing key, which Mustache reads as false, as before.
enum TemplateValues {
    static func flatten(_ value: Any) -> Any? {
        switch value {
        case is String, is Substring, is Bool, is Int, is Int64, is Double:
            return value
        case let array as [Any]:
            return array.compactMap(flatten)
        case let dictionary as [String: Any]:
            return dictionary.compactMapValues(flatten)
        default:
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .optional:
                return mirror.children.first.flatMap { flatten($0.value) }
            case .struct, .class:
                if value is CustomStringConvertible { return value }
                var fields: [String: Any] = [:]
                for child in mirror.children {
                    if let label = child.label, let field = flatten(child.value) { fields[label] = field }
                }
                return fields
            case .tuple:
                var fields: [String: Any] = [:]
                for (index, child) in mirror.children.enumerated() {
                    if let field = flatten(child.value) { fields[child.label ?? ".\(index)"] = field }
                }
                return fields
            default:
                return value
            }
        }
    }
}

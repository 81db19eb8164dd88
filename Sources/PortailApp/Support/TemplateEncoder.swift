import Foundation
import PortailDomain

/// A page's model that turns into template values through its (synthesized) `Encodable` conformance instead of
/// reflection: a field is read by the code the compiler writes, not found by `Mirror` among the struct's children
/// and cast back from `Any`. Same values as `TemplateValues.value`: a String is text, a Bool a flag, a number its
/// digits, a nil Optional a missing name, an array a list, a struct an object. Every type inside needs
/// `Encodable`; a type that stands for a text (as `Money`) is `TemplateText`.
protocol TemplateModel: Encodable {}

/// A value shown as its `description` in a page (`Money`, `LocalDate`), not encoded field by field.
protocol TemplateText: CustomStringConvertible {}

/// A part of a page written as HTML by its model, already escaped (the grid's rows): `{{{name}}}` copies its bytes
/// into the page, with no `String` in between.
struct Markup: Encodable {
    let bytes: [UInt8]

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(decoding: bytes, as: UTF8.self))
    }
}

enum TemplateEncoder {
    /// A model whose encoding asks for more than fields, lists and single values (an enum with associated
    /// values, a hand-written `encode(to:)` with nested containers) is read by reflection instead.
    static func value(_ model: any TemplateModel) -> TemplateValue {
        ((try? encode(model)) ?? nil) ?? TemplateValues.value(model) ?? .object([:])
    }

    struct Unsupported: Error {}

    static func encode<T: Encodable>(_ value: T) throws -> TemplateValue? {
        if let text = value as? String { return .text(text) }
        if let text = value as? any TemplateText { return .text(text.description) }
        if let markup = value as? Markup { return .markup(markup.bytes) }
        let encoder = ValueEncoder()
        try value.encode(to: encoder)
        if encoder.unsupported { throw Unsupported() }
        return encoder.value
    }

    private final class Fields { var values: [String: TemplateValue] = [:] }
    private final class Items { var values: [TemplateValue] = [] }

    private final class ValueEncoder: Encoder {
        enum Storage { case empty, single(TemplateValue?), object(Fields), list(Items) }
        var storage = Storage.empty
        /// The encoding asked for a nested container or a super encoder: `encode` gives up.
        var unsupported = false
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        var value: TemplateValue? {
            switch storage {
            case .empty: return nil
            case .single(let value): return value
            case .object(let fields): return .object(fields.values)
            case .list(let items): return .list(items.values)
            }
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            let fields: Fields
            if case .object(let existing) = storage { fields = existing } else { fields = Fields(); storage = .object(fields) }
            return KeyedEncodingContainer(Keyed<Key>(fields: fields, encoder: self))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            let items: Items
            if case .list(let existing) = storage { items = existing } else { items = Items(); storage = .list(items) }
            return Unkeyed(items: items, encoder: self)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer { Single(encoder: self) }
    }

    private struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let fields: Fields
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { [] }

        private func put(_ value: TemplateValue, _ key: Key) { fields.values[key.stringValue] = value }
        mutating func encodeNil(forKey key: Key) {}
        mutating func encode(_ value: Bool, forKey key: Key) { put(.bool(value), key) }
        mutating func encode(_ value: String, forKey key: Key) { put(.text(value), key) }
        mutating func encode(_ value: Double, forKey key: Key) { put(.text(String(describing: value)), key) }
        mutating func encode(_ value: Float, forKey key: Key) { put(.text(String(describing: value)), key) }
        mutating func encode(_ value: Int, forKey key: Key) { put(.text(String(value)), key) }
        mutating func encode(_ value: Int8, forKey key: Key) { put(.text(String(value)), key) }
        mutating func encode(_ value: Int16, forKey key: Key) { put(.text(String(value)), key) }
        mutating func encode(_ value: Int32, forKey key: Key) { put(.text(String(value)), key) }
        mutating func encode(_ value: Int64, forKey key: Key) { put(.text(String(value)), key) }
        mutating func encode(_ value: UInt, forKey key: Key) { put(.text(String(value)), key) }
        mutating func encode(_ value: UInt8, forKey key: Key) { put(.text(String(value)), key) }
        mutating func encode(_ value: UInt16, forKey key: Key) { put(.text(String(value)), key) }
        mutating func encode(_ value: UInt32, forKey key: Key) { put(.text(String(value)), key) }
        mutating func encode(_ value: UInt64, forKey key: Key) { put(.text(String(value)), key) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            if let value = try TemplateEncoder.encode(value) { put(value, key) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            encoder.unsupported = true
            return KeyedEncodingContainer(Keyed<NestedKey>(fields: Fields(), encoder: encoder))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            encoder.unsupported = true
            return Unkeyed(items: Items(), encoder: encoder)
        }
        mutating func superEncoder() -> any Encoder { encoder.unsupported = true; return encoder }
        mutating func superEncoder(forKey key: Key) -> any Encoder { encoder.unsupported = true; return encoder }
    }

    private struct Unkeyed: UnkeyedEncodingContainer {
        let items: Items
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { [] }
        var count: Int { items.values.count }

        private func put(_ value: TemplateValue) { items.values.append(value) }
        mutating func encodeNil() {}
        mutating func encode(_ value: Bool) { put(.bool(value)) }
        mutating func encode(_ value: String) { put(.text(value)) }
        mutating func encode(_ value: Double) { put(.text(String(describing: value))) }
        mutating func encode(_ value: Float) { put(.text(String(describing: value))) }
        mutating func encode(_ value: Int) { put(.text(String(value))) }
        mutating func encode(_ value: Int8) { put(.text(String(value))) }
        mutating func encode(_ value: Int16) { put(.text(String(value))) }
        mutating func encode(_ value: Int32) { put(.text(String(value))) }
        mutating func encode(_ value: Int64) { put(.text(String(value))) }
        mutating func encode(_ value: UInt) { put(.text(String(value))) }
        mutating func encode(_ value: UInt8) { put(.text(String(value))) }
        mutating func encode(_ value: UInt16) { put(.text(String(value))) }
        mutating func encode(_ value: UInt32) { put(.text(String(value))) }
        mutating func encode(_ value: UInt64) { put(.text(String(value))) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            if let value = try TemplateEncoder.encode(value) { put(value) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            encoder.unsupported = true
            return KeyedEncodingContainer(Keyed<NestedKey>(fields: Fields(), encoder: encoder))
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            encoder.unsupported = true
            return Unkeyed(items: Items(), encoder: encoder)
        }
        mutating func superEncoder() -> any Encoder { encoder.unsupported = true; return encoder }
    }

    private struct Single: SingleValueEncodingContainer {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { [] }

        private func put(_ value: TemplateValue?) { encoder.storage = .single(value) }
        mutating func encodeNil() { put(nil) }
        mutating func encode(_ value: Bool) { put(.bool(value)) }
        mutating func encode(_ value: String) { put(.text(value)) }
        mutating func encode(_ value: Double) { put(.text(String(describing: value))) }
        mutating func encode(_ value: Float) { put(.text(String(describing: value))) }
        mutating func encode(_ value: Int) { put(.text(String(value))) }
        mutating func encode(_ value: Int8) { put(.text(String(value))) }
        mutating func encode(_ value: Int16) { put(.text(String(value))) }
        mutating func encode(_ value: Int32) { put(.text(String(value))) }
        mutating func encode(_ value: Int64) { put(.text(String(value))) }
        mutating func encode(_ value: UInt) { put(.text(String(value))) }
        mutating func encode(_ value: UInt8) { put(.text(String(value))) }
        mutating func encode(_ value: UInt16) { put(.text(String(value))) }
        mutating func encode(_ value: UInt32) { put(.text(String(value))) }
        mutating func encode(_ value: UInt64) { put(.text(String(value))) }
        mutating func encode<T: Encodable>(_ value: T) throws { put(try TemplateEncoder.encode(value)) }
    }
}

extension Money: TemplateText {}
extension LocalDate: TemplateText {}
extension LocalDateTime: TemplateText {}
// As reflection shows them (`description`), not as their `Codable` form (a number of seconds, an object).
extension Date: TemplateText {}
extension URL: TemplateText {}

import Foundation

/// A `multipart/form-data` body (RFC 7578), read strictly: the few forms that send a file (a document of
/// the family file) are parsed here; anything malformed is refused whole.
struct MultipartForm {
    struct Part {
        let name: String
        let filename: String?
        let contentType: String?
        let body: [UInt8]
    }

    /// Parts a form may have: the CSRF token, a few fields and one file.
    static let maxParts = 10

    /// The boundary of a `multipart/form-data; boundary=…` content type, nil for any other type.
    static func boundary(of contentType: String) -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard pieces.first?.lowercased() == "multipart/form-data" else { return nil }
        for piece in pieces.dropFirst() where piece.lowercased().hasPrefix("boundary=") {
            var value = String(piece.dropFirst("boundary=".count))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            guard (1...70).contains(value.utf8.count), value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
            return value
        }
        return nil
    }

    /// The parts of `body`, or nil when it is not a well-formed multipart body with this boundary.
    static func parse(_ body: [UInt8], boundary: String) -> [Part]? {
        let delimiter = Array("--\(boundary)".utf8)
        let separator = Array("\r\n--\(boundary)".utf8)
        guard body.starts(with: delimiter) else { return nil }
        var parts: [Part] = []
        var index = delimiter.count
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            guard index + 2 <= body.count else { return nil }
            if body[index] == 0x2D, body[index + 1] == 0x2D { return parts }
            guard body[index] == 0x0D, body[index + 1] == 0x0A, parts.count < maxParts else { return nil }
            index += 2
            guard let headerEnd = find([0x0D, 0x0A, 0x0D, 0x0A], in: body, from: index),
                  let headers = String(bytes: body[index..<headerEnd], encoding: .utf8) else { return nil }
            let contentStart = headerEnd + 4
            guard let contentEnd = find(separator, in: body, from: contentStart) else { return nil }
            guard let part = part(headers: headers, body: Array(body[contentStart..<contentEnd])) else { return nil }
            parts.append(part)
            index = contentEnd + separator.count
        }
    }

    private static func part(headers: String, body: [UInt8]) -> Part? {
        var name: String?
        var filename: String?
        var contentType: String?
        for line in headers.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let field = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch field {
            case "content-disposition":
                let pieces = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard pieces.first?.lowercased() == "form-data" else { return nil }
                for piece in pieces.dropFirst() {
                    guard let equals = piece.firstIndex(of: "=") else { continue }
                    let key = piece[..<equals].lowercased()
                    var text = String(piece[piece.index(after: equals)...])
                    if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = String(text.dropFirst().dropLast()) }
                    if key == "name" { name = text } else if key == "filename" { filename = text }
                }
            case "content-type": contentType = value
            default: continue
            }
        }
        guard let name, !name.isEmpty else { return nil }
        return Part(name: name, filename: filename, contentType: contentType, body: body)
    }

    /// The first index of `needle` in `haystack` from `start`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var i = start
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}

import Foundation
import Hummingbird

/// The page templates (`Templates/*.mustache`, read by `TemplateEngine`) and static files (`Public/`), loaded
/// once at start.
public struct Templates: Sendable {
    let engine: TemplateEngine
    let stylesheet: String
    /// The pages' only script (no inline script: the Content-Security-Policy forbids it).
    let script: String

    public static func load() throws -> Templates {
        guard let templates = Bundle.module.url(forResource: "Templates", withExtension: nil),
              let public_ = Bundle.module.url(forResource: "Public", withExtension: nil)
        else { fatalError("the PortailApp resources are missing from the build") }
        var sources: [String: String] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: templates.path) where file.hasSuffix(".mustache") {
            sources[String(file.dropLast(".mustache".count))] = try String(contentsOf: templates.appendingPathComponent(file), encoding: .utf8)
        }
        return Templates(
            engine: try TemplateEngine(sources: sources),
            stylesheet: try String(contentsOf: public_.appendingPathComponent("portail.css"), encoding: .utf8),
            script: try String(contentsOf: public_.appendingPathComponent("portail.js"), encoding: .utf8)
        )
    }

    /// Renders a page as an HTML response. A `TemplateModel` becomes template values through its `Encodable`
    /// conformance, any other model by reflection (`TemplateValues`).
    func page(_ name: String, _ model: Any, status: HTTPResponse.Status = .ok) -> Response {
        let value = (model as? any TemplateModel).map(TemplateEncoder.value) ?? TemplateValues.value(model) ?? .object([:])
        guard let page = engine.render(name, value) else {
            return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "template \(name) is missing")))
        }
        return Pages.html(page, status: status)
    }
}

/// HTML written by hand, for the few places a template is not used.
enum HTML {
    /// Text safe in element content and in double- or single-quoted attributes. Byte by byte in UTF-8:
    /// the five characters are ASCII, never part of another character's bytes, so a quote followed by a
    /// combining accent (one Swift character) is still escaped, as a browser reads it.
    static func escape(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">")
                                          || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") }) else { return text }
        var escaped: [UInt8] = []
        escaped.reserveCapacity(text.utf8.count + 16)
        append(escaping: text, to: &escaped)
        return String(decoding: escaped, as: UTF8.self)
    }

    /// Text already HTML (or safe as it is), copied into a page's bytes at once.
    static func append(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { out.append(contentsOf: $0) }
    }

    /// `escape`, written straight into a page's bytes (the templates' `{{value}}`).
    static func append(escaping text: String, to out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "'"): out.append(contentsOf: "&#39;".utf8)
            default: out.append(byte)
            }
        }
    }
}

enum Pages {
    static func html(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        self.html(ByteBuffer(string: html), status: status)
    }

    static func html(_ page: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: page)
        )
    }

    /// A short page for a refused request, with a way back.
    /// A page of its own for an error; `link` is where to go first (a path under the center), before the home page.
    static func problem(title: String, message: String, base: String, status: HTTPResponse.Status,
                        link: (path: String, label: String)? = nil) -> Response {
        let escape = HTML.escape
        let first = link.map { "<a href=\"\(escape(base + $0.path))\">\(escape($0.label))</a> · " } ?? ""
        return html("""
        <!DOCTYPE html>
        <html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title><link rel="stylesheet" href="\(escape(base))/static/portail.css"></head>
        <body><main><section><h1>\(escape(title))</h1><p>\(escape(message))</p>
        <p>\(first)<a href="\(escape(base))/">Retour à l'accueil</a></p></section></main></body></html>
        """, status: status)
    }

    static func pdf(_ data: Data, filename: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/pdf", .contentDisposition: "inline; filename=\"\(filename)\"", .cacheControl: "private, no-store"],
            body: .init(byteBuffer: ByteBuffer(data: data))
        )
    }

    /// A document of a family file (PDF, JPEG, PNG), as an attachment under a neutral name: parents,
    /// the staff's back office and the admin API send it alike.
    static func familyDocument(_ data: ByteBuffer, contentType: String, id: Int64) -> Response {
        let extensions = ["application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"]
        return Response(
            status: .ok,
            headers: [.contentType: contentType, .contentDisposition: "attachment; filename=\"document-\(id)\(extensions[contentType] ?? "")\"",
                      .cacheControl: "private, no-store"],
            body: .init(byteBuffer: data)
        )
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    /// The same plain page for every unknown address: it reveals nothing about the centers.
    static func notFound() -> Response {
        html("""
        <!DOCTYPE html>
        <html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Page introuvable</title></head>
        <body><main><h1>Page introuvable</h1><p>L'adresse demandée n'existe pas.</p></main></body></html>
        """, status: .notFound)
    }
}

import Foundation
import Hummingbird
import Mustache

/// The page templates (`Templates/*.mustache`) and static files (`Public/`), loaded once at start.
public struct Templates: Sendable {
    let library: MustacheLibrary
    let stylesheet: String
    /// The pages' only script (no inline script: the Content-Security-Policy forbids it).
    let script: String

    public static func load() async throws -> Templates {
        MustacheContentTypes.register(PortailHTML(), named: PortailHTML.name)
        guard let templates = Bundle.module.url(forResource: "Templates", withExtension: nil),
              let public_ = Bundle.module.url(forResource: "Public", withExtension: nil)
        else { fatalError("the PortailApp resources are missing from the build") }
        return Templates(
            library: try await MustacheLibrary(directory: templates.path),
            stylesheet: try String(contentsOf: public_.appendingPathComponent("portail.css"), encoding: .utf8),
            script: try String(contentsOf: public_.appendingPathComponent("portail.js"), encoding: .utf8)
        )
    }

    /// Renders a page as an HTML response.
    func page(_ name: String, _ model: Any, status: HTTPResponse.Status = .ok) -> Response {
        guard let html = library.render(TemplateValues.flatten(model) ?? [String: Any](), withTemplate: name) else {
            return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "template \(name) is missing")))
        }
        return Pages.html(html, status: status)
    }
}

/// How the templates escape `{{value}}`: every template starts with `{{% CONTENT_TYPE: PORTAIL_HTML }}`
/// (a partial or layout starts its own: swift-mustache resets the content type at each). swift-mustache's own
/// HTML escaping reads Swift characters, so a quote followed by a combining accent is one character, not a
/// quote, and was left as it is, ending an attribute in the browser; it also looks each character up in a
/// dictionary, a tenth of a page's time. `HTML.escape` works on bytes.
struct PortailHTML: MustacheContentType {
    static let name = "PORTAIL_HTML"
    func escapeText(_ text: String) -> String { HTML.escape(text) }
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
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): escaped.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): escaped.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): escaped.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): escaped.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "'"): escaped.append(contentsOf: "&#39;".utf8)
            default: escaped.append(byte)
            }
        }
        return String(decoding: escaped, as: UTF8.self)
    }
}

enum Pages {
    static func html(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html))
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

import Foundation
import Testing
@testable import PortailApp

/// The escaping of the HTML written by hand (the booking grid's cells, short error pages) and of the templates.
@Suite struct HTMLEscapeTests {
    @Test func textCannotLeaveItsElementNorItsAttribute() {
        #expect(HTML.escape("Après-midi") == "Après-midi")
        #expect(HTML.escape(#"<script>"x"&'y'</script>"#) == "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;")
        // A quote carrying a combining accent is still a quote to the browser.
        #expect(HTML.escape("x\"\u{301} autofocus") == "x&quot;\u{301} autofocus")
    }

    @Test func everyTemplateEscapesByBytes() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/PortailApp/Templates").standardized
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".mustache") }
        #expect(names.count > 40)
        for name in names {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            #expect(text.hasPrefix("{{% CONTENT_TYPE: PORTAIL_HTML }}\n"), "\(name) does not start with the portal's escaping")
        }
    }

    @Test func aTemplateValueCannotLeaveItsAttribute() async throws {
        let templates = try await Templates.load()
        // The page's base path lands in href="…" and the center's name in <title>, through the layout (a partial).
        let accent = "\u{301}"
        let hostile = "x\"" + accent + " data-x='1'><b>"
        let html = try #require(templates.library.render(
            ["page": ["base": hostile, "centerName": hostile, "centerTitle": "", "footer": ""]], withTemplate: "password-forgot"))
        let escaped = "href=\"x&quot;" + accent + " data-x=&#39;1&#39;&gt;&lt;b&gt;/static/portail.css\""
        let broken = "x\"" + accent
        #expect(html.contains(escaped))
        #expect(!html.contains(broken))
        #expect(!html.contains("<b>"))
    }
}

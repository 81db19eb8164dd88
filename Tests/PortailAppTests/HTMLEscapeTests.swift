import Foundation
import Testing
@testable import PortailApp

/// The escaping of the HTML written by hand (the booking grid's cells, short error pages) and of the templates'
/// values (`TemplateEngineTests` renders them).
@Suite struct HTMLEscapeTests {
    @Test func textCannotLeaveItsElementNorItsAttribute() {
        #expect(HTML.escape("Après-midi") == "Après-midi")
        #expect(HTML.escape(#"<script>"x"&'y'</script>"#) == "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;")
        // A quote carrying a combining accent is still a quote to the browser.
        #expect(HTML.escape("x\"\u{301} autofocus") == "x&quot;\u{301} autofocus")
    }
}

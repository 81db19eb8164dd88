import Foundation
import NIOCore
import PortailDomain
import Testing
@testable import PortailApp

private struct Sample: TemplateModel {
    struct Line: Encodable {
        let label: String
        let amount: Money
    }
    let title: String
    let count: Int
    let id: Int64
    let flag: Bool
    let missing: String?
    let lines: [Line]
    let words: [String]
    let day: LocalDate
    let when: Date
}

/// An enum with associated values encodes through nested containers, which the encoder leaves to reflection.
private struct Unusual: TemplateModel {
    enum Kind: Encodable { case places(Int) }
    let title: String
    let kind: Kind
}

/// The templates' Mustache (`TemplateEngine`): what each tag does, which lines a tag alone on its line removes,
/// layouts and their blocks, and the errors a broken template gives at start.
@Suite struct TemplateEngineTests {
    private func render(_ main: String, _ value: TemplateValue, others: [String: String] = [:]) throws -> String {
        let engine = try TemplateEngine(sources: others.merging(["main": main]) { $1 })
        return String(buffer: try #require(engine.render("main", value)))
    }

    private let family: TemplateValue = .object([
        "name": .text("Martin & fils <b>"),
        "page": .object(["base": .text("/opio"), "loggedIn": .bool(true)]),
        "children": .list([.object(["first": .text("Léa")]), .object(["first": .text("Tom"), "name": .text("Dupont")])]),
        "none": .list([]),
        "no": .bool(false),
        "count": .text("2"),
    ])

    @Test func variablesAreEscapedAndNamesClimbTheSections() throws {
        #expect(try render("{{name}}|{{{name}}}|{{&name}}|{{ page.base }}|{{missing}}|{{page.missing.deeper}}|{{page.loggedIn}}", family)
                == "Martin &amp; fils &lt;b&gt;|Martin & fils <b>|Martin & fils <b>|/opio|||true")
        // Inside a section a name is first looked up in the item, then outward; ".name" reads the item only.
        #expect(try render("{{#children}}{{first}} {{name}}/{{.name}};{{/children}}", family) == "Léa Martin &amp; fils &lt;b&gt;/;Tom Dupont/Dupont;")
        // A dotted name does not climb again once its first name is found.
        #expect(try render("{{#children}}[{{page.base}}]{{/children}}", family) == "[/opio][/opio]")
        #expect(try render("{{#page}}[{{page.base}}]{{/page}}", .object(["page": .object(["page": .object([:]), "base": .text("x")])])) == "[]")
        #expect(try render("{{#count}}{{.}}{{/count}}", family) == "2")
        // A quote carrying a combining accent is still a quote to the browser.
        #expect(try render("<a title=\"{{t}}\">", .object(["t": .text("x\"\u{301} autofocus")])) == "<a title=\"x&quot;\u{301} autofocus\">")
    }

    @Test func sectionsAndInvertedSections() throws {
        #expect(try render("{{#page.loggedIn}}in{{/page.loggedIn}}{{^page.loggedIn}}out{{/page.loggedIn}}", family) == "in")
        #expect(try render("{{#no}}yes{{/no}}{{^no}}no{{/no}}", family) == "no")
        #expect(try render("{{#none}}item{{/none}}{{^none}}empty{{/none}}", family) == "empty")
        #expect(try render("{{#missing}}x{{/missing}}{{^missing}}absent{{/missing}}", family) == "absent")
        #expect(try render("{{^children}}x{{/children}}{{^page}}y{{/page}}{{^name}}z{{/name}}", family) == "")
        #expect(try render("{{#page}}{{base}}{{/page}}", family) == "/opio")
        #expect(try render("{{! a comment }}a{{!b}}", family) == "a")
    }

    @Test func aTagAloneOnItsLineLeavesNoLine() throws {
        let template = """
        <ul>
          {{#children}}
          <li>{{first}}</li>
          {{/children}}
          {{! nothing }}
        </ul>
        {{#page.loggedIn}}<p>in</p>{{/page.loggedIn}}
          <p>{{count}}</p>
        """
        #expect(try render(template, family) == "<ul>\n  <li>Léa</li>\n  <li>Tom</li>\n</ul>\n<p>in</p>\n  <p>2</p>")
        // A partial alone on its line is indented as it stands, on each of its lines.
        #expect(try render("<div>\n  {{> item}}\n</div>", family, others: ["item": "<p>a</p>\n<p>{{count}}</p>\n"])
                == "<div>\n  <p>a</p>\n  <p>2</p>\n</div>")
    }

    @Test func aPageFillsItsLayoutsBlocks() throws {
        let layout = """
        <title>{{$title}}Portail Famille{{/title}}</title>
        <main>
        {{$content}}{{/content}}
        </main>
        """
        let page = """
        {{<layout}}
        {{$content}}
        <h1>{{name}}</h1>
        {{/content}}
        {{/layout}}
        """
        #expect(try render(page, family, others: ["layout": layout]) == "<title>Portail Famille</title>\n<main>\n<h1>Martin &amp; fils &lt;b&gt;</h1>\n\n</main>")
        // A layout calling another layout: the page's block wins over the middle one's.
        let middle = "{{<layout}}{{$title}}Milieu{{/title}}{{$content}}milieu{{/content}}{{/layout}}"
        let outer = "{{<middle}}{{$title}}Page{{/title}}{{/middle}}"
        #expect(try render(outer, family, others: ["layout": layout, "middle": middle]) == "<title>Page</title>\n<main>\nmilieu\n</main>")
    }

    @Test func aModelReadsTheSameThroughItsEncodableCodeAsByReflection() throws {
        let engine = try TemplateEngine(sources: [
            "sample": "{{title}}|{{count}}|{{id}}|{{flag}}|{{missing}}{{^missing}}none{{/missing}}|{{#lines}}{{label}}={{amount}};{{/lines}}|{{#words}}{{.}},{{/words}}|{{day}}|{{when}}",
            "unusual": "{{title}}|{{kind}}",
        ])
        let sample = Sample(title: "Été <1>", count: 3, id: 9_000_000_000, flag: true, missing: nil,
                            lines: [.init(label: "Journée", amount: Money(cents: 1250)), .init(label: "Repas", amount: Money(cents: 380))],
                            words: ["a", "b"], day: try #require(LocalDate(iso: "2026-07-06")), when: Date(timeIntervalSince1970: 1_800_000_000))
        func page(_ name: String, _ value: TemplateValue?) throws -> String {
            let value = try #require(value)
            return String(buffer: try #require(engine.render(name, value)))
        }
        let encoded = try page("sample", TemplateEncoder.value(sample))
        #expect(encoded == (try page("sample", TemplateValues.value(sample))))
        #expect(encoded == "Été &lt;1&gt;|3|9000000000|true|none|Journée=\(Money(cents: 1250));Repas=\(Money(cents: 380));|a,b,|2026-07-06|\(Date(timeIntervalSince1970: 1_800_000_000))")
        let unusual = Unusual(title: "x", kind: .places(2))
        #expect(try page("unusual", TemplateEncoder.value(unusual)) == (try page("unusual", TemplateValues.value(unusual))))
        #expect((try? TemplateEncoder.encode(unusual)) == nil)
    }

    /// HTML a model wrote itself (the grid's rows) is copied by `{{{name}}}`, and still escaped by `{{name}}`,
    /// whether the model is encoded or reflected.
    @Test func markupIsCopiedAsItIsOnlyByTheRawTag() throws {
        struct Rows: TemplateModel { let rows: Markup }
        let model = Rows(rows: Markup(bytes: Array("<tr><td>Léa & Tom</td></tr>".utf8)))
        for value in [TemplateEncoder.value(model), try #require(TemplateValues.value(model))] {
            #expect(try render("{{{rows}}}|{{rows}}|{{#rows}}x{{/rows}}", value)
                    == "<tr><td>Léa & Tom</td></tr>|&lt;tr&gt;&lt;td&gt;Léa &amp; Tom&lt;/td&gt;&lt;/tr&gt;|x")
        }
    }

    @Test func aBrokenTemplateStopsTheStartWithWhereItIs() throws {
        func failure(_ text: String, others: [String: String] = [:]) -> String {
            do {
                _ = try TemplateEngine(sources: others.merging(["main": text]) { $1 })
                return "none"
            } catch {
                return "\(error)"
            }
        }
        #expect(failure("{{#a}}x") == "main.mustache: {{a}} is never closed ({{/a}})")
        #expect(failure("{{#a}}x{{/b}}").hasPrefix("main.mustache: {{/b}} closes nothing open (expected {{/a}})"))
        #expect(failure("{{> absent}}") == "main.mustache: no template absent.mustache")
        #expect(failure("{{<layout}}<p>{{x}}</p>{{/layout}}", others: ["layout": ""]).contains("may hold only blocks"))
        #expect(failure("a {{ b c }}").contains("is not a name followed by }}"))
        #expect(failure("{{=<% %>=}}").contains("delimiters"))
    }

    @Test func aValueThatWouldLeaveItsAttributeThroughTheLayoutStaysInIt() throws {
        let templates = try Templates.load()
        // The page's base path lands in href="…" and the center's name in <title>, through the layout.
        let accent = "\u{301}"
        let hostile = "x\"" + accent + " data-x='1'><b>"
        let page: TemplateValue = .object(["page": .object(["base": .text(hostile), "centerName": .text(hostile), "centerTitle": .text(""), "footer": .text("")])])
        let html = String(buffer: try #require(templates.engine.render("password-forgot", page)))
        let escaped = "href=\"x&quot;" + accent + " data-x=&#39;1&#39;&gt;&lt;b&gt;/static/portail.css\""
        #expect(html.contains(escaped))
        #expect(!html.contains("x\"" + accent))
        #expect(!html.contains("<b>"))
    }
}

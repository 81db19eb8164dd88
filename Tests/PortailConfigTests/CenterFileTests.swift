import Foundation
import Testing
@testable import PortailConfig
import PortailDomain

/// A provider rule like the real SystemPay one, kept here so that the config tests need no plugin.
let testRules = [
    PaymentTypeRule(type: "systempay") { parameters, environment in
        guard let name = parameters["test_key_env"] else { return [("test_key_env", "missing", false)] }
        return environment[name] == nil ? [("test_key_env", "the environment variable \(name) is not set", true)] : []
    },
]

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func minimal() throws -> String { try String(contentsOf: fixtures.appendingPathComponent("minimal.yaml"), encoding: .utf8) }

/// Parses one text as file "c.yaml".
func check(_ text: String, environment: [String: String] = [:], secretsRequired: Bool = true) -> CenterCatalog {
    CenterCatalog.parse(sources: [("c.yaml", .success(text))], paymentRules: testRules, environment: environment, secretsRequired: secretsRequired)
}

/// The line (1-based) of the first line containing `needle`.
func line(of needle: String, in text: String) -> Int {
    (text.components(separatedBy: "\n").firstIndex { $0.contains(needle) } ?? -1) + 1
}

@Suite struct CenterFileTests {
    @Test func theShippedCentersAreValid() throws {
        let files = try CenterCatalog.files(in: repositoryRoot.appendingPathComponent("centers").path)
        #expect(files.count >= 3)
        let environment = ["OPIO_SYSTEMPAY_TEST_KEY": "k", "VALBONNE_PAYZEN_TEST_KEY": "k"]
        let rules = [PaymentTypeRule(type: "systempay") { _, _ in [] }, PaymentTypeRule(type: "simulator") { _, _ in [] }]
        let catalog = CenterCatalog.load(files: files, paymentRules: rules, environment: environment)
        #expect(catalog.failures.isEmpty, "\(catalog.allIssues)")
        let opio = try #require(catalog.centers.first { $0.center.code == "opio" }?.center)
        #expect(opio.coordinates.phone == "04 93 77 25 50")
        #expect(opio.coordinates.officeHours.map(\.french) == ["lundi: 14h00 à 16h00", "jeudi: 18h30 à 19h30"])
        #expect(opio.invoicePrefix == "OPI")
        let summer = try #require(opio.periods.first { $0.label == "Vacances Été 2016 maternelle 3-6 ans" })
        let tariff = try #require(opio.tariffs.first { $0.code == summer.tariff })
        #expect(tariff.price(unit: "journee", quotient: nil)?.description == "12,50\u{00A0}€")
        #expect(Set(catalog.centers.map { $0.center.tariffs.first!.model.name }).count >= 3)
    }

    @Test func minimalFileLoadsWithDefaults() throws {
        let catalog = check(try minimal())
        #expect(catalog.failures.isEmpty, "\(catalog.allIssues)")
        let center = try #require(catalog.centers.first?.center)
        #expect(center.timeZone == "Europe/Paris")
        #expect(center.cartHoldMinutes == 30)
        #expect(center.periods[0].weekdays == [.lundi, .mardi, .mercredi, .jeudi, .vendredi])
    }

    @Test func everyProblemIsReportedWithItsLine() throws {
        let text = try minimal()
            .replacingOccurrences(of: "ends_on: 2027-07-30", with: "ends_on: 2027-06-30")
            .replacingOccurrences(of: "units: [journee]", with: "units: [journe]")
            .replacingOccurrences(of: "invoice_prefix: TST", with: "invoice_prefx: TST")
        let issues = check(text).allIssues
        #expect(issues.count == 4, "\(issues)")  // the misspelled key also leaves invoice_prefix missing
        let byPath = Dictionary(issues.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let ends = try #require(byPath["periods[0].ends_on"])
        #expect(ends.line == line(of: "ends_on:", in: text))
        #expect(ends.message.contains("before it starts"))
        let unit = try #require(byPath["periods[0].units[0]"])
        #expect(unit.line == line(of: "units: [journe]", in: text))
        #expect(unit.column == 13)
        #expect(unit.message.contains("unknown unit \"journe\" (did you mean \"journee\"?)"))
        let key = try #require(byPath["invoice_prefx"])
        #expect(key.line == line(of: "invoice_prefx", in: text))
        #expect(key.message.contains("did you mean \"invoice_prefix\"?"))
        #expect(byPath["invoice_prefix"]?.message.contains("missing required key") == true)
        #expect(ends.description.hasPrefix("c.yaml:\(ends.line):"))
    }

    @Test(arguments: [
        ("age_group: enfants", "age_group: ados", "periods[0].age_group", "unknown age group \"ados\""),
        ("tariff: base", "tariff: bse", "periods[0].tariff", "unknown tariff \"bse\" (did you mean \"base\"?)"),
        ("phone: 01 23 45 67 89", "phone: 12 34", "coordinates.phone", "is not a phone number"),
        ("email: accueil@example.org", "email: accueil.example.org", "coordinates.email", "is not an e-mail address"),
        ("portal_url: https://test.example.org", "portal_url: test.example.org", "coordinates.portal_url", "is not a web address"),
        ("places: { journee: 20 }", "places: { journee: beaucoup }", "periods[0].places.journee", "expected a whole number"),
        ("prices: { journee: \"10.00\" }", "prices: { journee: \"10.001\" }", "tariffs[0].prices.journee", "at most two decimals"),
        ("model: flat", "model: flatt", "tariffs[0].model", "did you mean \"flat\""),
        ("postcode: \"75001\"", "postcode: 7501", "coordinates.postcode", "is not a French postcode"),
        ("hosts: [test.example.org]", "hosts: [https://test.example.org/]", "hosts[0]", "is not a host name"),
        ("code: test", "code: Test Centre", "code", "is not a valid code"),
        ("min_age: 3", "min_age: 13", "age_groups[0].max_age", "out of order"),
    ])
    func oneProblem(original: String, replacement: String, path: String, message: String) throws {
        let base = try minimal()
        #expect(base.contains(original))
        let text = base.replacingOccurrences(of: original, with: replacement)
        let issues = check(text).allIssues
        // The first problem is the one introduced; an invalid tariff or group may also leave a period
        // naming something that no longer exists, which is reported too.
        let issue = try #require(issues.first)
        #expect(issues.count <= 2, "\(issues)")
        #expect(issue.path == path)
        #expect(issue.message.contains(message), "\(issue.message)")
        let key = String(path.split(separator: ".").last!.prefix { $0 != "[" })
        #expect(issue.line == line(of: replacement, in: text) || issue.line == line(of: key + ":", in: text), "\(issue)")
    }

    @Test func overlappingPeriodsOfOneAgeGroup() throws {
        let text = try minimal() + """
          - code: ete-bis
            label: Été bis
            age_group: enfants
            starts_on: 2027-07-26
            ends_on: 2027-08-13
            units: [journee]
            places: { journee: 20 }
            tariff: base

        """
        let issues = check(text).allIssues
        #expect(issues.count == 1)
        #expect(issues.first?.message.contains("overlaps period \"ete\"") == true)
        #expect(issues.first?.line == line(of: "- code: ete-bis", in: text) )
    }

    @Test func aPeriodsTariffIsValidOnEachOfItsDays() throws {
        let text = try minimal().replacingOccurrences(of: "    model: flat\n", with: "    model: flat\n    valid_to: 2027-07-15\n")
        let issues = check(text).allIssues
        #expect(issues.count == 1)
        #expect(issues.first?.message.contains("tariff \"base\" is valid from always to 2027-07-15, but the period runs from 2027-07-05 to 2027-07-30") == true, "\(issues)")
        #expect(issues.first?.path == "periods[0].tariff")
        let widened = text.replacingOccurrences(of: "valid_to: 2027-07-15", with: "valid_to: 2027-08-31")
        #expect(check(widened).allIssues.isEmpty)
    }

    @Test func dayPlacesAndClosedPeriodsReadAndWriteBack() throws {
        let text = try minimal() + """
            day_places: { "2027-07-14": { journee: 8 } }
            closed: true

        """
        let center = try #require(check(text).centers.first?.center)
        let day = try #require(LocalDate(iso: "2027-07-14"))
        #expect(center.periods[0].closed && center.periods[0].places(on: day) == ["journee": 8])
        #expect(center.periods[0].places(on: day.adding(days: 1)) == ["journee": 20])
        let again = try #require(check(try CenterFileWriter.yaml(center)).centers.first?.center)
        #expect(again == center)
        let outside = check(text.replacingOccurrences(of: "2027-07-14", with: "2027-09-01")).allIssues
        #expect(outside.first?.message.contains("outside the period") == true && outside.first?.path == "periods[0].day_places.2027-09-01")
        let unknownUnit = check(text.replacingOccurrences(of: "{ journee: 8 }", with: "{ repas: 8 }")).allIssues
        #expect(unknownUnit.first?.message.contains("has no places in this period") == true)
    }

    @Test func secretsComeFromTheEnvironment() throws {
        let text = try minimal() + """
        payment:
          type: systempay
          test_key_env: TEST_CENTER_KEY

        """
        let missing = check(text)
        #expect(missing.allIssues.count == 1)
        #expect(missing.allIssues.first?.message.contains("TEST_CENTER_KEY is not set") == true)
        #expect(missing.allIssues.first?.line == line(of: "test_key_env", in: text))
        #expect(check(text, environment: ["TEST_CENTER_KEY": "s3cret"]).failures.isEmpty)
        let checked = check(text, secretsRequired: false)
        #expect(checked.failures.isEmpty && checked.warnings.count == 1)
        let literal = text.replacingOccurrences(of: "test_key_env: TEST_CENTER_KEY", with: "test_key_env: 1234567890123456")
        #expect(check(literal).allIssues.first?.message.contains("secrets are never written here") == true)
        let unknown = text.replacingOccurrences(of: "type: systempay", with: "type: systempai")
        #expect(check(unknown).allIssues.first?.message.contains("did you mean \"systempay\"") == true)
    }

    @Test func codesAndHostsAreUniqueAcrossFiles() throws {
        let a = try minimal()
        let b = a.replacingOccurrences(of: "invoice_prefix: TST", with: "invoice_prefix: TSU")
        let catalog = CenterCatalog.parse(sources: [("a.yaml", .success(a)), ("b.yaml", .success(b))], paymentRules: testRules, environment: [:])
        #expect(catalog.centers.map(\.file) == ["a.yaml"])
        let messages = catalog.allIssues.map(\.message)
        #expect(messages.contains("center code \"test\" is already used by a.yaml"))
        #expect(messages.contains("host \"test.example.org\" is already served by a.yaml"))
        #expect(catalog.allIssues.allSatisfy { $0.file == "b.yaml" && $0.line > 1 || $0.path == "code" })
    }

    /// The bank notifies one address per account: two centers never share a shop, a terminal, a régie.
    @Test func bankAccountsAreUniqueAcrossFiles() throws {
        let rules = [PaymentTypeRule(type: "systempay", account: { $0["site_id"].map { "systempay site_id \($0)" } }) { _, _ in [] }]
        let base = try minimal()
        func file(_ code: String, site: String) -> String {
            // The minimal center with its own code, host, prefix and shop.
            base.replacingOccurrences(of: "code: test", with: "code: \(code)")
                .replacingOccurrences(of: "test.example.org", with: "\(code).example.org")
                .replacingOccurrences(of: "invoice_prefix: TST", with: "invoice_prefix: \(code.prefix(3).uppercased())")
                + "\npayment:\n  type: systempay\n  site_id: \"\(site)\"\n"
        }
        let catalog = CenterCatalog.parse(sources: [("a.yaml", .success(file("aaa", site: "11111111"))),
                                                    ("b.yaml", .success(file("bbb", site: "11111111"))),
                                                    ("c.yaml", .success(file("ccc", site: "22222222")))],
                                          paymentRules: rules, environment: [:])
        #expect(catalog.centers.map(\.file) == ["a.yaml", "c.yaml"], "\(catalog.allIssues)")
        let issue = try #require(catalog.allIssues.first)
        #expect(issue.file == "b.yaml" && issue.path == "payment" && issue.line > 1)
        #expect(issue.message.contains("the bank account (systempay site_id 11111111) is already a.yaml's"))
    }

    @Test func syntaxErrorsAndWrongShapes() {
        let broken = check("code: x\n  name: [oops\n")
        #expect(broken.allIssues.count == 1)
        #expect(broken.allIssues.first?.message.hasPrefix("YAML syntax error") == true)
        #expect(broken.allIssues.first!.line >= 2)
        #expect(check("- just\n- a list\n").allIssues.first?.message.contains("expected a mapping") == true)
        #expect(check("").allIssues.first?.message.contains("empty") == true)
        let duplicate = check("code: a\ncode: b\n")
        #expect(duplicate.allIssues.first?.message.contains("duplicate key") == true)
    }
}

@Suite struct TariffFileTests {
    @Test func combinationsAndCategoriesAreRead() throws {
        let text = try minimal().replacingOccurrences(of: """
            units:
              - code: journee
                label: Journée
            """, with: """
            units:
              - code: journee
                label: Journée
              - code: matin
                label: Matin
              - code: repas
                label: Repas
            """).replacingOccurrences(of: "prices: { journee: \"10.00\" }", with: """
            prices: { journee: "10.00", matin: "4.00", repas: "3.00", matin+repas: "6.50" }
                categories:
                  hors-commune:
                    prices: { journee: "12.00", matin: "5.00", repas: "3.00" }
            """)
        let catalog = check(text)
        #expect(catalog.failures.isEmpty, "\(catalog.allIssues)")
        let tariff = try #require(catalog.centers.first?.center.tariffs.first)
        #expect(tariff.price(unit: "matin+repas", quotient: nil) == Money(cents: 650))
        #expect(tariff.price(unit: "journee", quotient: nil, category: "hors-commune") == Money(cents: 1200))

        let badCombo = text.replacingOccurrences(of: "matin+repas: \"6.50\"", with: "matin+gouter: \"6.50\"")
        let issue = try #require(check(badCombo).allIssues.first)
        #expect(issue.message.contains("unknown unit \"gouter\""))
        #expect(issue.line == line(of: "matin+gouter", in: badCombo))
    }
}

@Suite struct CenterFileWriterTests {
    /// Every shipped center, written back as a file and read again, is the same center.
    @Test func writingAndReadingBackChangesNothing() throws {
        let files = try CenterCatalog.files(in: repositoryRoot.appendingPathComponent("centers").path)
        let environment = ["OPIO_SYSTEMPAY_TEST_KEY": "k", "VALBONNE_PAYZEN_TEST_KEY": "k"]
        let rules = [PaymentTypeRule(type: "systempay") { _, _ in [] }]
        for loaded in CenterCatalog.load(files: files, paymentRules: rules, environment: environment).centers {
            let text = try CenterFileWriter.yaml(loaded.center)
            let again = CenterCatalog.parse(sources: [("written.yaml", .success(text))], paymentRules: rules, environment: environment)
            #expect(again.failures.isEmpty, "\(again.allIssues)\n\(text)")
            let reread = try #require(again.centers.first?.center)
            #expect(CenterDiff(from: loaded.center, to: reread).isEmpty, "\(CenterDiff(from: loaded.center, to: reread).changes)")
        }
    }
}

/// A center file needs no anchor nor alias, and an alias can repeat a subtree a billion times for a few
/// bytes ("billion laughs"): they are refused before the tree is built, with their line.
@Suite struct YAMLAliasTests {
    @Test func anchorsAndAliasesAreRefusedWithTheirLine() throws {
        let text = try minimal()
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" + text
        let refused = check(bomb)
        #expect(refused.centers.isEmpty)
        let issue = try #require(refused.allIssues.first)
        #expect(issue.line == 1 && issue.message.contains("anchors and aliases"), "\(refused.allIssues)")
        #expect(YAMLTree.aliasOrAnchor(in: "x:\n  - *ref\n")?.line == 2)
        #expect(YAMLTree.aliasOrAnchor(in: "x: {a: *ref}\n")?.line == 1)
        // Texts that only contain * or &, quoted values and comments are not anchors.
        #expect(YAMLTree.aliasOrAnchor(in: "label: Vacances * été & loisirs\nname: \"*étoile\"\n# &commentaire\nb: 'x' # *c\n") == nil)
    }
}

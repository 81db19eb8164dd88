import Foundation
import Testing
@testable import PortailConfig
import PortailDomain

/// The center file's `family_file:` block (issue 15, item 4): read, checked with words that say what
/// to fix, written back unchanged; and what a family's file lacks under it.
@Suite struct FamilyFileRulesTests {
    func file(_ lines: String) throws -> String {
        try minimal().replacingOccurrences(of: "invoice_prefix: TST\n", with: "invoice_prefix: TST\n" + lines)
    }

    @Test func rulesReadAndWriteBack() throws {
        let catalog = check(try file("""
            family_file:
              required: [contacts, pickup, health, authorisations, documents]
              documents: [vaccinations, insurance]
              confirm_every_days: 365
              validation: [health, documents]
              self_sign_up: true
              approve_sign_ups: true

            """))
        #expect(catalog.allIssues.isEmpty, "\(catalog.allIssues)")
        let center = try #require(catalog.centers.first?.center)
        #expect(center.familyFile == FamilyFileRules(required: [.contacts, .pickup, .health, .authorisations, .documents],
                                                     documents: [.vaccinations, .insurance], confirmEveryDays: 365, validation: [.health, .documents],
                                                     selfSignUp: true, approveSignUps: true))
        let again = check(try CenterFileWriter.yaml(center))
        let reread = try #require(again.centers.first?.center)
        #expect(reread.familyFile == center.familyFile)
        #expect(try #require(check(try minimal()).centers.first?.center).familyFile == nil)
    }

    @Test func badRulesAreNamed() throws {
        let cases = [
            ("family_file: { required: [sante] }\n", "family_file.required[0]", "unknown item \"sante\""),
            ("family_file: { required: [helth] }\n", "family_file.required[0]", "did you mean \"health\""),
            ("family_file: { required: [documents] }\n", "family_file.required", "no document is listed"),
            ("family_file: { required: [health, health] }\n", "family_file.required[1]", "listed twice"),
            ("family_file: { required: [documents], documents: [passeport] }\n", "family_file.documents[0]", "unknown document \"passeport\""),
            ("family_file: { documents: [caf] }\n", "family_file.documents", "neither required nor validated"),
            ("family_file: { confirm_every_days: 7 }\n", "family_file.confirm_every_days", "between 30 and 730 days"),
            ("family_file: { required: [health], mandatory: true }\n", "family_file.mandatory", "unknown key"),
        ]
        for (lines, path, words) in cases {
            let issues = check(try file(lines)).allIssues
            #expect(issues.contains { $0.path == path && $0.message.contains(words) }, "\(lines): \(issues)")
        }
    }

    @Test func gapsFollowTheRules() {
        let rules = FamilyFileRules(required: [.contacts, .guardians, .pickup, .health, .authorisations, .documents],
                                    documents: [.vaccinations, .caf], confirmEveryDays: 365)
        let now = Date()
        var file = FamilyFileSnapshot(contactsDone: false, guardians: 0, pickup: 0,
                                      children: [.init(id: 1, firstName: "JULES", healthDone: false, authorisationsDone: true),
                                                 .init(id: 2, firstName: "LÉA", healthDone: true, authorisationsDone: false)],
                                      documents: [.init(kind: .vaccinations, childID: 1, refused: false), .init(kind: .caf, childID: nil, refused: true)],
                                      confirmedAt: now.addingTimeInterval(-400 * 86_400))
        #expect(rules.gaps(file, now: now) == [.contacts, .guardians, .pickup, .health(child: "JULES"), .authorisations(child: "LÉA"),
                                               .document(.vaccinations, child: "LÉA"), .document(.caf, child: nil), .confirmation])
        file = FamilyFileSnapshot(contactsDone: true, guardians: 1, pickup: 2,
                                  children: [.init(id: 1, firstName: "JULES", healthDone: true, authorisationsDone: true)],
                                  documents: [.init(kind: .vaccinations, childID: 1, refused: false), .init(kind: .caf, childID: nil, refused: false)],
                                  confirmedAt: now.addingTimeInterval(-10 * 86_400))
        #expect(rules.gaps(file, now: now).isEmpty)
        // Nothing required: nothing missing, whatever the file.
        #expect(FamilyFileRules().gaps(FamilyFileSnapshot(contactsDone: false, guardians: 0, pickup: 0, children: [], documents: [], confirmedAt: nil),
                                       now: now).isEmpty)
    }
}

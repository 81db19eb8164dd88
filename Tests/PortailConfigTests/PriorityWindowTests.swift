import Foundation
import Testing
@testable import PortailConfig
import PortailDomain

/// The minimal file with residents and a second period ("toussaint") that opens earlier for some families.
func withPriority(_ booking: String, residents: String = "residents: { postcodes: [\"75001\"], communes: [Saint-Paul-de-Vence] }\n") throws -> String {
    try minimal().replacingOccurrences(of: "invoice_prefix: TST\n", with: "invoice_prefix: TST\n" + residents) + """
      - code: toussaint
        label: Toussaint
        age_group: enfants
        starts_on: 2027-10-25
        ends_on: 2027-10-29
        units: [journee]
        places: { journee: 20 }
        tariff: base
        booking:
    \(booking)

    """
}

let goodWindows = """
      opens_at: 2027-09-15T08:00
      priority:
        - { opens_at: 2027-09-01T08:00, for: [residents, marked] }
        - { opens_at: 2027-09-08T08:00, for: [previous_period] }
"""

@Suite struct PriorityWindowFileTests {
    @Test func windowsAndResidentsReadAndWriteBack() throws {
        let catalog = check(try withPriority(goodWindows))
        #expect(catalog.allIssues.isEmpty, "\(catalog.allIssues)")
        let center = try #require(catalog.centers.first?.center)
        let toussaint = try #require(center.period("toussaint"))
        #expect(toussaint.priorityWindows.map(\.groups) == [[.residents, .marked], [.previousPeriod]])
        #expect(toussaint.priorityWindows.first?.opensAt.description == "2027-09-01T08:00")
        #expect(center.residents == Residents(postcodes: ["75001"], communes: ["Saint-Paul-de-Vence"]))
        // No previous_period: the latest period of the age group that ended before.
        #expect(center.previousPeriod(of: toussaint)?.code == "ete")
        let written = try CenterFileWriter.yaml(center)
        let again = try #require(check(written).centers.first?.center, "\(check(written).allIssues)")
        #expect(CenterDiff(from: center, to: again).isEmpty)
        let json = String(decoding: try CenterFileWriter.json(toussaint), as: UTF8.self)
        #expect(json.contains(#""priority":[{"for":["residents","marked"],"opens_at":"2027-09-01T08:00"}"#), "\(json)")

        // A change of windows is a line of the difference.
        var changed = center
        changed.periods[1].priorityWindows.removeLast()
        #expect(CenterDiff(from: center, to: changed).changes.map(\.description).first?.hasPrefix("~ period toussaint: priorityWindows:") == true)
    }

    @Test(arguments: [
        (goodWindows.replacingOccurrences(of: "previous_period]", with: "previous_periode]"), "periods[1].booking.priority[1].for[0]",
         "unknown group \"previous_periode\" (did you mean \"previous_period\"?)"),
        (goodWindows.replacingOccurrences(of: "2027-09-08T08:00", with: "2027-09-15T08:00"), "periods[1].booking.priority[1].opens_at",
         "not before the general opening at 2027-09-15T08:00"),
        (goodWindows.replacingOccurrences(of: "      opens_at: 2027-09-15T08:00\n", with: ""), "periods[1].booking.opens_at",
         "give opens_at, when every family may book"),
        (goodWindows.replacingOccurrences(of: "for: [previous_period]", with: "for: [marked]"), "periods[1].booking.priority[1].for[0]",
         "a group belongs to one window"),
        (goodWindows.replacingOccurrences(of: "for: [previous_period]", with: "for: []"), "periods[1].booking.priority[1].for",
         "name at least one group"),
        (goodWindows + "\n      previous_period: printemps", "periods[1].booking.previous_period", "unknown period \"printemps\""),
        (goodWindows + "\n      previous_period: toussaint", "periods[1].booking.previous_period", "cannot be its own previous period"),
    ])
    func oneProblem(booking: String, path: String, message: String) throws {
        let issues = check(try withPriority(booking)).allIssues
        #expect(issues.count == 1, "\(issues)")
        #expect(issues.first?.path == path, "\(issues)")
        #expect(issues.first?.message.contains(message) == true, "\(issues)")
    }

    @Test func windowsThatNeedTheWholeCenter() throws {
        // A window for residents in a center that declares none.
        let noResidents = check(try withPriority(goodWindows, residents: "")).allIssues
        #expect(noResidents.map(\.path) == ["periods[1].booking.priority[0].for[0]"], "\(noResidents)")
        #expect(noResidents.first?.message.contains("no family is resident") == true)
        let text = try withPriority(goodWindows, residents: "")
        #expect(noResidents.first?.line == line(of: "for: [residents, marked]", in: text))

        // The previous period must have come before.
        let later = try withPriority(goodWindows).replacingOccurrences(of: "periods:\n", with: """
            periods:
              - code: noel
                label: Noël
                age_group: enfants
                starts_on: 2027-12-20
                ends_on: 2027-12-31
                units: [journee]
                places: { journee: 20 }
                tariff: base

            """) + "      previous_period: noel\n"
        let afterIt = check(later).allIssues
        #expect(afterIt.first?.message.contains("period \"noel\" ends on 2027-12-31, not before this one starts on 2027-10-25") == true, "\(afterIt)")

        // Without an earlier period of the age group, previous_period must be named.
        let alone = try withPriority(goodWindows).replacingOccurrences(of: "starts_on: 2027-07-05\n    ends_on: 2027-07-30", with: "starts_on: 2027-11-01\n    ends_on: 2027-11-30")
        let none = check(alone).allIssues
        #expect(none.map(\.path) == ["periods[1].booking.priority[1].for[0]"], "\(none)")
        #expect(none.first?.message.contains("no period of age group \"enfants\" ends before this one starts") == true)

        // Residents are postcodes of five digits or communes.
        let badPostcode = check(try withPriority(goodWindows, residents: "residents: { postcodes: [\"6650\"] }\n")).allIssues
        #expect(badPostcode.map(\.path) == ["residents.postcodes[0]"], "\(badPostcode)")
        let empty = check(try withPriority(goodWindows, residents: "residents: {}\n")).allIssues
        #expect(empty.map(\.path) == ["residents"], "\(empty)")
    }
}

@Suite struct PriorityWindowRuleTests {
    func center() throws -> Center { try #require(check(try withPriority(goodWindows)).centers.first?.center) }

    @Test func eachFamilyOpensAtItsEarliestWindow() throws {
        let center = try center()
        let toussaint = try #require(center.period("toussaint"))
        func opening(_ standing: PriorityStanding) -> String? { center.opening(of: toussaint, for: standing)?.description }
        #expect(opening(.none) == "2027-09-15T08:00")
        #expect(opening(PriorityStanding(postcode: "75001", city: "Paris", marked: false, attended: [])) == "2027-09-01T08:00")
        #expect(opening(PriorityStanding(postcode: "06570", city: "ST PAUL DE VENCE", marked: false, attended: [])) == "2027-09-01T08:00")
        #expect(opening(PriorityStanding(postcode: "06570", city: "Vence", marked: true, attended: [])) == "2027-09-01T08:00")
        #expect(opening(PriorityStanding(postcode: "06570", city: "Vence", marked: false, attended: ["ete"])) == "2027-09-08T08:00")
        #expect(opening(PriorityStanding(postcode: "06570", city: "Vence", marked: false, attended: ["toussaint"])) == "2027-09-15T08:00")
        // A period without windows opens for everyone at once.
        #expect(center.opening(of: try #require(center.period("ete")), for: PriorityStanding(postcode: "75001", city: "", marked: true, attended: [])) == nil)

        let zone = center.zone
        let sept2 = LocalDateTime(parsing: "2027-09-02T09:00")!.instant(in: zone)
        let resident = center.opening(of: toussaint, for: PriorityStanding(postcode: "75001", city: "", marked: false, attended: []))
        #expect(toussaint.isOpenForBooking(at: sept2, in: zone, opensAt: resident))
        #expect(!toussaint.isOpenForBooking(at: sept2, in: zone))
    }
}

import Foundation
import Testing
@testable import PortailConfig
import PortailDomain

/// The center file's `waiting_list` and `waiting_room`: read, checked with words that say what to fix,
/// written back unchanged.
@Suite struct WaitingSettingsFileTests {
    func file(_ lines: String) throws -> String {
        try minimal().replacingOccurrences(of: "invoice_prefix: TST\n", with: "invoice_prefix: TST\n" + lines)
    }

    @Test func settingsReadAndWriteBack() throws {
        let catalog = check(try file("waiting_list: { offer_hours: 12 }\nwaiting_room: { admitted_per_minute: 300, active_minutes: 90 }\n"))
        #expect(catalog.allIssues.isEmpty, "\(catalog.allIssues)")
        let center = try #require(catalog.centers.first?.center)
        #expect(center.waitingListOfferHours == 12)
        #expect(center.waitingRoom == WaitingRoomSettings(admittedPerMinute: 300, activeMinutes: 90, queueBeforeMinutes: 30))
        let again = check(try CenterFileWriter.yaml(center))
        let reread = try #require(again.centers.first?.center)
        #expect(CenterDiff(from: center, to: reread).isEmpty, "\(CenterDiff(from: center, to: reread).changes)")
        // Without the keys: a day to pay an offer, and no room.
        let plain = try #require(check(try minimal()).centers.first?.center)
        #expect(plain.waitingListOfferHours == 24 && plain.waitingRoom == nil)
    }

    @Test func badSettingsAreNamed() throws {
        let cases = [
            ("waiting_list: { offer_hours: 0 }\n", "waiting_list.offer_hours", "must be between 1 and 168 hours, found 0"),
            ("waiting_room: { active_minutes: 30 }\n", "waiting_room.admitted_per_minute", "required"),
            ("waiting_room: { admitted_per_minute: 0 }\n", "waiting_room.admitted_per_minute", "must be between 1 and 100000 families a minute"),
            ("waiting_room: { admitted_per_minute: 60, rate: 5 }\n", "waiting_room.rate", "unknown key"),
        ]
        for (lines, path, words) in cases {
            let issues = check(try file(lines)).allIssues
            #expect(issues.contains { $0.path == path && $0.message.contains(words) }, "\(lines): \(issues)")
        }
    }
}

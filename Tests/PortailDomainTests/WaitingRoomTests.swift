import Foundation
import PortailDomain
import Testing

/// The waiting room's arithmetic: who is let in when, and which opening is in front of the pages.
@Suite struct WaitingRoomTests {
    let opening = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func familiesAreLetInAtTheSettingsRateInTheirOrderOfArrival() {
        let room = WaitingRoomSettings(admittedPerMinute: 600)
        #expect(room.burst == 100)
        // Nobody before the opening; ten seconds' worth at once; then 10 a second.
        #expect(room.admitted(opening: opening, now: opening.addingTimeInterval(-1)) == 0)
        #expect(room.admitted(opening: opening, now: opening) == 100)
        #expect(room.admitted(opening: opening, now: opening.addingTimeInterval(30)) == 400)
        #expect(room.wait(position: 100, opening: opening, now: opening) == 0)
        #expect(room.wait(position: 400, opening: opening, now: opening) == 30)
        #expect(room.wait(position: 401, opening: opening, now: opening.addingTimeInterval(30)) == 1)
        // Before the opening, the wait counts to the opening and beyond it.
        #expect(room.wait(position: 1, opening: opening, now: opening.addingTimeInterval(-60)) == 60)
        #expect(room.wait(position: 160, opening: opening, now: opening.addingTimeInterval(-60)) == 66)
        // A slow room still lets the first family in at the opening.
        let slow = WaitingRoomSettings(admittedPerMinute: 2)
        #expect(slow.admitted(opening: opening, now: opening) == 1)
        #expect(slow.wait(position: 2, opening: opening, now: opening) == 30)
    }

    @Test func theRoomStandsFromBeforeAnOpeningUntilItsActiveTimeHasPassed() {
        let room = WaitingRoomSettings(admittedPerMinute: 60, activeMinutes: 45, queueBeforeMinutes: 20)
        #expect(!room.isActive(opening: opening, at: opening.addingTimeInterval(-21 * 60)))
        #expect(room.isActive(opening: opening, at: opening.addingTimeInterval(-20 * 60)))
        #expect(room.isActive(opening: opening, at: opening.addingTimeInterval(44 * 60)))
        #expect(!room.isActive(opening: opening, at: opening.addingTimeInterval(45 * 60)))
    }
}

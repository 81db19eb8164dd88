import Foundation

/// A center's waiting room for the opening minutes of its periods: families are let into the booking
/// pages in the order they arrived, at a steady rate, instead of all at once.
///
/// Admission is arithmetic, not a job: the family holding place `n` in the line of an opening is let in
/// once `n <= burst + rate × minutes since the opening`. Every instance computes the same answer from
/// the line's positions (in PostgreSQL) and the clock, so nothing needs to run for the line to move,
/// and a quiet opening admits everyone at once.
public struct WaitingRoomSettings: Sendable, Hashable, Codable {
    /// Families let in per minute once the period has opened.
    public var admittedPerMinute: Int
    /// How long after an opening the room stays in front of the booking pages.
    public var activeMinutes: Int
    /// How long before an opening families may take their place in the line.
    public var queueBeforeMinutes: Int

    public init(admittedPerMinute: Int, activeMinutes: Int = 60, queueBeforeMinutes: Int = 30) {
        self.admittedPerMinute = admittedPerMinute
        self.activeMinutes = activeMinutes
        self.queueBeforeMinutes = queueBeforeMinutes
    }

    /// Families let in at the very opening: ten seconds' worth, at least one.
    public var burst: Int { max(1, admittedPerMinute / 6) }

    /// How many places of the line are let in at `now` for an opening at `opening`.
    public func admitted(opening: Date, now: Date) -> Int {
        guard now >= opening else { return 0 }
        let minutes = now.timeIntervalSince(opening) / 60
        return burst + Int((Double(admittedPerMinute) * minutes).rounded(.down))
    }

    /// Seconds until place `position` is let in (0 when it is in).
    public func wait(position: Int, opening: Date, now: Date) -> Int {
        let admitted = admitted(opening: opening, now: now)
        guard position > admitted else { return 0 }
        // Place n is in when burst + rate × minutes >= n.
        let minutes = Double(max(0, position - burst)) / Double(admittedPerMinute)
        let due = opening.addingTimeInterval(minutes * 60)
        return max(1, Int(due.timeIntervalSince(now).rounded(.up)))
    }

    /// Whether the line of `opening` stands in front of the booking pages at `now`: from
    /// `queueBeforeMinutes` before it to `activeMinutes` after it.
    public func isActive(opening: Date, at now: Date) -> Bool {
        now >= opening.addingTimeInterval(-Double(queueBeforeMinutes) * 60) && now < opening.addingTimeInterval(Double(activeMinutes) * 60)
    }
}

extension Period {
    /// Every instant the period opens for some family (the general opening and each priority window).
    public func openings(in zone: TimeZone) -> [Date] {
        ([bookingOpensAt] + priorityWindows.map(\.opensAt)).compactMap { $0?.instant(in: zone) }
    }
}

extension Center {
    /// Whether the center's waiting room stands in front of `period`'s pages at `now` (for some
    /// family's opening of it): no room, or no opening near, and nobody waits.
    public func waitingRoomStands(for period: Period, at now: Date) -> Bool {
        guard let room = waitingRoom else { return false }
        return period.openings(in: zone).contains { room.isActive(opening: $0, at: now) }
    }
}

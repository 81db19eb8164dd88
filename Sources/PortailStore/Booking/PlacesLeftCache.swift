import Foundation
import PortailDomain
import Synchronization

/// The places left of each period as the families' grids show them, read once for all the families of an
/// instance and kept for a moment (`freshness`, a second by default): on opening day thousands of grids of
/// the same period ask for the same 156 numbers, and reading them was most of the grid's work in the database.
///
/// An entry is used again only while it is fresh and nothing was written in its center through this
/// instance since it was read (`changed`, called by `Database` after each transaction of a center that
/// is neither a page's nor read-only, and by the center import). So a family sees its own booking, cancellation or place
/// in a waiting line at once; a place taken through another instance, or a cart whose hold ran out,
/// shows at most `freshness` later. Booking never reads here: the places are counted again when they
/// are taken. The staff's screens read the places themselves.
///
/// Entries hold no family's data: the places of a center's period, keyed by the center's id.
public final class PlacesLeftCache: Sendable {
    public let freshness: Duration

    /// When an entry was read, and what had been written by then: the entry stands while neither the
    /// center's count of writes nor the count of imports has moved since.
    public struct Stamp: Sendable, Equatable {
        fileprivate var imports: UInt64
        fileprivate var writes: UInt64
        fileprivate var read: ContinuousClock.Instant
    }

    private struct Key: Hashable {
        var center: Int64
        var period: String
    }

    private struct Entry {
        var stamp: Stamp
        var days: [LocalDate: DayAvailability]
    }

    private struct State {
        var imports: UInt64 = 0
        var writes: [Int64: UInt64] = [:]
        var entries: [Key: Entry] = [:]
    }

    private let state = Mutex(State())

    public init(freshness: Duration = .seconds(1)) {
        self.freshness = freshness
    }

    /// Something was written in the center through this instance: its entries are read again.
    public func changed(_ center: Int64) {
        state.withLock { $0.writes[center, default: 0] &+= 1 }
    }

    /// Centers were imported (their places may have changed): every entry is read again.
    public func changedAll() {
        state.withLock {
            $0.imports &+= 1
            $0.entries = [:]
        }
    }

    /// The stamp of a read about to start: taken before its statement, so that a write committed while
    /// it runs makes its result stale rather than kept.
    public func stamp(_ center: Int64) -> Stamp {
        let now = ContinuousClock.now
        return state.withLock { Stamp(imports: $0.imports, writes: $0.writes[center] ?? 0, read: now) }
    }

    /// The places left of the period, if read less than `freshness` ago with nothing written since.
    public func fresh(center: Int64, period: String) -> [LocalDate: DayAvailability]? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let entry = state.entries[Key(center: center, period: period)],
                  entry.stamp.imports == state.imports, entry.stamp.writes == (state.writes[center] ?? 0),
                  now - entry.stamp.read < freshness else { return nil }
            return entry.days
        }
    }

    /// Keeps what a read stamped `stamp` found (unless something was written since it started).
    public func store(center: Int64, period: String, stamp: Stamp, days: [LocalDate: DayAvailability]) {
        state.withLock { state in
            guard stamp.imports == state.imports, stamp.writes == (state.writes[center] ?? 0) else { return }
            state.entries[Key(center: center, period: period)] = Entry(stamp: stamp, days: days)
        }
    }
}

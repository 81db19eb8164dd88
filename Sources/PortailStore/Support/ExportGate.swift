import Synchronization

/// How many CSV exports stream at once. An export holds a connection of the request pool for as long as its
/// file takes to read and send: seconds for a large center's month, and as long as the reader is slow (a
/// phone on a poor network). Without a limit, a few exports started together — an office on the first of
/// the month, or one account clicking again and again — would hold every connection, and every center's
/// parents would wait behind them. So an instance streams at most a third of its pool at once (at least
/// one), and a center one at a time; past that the export is refused at once ("try again in a moment"),
/// before anything is read.
public final class ExportGate: Sendable {
    public let instanceLimit: Int
    public let perCenterLimit = 1
    private let running = Mutex<[Int64: Int]>([:])

    public init(poolSize: Int) {
        instanceLimit = max(1, poolSize / 3)
    }

    /// A place for one export of `center`, or nil when the instance or the center has no place left. The
    /// place is given back by `Slot.leave()`, or when the slot is dropped (an answer never sent).
    public func enter(center: Int64) -> Slot? {
        let admitted = running.withLock { running -> Bool in
            guard running.values.reduce(0, +) < instanceLimit, running[center, default: 0] < perCenterLimit else { return false }
            running[center, default: 0] += 1
            return true
        }
        return admitted ? Slot(gate: self, center: center) : nil
    }

    /// Exports streaming now: in all, and for `center`.
    public func count(center: Int64? = nil) -> Int {
        running.withLock { running in center.map { running[$0, default: 0] } ?? running.values.reduce(0, +) }
    }

    fileprivate func leave(center: Int64) {
        running.withLock { running in
            let left = running[center, default: 0] - 1
            running[center] = left > 0 ? left : nil
        }
    }

    /// One export's place: left once, by `leave()` or at the latest when the slot goes away.
    public final class Slot: Sendable {
        private let gate: ExportGate
        private let center: Int64
        private let left = Mutex(false)

        fileprivate init(gate: ExportGate, center: Int64) {
            self.gate = gate
            self.center = center
        }

        public func leave() {
            let first = left.withLock { left in
                defer { left = true }
                return !left
            }
            if first { gate.leave(center: center) }
        }

        deinit { leave() }
    }
}

import Synchronization

/// Work that holds something scarce (a connection of the pool, megabytes of memory) for as long as it
/// lasts, counted: at most `limit` at once on this instance, and one at a time per key (a center, a
/// family), so that one account cannot take every place. A refusal is immediate, before any work.
/// Used by the CSV exports (`Database.exports`) and the families' uploads (`SessionMiddleware.uploads`).
public final class ConcurrencyGate<Key: Hashable & Sendable>: Sendable {
    public enum Refusal: Error, Equatable {
        /// The key's own work is running.
        case keyBusy
        /// The instance runs `limit` already.
        case full
    }

    public let limit: Int
    private let running = Mutex<Set<Key>>([])

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// A place for one piece of work of `key`; given back by `Slot.leave()`, or when the slot is dropped
    /// (an answer never sent).
    public func enter(_ key: Key) -> Result<Slot, Refusal> {
        let refusal = running.withLock { running -> Refusal? in
            if running.contains(key) { return .keyBusy }
            if running.count >= limit { return .full }
            running.insert(key)
            return nil
        }
        return refusal.map { .failure($0) } ?? .success(Slot(gate: self, key: key))
    }

    /// Work running now: in all, or for `key`.
    public func count(_ key: Key? = nil) -> Int {
        running.withLock { running in key.map { running.contains($0) ? 1 : 0 } ?? running.count }
    }

    fileprivate func leave(_ key: Key) {
        _ = running.withLock { $0.remove(key) }
    }

    /// One piece of work's place: left once, by `leave()` or at the latest when the slot goes away.
    public final class Slot: Sendable {
        private let gate: ConcurrencyGate
        private let key: Key
        private let left = Mutex(false)

        fileprivate init(gate: ConcurrencyGate, key: Key) {
            self.gate = gate
            self.key = key
        }

        public func leave() {
            let first = left.withLock { left in
                defer { left = true }
                return !left
            }
            if first { gate.leave(key) }
        }

        deinit { leave() }
    }
}

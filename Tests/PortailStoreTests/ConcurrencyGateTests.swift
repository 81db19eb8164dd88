import Testing
@testable import PortailStore

/// The count behind the exports' and the uploads' limits (`ConcurrencyGate`).
@Suite struct ConcurrencyGateTests {
    @Test func eachPlaceIsCountedOnceAndOnePerKey() throws {
        let gate = ConcurrencyGate<Int64>(limit: 2)
        var first: ConcurrencyGate<Int64>.Slot? = try gate.enter(1).get()
        #expect(gate.enter(1).failure == .keyBusy, "one at a time per key")
        let second = try gate.enter(2).get()
        #expect(gate.count() == 2 && gate.count(1) == 1)
        #expect(gate.enter(3).failure == .full, "the instance's limit")
        #expect(gate.enter(2).failure == .keyBusy, "the key's own work is said before the limit")
        first?.leave()
        first?.leave()
        #expect(gate.count() == 1 && gate.count(1) == 0, "left once, however many calls")
        // A slot dropped without leaving (an answer never sent) gives its place back.
        var third: ConcurrencyGate<Int64>.Slot? = try gate.enter(3).get()
        #expect(gate.count() == 2)
        third = nil
        first = nil
        #expect(gate.count() == 1 && third == nil)
        withExtendedLifetime(second) {}
        #expect(ConcurrencyGate<String>(limit: 0).limit == 1)
        #expect(Database.exportLimit(poolSize: 6) == 2 && Database.exportLimit(poolSize: 20) == 6)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

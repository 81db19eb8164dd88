import Foundation
import Hummingbird
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

/// The server cannot drift from docs/openapi.yaml: every /api route the router has is described
/// there, and every described operation is routed (the live server's answers are checked by
/// Tests/EndToEnd/test_openapi.py and the schemathesis fuzz run).
@Suite struct APISpecTests {
    static let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/openapi.yaml")

    /// "GET /api/centers/{code}/periods" for every operation of the spec (read line by line: paths are
    /// two-space keys, methods four-space keys).
    static func describedOperations() throws -> Set<String> {
        var operations = Set<String>()
        var path: String?
        for line in try String(contentsOf: spec, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
            if let match = line.wholeMatch(of: #/  (\/[^:]+):/#) {
                path = String(match.1)
            } else if let match = line.wholeMatch(of: #/    (get|post|put|patch|delete):/#), let path {
                operations.insert("\(match.1.uppercased()) \(path)")
            } else if !line.hasPrefix(" ") && !line.isEmpty {
                path = nil
            }
        }
        return operations
    }

    @Test func everyAPIRouteIsDescribedAndEveryDescribedOperationIsRouted() async throws {
        let database = Database(settings: try await TestCluster.shared.freshDatabase(), logger: TestCluster.logger)
        let routed = Set(try await RouteCatalog.routes(database, developmentPages: false).filter { $0.contains(" /api/") })
        let described = try Self.describedOperations()
        #expect(described.count > 40)
        #expect(routed.subtracting(described).sorted() == [], "routed but not in docs/openapi.yaml")
        #expect(described.subtracting(routed).sorted() == [], "in docs/openapi.yaml but not routed")
    }
}

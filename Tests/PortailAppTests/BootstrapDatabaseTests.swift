import Foundation
import Logging
@testable import PortailApp
import PortailStore
import Testing

/// The request pool's size: PORTAIL_DB_POOL when set, else 20 for a database elsewhere and three per core of
/// this machine for the embedded cluster (which shares its cores with the server).
@Suite struct BootstrapDatabaseTests {
    let external = ["DATABASE_URL": "postgres://portail_web@db.example.org/portail", "DATABASE_OWNER_URL": "postgres://portail_owner@db.example.org/portail"]

    @Test func aDatabaseElsewhereGetsTwentyConnectionsUnlessTold() throws {
        let logger = Logger(label: "test")
        let (settings, embedded) = try Bootstrap.database(environment: external, dataDirectory: "/nonexistent", logger: logger)
        #expect(embedded == nil)
        #expect(settings.appPoolSize == 20)
        let told = try Bootstrap.database(environment: external.merging(["PORTAIL_DB_POOL": "7"]) { $1 }, dataDirectory: "/nonexistent", logger: logger)
        #expect(told.settings.appPoolSize == 7)
        for wrong in ["0", "501", "beaucoup", "6.5"] {
            #expect(throws: ConfigurationError.self) {
                _ = try Bootstrap.database(environment: external.merging(["PORTAIL_DB_POOL": wrong]) { $1 }, dataDirectory: "/nonexistent", logger: logger)
            }
        }
    }

    @Test func theEmbeddedClusterGetsThreeConnectionsPerCore() {
        #expect(DatabaseSettings.localAppPoolSize(cores: 1) == 4)
        #expect(DatabaseSettings.localAppPoolSize(cores: 2) == 6)
        #expect(DatabaseSettings.localAppPoolSize(cores: 8) == 24)
        #expect(DatabaseSettings.localAppPoolSize() == max(4, 3 * ProcessInfo.processInfo.activeProcessorCount))
    }
}

import ArgumentParser
import Foundation
import PortailDomain
import PortailStore

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Serve the demo: embedded database, every file of centers/ imported, demo families created."
    )

    @OptionGroup var server: ServerOptions

    func run() async throws {
        // The demo's centers name test-mode secrets; give them throwaway values when they are not set.
        for name in DemoData.testSecrets where ProcessInfo.processInfo.environment[name] == nil {
            setenv(name, "demo-\(name.lowercased())", 0)
        }
        try await Server.run(server: server, demo: true)
    }
}

/// The demo families: created once per center (idempotent), so that the demo has people in it.
enum DemoData {
    struct Family {
        let center: String
        let email: String
        let name: String
        let children: [(first: String, birth: String)]
    }

    /// Environment variables the demo centers use for TEST-mode keys.
    static let testSecrets = ["OPIO_SYSTEMPAY_TEST_KEY", "VALBONNE_PAYZEN_TEST_KEY"]

    static let families: [Family] = [
        Family(center: "opio", email: "famille.martin@example.org", name: "MARTIN Julie",
               children: [("JULES", "2021-03-14"), ("LÉA", "2018-09-02")]),
        Family(center: "opio", email: "famille.bernard@example.org", name: "BERNARD Karim", children: [("INÈS", "2020-05-20")]),
        Family(center: "valbonne", email: "famille.martin@example.org", name: "MARTIN Julie", children: [("JULES", "2021-03-14")]),
        Family(center: "roquefort", email: "famille.petit@example.org", name: "PETIT Sophie",
               children: [("NOAH", "2017-01-30"), ("EMMA", "2019-11-11")]),
    ]

    static func create(in database: Database, centers: [CenterRecord]) async throws {
        for record in centers {
            for family in families where family.center == record.center.code {
                try await database.withCenter(record.id) { connection in
                    var familyID: Int64?
                    for try await id in try await connection.query(
                        "SELECT id FROM families WHERE lower(email) = lower(\(family.email))", logger: database.logger
                    ).decode(Int64.self) { familyID = id }
                    guard familyID == nil else { return }
                    for try await id in try await connection.query("""
                        INSERT INTO families (center_id, email, name, state) VALUES (\(record.id), \(family.email), \(family.name), 'invited')
                        RETURNING id
                        """, logger: database.logger).decode(Int64.self) { familyID = id }
                    let lastName = String(family.name.split(separator: " ").first ?? "")
                    for child in family.children {
                        try await connection.query("""
                            INSERT INTO children (center_id, family_id, first_name, last_name, birth_date)
                            VALUES (\(record.id), \(familyID!), \(child.first), \(lastName), \(child.birth)::date)
                            """, logger: database.logger)
                    }
                }
            }
        }
    }
}

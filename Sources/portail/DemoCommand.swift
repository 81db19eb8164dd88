import ArgumentParser
import Foundation
import PortailApp
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


import ArgumentParser
import FakeBanks
import Foundation
import PortailApp
import PortailConfig
import PortailDomain
import PortailStore

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Serve the demo: embedded database, every file of centers/ imported, demo families created.",
        discussion: """
        Every paying center pays the built-in simulated bank. With --fake-banks, each pays through a fake of its own \
        bank (SystemPay/PayZen, Stripe, Monetico, PayFiP, HelloAsso) started on 127.0.0.1 for the run, and the \
        demo-only centers of centers/demo/ (other protocols) are served too.
        """
    )

    @OptionGroup var server: ServerOptions

    @Flag(help: "Send each paying center to a local fake of its own bank instead of the simulator; serve centers/demo/ too.")
    var fakeBanks = false

    func run() async throws {
        // The demo's centers name test-mode secrets; give them throwaway values when they are not set.
        for name in DemoData.testSecrets where ProcessInfo.processInfo.environment[name] == nil {
            setenv(name, "demo-\(name.lowercased())", 0)
        }
        guard fakeBanks else { return try await Server.run(server: server, demo: true) }
        // The centers, read once to know their banks, then checked with the fakes' secrets, as their providers are made.
        let directory = Runtime.environment["PORTAIL_CENTERS_DIR"] ?? "centers"
        let extra = (directory as NSString).appendingPathComponent("demo")
        let files = try Runtime.centerFiles() + (FileManager.default.fileExists(atPath: extra) ? try CenterCatalog.files(in: extra) : [])
        let declared = CenterCatalog.load(files: files, paymentRules: Runtime.paymentRules, environment: Runtime.environment, secretsRequired: false)
        let accounts = declared.centers.compactMap { loaded in
            loaded.center.payment.map { DemoBanks.Account(center: loaded.center.code, type: $0.type, parameters: $0.parameters) }
        }
        let host = server.host == "0.0.0.0" || server.host == "::" ? "127.0.0.1" : server.host
        let banks = try await DemoBanks.start(accounts, portal: "http://\(host):\(server.port)")
        let environment = Runtime.environment.merging(banks.secrets) { _, fake in fake }
        let catalog = CenterCatalog.load(files: files, paymentRules: Runtime.paymentRules, environment: environment)
        do {
            try await Server.run(server: server, demo: true, catalog: catalog, banks: banks)
        } catch {
            await banks.stop()
            throw error
        }
        await banks.stop()
    }
}

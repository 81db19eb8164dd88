import ArgumentParser
import Foundation
import PortailApp
import PortailConfig
import PortailStore

struct CentersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "centers",
        abstract: "Check and import center files.",
        subcommands: [Check.self, Import.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate center files; print every problem with file, line and column; exit 1 if any."
        )

        @Argument(help: "Center files (YAML).")
        var files: [String]

        @Flag(help: "Treat secrets missing from this environment as errors, as serving does (default: warnings).")
        var requireSecrets = false

        func validate() throws {
            if files.isEmpty { throw ValidationError("give at least one center file, e.g. centers/*.yaml") }
        }

        func run() async throws {
            let catalog = CenterCatalog.load(files: files, paymentRules: Runtime.paymentRules, environment: Runtime.environment,
                                             secretsRequired: requireSecrets)
            for issue in catalog.allIssues + catalog.warnings { printError(issue.description) }
            for loaded in catalog.centers {
                print("\(loaded.file): ok (\(loaded.center.code), \(loaded.center.periods.count) period(s), \(loaded.center.tariffs.count) tariff(s))")
            }
            if !catalog.failures.isEmpty {
                printError("\(catalog.allIssues.count) problem(s) in \(catalog.failures.count) file(s)")
                throw ExitCode(1)
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or update centers from their files (by code). With --dry-run, print the difference only."
        )

        @Argument(help: "Center files (YAML).")
        var files: [String]

        @Flag(help: "Print what would change without writing anything.")
        var dryRun = false

        func validate() throws {
            if files.isEmpty { throw ValidationError("give at least one center file, e.g. centers/*.yaml") }
        }

        func run() async throws {
            let catalog = CenterCatalog.load(files: files, paymentRules: Runtime.paymentRules, environment: Runtime.environment)
            for issue in catalog.allIssues { printError(issue.description) }
            let outcomes = try await Runtime.withDatabase { database in
                try await CenterImporter(database: database).importCenters(catalog.centers.map { CenterImporter.Source(center: $0.center, file: $0.file, text: $0.text) }, dryRun: dryRun)
            }
            var refused = 0
            for outcome in outcomes {
                if let refusal = outcome.refusal {
                    refused += 1
                    printError("\(outcome.code): refused, nothing written: \(refusal)")
                } else if outcome.diff.isEmpty {
                    print("\(outcome.code): unchanged")
                } else {
                    print("\(outcome.code): \(dryRun ? "would change" : "changed")")
                    for change in outcome.diff.changes { print("  \(change)") }
                }
            }
            if refused > 0 || !catalog.failures.isEmpty { throw ExitCode(1) }
        }
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

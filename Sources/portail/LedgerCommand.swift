import ArgumentParser
import Foundation
import PortailApp
import PortailStore

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Check what the database keeps of the ledger (amounts due, families' totals) against its documents; write it again after a fix by hand.",
        subcommands: [Check.self, Rebuild.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every kept amount that differs from the invoices, credit notes, payments and allocations added up again; exit 1 if any."
        )

        @Option(help: "Only this center (its code).")
        var center: String?

        func run() async throws {
            let drift = try await Runtime.withDatabase { database in
                let records = try await CenterRepository.loadAll(database)
                let only = try center.map { code in try Runtime.center(code, in: records).id }
                let codes = Dictionary(uniqueKeysWithValues: records.map { ($0.id, $0.center.code) })
                return try await LedgerDrift.rows(database, center: only).map { (codes[$0.centerID] ?? "center \($0.centerID)", $0) }
            }
            for (code, row) in drift {
                print("\(code) family \(row.familyID), \(row.keptIn), \(row.rowOf): kept \(row.kept ?? "nothing"), documents give \(row.fromLedger ?? "nothing")")
            }
            guard drift.isEmpty else {
                print("\(drift.count) kept row(s) differ from the documents: `portail ledger rebuild` writes them again.")
                throw ExitCode(1)
            }
            print("Every kept amount agrees with the documents\(center.map { " of \($0)" } ?? "").")
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a family's kept amounts again from its documents (every family that `ledger check` lists, without --family)."
        )

        @Option(help: "The center's code (required with --family).")
        var center: String?

        @Option(help: "The family's number (the last part of its page's address in the back office).")
        var family: Int64?

        func validate() throws {
            if family != nil, center == nil { throw ValidationError("--family needs --center: a family's number is its center's") }
            if let family, family <= 0 { throw ValidationError("--family must be a family's number, found \(family)") }
        }

        func run() async throws {
            // Each family's outcome is printed as it is done: an error later does not hide what was written.
            let rebuilt = try await Runtime.withDatabase { database in
                let records = try await CenterRepository.loadAll(database)
                let only = try center.map { code in try Runtime.center(code, in: records).id }
                let codes = Dictionary(uniqueKeysWithValues: records.map { ($0.id, $0.center.code) })
                var families: [(Int64, Int64)] = []
                if let only, let family {
                    families = [(only, family)]
                } else {
                    for row in try await LedgerDrift.rows(database, center: only) where families.last.map({ $0 != (row.centerID, row.familyID) }) ?? true {
                        families.append((row.centerID, row.familyID))
                    }
                }
                for (centerID, family) in families {
                    let code = codes[centerID] ?? "center \(centerID)"
                    guard let differed = try await LedgerDrift.rebuild(database, center: centerID, family: family) else {
                        throw ValidationError("\(code) has no family \(family)")
                    }
                    print(differed == 0 ? "\(code) family \(family): already agreed, left as it was"
                                        : "\(code) family \(family): \(differed) kept row(s) written again from the documents")
                }
                return families.count
            }
            if rebuilt == 0 { print("Nothing to write again: every kept amount agrees with the documents.") }
        }
    }
}

import Foundation
import Logging
import PortailDomain
import PortailStore

/// The demo's people: families at each demo center, with passwords, children, a QF for some and past
/// reservations, created once (the next start finds them and changes nothing).
public enum DemoData {
    public struct Family: Sendable {
        public let center: String
        public let email: String
        public let name: String
        public let category: String?
        public let quotient: Int?
        public let children: [(first: String, birth: String)]
        /// Past reservations: (child, period code, days), booked through the real booking code and confirmed.
        public let past: [(child: String, period: String, days: [String])]
    }

    /// Everyone's demo password.
    public static let password = "portail-demo-2026"

    /// Environment variables the demo centers use for TEST-mode keys.
    public static let testSecrets = ["OPIO_SYSTEMPAY_TEST_KEY", "OPIO_SYSTEMPAY_REST_PASSWORD", "VALBONNE_PAYZEN_TEST_KEY"]

    public static let families: [Family] = [
        Family(center: "opio", email: "famille.martin@example.org", name: "MARTIN Julie", category: nil, quotient: 850,
               children: [("JULES", "2021-03-14"), ("LÉA", "2018-09-02")],
               past: [("LÉA", "toussaint-2026-elementaire", ["2026-10-19", "2026-10-20", "2026-10-21"])]),
        Family(center: "opio", email: "famille.bernard@example.org", name: "BERNARD Karim", category: nil, quotient: nil,
               children: [("INÈS", "2020-05-20")], past: []),
        Family(center: "valbonne", email: "famille.martin@example.org", name: "MARTIN Julie", category: nil, quotient: 450,
               children: [("JULES", "2021-03-14")], past: []),
        Family(center: "valbonne", email: "famille.dupont@example.org", name: "DUPONT Marc", category: "hors-commune", quotient: nil,
               children: [("ZOÉ", "2019-06-01"), ("HUGO", "2016-12-03")], past: []),
        Family(center: "roquefort", email: "famille.petit@example.org", name: "PETIT Sophie", category: nil, quotient: nil,
               children: [("NOAH", "2017-01-30"), ("EMMA", "2019-11-11")], past: []),
        // The demo-only centers of centers/demo/, served by `portail demo --fake-banks`.
        Family(center: "bar-sur-loup", email: "famille.garcia@example.org", name: "GARCIA Lucie", category: nil, quotient: nil,
               children: [("ADAM", "2019-04-18")], past: []),
        Family(center: "petits-loups", email: "famille.roux@example.org", name: "ROUX Thomas", category: nil, quotient: nil,
               children: [("LOUISE", "2018-02-07"), ("GABRIEL", "2020-10-25")], past: []),
    ]

    /// The demo's back-office people (http://127.0.0.1:8080/admin/), with the families' password: Opio's
    /// director (a manager: a TOTP code after the password, enrolled at the first sign-in) and a member of
    /// its team (the password alone).
    public static let staff: [(center: String, email: String, name: String, role: String)] = [
        ("opio", "direction@opio.example.org", "Claire DURAND", "manager"),
        ("opio", "equipe@opio.example.org", "Malik BENALI", "staff"),
    ]

    /// The demo's federation administrator: every center, the federation's page (states, a center
    /// onboarded from its file, suspension); a TOTP code after the password, enrolled at the first sign-in.
    public static let federationAdmins: [(email: String, name: String)] = [("federation@ifac.example.org", "Nadia LEROY")]

    public static func create(in database: Database, centers: [CenterRecord], logger: Logger) async throws {
        let hash = try await Passwords.hash(password)
        for person in federationAdmins {
            try await database.owner.withConnection { c in
                _ = try await StaffRepository.createStaff(c, email: person.email, name: person.name, federationAdmin: true, logger: logger)
                _ = try await StaffSignIn.ownerSetPassword(c, email: person.email, hash: hash, keepingOne: true, logger: logger)
            }
        }
        for person in staff {
            guard let record = centers.first(where: { $0.center.code == person.center }) else { continue }
            try await database.owner.withConnection { c in
                let id = try await StaffRepository.createStaff(c, email: person.email, name: person.name, federationAdmin: false, logger: logger)
                try await StaffSignIn.ownerGrant(c, staff: id, center: record.id, role: person.role, logger: logger)
                _ = try await StaffSignIn.ownerSetPassword(c, email: person.email, hash: hash, keepingOne: true, logger: logger)
            }
        }
        for record in centers {
            for family in families where family.center == record.center.code {
                try await create(family, record: record, passwordHash: hash, database: database, logger: logger)
            }
        }
    }

    static func create(_ family: Family, record: CenterRecord, passwordHash: String, database: Database, logger: Logger) async throws {
        let center = record.id
        let created: (Int64, [ChildRecord])? = try await database.withCenter(center) { c in
            if try await AccountRepository.family(c, center: center, email: family.email, logger: logger) != nil { return nil }
            let id = try await AccountRepository.createFamily(c, center: center, email: family.email, name: family.name,
                                                              passwordHash: passwordHash, state: "active", category: family.category, logger: logger)
            let lastName = String(family.name.split(separator: " ").first ?? "")
            for child in family.children {
                try await AccountRepository.addChild(c, center: center, family: id, firstName: child.first, lastName: lastName,
                                                     birthDate: LocalDate(iso: child.birth)!, logger: logger)
            }
            if let qf = family.quotient {
                try await AccountRepository.addQuotient(c, center: center, family: id, quotient: qf, from: LocalDate(iso: "2026-01-01")!, to: nil, logger: logger)
            }
            return (id, try await AccountRepository.children(c, center: center, family: id, logger: logger))
        }
        guard let (familyID, children) = created else { return }
        for past in family.past {
            guard let child = children.first(where: { $0.firstName == past.child }), let period = record.center.period(past.period) else { continue }
            let days = past.days.compactMap(LocalDate.init(iso:))
            // Booked as on the day before the period's booking closed, then confirmed (paid at the office).
            let then = period.bookingOpensAt.map { $0.instant(in: record.center.zone).addingTimeInterval(3600) } ?? Date()
            let request = BookingRequest(familyID: familyID, child: child, period: period,
                                         selection: Dictionary(uniqueKeysWithValues: days.map { ($0, Set(["journee"])) }))
            try await database.withCenter(center) { c in
                let booked = try await BookingRepository.book(c, center: record.center, centerID: center, request: request, now: then, logger: logger)
                try await BookingRepository.confirm(c, center: center, reservations: [booked.reservationID], at: then, logger: logger)
            }
        }
    }
}

import Foundation
import Hummingbird
import PortailDomain
import PortailStore

/// Booking days for a child at the office: the period's days and units with the places left, as parents
/// see them, ticked by staff; past the booking window and the deadlines, never past the places
/// (`StaffReservations.bookAtOffice`, the same code as the admin API). Confirmed and invoiced at once
/// unless the form says otherwise.
extension PortailRoutes {
    struct AdminBookingModel {
        struct Choice {
            let value: String
            let label: String
            let selected: Bool
        }
        struct Cell {
            let name: String
            let value: String
            let label: String
            let checked: Bool
            let available: Bool
            let note: String
        }
        struct Row {
            let day: String
            let left: String
            let cells: [Cell]
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let family: Int64
        let familyName: String
        let children: [Choice]
        let periods: [Choice]
        let chosen: Bool
        let child: String
        let childID: Int64
        let period: String
        let periodLabel: String
        let units: [String]
        let rows: [Row]
        let invoice: Bool
        let error: String?
    }

    func addAdminOfficeBookingRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/centres/:code/familles/:family/reserver", use: admin { admin, context, request in
            let (_, record, _) = try await staffCenter(admin, context: context)
            let parameters = request.uri.queryParameters
            return try await officeBookingPage(admin, record: record, context: context, child: parameters["enfant"].flatMap { Int64(String($0)) },
                                               period: parameters["periode"].map(String.init), selection: [:], invoice: true)
        })

        router.post("/admin/centres/:code/familles/:family/reserver", use: admin { admin, context, _ in
            let (session, record, _) = try await staffCenter(admin, context: context)
            let family = try familyParameter(context)
            let form = admin.form
            guard let childID = form["enfant"].flatMap(Int64.init), let period = record.center.period(form["periode"] ?? "") else {
                return try await officeBookingPage(admin, record: record, context: context, child: nil, period: nil, selection: [:], invoice: true,
                                                   error: "Choisissez l'enfant et la période.")
            }
            var selection: [LocalDate: Set<String>] = [:]
            for value in form.all("jour").prefix(1000) {
                let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, let day = LocalDate(iso: parts[0]), period.units.contains(parts[1]) else { continue }
                selection[day, default: []].insert(parts[1])
            }
            let invoice = form["facturer"] == "oui"
            func again(_ error: String) async throws -> Response {
                try await officeBookingPage(admin, record: record, context: context, child: childID, period: period.code, selection: selection,
                                            invoice: invoice, error: error)
            }
            guard !selection.isEmpty else { return try await again("Cochez au moins un jour.") }
            let done: (reservation: BookedReservation, invoice: LedgerRepository.Issued?)?
            try await StaffReservations.expireBeforeBooking(database, centerID: record.id)
            do {
                done = try await database.withCenter(record.id) { c in
                    try await StaffReservations.bookAtOffice(c, center: record.center, centerID: record.id, family: family, child: childID, period: period,
                                                             selection: selection, invoice: invoice, actor: "staff:\(session.email)", logger: context.logger)
                }
            } catch let refusal as BookingRefusal {
                return try await again(Self.officeRefusal(refusal))
            }
            guard let (booked, _) = done else { return familyNotFound }
            return Pages.redirect("/admin/centres/\(record.center.code)/familles/\(family)/reservations/\(French.number(booked.number))?etat=reserve")
        })
    }

    /// Why the office could not book, in French: nothing was booked.
    static func officeRefusal(_ refusal: BookingRefusal) -> String {
        let days = { (list: [LocalDate]) in list.map(\.french).joined(separator: ", ") }
        return switch refusal {
        case .full(let list): "Plus de place le \(days(list)) : rien n'a été réservé. Décochez ces jours ou augmentez les places de la période."
        case .alreadyBooked(let list): "L'enfant est déjà inscrit le \(days(list)) : décochez ces jours."
        case .pastDeadline(let list): "Le délai est dépassé pour le \(days(list))."
        case .invalidSelection(let why): "Sélection impossible : \(why)."
        case .periodClosed: "Cette période est fermée, ou l'âge de l'enfant ne correspond pas à son groupe : rouvrez-la ou choisissez une autre période."
        case .unpriced(let day, let units): "Le tarif de la période n'a pas de prix pour \(units.joined(separator: " + ")) le \(day.french)."
        case .cartFrozen: "La famille est en train de payer son panier en ligne : réessayez dans quelques minutes."
        case .cartHoldsOffer: "Le panier de la famille contient une place proposée par la liste d'attente : attendez qu'elle soit payée ou libérée."
        case .notOpenYet(let opens): "Les réservations de cette période ouvrent le \(opens.frenchDayMonth)."
        }
    }

    func officeBookingPage(_ admin: AdminRequest, record: CenterRecord, context: AppRequestContext, child childID: Int64?, period code: String?,
                           selection: [LocalDate: Set<String>], invoice: Bool, error: String? = nil) async throws -> Response {
        typealias M = AdminBookingModel
        let family = try familyParameter(context)
        let center = record.center
        let period = code.flatMap { center.period($0) }
        let loaded = try await database.withCenter(record.id) { c -> (FamilyDetail, [ChildRecord], BookingRepository.GridReads)? in
            guard let detail = try await FamilyAdministration.detail(c, center: record.id, family: family, logger: context.logger) else { return nil }
            // The grid's statement reads the family's children too; its child's days only for a child of the family.
            if let period, let childID,
               let places = try await BookingRepository.gridReads(c, center: record.id, periodCode: period.code, childID: childID,
                                                                    family: family, logger: context.logger) {
                return (detail, places.children, places.children.contains { $0.id == childID } ? places : BookingRepository.GridReads())
            }
            return (detail, try await AccountRepository.children(c, center: record.id, family: family, logger: context.logger), BookingRepository.GridReads())
        }
        guard let (detail, children, places) = loaded else { return familyNotFound }
        let child = children.first { $0.id == childID }
        var rows: [M.Row] = []
        if let period, child != nil {
            rows = period.openDays.map { day in
                let left = places.availability[day]?.remaining ?? [:]
                return M.Row(
                    day: "\(French.shortDay(day))/\(day.year)",
                    left: French.ordered(left.keys, in: center).map { "\(French.unitLabel($0, in: center)) \(left[$0] ?? 0)" }.joined(separator: ", "),
                    cells: period.units.map { unit in
                        let needs = center.units.first { $0.code == unit }?.capacityUnits ?? [unit]
                        let free = needs.allSatisfy { (left[$0] ?? 0) > 0 }
                        let mine = places.held[day]?.contains(unit) == true
                        // The child's place in the day's waiting list, which booking it here would pass over.
                        let waiting = places.waiting[day]?[unit].map { "liste d'attente : \(French.rank($0))" }
                        return M.Cell(name: "jour", value: "\(day.iso):\(unit)",
                                      label: "\(French.unitLabel(unit, in: center)) le \(French.weekdayLong(day)) \(day.french)",
                                      checked: selection[day]?.contains(unit) == true, available: free && !mine,
                                      note: mine ? "déjà réservé" : [free ? nil : "complet", waiting].compactMap { $0 }.joined(separator: ", "))
                    })
            }
        }
        return adminPage("admin-booking", M(
            page: admin.chrome, code: center.code, centerName: center.name, family: family, familyName: detail.name,
            children: children.map { .init(value: String($0.id), label: "\($0.firstName) \($0.lastName)", selected: $0.id == childID) },
            periods: center.periods.filter { !$0.closed }.sorted { $0.startsOn > $1.startsOn }.map { .init(value: $0.code, label: $0.label, selected: $0.code == period?.code) },
            chosen: period != nil && child != nil, child: child.map { "\($0.firstName) \($0.lastName)" } ?? "", childID: child?.id ?? 0,
            period: period?.code ?? "", periodLabel: period?.label ?? "", units: period?.units.map { French.unitLabel($0, in: center) } ?? [],
            rows: rows, invoice: invoice, error: error
        ), admin, status: error == nil ? .ok : .conflict)
    }
}

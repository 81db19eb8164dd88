import Crypto
import Foundation
import Hummingbird
import PortailConfig
import PortailDomain
import PortailStore

/// The back office's periods: the list, a period with its places day by day, and the forms that create,
/// duplicate, change, close and reopen one. Every change is previewed (what it changes, in French) before
/// it is saved, and goes through the same editor and importer as the admin API (`editCenter`): places
/// below what is taken are refused with the numbers, or forced with a reason the audit log keeps.
extension PortailRoutes {
    struct AdminPeriodsModel {
        struct Line {
            let period: String
            let label: String
            let group: String
            let dates: String
            let openDays: Int
            let state: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let periods: [Line]
        let hasPeriods: Bool
        let canEdit: Bool
    }

    struct AdminPeriodModel {
        struct Row {
            let day: String
            let cells: [Cell]
        }
        struct Cell {
            let name: String
            let value: Int
            let taken: Int
            let label: String
            let level: String
            let open: Bool
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let period: String
        let label: String
        let facts: [Fact]
        let closed: Bool
        let units: [String]
        let rows: [Row]
        let hasRows: Bool
        let canEdit: Bool
        let notice: String?
    }

    struct Fact {
        let name: String
        let value: String
    }

    struct AdminPeriodFormModel {
        struct Choice {
            let value: String
            let label: String
            let checked: Bool
        }
        struct Places {
            let name: String
            let label: String
            let value: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let title: String
        let action: String
        let back: String
        let creating: Bool
        let form: PeriodForm
        let groups: [Choice]
        let weekdays: [Choice]
        let units: [Choice]
        let places: [Places]
        let tariffs: [Choice]
        let deadlineWeekdays: [Choice]
        let errors: [String]
        let hasErrors: Bool
        let notes: [String]
    }

    /// What a change would do, before it is saved; the same fields posted again save it.
    struct AdminPreviewModel {
        struct Carried {
            let name: String
            let value: String
        }
        let page: AdminChrome
        /// Where the breadcrumb starts: the center's dashboard, or the federation's page.
        let home: String
        let homeName: String
        let title: String
        let action: String
        let back: String
        let changes: [String]
        let hasChanges: Bool
        let conflicts: [String]
        let hasConflicts: Bool
        /// Places below what is taken may be forced (a booked day cannot be closed).
        let canForce: Bool
        let forced: [String]
        let hasForced: Bool
        let reason: String
        let error: String?
        var carried: [Carried]
        /// The button that saves what is previewed.
        var confirm = "Enregistrer"
        /// What sample families pay under a tariff being changed.
        var samples: SamplesTable?
    }

    func addAdminPeriodRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/centres/:code/periodes", use: admin { admin, context, _ in
            let (_, record, role) = try await staffCenter(admin, context: context)
            let center = record.center
            let today = LocalDate(clock(), in: center.zone)
            let lines = center.periods.sorted { ($0.startsOn, $0.code) > ($1.startsOn, $1.code) }.map { p in
                AdminPeriodsModel.Line(period: p.code, label: p.label, group: center.ageGroups.first { $0.code == p.ageGroup }?.label ?? p.ageGroup,
                                       dates: French.dates(p), openDays: p.openDays.count, state: Self.periodState(p, today: today, zone: center.zone, now: clock()))
            }
            return adminPage("admin-periods", AdminPeriodsModel(page: admin.chrome, code: center.code, centerName: center.name, periods: lines,
                                                                hasPeriods: !lines.isEmpty, canEdit: role != "staff"), admin)
        })

        router.get("/admin/centres/:code/periodes/:period", use: admin { admin, context, request in
            let (_, record, role) = try await staffCenter(admin, context: context)
            guard let period = record.center.period(context.parameters.get("period") ?? "") else { return periodNotFound }
            let notice: String? = switch request.uri.queryParameters["etat"].map(String.init) {
            case "enregistre": "Les changements sont enregistrés."
            case "ferme": "La période est fermée : plus aucune réservation n'y est prise (ce qui est réservé reste)."
            case "rouvert": "La période est rouverte aux réservations."
            default: nil
            }
            return try await periodPage(admin, record: record, period: period, canEdit: role != "staff", notice: notice, context: context)
        })

        router.get("/admin/centres/:code/nouvelle-periode", use: admin { admin, context, request in
            let (_, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            var form = PeriodForm()
            var notes: [String] = []
            if let source = request.uri.queryParameters["depuis"].flatMap({ record.center.period(String($0)) }) {
                // A year on, on the same weekdays (52 weeks): the dates are to check against the school calendar.
                form = PeriodForm(source, shiftedBy: 364)
                form.source = source.code
                notes = ["Copie de « \(source.label) », 52 semaines plus tard : vérifiez les dates et les jours fermés (jours fériés, calendrier scolaire).",
                         "La règle d'annulation par les parents est copiée ; les places particulières de certains jours et les fenêtres prioritaires ne le sont pas."]
            } else {
                form.ageGroup = record.center.ageGroups.first?.code ?? ""
                form.tariff = record.center.tariffs.last?.code ?? ""
            }
            return adminPage("admin-period-form", periodFormModel(admin, record: record, form: form, editing: nil, notes: notes), admin)
        })

        router.get("/admin/centres/:code/periodes/:period/modifier", use: admin { admin, context, _ in
            let (_, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            guard let period = record.center.period(context.parameters.get("period") ?? "") else { return periodNotFound }
            return adminPage("admin-period-form", periodFormModel(admin, record: record, form: PeriodForm(period), editing: period), admin)
        })

        // Create (no period in the address) or change a period from the form: previewed, then saved.
        router.post("/admin/centres/:code/nouvelle-periode", use: admin { admin, context, _ in
            try await savePeriodForm(admin, context: context, editing: nil)
        })
        router.post("/admin/centres/:code/periodes/:period/modifier", use: admin { admin, context, _ in
            try await savePeriodForm(admin, context: context, editing: context.parameters.get("period") ?? "")
        })

        // The places of single days, from the calendar of the period's page: one field per day and unit.
        router.post("/admin/centres/:code/periodes/:period/places", use: admin { admin, context, _ in
            let (session, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            guard let period = record.center.period(context.parameters.get("period") ?? "") else { return periodNotFound }
            var wanted: [String: [String: Int]] = [:]
            var errors: [String] = []
            for day in period.openDays {
                for unit in French.ordered(period.places.keys, in: record.center) {
                    let text = (admin.form["j_\(day.iso)_\(unit)"] ?? "").trimmingCharacters(in: .whitespaces)
                    guard !text.isEmpty else { continue }
                    guard let n = Int(text), (0...10_000).contains(n) else {
                        errors.append("\(French.shortDay(day)) (\(French.unitLabel(unit, in: record.center))) : « \(text.prefix(10)) » n'est pas un nombre de places de 0 à 10 000.")
                        continue
                    }
                    if n != period.places[unit] { wanted[day.iso, default: [:]][unit] = n }
                }
            }
            let dayPlaces = wanted
            let base = "/admin/centres/\(record.center.code)/periodes/\(period.code)"
            guard errors.isEmpty else {
                return adminPage("admin-preview", previewModel(admin, record: record, title: "Places de « \(period.label) »", action: "\(base)/places",
                                                               back: base, changes: [], error: errors.joined(separator: " ")),
                                 admin, status: .unprocessableContent)
            }
            return try await previewOrSave(admin, session: session, record: record, editing: period, title: "Places de « \(period.label) »",
                                           action: "\(base)/places", back: base) { current in
                var object = try Self.object(current)
                object["day_places"] = dayPlaces.isEmpty ? nil : dayPlaces
                return .success(object)
            } onInvalid: { issues in
                adminPage("admin-preview", previewModel(admin, record: record, title: "Places de « \(period.label) »", action: "\(base)/places", back: base,
                                                        changes: [], error: issues.map { French.configIssue($0, in: record.center) }.joined(separator: " ")),
                          admin, status: .unprocessableContent)
            }
        })

        for (action, closing) in [("fermer", true), ("rouvrir", false)] {
            router.post(RouterPath("/admin/centres/:code/periodes/:period/\(action)"), use: admin { admin, context, _ in
                let (session, record, role) = try await staffCenter(admin, context: context)
                guard role != "staff" else { return managersOnly }
                guard let period = record.center.period(context.parameters.get("period") ?? "") else { return periodNotFound }
                let result = try await editCenter(.period, record: record, actor: "staff:\(session.email)", replacing: period.code, dryRun: false) { current in
                    var object = try Self.object(current)
                    object["closed"] = closing
                    return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
                }
                switch result {
                case .saved: break
                case .missing: return periodNotFound
                case .rejected(let issues):
                    return adminProblem("Changement refusé", issues.map { French.configIssue($0, in: record.center) }.joined(separator: " "), status: .unprocessableContent)
                case .refused(let outcome):
                    return adminProblem("Changement refusé", French.refusal(outcome.refusal ?? ""), status: .conflict)
                }
                return Pages.redirect("/admin/centres/\(record.center.code)/periodes/\(period.code)?etat=\(closing ? "ferme" : "rouvert")")
            })
        }
    }

    var periodNotFound: Response {
        adminProblem("Période inconnue", "Cet accueil n'a pas de période à cette adresse.", status: .notFound)
    }

    var managersOnly: Response {
        adminProblem("Réservé aux responsables", "Ce changement est réservé aux responsables de l'accueil.", status: .forbidden)
    }

    /// "ouverte aux réservations", "fermée", "terminée", "ouvre le 04/01/2027 à 8h00".
    static func periodState(_ p: Period, today: LocalDate, zone: TimeZone, now: Date) -> String {
        if p.endsOn < today { return "terminée" }
        if p.closed { return "fermée aux réservations" }
        if let opens = p.bookingOpensAt, opens.instant(in: zone) > now { return "ouvre le \(French.window(opens))" }
        if let closes = p.bookingClosesAt, closes.instant(in: zone) <= now { return "réservations closes" }
        return "ouverte aux réservations"
    }

    func periodPage(_ admin: AdminRequest, record: CenterRecord, period: Period, canEdit: Bool, notice: String?,
                    context: AppRequestContext) async throws -> Response {
        let center = record.center
        let days = try await database.withCenter(record.id) { c in
            guard let id = try await BookingRepository.periodID(c, center: record.id, code: period.code, logger: context.logger) else {
                return [(day: String, unit: String, places: Int, taken: Int, forced: Bool)]()
            }
            return try await BookingRepository.capacities(c, center: record.id, periodID: id, logger: context.logger)
        }
        let units = French.ordered(period.places.keys, in: center)
        let rows = period.openDays.map { day in
            AdminPeriodModel.Row(day: "\(French.shortDay(day))/\(day.year)", cells: units.map { unit in
                let stored = days.first { $0.day == day.iso && $0.unit == unit }
                let places = stored?.places ?? period.places(on: day)[unit] ?? 0
                let taken = stored?.taken ?? 0
                let left = max(0, places - taken)
                let level = stored == nil ? "none" : left == 0 ? "full" : left * 5 <= places ? "few" : "free"
                return AdminPeriodModel.Cell(name: "j_\(day.iso)_\(unit)", value: places, taken: taken,
                                             label: "Places \(French.unitLabel(unit, in: center)) le \(French.weekdayLong(day)) \(day.french)",
                                             level: level, open: stored != nil)
            })
        }
        let group = center.ageGroups.first { $0.code == period.ageGroup }?.label ?? period.ageGroup
        let closed = period.closedDays.sorted().map(\.french)
        let facts = [
            Fact(name: "Groupe d'âge", value: group),
            Fact(name: "Dates", value: French.dates(period)),
            Fact(name: "Jours d'ouverture", value: French.list(period.weekdays.sorted().map(\.rawValue))),
            Fact(name: "Jours fermés", value: closed.isEmpty ? "aucun" : closed.joined(separator: ", ")),
            Fact(name: "Formules proposées", value: French.list(period.units.map { French.unitLabel($0, in: center) })),
            Fact(name: "Places par jour", value: French.places(period.places, in: center)),
            Fact(name: "Tarif", value: center.tariff(period.tariff)?.label ?? period.tariff),
            Fact(name: "Ouverture des réservations", value: French.window(period.bookingOpensAt)),
            Fact(name: "Clôture des réservations", value: French.window(period.bookingClosesAt)),
            Fact(name: "Délai pour réserver un jour", value: period.deadline.french),
            Fact(name: "Annulation par les parents", value: period.cancellation?.french ?? "non (seule l'équipe annule)"),
            Fact(name: "État", value: Self.periodState(period, today: LocalDate(clock(), in: center.zone), zone: center.zone, now: clock())),
        ]
        return adminPage("admin-period", AdminPeriodModel(
            page: admin.chrome, code: center.code, centerName: center.name, period: period.code, label: period.label, facts: facts,
            closed: period.closed, units: units.map { French.unitLabel($0, in: center) }, rows: rows, hasRows: !rows.isEmpty,
            canEdit: canEdit, notice: notice
        ), admin)
    }

    func periodFormModel(_ admin: AdminRequest, record: CenterRecord, form: PeriodForm, editing: Period?, errors: [String] = [],
                         notes: [String] = []) -> AdminPeriodFormModel {
        typealias M = AdminPeriodFormModel
        let center = record.center
        let base = "/admin/centres/\(center.code)"
        let capacity = French.ordered(Set(center.units.flatMap(\.capacityUnits)), in: center)
        return M(
            page: admin.chrome, code: center.code, centerName: center.name,
            title: editing.map { "Modifier « \($0.label) »" } ?? "Nouvelle période",
            action: editing.map { "\(base)/periodes/\($0.code)/modifier" } ?? "\(base)/nouvelle-periode",
            back: editing.map { "\(base)/periodes/\($0.code)" } ?? "\(base)/periodes",
            creating: editing == nil, form: form,
            groups: center.ageGroups.map { .init(value: $0.code, label: "\($0.label) (\($0.minAge)-\($0.maxAge) ans)", checked: $0.code == form.ageGroup) },
            weekdays: Weekday.allCases.map { .init(value: $0.rawValue, label: $0.rawValue, checked: form.weekdays.contains($0.rawValue)) },
            units: center.units.map { .init(value: $0.code, label: $0.label, checked: form.units.contains($0.code)) },
            places: capacity.map { .init(name: "places_\($0)", label: French.unitLabel($0, in: center), value: form.places[$0] ?? "") },
            tariffs: center.tariffs.map { .init(value: $0.code, label: $0.label, checked: $0.code == form.tariff) },
            deadlineWeekdays: [M.Choice(value: "", label: "non : un nombre de jours avant", checked: form.deadlineWeekday.isEmpty)]
                + Weekday.allCases.map { .init(value: $0.rawValue, label: "le \($0.rawValue) précédent", checked: form.deadlineWeekday == $0.rawValue) },
            errors: errors, hasErrors: !errors.isEmpty, notes: notes
        )
    }

    func previewModel(_ admin: AdminRequest, record: CenterRecord, title: String, action: String, back: String, changes: [String],
                      conflicts: [CenterImporter.PlacesConflict] = [], forced: [CenterImporter.PlacesConflict] = [], error: String? = nil) -> AdminPreviewModel {
        let carried = admin.form.fields.filter { !["csrf", "etape", "forcer", "raison", "version", "jours_forces"].contains($0.name) }
        return AdminPreviewModel(
            page: admin.chrome, home: "/admin/centres/\(record.center.code)", homeName: record.center.name, title: title, action: action, back: back,
            changes: changes, hasChanges: !changes.isEmpty,
            conflicts: conflicts.map { French.conflict($0, in: record.center) }, hasConflicts: !conflicts.isEmpty,
            canForce: !conflicts.isEmpty && conflicts.allSatisfy { $0.wanted != nil },
            forced: forced.map { French.conflict($0, in: record.center) }, hasForced: !forced.isEmpty,
            reason: admin.form["raison"] ?? "", error: error,
            carried: carried.map { .init(name: $0.name, value: $0.value) }
        )
    }

    private func savePeriodForm(_ admin: AdminRequest, context: AppRequestContext, editing code: String?) async throws -> Response {
        let (session, record, role) = try await staffCenter(admin, context: context)
        guard role != "staff" else { return managersOnly }
        let editing = try code.map { code in
            guard let period = record.center.period(code) else { throw AdminRefusal(response: periodNotFound) }
            return period
        }
        let form = PeriodForm(admin.form)
        func formAgain(_ errors: [String]) -> Response {
            adminPage("admin-period-form", periodFormModel(admin, record: record, form: form, editing: editing, errors: errors), admin, status: .unprocessableContent)
        }
        let base = "/admin/centres/\(record.center.code)"
        let model = periodFormModel(admin, record: record, form: form, editing: editing)
        // A duplicate starts from the period it copies: what the form does not show (the parents'
        // cancellation rule) is kept; places of single days and priority windows belong to the old dates.
        var copied: Data?
        if editing == nil, let source = record.center.period(form.source), let data = try Self.json(of: .period, source.code, in: record.center) {
            var object = try Self.object(data)
            object["day_places"] = nil
            object["closed"] = nil
            if var booking = object["booking"] as? [String: Any] {
                booking["priority"] = nil
                booking["previous_period"] = nil
                object["booking"] = booking
            }
            copied = try JSONSerialization.data(withJSONObject: object)
        }
        let start = copied
        return try await previewOrSave(admin, session: session, record: record, editing: editing, title: model.title, action: model.action,
                                       back: model.back) { current in
            form.json(over: try Self.object(start ?? current), creating: editing == nil)
        } onInvalid: { issues in
            formAgain(issues.map { French.configIssue($0, in: record.center) })
        } onFormErrors: { errors in
            formAgain(errors)
        } saved: { code in
            "\(base)/periodes/\(code)?etat=enregistre"
        }
    }

    /// The preview of a period's change (a dry run through `editCenter`), or, when the preview's
    /// "Enregistrer" posted it (`etape=enregistrer`), the change saved and a redirect to the period.
    /// The preview carries what it was made from (the stored period, the days it forces): a save is
    /// checked against them first, so that nobody saves what they did not see.
    private func previewOrSave(
        _ admin: AdminRequest, session: StaffSession, record: CenterRecord, editing: Period?, title: String, action: String, back: String,
        object: @escaping @Sendable (Data) throws -> Result<[String: Any], FormProblems>,
        onInvalid: ([ConfigIssue]) -> Response,
        onFormErrors: (([String]) -> Response)? = nil,
        saved: ((String) -> String)? = nil
    ) async throws -> Response {
        let save = admin.form["etape"] == "enregistrer"
        let force = admin.form["forcer"] == "oui"
        let reason = String((admin.form["raison"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines).prefix(500))
        if force && reason.count < 3 {
            return adminPage("admin-preview", previewModel(admin, record: record, title: title, action: action, back: back, changes: [],
                                                           error: "Indiquez pourquoi les places passent sous ce qui est réservé : la raison est gardée au journal."),
                             admin, status: .unprocessableContent)
        }
        let seen = SeenBox()
        func run(dryRun: Bool) async throws -> CenterEditResult {
            try await editCenter(.period, record: record, actor: "staff:\(session.email)", replacing: editing?.code, force: force,
                                 reason: force ? reason : nil, dryRun: dryRun) { current in
                seen.stored = Self.digest(current)
                return String(decoding: try JSONSerialization.data(withJSONObject: try object(current).get()), as: UTF8.self)
            }
        }
        var result: CenterEditResult
        var stale: String?
        do {
            result = try await run(dryRun: true)
            if save, case .saved(let outcome, _, _) = result {
                if seen.stored != admin.form["version"] || Self.forcedKey(outcome.forced) != (admin.form["jours_forces"] ?? "") {
                    stale = "La période ou ses réservations ont changé depuis votre vérification : voici ce que le changement ferait maintenant. Vérifiez puis enregistrez."
                } else {
                    result = try await run(dryRun: false)
                }
            }
        } catch let problems as FormProblems {
            return onFormErrors?(problems.messages)
                ?? adminPage("admin-preview", previewModel(admin, record: record, title: title, action: action, back: back, changes: [],
                                                           error: problems.messages.joined(separator: " ")), admin, status: .unprocessableContent)
        }
        switch result {
        case .missing:
            return periodNotFound
        case .rejected(let issues):
            return onInvalid(issues)
        case .refused(let outcome):
            let error = outcome.conflicts.isEmpty ? "Ce changement est refusé : \(French.refusal(outcome.refusal ?? ""))" : nil
            return adminPage("admin-preview", previewModel(admin, record: record, title: title, action: action, back: back, changes: [],
                                                           conflicts: outcome.conflicts, error: error), admin, status: .conflict)
        case .saved(let outcome, let center, let code):
            if save && stale == nil {
                return Pages.redirect(saved?(code) ?? "/admin/centres/\(record.center.code)/periodes/\(code)?etat=enregistre")
            }
            let changes = center.period(code).map { French.periodChanges(from: editing, to: $0, in: center) } ?? []
            let shown = outcome.diff.isEmpty ? [] : changes.isEmpty ? ["Changements sans effet visible sur cette page."] : changes
            var model = previewModel(admin, record: record, title: title, action: action, back: back, changes: shown, forced: outcome.forced, error: stale)
            model.carried += [.init(name: "version", value: seen.stored), .init(name: "jours_forces", value: Self.forcedKey(outcome.forced))]
            return adminPage("admin-preview", model, admin, status: stale == nil ? .ok : .conflict)
        }
    }

    static func digest(_ data: Data) -> String {
        SHA256.hash(data: data).map { String($0, radix: 16) }.joined()
    }

    static func forcedKey(_ forced: [CenterImporter.PlacesConflict]) -> String {
        forced.map(\.description).sorted().joined(separator: "; ")
    }
}

/// What a preview was made from, carried out of the importer's transaction.
private final class SeenBox: @unchecked Sendable {
    var stored = ""
}

import Foundation
import Hummingbird
import PortailConfig
import PortailDomain
import PortailStore

/// The back office's tariffs: the list with their versions, a tariff's grids with what three sample
/// families pay, and the form that creates or changes one. A change is previewed (prices before and
/// after, the sample families' day) and saved as a new version that prices the bookings made from then
/// on, through the same editor and importer as the admin API (`editCenter`).
extension PortailRoutes {
    struct AdminTariffsModel {
        struct Line {
            let tariff: String
            let label: String
            let model: String
            let validity: String
            let periods: String
            let version: Int
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let tariffs: [Line]
        let hasTariffs: Bool
        let canEdit: Bool
    }

    struct SamplesTable {
        struct Row {
            let family: String
            let prices: [String]
        }
        let keys: [String]
        let rows: [Row]
    }

    struct AdminTariffModel {
        struct Version {
            let version: Int
            let created: String
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let tariff: String
        let label: String
        let facts: [Fact]
        let grids: [ReadGrid]
        let samples: SamplesTable
        let versions: [Version]
        let canEdit: Bool
        let notice: String?
    }

    struct ReadGrid {
        struct Row {
            let key: String
            let prices: [String]
        }
        let title: String
        let columns: [String]
        let rows: [Row]
    }

    struct AdminTariffFormModel {
        struct Choice {
            let value: String
            let label: String
            let checked: Bool
        }
        struct RowHead {
            let index: Int
            let key: String
            let label: String
            let fixed: Bool
        }
        struct ColumnHead {
            let title: String
            let minName: String
            let maxName: String
            let min: String
            let max: String
        }
        struct Cell {
            let name: String
            let value: String
            let label: String
        }
        struct GridRow {
            let head: RowHead
            let editableHead: Bool
            let cells: [Cell]
        }
        struct GridView {
            let index: Int
            let title: String
            let isCategory: Bool
            let category: String
            let columns: [ColumnHead]
            let rows: [GridRow]
        }
        let page: AdminChrome
        let code: String
        let centerName: String
        let title: String
        let action: String
        let back: String
        let creating: Bool
        let tariffCode: String
        let label: String
        let validFrom: String
        let validTo: String
        let models: [Choice]
        let qf: Bool
        let grids: [GridView]
        let rowCount: Int
        let columnCount: Int
        let gridCount: Int
        let errors: [String]
        let hasErrors: Bool
    }

    static let modelNames = ["flat": "montant unique", "qf": "selon le quotient familial", "siblings": "dégressif selon le rang de l'enfant"]

    func addAdminTariffRoutes(to router: Router<AppRequestContext>) {
        router.get("/admin/centres/:code/tarifs", use: admin { admin, context, _ in
            let (_, record, role) = try await staffCenter(admin, context: context)
            let center = record.center
            let versions = try await database.withCenter(record.id) { c in
                try await CenterRepository.tariffVersions(c, center: record.id, logger: context.logger)
            }
            let lines = center.tariffs.map { t in
                AdminTariffsModel.Line(
                    tariff: t.code, label: t.label, model: Self.modelNames[t.model.name] ?? t.model.name, validity: Self.validity(t),
                    periods: French.list(center.periods.filter { $0.tariff == t.code }.map(\.label)),
                    version: versions.filter { $0.code == t.code }.map(\.version).max() ?? 1)
            }
            return adminPage("admin-tariffs", AdminTariffsModel(page: admin.chrome, code: center.code, centerName: center.name, tariffs: lines,
                                                                hasTariffs: !lines.isEmpty, canEdit: role != "staff"), admin)
        })

        router.get("/admin/centres/:code/tarifs/:tariff", use: admin { admin, context, request in
            let (_, record, role) = try await staffCenter(admin, context: context)
            let center = record.center
            guard let tariff = center.tariff(context.parameters.get("tariff") ?? "") else { return tariffNotFound }
            let versions = try await database.withCenter(record.id) { c in
                try await CenterRepository.tariffVersions(c, center: record.id, logger: context.logger)
            }.filter { $0.code == tariff.code }
            let notice = request.uri.queryParameters["etat"] == "enregistre"
                ? "Le tarif est enregistré : il s'applique aux réservations faites à partir de maintenant ; celles d'avant gardent leur prix." : nil
            let units = center.units.map(\.code)
            let form = TariffForm(tariff, units: units)
            let keys = form.keys.filter { !$0.isEmpty }
            return adminPage("admin-tariff", AdminTariffModel(
                page: admin.chrome, code: center.code, centerName: center.name, tariff: tariff.code, label: tariff.label,
                facts: [Fact(name: "Modèle", value: Self.modelNames[tariff.model.name] ?? tariff.model.name),
                        Fact(name: "Validité", value: Self.validity(tariff)),
                        Fact(name: "Périodes qui l'utilisent", value: French.list(center.periods.filter { $0.tariff == tariff.code }.map(\.label)))],
                grids: readGrids(form, center: center, keys: keys),
                samples: samples(tariff, keys: keys, center: center, before: nil),
                versions: versions.map { .init(version: $0.version, created: French.dateTime($0.createdAt, in: center.zone)) },
                canEdit: role != "staff", notice: notice
            ), admin)
        })

        router.get("/admin/centres/:code/nouveau-tarif", use: admin { admin, context, _ in
            let (_, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            let form = TariffForm(units: record.center.units.map(\.code))
            return adminPage("admin-tariff-form", tariffFormModel(admin, record: record, form: form, editing: nil), admin)
        })

        router.get("/admin/centres/:code/tarifs/:tariff/modifier", use: admin { admin, context, _ in
            let (_, record, role) = try await staffCenter(admin, context: context)
            guard role != "staff" else { return managersOnly }
            guard let tariff = record.center.tariff(context.parameters.get("tariff") ?? "") else { return tariffNotFound }
            let form = TariffForm(tariff, units: record.center.units.map(\.code))
            return adminPage("admin-tariff-form", tariffFormModel(admin, record: record, form: form, editing: tariff), admin)
        })

        router.post("/admin/centres/:code/nouveau-tarif", use: admin { admin, context, _ in
            try await saveTariffForm(admin, context: context, editing: nil)
        })
        router.post("/admin/centres/:code/tarifs/:tariff/modifier", use: admin { admin, context, _ in
            try await saveTariffForm(admin, context: context, editing: context.parameters.get("tariff") ?? "")
        })
    }

    var tariffNotFound: Response {
        adminProblem("Tarif inconnu", "Cet accueil n'a pas de tarif à cette adresse.", status: .notFound)
    }

    static func validity(_ t: Tariff) -> String {
        switch (t.validFrom, t.validTo) {
        case (nil, nil): "toujours"
        case (let from?, nil): "à partir du \(from.french)"
        case (nil, let to?): "jusqu'au \(to.french)"
        case (let from?, let to?): "du \(from.french) au \(to.french)"
        }
    }

    /// "Journée", "Matin + Repas": what a row prices.
    static func keyLabel(_ key: String, in center: Center) -> String {
        key.split(separator: "+").map { French.unitLabel(String($0), in: center) }.joined(separator: " + ")
    }

    func readGrids(_ form: TariffForm, center: Center, keys: [String]) -> [ReadGrid] {
        form.grids.filter { g in g.columns.contains { !$0.isEmpty } }.map { grid in
            let columns = grid.columns.enumerated().filter { !$0.element.isEmpty }
            return ReadGrid(
                title: grid.category.isEmpty ? "Grille générale" : "Catégorie « \(grid.category) »",
                columns: columns.map { c in
                    form.model == "qf" ? Self.bracketTitle(min: c.element.min, max: c.element.max) : form.columnTitle(c.offset, c.element)
                },
                rows: keys.compactMap { key in
                    guard let r = form.keys.firstIndex(of: key) else { return nil }
                    let prices = columns.map { c in
                        Money(parsing: c.element.prices[r]).map(\.description) ?? "—"
                    }
                    return prices.allSatisfy { $0 == "—" } ? nil : ReadGrid.Row(key: Self.keyLabel(key, in: center), prices: prices)
                })
        }
    }

    static func bracketTitle(min: String, max: String) -> String {
        switch (min.isEmpty, max.isEmpty) {
        case (true, true): "Tout QF"
        case (false, true): "QF \(min) et plus"
        case (true, false): "QF jusqu'à \(max)"
        case (false, false): "QF de \(min) à \(max)"
        }
    }

    /// What the sample families pay a day of each row, with the price before when it changes.
    func samples(_ tariff: Tariff, keys: [String], center: Center, before: Tariff?) -> SamplesTable {
        let families = TariffSamples.families(categories: tariff.categories.keys.sorted())
        return SamplesTable(keys: keys.map { Self.keyLabel($0, in: center) }, rows: families.map { family in
            SamplesTable.Row(family: family.name, prices: keys.map { key in
                let now = TariffSamples.price(tariff, key: key, for: family)
                guard let before else { return now }
                let then = TariffSamples.price(before, key: key, for: family)
                return then == now ? now : "\(now) (avant : \(then))"
            })
        })
    }

    func tariffFormModel(_ admin: AdminRequest, record: CenterRecord, form: TariffForm, editing: Tariff?, errors: [String] = []) -> AdminTariffFormModel {
        typealias M = AdminTariffFormModel
        let center = record.center
        let base = "/admin/centres/\(center.code)"
        let unitCodes = Set(center.units.map(\.code))
        let heads = form.keys.enumerated().map { r, key in
            M.RowHead(index: r, key: key, label: key.isEmpty ? "Autre combinaison (par exemple matin+repas)" : Self.keyLabel(key, in: center),
                      fixed: unitCodes.contains(key))
        }
        let grids = form.grids.enumerated().map { g, grid in
            M.GridView(
                index: g,
                title: g == 0 ? "Grille générale" : grid.category.isEmpty ? "Nouvelle catégorie de familles (facultatif)" : "Catégorie « \(grid.category) »",
                isCategory: g > 0, category: grid.category,
                columns: grid.columns.enumerated().map { c, column in
                    M.ColumnHead(title: form.columnTitle(c, column), minName: "g\(g)_c\(c)_min", maxName: "g\(g)_c\(c)_max", min: column.min, max: column.max)
                },
                rows: heads.map { head in
                    M.GridRow(head: head, editableHead: g == 0 && !head.fixed, cells: grid.columns.enumerated().map { c, column in
                        M.Cell(name: "g\(g)_c\(c)_r\(head.index)", value: head.index < column.prices.count ? column.prices[head.index] : "",
                               label: "\(head.key.isEmpty ? "Ligne \(head.index + 1)" : head.label), \(form.columnTitle(c, column).lowercased())")
                    })
                })
        }
        return M(
            page: admin.chrome, code: center.code, centerName: center.name,
            title: editing.map { "Modifier « \($0.label) »" } ?? "Nouveau tarif",
            action: editing.map { "\(base)/tarifs/\($0.code)/modifier" } ?? "\(base)/nouveau-tarif",
            back: editing.map { "\(base)/tarifs/\($0.code)" } ?? "\(base)/tarifs",
            creating: editing == nil, tariffCode: form.code, label: form.label, validFrom: form.validFrom, validTo: form.validTo,
            models: TariffForm.models.map { .init(value: $0.0, label: $0.1, checked: $0.0 == form.model) }, qf: form.model == "qf",
            grids: grids, rowCount: form.keys.count, columnCount: form.grids.first?.columns.count ?? 0, gridCount: form.grids.count,
            errors: errors, hasErrors: !errors.isEmpty
        )
    }

    private func saveTariffForm(_ admin: AdminRequest, context: AppRequestContext, editing code: String?) async throws -> Response {
        let (session, record, role) = try await staffCenter(admin, context: context)
        guard role != "staff" else { return managersOnly }
        let center = record.center
        let editing = try code.map { code in
            guard let tariff = center.tariff(code) else { throw AdminRefusal(response: tariffNotFound) }
            return tariff
        }
        var form = TariffForm(admin.form)
        if let editing { form.code = editing.code }
        func formAgain(_ errors: [String], status: HTTPResponse.Status = .unprocessableContent) -> Response {
            var shown = form
            shown.normalize()
            return adminPage("admin-tariff-form", tariffFormModel(admin, record: record, form: shown, editing: editing, errors: errors), admin, status: status)
        }
        // Another model: the same form again, laid out for it (no JavaScript needed).
        if admin.form["etape"] == "modele" {
            form.grids = form.grids.map { grid in
                var grid = grid
                grid.columns = form.model == "flat" ? Array(grid.columns.prefix(1)) : grid.columns
                return grid
            }
            return formAgain([], status: .ok)
        }
        let save = admin.form["etape"] == "enregistrer"
        let body: [String: Any]
        switch form.json(creating: editing == nil, unitLabel: { French.unitLabel($0, in: center) }) {
        case .failure(let problems): return formAgain(problems.messages)
        case .success(let object): body = object
        }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let result = try await editCenter(.tariff, record: record, actor: "staff:\(session.email)", replacing: editing?.code, dryRun: !save) { _ in text }
        let title = editing.map { "Tarif « \($0.label) »" } ?? "Nouveau tarif"
        let action = editing.map { "/admin/centres/\(center.code)/tarifs/\($0.code)/modifier" } ?? "/admin/centres/\(center.code)/nouveau-tarif"
        switch result {
        case .missing:
            return tariffNotFound
        case .rejected(let issues):
            return formAgain(issues.map { French.configIssue($0, in: center) })
        case .refused(let outcome):
            return formAgain(["Ce changement est refusé : \(outcome.refusal ?? "")"], status: .conflict)
        case .saved(let outcome, let changed, let saved):
            if save { return Pages.redirect("/admin/centres/\(center.code)/tarifs/\(saved)?etat=enregistre") }
            guard let after = changed.tariff(saved) else { return tariffNotFound }
            var changes = French.tariffChanges(from: editing, to: after, in: center)
            if outcome.diff.isEmpty { changes = [] } else if editing != nil {
                changes.append("Une nouvelle version du tarif est créée : elle s'applique aux réservations faites à partir de l'enregistrement ; celles d'avant gardent leur prix.")
            }
            let keys = TariffForm(after, units: center.units.map(\.code)).keys.filter { !$0.isEmpty }
            var model = previewModel(admin, record: record, title: title, action: action,
                                     back: editing.map { "/admin/centres/\(center.code)/tarifs/\($0.code)" } ?? "/admin/centres/\(center.code)/tarifs",
                                     changes: changes)
            model.samples = samples(after, keys: keys, center: center, before: editing)
            return adminPage("admin-preview", model, admin)
        }
    }
}

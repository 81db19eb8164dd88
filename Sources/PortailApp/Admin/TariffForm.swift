import Foundation
import PortailDomain

/// The back office's tariff form: one price grid per family category (the general one first), each a
/// table whose rows are what is priced (a unit, or a combination such as "matin+repas") and whose
/// columns are the model's (one price; a QF bracket each; a price per child's rank). Filled from a
/// tariff or from what was posted, and turned into the tariff's JSON with the center file's keys,
/// which `CenterEditor` checks as it does the admin API's.
struct TariffForm {
    struct Column {
        var min = ""
        var max = ""
        /// The price of each row, as typed ("12,50"), by row.
        var prices: [String]
    }
    struct Grid {
        /// "" for the general grid; a category code ("hors-commune") otherwise.
        var category: String
        var columns: [Column]
    }

    static let models = [("flat", "Montant unique"), ("qf", "Selon le quotient familial (tranches)"), ("siblings", "Dégressif selon le rang de l'enfant")]
    static let maxRows = 30, maxColumns = 12, maxGrids = 10

    var code = ""
    var label = ""
    var validFrom = ""
    var validTo = ""
    var model = "flat"
    /// What each row prices.
    var keys: [String] = []
    var grids: [Grid] = []

    /// An empty form for `units`, in `model`.
    init(units: [String], model: String = "flat") {
        self.model = model
        keys = units + ["", ""]
        grids = [Grid(category: "", columns: []), Grid(category: "", columns: [])]
        normalize()
    }

    /// The form of `tariff`, with room to add a row, a column and a category.
    init(_ tariff: Tariff, units: [String]) {
        code = tariff.code
        label = tariff.label
        validFrom = tariff.validFrom?.iso ?? ""
        validTo = tariff.validTo?.iso ?? ""
        model = tariff.model.name
        let all = ([tariff.model] + tariff.categories.values).flatMap { Self.keys(of: $0) }
        let combinations = Array(Set(all.filter { !units.contains($0) })).sorted()
        keys = units + combinations + ["", ""]
        grids = [Grid(category: "", columns: Self.columns(of: tariff.model, keys: keys))]
            + tariff.categories.sorted { $0.key < $1.key }.map { Grid(category: $0.key, columns: Self.columns(of: $0.value, keys: keys)) }
            + [Grid(category: "", columns: [])]
        normalize()
    }

    /// What was posted. Sizes are bounded whatever the form says.
    init(_ form: FormFields) {
        func text(_ name: String, _ limit: Int = 200) -> String { String((form[name] ?? "").trimmingCharacters(in: .whitespacesAndNewlines).prefix(limit)) }
        code = text("code", 60).lowercased()
        label = text("libelle")
        validFrom = text("du", 20)
        validTo = text("au", 20)
        model = Self.models.map(\.0).contains(form["modele"] ?? "") ? form["modele"]! : "flat"
        let rows = min(Int(form["lignes"] ?? "") ?? 0, Self.maxRows)
        let columns = min(Int(form["colonnes"] ?? "") ?? 0, Self.maxColumns)
        let gridCount = min(Int(form["grilles"] ?? "") ?? 0, Self.maxGrids)
        keys = (0..<max(rows, 0)).map { text("cle_\($0)", 200).lowercased().replacingOccurrences(of: " ", with: "") }
        grids = (0..<max(gridCount, 0)).map { g in
            Grid(category: g == 0 ? "" : text("g\(g)_categorie", 60).lowercased(), columns: (0..<max(columns, 0)).map { c in
                Column(min: text("g\(g)_c\(c)_min", 10), max: text("g\(g)_c\(c)_max", 10),
                       prices: (0..<keys.count).map { r in text("g\(g)_c\(c)_r\(r)", 20) })
            })
        }
        if grids.isEmpty { grids = [Grid(category: "", columns: [])] }
    }

    /// Keeps one empty row, an empty column (QF brackets and ranks) and an empty category to fill in.
    mutating func normalize() {
        while keys.filter(\.isEmpty).count < 1 && keys.count < Self.maxRows { keys.append("") }
        // Room for one more bracket or rank than used, and for three at first.
        let used = grids.map { $0.columns.filter { !$0.isEmpty }.count }.max() ?? 0
        let wanted = model == "flat" ? 1 : min(Self.maxColumns, max(used + 1, 3))
        for g in grids.indices {
            var columns = grids[g].columns.filter { !$0.isEmpty }
            if model == "flat" { columns = Array(columns.prefix(1)) }
            while columns.count < wanted { columns.append(Column(prices: [])) }
            grids[g].columns = columns.map { column in
                var column = column
                column.prices = (0..<keys.count).map { $0 < column.prices.count ? column.prices[$0] : "" }
                return column
            }
        }
        if !grids.dropFirst().contains(where: { $0.category.isEmpty }) && grids.count < Self.maxGrids {
            grids.append(Grid(category: "", columns: (0..<wanted).map { _ in Column(prices: keys.map { _ in "" }) }))
        }
    }

    static func keys(of model: TariffModel) -> [String] {
        switch model {
        case .flat(let prices): Array(prices.keys)
        case .siblings(let prices): Array(prices.keys)
        case .quotientBrackets(let brackets): brackets.flatMap { $0.prices.keys }
        }
    }

    static func columns(of model: TariffModel, keys: [String]) -> [Column] {
        func text(_ money: Money?) -> String { money.map(amount) ?? "" }
        switch model {
        case .flat(let prices):
            return [Column(prices: keys.map { text(prices[$0]) })]
        case .siblings(let prices):
            let ranks = prices.values.map(\.count).max() ?? 0
            return (0..<ranks).map { rank in Column(prices: keys.map { key in text(prices[key].flatMap { rank < $0.count ? $0[rank] : nil }) }) }
        case .quotientBrackets(let brackets):
            return brackets.map { b in Column(min: b.min.map(String.init) ?? "", max: b.max.map(String.init) ?? "", prices: keys.map { text(b.prices[$0]) }) }
        }
    }

    /// "12,50": an amount as a person types it.
    static func amount(_ money: Money) -> String {
        "\(money.cents / 100)," + Digits.pad(money.cents % 100, 2)
    }

    /// "12.50": an amount as the center file writes it.
    static func fileAmount(_ money: Money) -> String {
        "\(money.cents / 100)." + Digits.pad(money.cents % 100, 2)
    }

    /// The heading of a column: "Prix", "1er enfant", "QF de 0 à 700".
    func columnTitle(_ index: Int, _ column: Column) -> String {
        switch model {
        case "flat": return "Prix"
        case "siblings": return "\(French.rank(index + 1)) enfant"
        default: return "Tranche \(index + 1)"
        }
    }

    /// The tariff's JSON, or what to fix, in French. `unitLabel` names a row's unit as directors know it.
    func json(creating: Bool, unitLabel: (String) -> String) -> Result<[String: Any], FormProblems> {
        var errors: [String] = []
        var object: [String: Any] = ["model": model]
        var code = code
        if creating, code.isEmpty { code = PeriodForm.slug(label) }
        object["code"] = code
        if label.isEmpty { errors.append("Donnez un nom au tarif, par exemple « Tarif 2027 selon le QF ».") }
        object["label"] = label
        for (name, text, key) in [("début", validFrom, "valid_from"), ("fin", validTo, "valid_to")] where !text.isEmpty {
            guard let day = PeriodForm.date(text) else { errors.append("La date de \(name) de validité s'écrit par exemple 01/09/2026."); continue }
            object[key] = day.iso
        }
        func rowName(_ r: Int) -> String { keys[r].split(separator: "+").map { unitLabel(String($0)) }.joined(separator: " + ") }
        /// The grid's JSON keys (prices or brackets), nil when it has no price at all.
        func grid(_ grid: Grid, name: String) -> [String: Any]? {
            var cells: [[Int: String]] = []  // by column: row → amount
            for (c, column) in grid.columns.enumerated() {
                var prices: [Int: String] = [:]
                for (r, text) in column.prices.enumerated() where !text.isEmpty {
                    guard r < keys.count, !keys[r].isEmpty else {
                        errors.append("\(name) : un prix est donné sur une ligne sans formule ; écrivez la combinaison, par exemple matin+repas."); continue
                    }
                    guard let money = Money(parsing: text), (0...1_000_000).contains(money.cents) else {
                        errors.append("\(name), \(rowName(r)), \(columnTitle(c, column).lowercased()) : « \(text) » n'est pas un prix ; écrivez par exemple 12,50."); continue
                    }
                    prices[r] = Self.fileAmount(money)
                }
                cells.append(prices)
            }
            let used = cells.indices.filter { !cells[$0].isEmpty || !grid.columns[$0].min.isEmpty || !grid.columns[$0].max.isEmpty }
            guard !used.isEmpty else { return nil }
            switch model {
            case "flat":
                return ["prices": Dictionary(uniqueKeysWithValues: cells[0].map { (keys[$0.key], $0.value) })]
            case "siblings":
                // Ranks follow each other: a row priced for the 3rd child is priced for the 1st and 2nd.
                var prices: [String: [String]] = [:]
                for r in keys.indices where !keys[r].isEmpty {
                    let ranks = cells.map { $0[r] }
                    guard let last = ranks.lastIndex(where: { $0 != nil }) else { continue }
                    guard ranks[...last].allSatisfy({ $0 != nil }) else {
                        errors.append("\(name), \(rowName(r)) : donnez le prix de chaque rang jusqu'au dernier (1er, 2e, 3e…)."); continue
                    }
                    prices[keys[r]] = ranks[...last].compactMap { $0 }
                }
                return ["prices": prices]
            default:
                var brackets: [[String: Any]] = []
                for c in used {
                    var bracket: [String: Any] = ["prices": Dictionary(uniqueKeysWithValues: cells[c].map { (keys[$0.key], $0.value) })]
                    for (bound, text) in [("qf_min", grid.columns[c].min), ("qf_max", grid.columns[c].max)] where !text.isEmpty {
                        guard let n = Int(text), (0...100_000).contains(n) else {
                            errors.append("\(name), tranche \(c + 1) : « \(text) » n'est pas un quotient familial (un nombre entier)."); continue
                        }
                        bracket[bound] = n
                    }
                    brackets.append(bracket)
                }
                return ["brackets": brackets]
            }
        }
        guard let general = grid(grids.first ?? Grid(category: "", columns: []), name: "Grille générale") else {
            return .failure(FormProblems(errors + ["Indiquez au moins un prix dans la grille générale."]))
        }
        object.merge(general) { _, new in new }
        var categories: [String: Any] = [:]
        for g in grids.dropFirst() {
            let name = g.category.isEmpty ? "Nouvelle catégorie" : "Catégorie « \(g.category) »"
            let values = grid(g, name: name)
            if g.category.isEmpty {
                if values != nil { errors.append("Donnez un nom à la nouvelle catégorie de familles (par exemple hors-commune), ou videz ses prix.") }
                continue
            }
            guard let values else { continue }  // a category emptied: removed
            guard categories[g.category] == nil else { errors.append("La catégorie « \(g.category) » est donnée deux fois."); continue }
            categories[g.category] = values
        }
        if !categories.isEmpty { object["categories"] = categories }
        return errors.isEmpty ? .success(object) : .failure(FormProblems(errors))
    }
}

extension TariffForm.Column {
    var isEmpty: Bool { min.isEmpty && max.isEmpty && prices.allSatisfy(\.isEmpty) }
}

/// What three families would pay a day under a tariff, to see a change's effect before saving it.
enum TariffSamples {
    struct Family {
        let name: String
        let quotient: Int?
        let children: Int
        let category: String?
    }

    static func families(categories: [String]) -> [Family] {
        [Family(name: "Famille A : QF 450, un enfant", quotient: 450, children: 1, category: nil),
         Family(name: "Famille B : QF 1 100, deux enfants", quotient: 1100, children: 2, category: nil),
         Family(name: "Famille C : QF non fourni, un enfant", quotient: nil, children: 1, category: nil)]
            + categories.prefix(3).map { Family(name: "Famille A, catégorie « \($0) »", quotient: 450, children: 1, category: $0) }
    }

    /// The price of a day of `key` for each child of `family` ("12,00 €", or "12,00 € puis 10,00 €").
    static func price(_ tariff: Tariff, key: String, for family: Family) -> String {
        let prices = (1...family.children).map { rank in
            tariff.model(for: family.category).prices(quotient: family.quotient, siblingRank: rank)[key]
        }
        guard prices.allSatisfy({ $0 != nil }) else { return "—" }
        let texts = prices.compactMap { $0?.description }
        return Set(texts).count == 1 ? texts[0] + (family.children > 1 ? " par enfant" : "") : texts.joined(separator: " puis ")
    }
}

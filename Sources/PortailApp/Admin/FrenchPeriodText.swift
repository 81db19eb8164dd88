import Foundation
import PortailConfig
import PortailDomain
import PortailStore

/// A center's periods as a director reads them: what a change does, why it is refused, in French and
/// with the words of the forms (never the center file's keys).
extension French {
    static func unitLabel(_ code: String, in center: Center) -> String {
        center.units.first { $0.code == code }?.label ?? code
    }

    static func dates(_ p: Period) -> String { "du \(p.startsOn.french) au \(p.endsOn.french)" }

    static func list(_ items: [String]) -> String { items.isEmpty ? "aucun" : items.joined(separator: ", ") }

    static func window(_ at: LocalDateTime?) -> String {
        at.map { "\($0.date.french) à \($0.time.french)" } ?? "non fixée"
    }

    static func places(_ places: [String: Int], in center: Center) -> String {
        ordered(places.keys, in: center).map { "\(unitLabel($0, in: center)) \(places[$0]!)" }.joined(separator: ", ")
    }

    /// Units (or capacity units) in the order the center declares them: matin, repas, après-midi.
    static func ordered(_ codes: some Collection<String>, in center: Center) -> [String] {
        var order: [String] = []
        for unit in center.units { for code in [unit.code] + unit.capacityUnits where !order.contains(code) { order.append(code) } }
        return codes.sorted { (order.firstIndex(of: $0) ?? Int.max, $0) < (order.firstIndex(of: $1) ?? Int.max, $1) }
    }

    /// What saving `new` over `old` (nil: a new period) changes, one line per thing a director set.
    static func periodChanges(from old: Period?, to new: Period, in center: Center) -> [String] {
        guard let old else {
            return ["Nouvelle période « \(new.label) » \(dates(new)) : \(new.openDays.count) jour(s) ouvert(s), "
                    + "places \(places(new.places, in: center)), tarif « \(center.tariff(new.tariff)?.label ?? new.tariff) »."]
        }
        var lines: [String] = []
        func change(_ what: String, _ a: String, _ b: String) { if a != b { lines.append("\(what) : \(a) → \(b)") } }
        change("Nom", "« \(old.label) »", "« \(new.label) »")
        change("Groupe d'âge", center.ageGroups.first { $0.code == old.ageGroup }?.label ?? old.ageGroup,
               center.ageGroups.first { $0.code == new.ageGroup }?.label ?? new.ageGroup)
        change("Dates", dates(old), dates(new))
        change("Jours d'ouverture", list(old.weekdays.sorted().map(\.rawValue)), list(new.weekdays.sorted().map(\.rawValue)))
        let closedBefore = Set(old.closedDays), closedAfter = Set(new.closedDays)
        let shut = closedAfter.subtracting(closedBefore).sorted(), opened = closedBefore.subtracting(closedAfter).sorted()
        if !shut.isEmpty { lines.append("Jour(s) fermé(s) en plus : " + shut.map(\.french).joined(separator: ", ")) }
        if !opened.isEmpty { lines.append("Jour(s) rouvert(s) : " + opened.map(\.french).joined(separator: ", ")) }
        change("Formules proposées", list(old.units.map { unitLabel($0, in: center) }), list(new.units.map { unitLabel($0, in: center) }))
        for unit in ordered(Set(old.places.keys).union(new.places.keys), in: center) {
            change("Places par jour (\(unitLabel(unit, in: center)))", old.places[unit].map(String.init) ?? "aucune", new.places[unit].map(String.init) ?? "aucune")
        }
        // Places of single days: compared on the days open after the change, against what the day had.
        for day in new.openDays {
            let before = old.places(on: day), after = new.places(on: day)
            for unit in ordered(after.keys, in: center) where new.dayPlaces[day]?[unit] != old.dayPlaces[day]?[unit] && before[unit] != after[unit] {
                change("Places du \(shortDay(day))/\(day.year) (\(unitLabel(unit, in: center)))",
                       before[unit].map(String.init) ?? "aucune", String(after[unit] ?? 0))
            }
        }
        change("Tarif", center.tariff(old.tariff)?.label ?? old.tariff, center.tariff(new.tariff)?.label ?? new.tariff)
        change("Ouverture des réservations", window(old.bookingOpensAt), window(new.bookingOpensAt))
        change("Clôture des réservations", window(old.bookingClosesAt), window(new.bookingClosesAt))
        change("Délai pour réserver un jour", old.deadline.french, new.deadline.french)
        change("Annulation par les parents", old.cancellation?.french ?? "non", new.cancellation?.french ?? "non")
        change("Réservations", old.closed ? "fermées" : "ouvertes", new.closed ? "fermées" : "ouvertes")
        if old.priorityWindows != new.priorityWindows { lines.append("Fenêtres prioritaires modifiées") }
        return lines
    }

    /// A day whose places taken a change would go under, or close.
    static func conflict(_ c: CenterImporter.PlacesConflict, in center: Center) -> String {
        let day = "le \(weekdayLong(c.day)) \(c.day.french)", unit = unitLabel(c.unit, in: center)
        guard let wanted = c.wanted else {
            return "\(day) (\(unit)) : \(c.taken) place(s) déjà prise(s) ; le changement retirerait ce jour ou cette formule (jour fermé, jour de la semaine, formule ou dates) : annulez d'abord ses réservations."
        }
        return "\(day) (\(unit)) : \(c.taken) place(s) déjà prise(s) pour \(wanted) demandée(s) ; indiquez au moins \(c.taken)."
    }

    /// A refusal of the importer (something booked would lose what it points at), in French when known.
    static func refusal(_ text: String) -> String {
        if text.contains("already used by another center") {
            return "une valeur de ce changement est déjà celle d'un autre accueil (adresse, préfixe de facture ou compte bancaire)."
        }
        if text.contains("still use it") || text.contains("point at") || text.contains("booked") {
            return "des réservations utilisent encore ce qui serait retiré : annulez-les d'abord. (\(text))"
        }
        return text
    }

    /// A problem the center file's checks found in a period or a tariff, said in the form's words. The checks are the
    /// file's (one rule, one place); the known messages are translated, others keep their details.
    static func configIssue(_ issue: ConfigIssue, in center: Center) -> String {
        let m = issue.message
        func match(_ pattern: String) -> [String]? {
            guard let regex = try? NSRegularExpression(pattern: pattern),
                  let found = regex.firstMatch(in: m, range: NSRange(m.startIndex..., in: m)) else { return nil }
            return (1..<found.numberOfRanges).map { Range(found.range(at: $0), in: m).map { String(m[$0]) } ?? "" }
        }
        func day(_ iso: String) -> String { LocalDate(iso: iso)?.french ?? iso }
        if let g = match(#"overlaps period "([^"]+)" for age group "[^"]+" \([^)]+ against (\S+) to (\S+)\)"#) {
            let other = center.period(g[0])?.label ?? g[0]
            return "Les dates chevauchent la période « \(other) » du même groupe d'âge (du \(day(g[1])) au \(day(g[2]))) : choisissez d'autres dates."
        }
        if let g = match(#"ends on (\S+), before it starts on (\S+)"#) {
            return "La date de fin (\(day(g[0]))) est avant la date de début (\(day(g[1])))."
        }
        if let g = match(#"lasts (\d+) days .*at most (\d+)"#) { return "La période dure \(g[0]) jours : \(g[1]) au plus." }
        if let g = match(#"closed day (\S+) is outside the period"#) { return "Le jour fermé \(day(g[0])) est en dehors des dates de la période." }
        if match("offer at least one unit") != nil { return "Cochez au moins une formule proposée." }
        if let g = match(#"no places given for "([^"]+)""#) { return "Indiquez les places par jour pour « \(unitLabel(g[0], in: center)) »." }
        if let g = match(#"places must be between 0 and 10000, found (-?\d+)"#) { return "Les places vont de 0 à 10 000 (\(g[0]) indiqué)." }
        if let g = match(#"tariff "([^"]+)" has no price for (.+), offered in this period"#) {
            let units = g[1].replacingOccurrences(of: "\"", with: "").split(separator: ",").map {
                unitLabel($0.trimmingCharacters(in: .whitespaces), in: center)
            }
            return "Le tarif « \(center.tariff(g[0])?.label ?? g[0]) » n'a pas de prix pour \(units.joined(separator: ", ")) : choisissez un autre tarif ou retirez ces formules."
        }
        if let g = match(#"tariff "([^"]+)" is valid from (\S+) to (.+), but the period runs"#) {
            let to = g[2] == "no end" ? "sans fin" : day(g[2])
            return "Le tarif « \(center.tariff(g[0])?.label ?? g[0]) » vaut du \(g[1] == "always" ? "début" : day(g[1])) au \(to), pas sur toute la période : choisissez un tarif valable sur toutes ses dates."
        }
        if match("booking closes at .* before it opens at") != nil { return "La clôture des réservations est avant leur ouverture." }
        if match("is not a valid code") != nil {
            return "Le code s'écrit en lettres minuscules sans accent, chiffres et tirets (40 au plus), par exemple hiver-2027-elementaire."
        }
        if match(#"already exists|is declared twice"#) != nil { return "Une période porte déjà ce code : choisissez-en un autre." }
        if let g = match(#"(\S+) is outside the period"#) { return "Le \(day(g[0])) est en dehors des dates de la période." }
        if match("priority window opens at") != nil || match("general opening") != nil {
            return "Les fenêtres prioritaires doivent ouvrir avant l'ouverture générale des réservations : avancez-les ou retardez l'ouverture."
        }
        if let g = match(#"valid_to (\S+) is before valid_from (\S+)"#) { return "La fin de validité (\(day(g[0]))) est avant son début (\(day(g[1])))." }
        if match("give at least one price") != nil { return "Indiquez au moins un prix." }
        if let g = match(#"qf_max (\d+) is below qf_min (\d+)"#) { return "Une tranche finit à un QF de \(g[0]), sous son début (\(g[1]))." }
        if let g = match(#"bracket starts at (\d+) but the previous one ends at (\d+)"#) {
            return "Les tranches de QF se chevauchent : l'une commence à \(g[0]) alors que la précédente finit à \(g[1]) ; rangez-les dans l'ordre, sans chevauchement."
        }
        if let g = match(#"unknown unit "([^"]+)""#) { return "« \(g[0]) » n'est pas une formule de l'accueil : écrivez les codes des formules, par exemple matin+repas." }
        if let g = match(#"combination "([^"]+)" names a unit twice"#) { return "La combinaison « \(g[0]) » nomme deux fois la même formule." }
        if match("is not a valid category code") != nil { return "Le nom d'une catégorie s'écrit en lettres minuscules, chiffres et tirets, par exemple hors-commune." }
        return "Ce changement ne peut pas être enregistré (\(issue.path.isEmpty ? "ensemble" : issue.path)) : \(m)."
    }

    /// What saving `new` over `old` (nil: a new tariff) changes: name, validity, model and each price.
    static func tariffChanges(from old: Tariff?, to new: Tariff, in center: Center) -> [String] {
        guard let old else {
            return ["Nouveau tarif « \(new.label) », \(PortailRoutes.modelNames[new.model.name] ?? new.model.name), \(PortailRoutes.validity(new))."]
        }
        var lines: [String] = []
        func change(_ what: String, _ a: String, _ b: String) { if a != b { lines.append("\(what) : \(a) → \(b)") } }
        change("Nom", "« \(old.label) »", "« \(new.label) »")
        change("Validité", PortailRoutes.validity(old), PortailRoutes.validity(new))
        change("Modèle", PortailRoutes.modelNames[old.model.name] ?? "", PortailRoutes.modelNames[new.model.name] ?? "")
        let before = priceCells(old, in: center), after = priceCells(new, in: center)
        for (cell, price) in after.sorted(by: { $0.key < $1.key }) {
            change(cell, before[cell] ?? "pas de prix", price)
        }
        for cell in before.keys.sorted() where after[cell] == nil { lines.append("\(cell) : \(before[cell]!) → pas de prix") }
        return lines
    }

    /// Every price of a tariff by "grid, column, row" as a person reads them.
    static func priceCells(_ tariff: Tariff, in center: Center) -> [String: String] {
        var cells: [String: String] = [:]
        let grids = [("Grille générale", tariff.model)] + tariff.categories.sorted { $0.key < $1.key }.map { ("Catégorie « \($0.key) »", $0.value) }
        for (grid, model) in grids {
            switch model {
            case .flat(let prices):
                for (key, price) in prices { cells["\(grid), \(PortailRoutes.keyLabel(key, in: center))"] = price.description }
            case .siblings(let prices):
                for (key, ranks) in prices {
                    for (index, price) in ranks.enumerated() {
                        cells["\(grid), \(PortailRoutes.keyLabel(key, in: center)), \(rank(index + 1)) enfant"] = price.description
                    }
                }
            case .quotientBrackets(let brackets):
                for bracket in brackets {
                    let title = PortailRoutes.bracketTitle(min: bracket.min.map(String.init) ?? "", max: bracket.max.map(String.init) ?? "")
                    for (key, price) in bracket.prices { cells["\(grid), \(title), \(PortailRoutes.keyLabel(key, in: center))"] = price.description }
                }
            }
        }
        return cells
    }
}

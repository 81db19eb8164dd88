import Foundation
import PortailDomain

/// What importing a center file changes, as a federation administrator reviews it before applying.
extension French {
    static let centerStates = ["active": "ouvert", "suspended": "suspendu", "configuration_error": "erreur de configuration"]

    static func centerChanges(_ diff: CenterDiff, from old: Center?, to new: Center) -> [String] {
        let entities = ["unit": "Formule", "age group": "Groupe d'âge", "tariff": "Tarif", "period": "Période"]
        var lines: [String] = []
        for change in diff.changes {
            if change.entity == "center" {
                switch change.kind {
                case .added:
                    lines.append("Nouvel accueil « \(new.name) » (\(new.code)), servi à \(new.hosts.joined(separator: ", ")) : "
                                 + "\(new.periods.count) période(s), \(new.tariffs.count) tarif(s), paiement \(new.payment.map { "en ligne (\($0.type))" } ?? "à l'accueil").")
                case .removed: lines.append("Accueil retiré : \(change.code)")
                case .changed: lines.append("Accueil « \(new.name) » modifié : " + change.fields.joined(separator: " ; "))
                }
                continue
            }
            let what = entities[change.entity] ?? change.entity
            switch change.kind {
            case .added:
                if change.entity == "period", let period = new.period(change.code) {
                    lines += periodChanges(from: nil, to: period, in: new)
                } else {
                    lines.append("\(what) ajouté(e) : \(change.code)")
                }
            case .removed:
                lines.append("\(what) retiré(e) : \(change.code)")
            case .changed:
                if change.entity == "period", let before = old?.period(change.code), let after = new.period(change.code) {
                    lines += periodChanges(from: before, to: after, in: new).map { "Période « \(after.label) » : \($0)" }
                } else {
                    lines.append("\(what) \(change.code) modifié(e) : " + change.fields.joined(separator: " ; "))
                }
            }
        }
        if lines.isEmpty && !diff.isEmpty { lines.append("Changements sans effet visible ici : " + diff.changes.map(\.description).joined(separator: " ; ")) }
        return lines
    }
}

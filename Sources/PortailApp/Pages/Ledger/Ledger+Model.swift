import Foundation
import PortailDomain
import PortailStore

/// "Mes Factures & Paiements - ALSH D OPIO", as the seed shows it.
struct LedgerModel: TemplateModel {
    struct Row: Encodable {
        let date: String
        let detail: String
        let invoiceAmount: String
        let paymentAmount: String
        let stateIcon: String
        let stateWords: String
        let link: String
        let linkLabel: String
        /// "Payer": an open invoice, at a center that takes payments online.
        let payAction: String?
        let payAmount: String
        let payLabel: String
    }
    struct Size: Encodable {
        let value: Int
        let selected: Bool
    }
    struct Certificate: Encodable {
        let year: Int
        let link: String
    }
    let page: PageChrome
    let certificates: [Certificate]
    let notice: String?
    let title: String
    let invoiced: String
    let paid: String
    let due: String
    let credit: String?
    let rows: [Row]
    let hasRows: Bool
    let sizes: [Size]
    let summary: String
    let previous: String?
    let next: String?

    static func row(_ entry: LedgerEntry, zone: TimeZone, base: String, payable: Bool) -> Row {
        let date = LocalDate(entry.date, in: zone).french
        switch entry.kind {
        case .payment:
            let state: (String, String) = entry.open.cents == 0 ? ("ok", "affecté")
                : entry.settled.cents == 0 ? ("open", "non affecté : \(entry.open) d'avoir disponible")
                : ("part", "partiellement affecté : \(entry.open) d'avoir disponible")
            return Row(date: date, detail: entry.label, invoiceAmount: "", paymentAmount: entry.amount.description,
                       stateIcon: state.0, stateWords: state.1, link: "\(base)/paiements/\(entry.number)", linkLabel: "Voir le reçu \(entry.number)",
                       payAction: nil, payAmount: "", payLabel: "")
        case .invoice, .creditNote, .refund:
            let state: (String, String) = entry.kind == .creditNote ? ("back", "avoir")
                : entry.kind == .refund ? ("back", "remboursé")
                : entry.open.cents == 0 ? ("ok", "soldée")
                : entry.settled.cents == 0 ? ("no", "non soldée")
                : ("part", "partiellement soldée (reste \(entry.open))")
            return Row(date: date, detail: entry.label, invoiceAmount: entry.amount.description, paymentAmount: "",
                       stateIcon: state.0, stateWords: state.1, link: "\(base)/factures/\(entry.number)", linkLabel: "Voir \(entry.kind == .invoice ? "la facture" : "le document") \(entry.number)",
                       payAction: payable && entry.kind == .invoice && entry.open.cents > 0 ? "\(base)/factures/\(entry.number)/paiement" : nil,
                       payAmount: entry.open.description, payLabel: "Payer \(entry.open) pour la facture \(entry.number)")
        }
    }
}

/// An invoice's page.
struct InvoiceModel: TemplateModel {
    struct Line: Encodable {
        let designation: String
        let quantity: Int
        let unitPrice: String
        let amount: String
    }
    let page: PageChrome
    let title: String
    let number: String
    let date: String
    let lines: [Line]
    let total: String
    let paid: String
    let remaining: String
    let status: String
    let pdf: String
    /// Why the last "Payer en ligne" did not go to the bank, or what it did.
    let notice: String?
    let success: String?
    /// "Payer en ligne", while the invoice lacks something and the center takes payments online.
    struct Pay: Encodable {
        let action: String
        let label: String
        let credit: String?
    }
    let pay: Pay?
}

extension InvoiceDetail {
    var documentKind: LedgerEntry.Kind { LedgerEntry.Kind(rawValue: kind) ?? .invoice }

    /// Its state in words, as the page and the PDF write it.
    var status: String {
        switch documentKind {
        case .creditNote: "avoir"
        case .refund: "remboursé"
        default: remaining.cents == 0 ? "soldée" : paid.cents == 0 ? "non soldée" : "partiellement soldée"
        }
    }
}

/// A payment's receipt page.
struct ReceiptModel: TemplateModel {
    let page: PageChrome
    let number: String
    let date: String
    let label: String
    let amount: String
    let allocations: [String]
    let unallocated: String?
    let pdf: String
}

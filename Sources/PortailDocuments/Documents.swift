import Foundation
import PortailDomain

/// Who issues a document: the center, with its coordinates and legal mentions.
public struct Issuer: Sendable {
    public var name: String
    public var lines: [String]
    public var legal: [String]

    public init(center: Center) {
        name = center.legal?.name ?? center.name
        let c = center.coordinates
        lines = [c.name] + c.addressLines + ["\(c.postcode) \(c.city)", "Tél. \(c.phone) – \(c.email)"]
        legal = [center.legal?.siret.map { "SIRET \($0)" }, center.legal?.address, center.legal?.mentions].compactMap { $0 }
    }
}

/// An invoice or a credit note, as printed.
public struct InvoiceDocument: Sendable {
    public struct Line: Sendable {
        public var designation: String
        public var quantity: Int
        public var unitPrice: Money
        public var amount: Money
        public init(designation: String, quantity: Int, unitPrice: Money, amount: Money) {
            self.designation = designation
            self.quantity = quantity
            self.unitPrice = unitPrice
            self.amount = amount
        }
    }
    public var issuer: Issuer
    public var title: String
    public var number: String
    public var date: LocalDate
    public var recipient: [String]
    public var lines: [Line]
    public var total: Money
    public var paid: Money
    public var remaining: Money
    public var status: String

    public init(issuer: Issuer, title: String, number: String, date: LocalDate, recipient: [String], lines: [Line],
                total: Money, paid: Money, remaining: Money, status: String) {
        self.issuer = issuer
        self.title = title
        self.number = number
        self.date = date
        self.recipient = recipient
        self.lines = lines
        self.total = total
        self.paid = paid
        self.remaining = remaining
        self.status = status
    }
}

/// A receipt for one payment.
public struct ReceiptDocument: Sendable {
    public var issuer: Issuer
    public var number: String
    public var date: LocalDate
    public var recipient: [String]
    public var label: String
    public var amount: Money
    /// "Facture n° OPI00001 : 28,00 €"
    public var allocations: [String]
    public var unallocated: Money

    public init(issuer: Issuer, number: String, date: LocalDate, recipient: [String], label: String, amount: Money, allocations: [String], unallocated: Money) {
        self.issuer = issuer
        self.number = number
        self.date = date
        self.recipient = recipient
        self.label = label
        self.amount = amount
        self.allocations = allocations
        self.unallocated = unallocated
    }
}

/// Renders documents to PDF.
public enum PDFDocuments {
    public static func invoice(_ doc: InvoiceDocument) -> Data {
        let pdf = PDFCanvas(title: "\(doc.title) \(doc.number)")
        header(pdf, issuer: doc.issuer, title: "\(doc.title) n° \(doc.number)", date: doc.date, recipient: doc.recipient)
        // The lines: designation, quantity, unit price, amount.
        let m = PDFCanvas.margin, right = PDFCanvas.width - m
        let qtyX = right - 190, unitX = right - 80
        pdf.font(size: 9, bold: true)
        pdf.text("Désignation", x: m, y: pdf.y)
        pdf.text("Quantité", x: qtyX, y: pdf.y, right: true)
        pdf.text("Prix unitaire", x: unitX, y: pdf.y, right: true)
        pdf.text("Montant", x: right, y: pdf.y, right: true)
        pdf.rule(at: pdf.y + 4)
        pdf.y += 18
        for line in doc.lines {
            pdf.font(size: 9)
            let wrapped = pdf.wrap(line.designation, maxWidth: qtyX - m - 50)
            pdf.newPageIfNeeded(lineHeight: Double(wrapped.count) * 12 + 6)
            pdf.text(String(line.quantity), x: qtyX, y: pdf.y, right: true)
            pdf.text(line.unitPrice.description, x: unitX, y: pdf.y, right: true)
            pdf.text(line.amount.description, x: right, y: pdf.y, right: true)
            for text in wrapped {
                pdf.text(text, x: m, y: pdf.y)
                pdf.y += 12
            }
            pdf.y += 4
        }
        pdf.rule(at: pdf.y - 6)
        pdf.y += 10
        for (label, value, bold) in [("Total", doc.total, true), ("Déjà payé", doc.paid, false), ("Reste à payer", doc.remaining, true)] {
            pdf.font(size: 10, bold: bold)
            pdf.text(label, x: unitX - 60, y: pdf.y, right: true)
            pdf.text(value.description, x: right, y: pdf.y, right: true)
            pdf.y += 15
        }
        pdf.y += 10
        pdf.paragraph("État : \(doc.status)", size: 10, bold: true)
        footer(pdf, issuer: doc.issuer)
        return pdf.finish()
    }

    public static func receipt(_ doc: ReceiptDocument) -> Data {
        let pdf = PDFCanvas(title: "Reçu \(doc.number)")
        header(pdf, issuer: doc.issuer, title: "Reçu de paiement n° \(doc.number)", date: doc.date, recipient: doc.recipient)
        pdf.paragraph("Nous avons reçu la somme de \(doc.amount) : \(doc.label).", size: 11)
        pdf.y += 8
        if !doc.allocations.isEmpty {
            pdf.paragraph("Affectée à :", size: 10, bold: true)
            for allocation in doc.allocations { pdf.paragraph("– \(allocation)", size: 10) }
        }
        if doc.unallocated.cents > 0 {
            pdf.y += 6
            pdf.paragraph("Non affecté, disponible en avoir : \(doc.unallocated)", size: 10, bold: true)
        }
        footer(pdf, issuer: doc.issuer)
        return pdf.finish()
    }

    static func header(_ pdf: PDFCanvas, issuer: Issuer, title: String, date: LocalDate, recipient: [String]) {
        pdf.paragraph(issuer.name, size: 15, bold: true)
        for line in issuer.lines { pdf.paragraph(line, size: 9) }
        let top = PDFCanvas.margin + 40
        pdf.font(size: 10, bold: true)
        var y = top
        for (index, line) in recipient.enumerated() {
            pdf.font(size: 10, bold: index == 0)
            pdf.text(line, x: PDFCanvas.width - PDFCanvas.margin, y: y, right: true)
            y += 14
        }
        pdf.y = max(pdf.y, y) + 20
        pdf.paragraph(title, size: 14, bold: true)
        pdf.paragraph("Date : \(date.french)", size: 10)
        pdf.y += 12
    }

    static func footer(_ pdf: PDFCanvas, issuer: Issuer) {
        guard !issuer.legal.isEmpty else { return }
        pdf.y += 24
        pdf.rule(at: pdf.y - 10)
        for line in [issuer.name] + issuer.legal { pdf.paragraph(line, size: 8) }
    }
}

/// The yearly certificate of childcare expenses (crédit d'impôt pour frais de garde des enfants de moins de 6 ans).
public struct ChildcareCertificate: Sendable {
    public struct Child: Sendable {
        public var name: String
        public var birthDate: LocalDate
        public var paid: Money
        public init(name: String, birthDate: LocalDate, paid: Money) {
            self.name = name
            self.birthDate = birthDate
            self.paid = paid
        }
    }
    public var issuer: Issuer
    public var city: String
    public var year: Int
    public var family: [String]
    public var children: [Child]
    public var date: LocalDate

    public init(issuer: Issuer, city: String, year: Int, family: [String], children: [Child], date: LocalDate) {
        self.issuer = issuer
        self.city = city
        self.year = year
        self.family = family
        self.children = children
        self.date = date
    }
}

extension PDFDocuments {
    public static func certificate(_ doc: ChildcareCertificate) -> Data {
        let pdf = PDFCanvas(title: "Attestation de frais de garde \(doc.year)")
        header(pdf, issuer: doc.issuer, title: "Attestation de frais de garde – année \(doc.year)", date: doc.date, recipient: doc.family)
        pdf.paragraph("Je soussigné(e), responsable de \(doc.issuer.name), atteste que la famille \(doc.family.first ?? "") a réglé, au titre de l'année \(doc.year), "
                      + "les sommes suivantes pour l'accueil de ses enfants âgés de moins de 6 ans au 1er janvier \(doc.year) :", size: 11)
        pdf.y += 8
        var total = Money.zero
        for child in doc.children {
            pdf.font(size: 11)
            pdf.text("\(child.name), né(e) le \(child.birthDate.french)", x: PDFCanvas.margin + 10, y: pdf.y)
            pdf.text(child.paid.description, x: PDFCanvas.width - PDFCanvas.margin, y: pdf.y, right: true)
            pdf.y += 16
            total = total + child.paid
        }
        if doc.children.isEmpty { pdf.paragraph("Aucune somme versée pour un enfant de moins de 6 ans.", size: 11) }
        pdf.rule(at: pdf.y - 8)
        pdf.y += 6
        pdf.font(size: 11, bold: true)
        pdf.text("Total", x: PDFCanvas.margin + 10, y: pdf.y)
        pdf.text(total.description, x: PDFCanvas.width - PDFCanvas.margin, y: pdf.y, right: true)
        pdf.y += 30
        pdf.paragraph("Montants effectivement payés, aides déduites, hors frais de repas le cas échéant selon la réglementation. "
                      + "Attestation délivrée pour servir et valoir ce que de droit.", size: 9)
        pdf.y += 10
        pdf.paragraph("Fait à \(doc.city), le \(doc.date.french).", size: 11)
        footer(pdf, issuer: doc.issuer)
        return pdf.finish()
    }
}

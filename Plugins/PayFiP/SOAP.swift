import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PaymentKit

/// An XML element as PayFiP's SOAP answers need it: local name (namespace prefix dropped), text, children.
public struct XMLNode: Sendable {
    public var name: String
    public var text: String
    public var children: [XMLNode]

    /// The first descendant (depth first, self excluded) with this local name, whatever its case: PayFiP's
    /// clients read `idOp` and `idop` alike.
    public func first(_ wanted: String) -> XMLNode? {
        let wanted = wanted.lowercased()
        for child in children {
            if child.name.lowercased() == wanted { return child }
            if let found = child.first(wanted) { return found }
        }
        return nil
    }

    /// The leaf children as name (lowercased) -> trimmed text.
    public var leaves: [String: String] {
        var values: [String: String] = [:]
        for child in children where child.children.isEmpty {
            values[child.name.lowercased()] = child.text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return values
    }

    /// Parses a document with `XMLParser`, namespaces processed (so `ns2:idOp` and `idOp` read the same).
    public static func parse(_ text: String) -> XMLNode? {
        let parser = XMLParser(data: Data(text.utf8))
        parser.shouldProcessNamespaces = true
        let builder = XMLTreeBuilder()
        parser.delegate = builder
        guard parser.parse() else { return nil }
        return builder.root
    }
}

private final class XMLTreeBuilder: NSObject, XMLParserDelegate {
    var stack: [XMLNode] = []
    var root: XMLNode?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        // With namespaces processed elementName is the local name; strip a prefix anyway, should a parser keep it.
        let local = elementName.split(separator: ":").last.map(String.init) ?? elementName
        stack.append(XMLNode(name: local, text: "", children: []))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].text += string
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].text += String(decoding: CDATABlock, as: UTF8.self)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        guard let done = stack.popLast() else { return }
        if stack.isEmpty { root = done } else { stack[stack.count - 1].children.append(done) }
    }
}

/// What PayFiP's SOAP service answered: the fields of the operation's `return`, or a fault.
public enum PayFiPAnswer: Sendable, Equatable {
    /// The `return` element's fields, names lowercased.
    case result([String: String])
    /// A SOAP Fault: the `code` and `libelle` of its `FonctionnelleErreur` (or technical error) detail,
    /// else the `faultcode` and `faultstring`.
    case fault(code: String, message: String)

    /// Reads an envelope; throws `ProviderCallFailed` when it is not one.
    public static func parse(_ xml: String) throws -> PayFiPAnswer {
        guard let envelope = XMLNode.parse(xml), envelope.name.lowercased() == "envelope",
              let body = envelope.children.first(where: { $0.name.lowercased() == "body" }) else {
            throw ProviderCallFailed("PayFiP answered something that is not a SOAP envelope: \(xml.prefix(200))")
        }
        if let fault = body.first("Fault") {
            // detail > FonctionnelleErreur | TechDysfonctionnementErreur | ... > code, libelle, descriptif
            if let detail = fault.first("detail"), let error = detail.children.first {
                let values = error.leaves
                let code = values["code"] ?? ""
                let message = [values["libelle"], values["descriptif"]].compactMap { $0 }.filter { !$0.isEmpty }
                    .joined(separator: " – ")
                if !code.isEmpty || !message.isEmpty {
                    return .fault(code: code, message: message.isEmpty ? error.name : "\(message)")
                }
            }
            let values = fault.leaves
            return .fault(code: values["faultcode"] ?? "", message: values["faultstring"] ?? "SOAP fault")
        }
        guard let response = body.children.first else {
            throw ProviderCallFailed("PayFiP answered an empty SOAP body")
        }
        let result = response.first("return") ?? response
        return .result(result.leaves)
    }
}

/// SOAP envelopes as PayFiP's service takes them, written by hand (there is no SOAP stack on Linux).
public enum PayFiPEnvelope {
    public static let serviceNamespace =
        "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/contrat_paiement_securise/PaiementSecuriseService"

    /// `<pai:operation><arg0><name>value</name>…</arg0></pai:operation>` in a SOAP 1.1 envelope.
    public static func make(_ operation: String, _ fields: [(String, String)]) -> String {
        let arguments = fields.map { "<\($0.0)>\(escape($0.1))</\($0.0)>" }.joined()
        return """
            <?xml version="1.0" encoding="UTF-8"?>\
            <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:pai="\(serviceNamespace)">\
            <soapenv:Header/><soapenv:Body><pai:\(operation)><arg0>\(arguments)</arg0></pai:\(operation)></soapenv:Body>\
            </soapenv:Envelope>
            """
    }

    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&apos;")
    }
}

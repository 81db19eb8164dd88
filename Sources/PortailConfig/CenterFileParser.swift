import Foundation
import PortailDomain
import Yams

/// Reads one center file into a `Center`, reporting every problem it finds in one pass.
struct CenterFileParser {
    let diagnostics: Diagnostics
    let paymentRules: [String: PaymentTypeRule]
    let environment: [String: String]
    /// Whether a secret missing from the environment is an error (serving) or a warning (checking a file).
    let secretsRequired: Bool

    static let centerKeys = [
        "code", "name", "organisation", "hosts", "time_zone", "coordinates", "invoice_prefix",
        "cart_hold_minutes", "units", "age_groups", "tariffs", "periods", "payment", "legal",
        "residents", "waiting_list", "waiting_room", "family_file",
    ]

    func parse(text: String) -> Center? {
        let root: Node
        do {
            guard let node = try YAMLTree.compose(text) else {
                diagnostics.report("the file is empty: a center file starts with \"code:\"", at: nil, path: "")
                return nil
            }
            root = node
        } catch let error as YamlError {
            reportSyntax(error)
            return nil
        } catch let alias as YAMLTree.AliasFound {
            diagnostics.report(alias.description, line: alias.line, column: alias.column)
            return nil
        } catch {
            diagnostics.report("cannot read YAML: \(error)", at: nil, path: "")
            return nil
        }
        let top = Field(node: root, path: "", diagnostics: diagnostics)
        guard let m = top.mapping(keys: Self.centerKeys) else { return nil }

        let code = m.required("code").flatMap { f in
            f.remember(as: "code")
            return f.nonEmptyString.flatMap { checkCode($0, f) }.flatMap { code -> String? in
                guard Self.reservedCodes.contains(code) else { return code }
                f.report("\"\(code)\" is a reserved address of the portal (/\(code)/): choose another center code")
                return nil
            }
        }
        let name = m.required("name")?.nonEmptyString
        let organisation = m["organisation"]?.nonEmptyString ?? ""
        let hosts = m.required("hosts").flatMap(parseHosts) ?? []
        let timeZone = m["time_zone"].map(parseTimeZone) ?? "Europe/Paris"
        let coordinates = m.required("coordinates").flatMap(parseCoordinates)
        let invoicePrefix = m.required("invoice_prefix").flatMap(parseInvoicePrefix)
        let hold = m["cart_hold_minutes"].flatMap { f -> Int? in
            guard let v = f.int else { return nil }
            guard (5...1440).contains(v) else { f.report("must be between 5 and 1440 minutes, found \(v)"); return nil }
            return v
        } ?? 30
        let units = m.required("units").flatMap(parseUnits) ?? []
        let groups = m.required("age_groups").flatMap(parseAgeGroups) ?? []
        let tariffs = m.required("tariffs").flatMap { parseTariffs($0, units: units) } ?? []
        let periods = m.required("periods").flatMap { parsePeriods($0, units: units, groups: groups, tariffs: tariffs) } ?? []
        let payment = m["payment"].flatMap(parsePayment)
        let legal = m["legal"].flatMap(parseLegal)
        let residents = m["residents"].flatMap(parseResidents)
        let offerHours = m["waiting_list"].flatMap(parseWaitingList)
        let waitingRoom = m["waiting_room"].flatMap(parseWaitingRoom)
        let familyFile = m["family_file"].flatMap(parseFamilyFile)
        checkPriority(periods, declaresResidents: m["residents"] != nil)

        guard let code, let name, let coordinates, let invoicePrefix else { return nil }
        var center = Center(
            code: code, name: name, organisation: organisation, hosts: hosts, timeZone: timeZone,
            coordinates: coordinates, invoicePrefix: invoicePrefix, cartHoldMinutes: hold, units: units,
            ageGroups: groups, tariffs: tariffs, periods: periods, payment: payment, legal: legal, residents: residents
        )
        center.waitingListOfferHours = offerHours ?? center.waitingListOfferHours
        center.waitingRoom = waitingRoom
        center.familyFile = familyFile
        return center
    }

    /// A whole number within `range`, or a report that says the range.
    private func bounded(_ field: Field?, _ range: ClosedRange<Int>, _ unit: String) -> Int? {
        guard let field, let value = field.int else { return nil }
        guard range.contains(value) else {
            field.report("must be between \(range.lowerBound) and \(range.upperBound) \(unit), found \(value)")
            return nil
        }
        return value
    }

    /// waiting_list: { offer_hours: 24 }: how long a freed place is held for the family it is offered to.
    private func parseWaitingList(_ field: Field) -> Int? {
        guard let m = field.mapping(keys: ["offer_hours"]) else { return nil }
        return bounded(m["offer_hours"], 1...168, "hours")
    }

    /// waiting_room: { admitted_per_minute: 300, active_minutes: 60, queue_before_minutes: 30 }.
    private func parseWaitingRoom(_ field: Field) -> WaitingRoomSettings? {
        guard let m = field.mapping(keys: ["admitted_per_minute", "active_minutes", "queue_before_minutes"]) else { return nil }
        guard let rate = bounded(m.required("admitted_per_minute"), 1...100_000, "families a minute") else { return nil }
        var room = WaitingRoomSettings(admittedPerMinute: rate)
        room.activeMinutes = bounded(m["active_minutes"], 5...1440, "minutes") ?? room.activeMinutes
        room.queueBeforeMinutes = bounded(m["queue_before_minutes"], 0...720, "minutes") ?? room.queueBeforeMinutes
        return room
    }

    /// family_file: { required: [contacts, health, documents], documents: [vaccinations, insurance],
    /// confirm_every_days: 365, validation: [health, documents] }.
    private func parseFamilyFile(_ field: Field) -> FamilyFileRules? {
        guard let m = field.mapping(keys: ["required", "documents", "confirm_every_days", "validation", "self_sign_up", "approve_sign_ups"]) else { return nil }
        func items(_ key: String) -> [FamilyFileRules.Item] {
            guard let list = m[key]?.list else { return [] }
            var seen: [FamilyFileRules.Item] = []
            for entry in list {
                guard let text = entry.nonEmptyString else { continue }
                guard let item = FamilyFileRules.Item(rawValue: text) else {
                    let known = FamilyFileRules.Item.allCases.map(\.rawValue)
                    let hint = nearest(to: text, in: known).map { " (did you mean \"\($0)\"?)" } ?? ""
                    entry.report("unknown item \"\(text)\"\(hint); known: \(known.joined(separator: ", "))")
                    continue
                }
                if seen.contains(item) { entry.report("\"\(text)\" is listed twice") } else { seen.append(item) }
            }
            return seen
        }
        let required = items("required")
        let validation = items("validation")
        var documents: [FamilyFileRules.DocumentKind] = []
        for entry in m["documents"]?.list ?? [] {
            guard let text = entry.nonEmptyString else { continue }
            guard let kind = FamilyFileRules.DocumentKind(rawValue: text) else {
                let known = FamilyFileRules.DocumentKind.allCases.map(\.rawValue)
                let hint = nearest(to: text, in: known).map { " (did you mean \"\($0)\"?)" } ?? ""
                entry.report("unknown document \"\(text)\"\(hint); known: \(known.joined(separator: ", "))")
                continue
            }
            if documents.contains(kind) { entry.report("\"\(text)\" is listed twice") } else { documents.append(kind) }
        }
        if required.contains(.documents), documents.isEmpty, let f = m["required"] {
            f.report("\"documents\" is required but no document is listed: add documents: [vaccinations, insurance, caf] (those you need)")
        }
        if !documents.isEmpty, !required.contains(.documents), !validation.contains(.documents), let f = m["documents"] {
            f.report("documents are listed but \"documents\" is neither required nor validated: add it to required")
        }
        let confirm = bounded(m["confirm_every_days"], 30...730, "days")
        let signUp = m["self_sign_up"]?.bool ?? false
        let approve = m["approve_sign_ups"]?.bool ?? false
        // approve_sign_ups without self_sign_up: no new sign-up, and the accounts created by sign-up while it
        // was open still wait for their approval (closing sign-up releases nobody).
        return FamilyFileRules(required: required, documents: documents, confirmEveryDays: confirm, validation: validation,
                               selfSignUp: signUp, approveSignUps: approve)
    }

    private func reportSyntax(_ error: YamlError) {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            diagnostics.report("YAML syntax error: \(problem)", line: mark.line, column: mark.column)
        case .duplicatedKeysInMapping(let duplicates, let context):
            diagnostics.report("duplicate key \(duplicates.map { "\"\($0)\"" }.joined(separator: ", ")): each key may appear once",
                               line: context.mark.line, column: context.mark.column)
        default:
            diagnostics.report("YAML syntax error: \(error)", line: 1, column: 1)
        }
    }

    // MARK: identity

    /// First segments of the portal's own addresses: a center reached by path prefix (/opio/) must not
    /// shadow them. A test checks that every route's first segment is listed here.
    public static let reservedCodes: Set<String> = [
        "api", "admin", "healthz", "metrics", "static", "dev", "simulateur", "paiement", "paiements", "panier",
        "compte", "factures", "liste-attente", "salle-attente", "attestations", "reservation", "reservations", "connexion", "deconnexion",
        "activation", "reinitialisation", "mot-de-passe-oublie", "well-known", "robots-txt", "favicon-ico", "agenda", "calendrier",
        "dossier", "inscription", "familles",
    ]

    /// The longest period: a school year of Wednesdays fits, a typo of a century does not (every day
    /// of a period is a row of places per unit).
    public static let maxPeriodDays = 400

    /// Codes are lowercase letters, digits and dashes: they appear in URLs and in the database.
    private func checkCode(_ code: String, _ field: Field) -> String? {
        let ok = code.range(of: "^[a-z0-9][a-z0-9-]{0,39}$", options: .regularExpression) != nil
        if !ok { field.report("\"\(code)\" is not a valid code: use lowercase letters, digits and dashes (at most 40)") }
        return ok ? code : nil
    }

    private func parseHosts(_ field: Field) -> [String]? {
        guard let items = field.list else { return nil }
        if items.isEmpty { field.report("list at least one host name, such as portail.example.org") }
        var seen = Set<String>()
        return items.compactMap { item in
            guard let host = item.nonEmptyString?.lowercased() else { return nil }
            guard host.range(of: #"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"#, options: .regularExpression) != nil else {
                item.report("\"\(host)\" is not a host name: write it without scheme, port or path, e.g. portail.example.org")
                return nil
            }
            guard seen.insert(host).inserted else { item.report("host \"\(host)\" is listed twice"); return nil }
            item.remember(as: "host:\(host)")
            return host
        }
    }

    private func parseTimeZone(_ field: Field) -> String {
        guard let s = field.nonEmptyString else { return "Europe/Paris" }
        guard TimeZone(identifier: s) != nil, s.contains("/") || s == "UTC" else {
            field.report("unknown time zone \"\(s)\": use an IANA name such as Europe/Paris")
            return "Europe/Paris"
        }
        return s
    }

    private func parseInvoicePrefix(_ field: Field) -> String? {
        guard let s = field.nonEmptyString else { return nil }
        guard s.range(of: "^[A-Z]{2,6}$", options: .regularExpression) != nil else {
            field.report("\"\(s)\" is not a valid invoice prefix: 2 to 6 capital letters, such as OPI")
            return nil
        }
        return s
    }

    // MARK: coordinates

    private func parseCoordinates(_ field: Field) -> Coordinates? {
        guard let m = field.mapping(keys: ["name", "address", "postcode", "city", "phone", "email", "office_hours", "portal_url"]) else { return nil }
        let name = m.required("name")?.nonEmptyString
        let address = m.required("address").flatMap { f -> [String]? in
            guard let items = f.list else { return nil }
            if items.isEmpty { f.report("give at least one address line") }
            return items.compactMap(\.nonEmptyString)
        }
        let postcode = m.required("postcode").flatMap { f -> String? in
            guard let s = f.nonEmptyString else { return nil }
            guard s.range(of: "^[0-9]{5}$", options: .regularExpression) != nil else {
                f.report("\"\(s)\" is not a French postcode: five digits, in quotes so that a leading 0 is kept (\"06650\")")
                return nil
            }
            return s
        }
        let city = m.required("city")?.nonEmptyString
        let phone = m.required("phone").flatMap(parsePhone)
        let email = m.required("email").flatMap(parseEmail)
        let hours = m["office_hours"].flatMap(parseOfficeHours) ?? []
        let url = m.required("portal_url").flatMap(parseURL)
        guard let name, let address, let postcode, let city, let phone, let email, let url else { return nil }
        return Coordinates(name: name, addressLines: address, postcode: postcode, city: city, phone: phone,
                           email: email, officeHours: hours, portalURL: url)
    }

    private func parsePhone(_ field: Field) -> String? {
        guard let s = field.nonEmptyString else { return nil }
        let digits = s.filter(\.isNumber)
        let ok = s.range(of: #"^\+?[0-9 .\-]+$"#, options: .regularExpression) != nil
            && (digits.count == 10 && digits.hasPrefix("0") || s.hasPrefix("+") && (11...15).contains(digits.count))
        guard ok else {
            field.report("\"\(s)\" is not a phone number: ten digits starting with 0 (04 93 77 25 50) or an international +33 4 93 77 25 50")
            return nil
        }
        return s
    }

    private func parseEmail(_ field: Field) -> String? {
        guard let s = field.nonEmptyString else { return nil }
        guard s.range(of: #"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$"#, options: .regularExpression) != nil else {
            field.report("\"\(s)\" is not an e-mail address such as accueil@example.org")
            return nil
        }
        return s
    }

    private func parseURL(_ field: Field) -> String? {
        guard let s = field.nonEmptyString else { return nil }
        guard let url = URL(string: s), let scheme = url.scheme, ["http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty, !s.contains(" ") else {
            field.report("\"\(s)\" is not a web address: write it in full, such as https://portail.example.org")
            return nil
        }
        return s
    }

    private func parseOfficeHours(_ field: Field) -> [OfficeHours]? {
        guard let entries = field.entries else { return nil }
        var result: [OfficeHours] = []
        for (key, keyNode, value) in entries {
            guard let day = Weekday(rawValue: key.lowercased()) else {
                let hint = nearest(to: key, in: Weekday.allCases.map(\.rawValue)).map { " (did you mean \"\($0)\"?)" } ?? ""
                diagnostics.report("unknown weekday \"\(key)\"\(hint)", at: keyNode, path: value.path)
                continue
            }
            let texts: [Field] = if case .sequence = value.node { value.list ?? [] } else { [value] }
            let slots = texts.compactMap { f -> TimeSlot? in
                guard let s = f.nonEmptyString else { return nil }
                let parts = s.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, let a = LocalTime(parsing: parts[0]), let b = LocalTime(parsing: parts[1]) else {
                    f.report("\"\(s)\" is not a time range: write it HH:MM-HH:MM, such as \"14:00-16:00\"")
                    return nil
                }
                guard a < b else { f.report("\"\(s)\" ends before it starts"); return nil }
                return TimeSlot(start: a, end: b)
            }
            result.append(OfficeHours(weekday: day, slots: slots))
        }
        return result.sorted { $0.weekday < $1.weekday }
    }

    // MARK: units and groups

    private func parseUnits(_ field: Field) -> [BookingUnit]? {
        guard let items = field.list else { return nil }
        if items.isEmpty { field.report("declare at least one unit, such as journee") }
        var units: [(BookingUnit, [Field])] = []
        var codes = Set<String>()
        for item in items {
            guard let m = item.mapping(keys: ["code", "label", "consumes"]) else { continue }
            guard let codeField = m.required("code"), let code = codeField.nonEmptyString.flatMap({ checkCode($0, codeField) }) else { continue }
            if !codes.insert(code).inserted { codeField.report("unit \"\(code)\" is declared twice"); continue }
            let label = m.required("label")?.nonEmptyString ?? code
            let consumesFields = m["consumes"]?.list ?? []
            units.append((BookingUnit(code: code, label: label, consumes: consumesFields.compactMap(\.nonEmptyString)), consumesFields))
        }
        // A unit consumes capacity units that are themselves declared units consuming their own places.
        let selfConsuming = Set(units.filter { $0.0.consumes.isEmpty }.map(\.0.code))
        for (unit, fields) in units {
            for f in fields {
                guard let name = f.string else { continue }
                if !codes.contains(name) {
                    f.report("unknown unit \"\(name)\"\(hint(name, codes)): declare it under units")
                } else if !selfConsuming.contains(name) {
                    f.report("unit \"\(unit.code)\" consumes \"\(name)\", which itself consumes other units: name the units that hold places")
                }
            }
        }
        return units.map(\.0)
    }

    private func parseAgeGroups(_ field: Field) -> [AgeGroup]? {
        guard let items = field.list else { return nil }
        var codes = Set<String>()
        return items.compactMap { item in
            guard let m = item.mapping(keys: ["code", "label", "min_age", "max_age"]) else { return nil }
            guard let codeField = m.required("code"), let code = codeField.nonEmptyString.flatMap({ checkCode($0, codeField) }) else { return nil }
            if !codes.insert(code).inserted { codeField.report("age group \"\(code)\" is declared twice"); return nil }
            let label = m.required("label")?.nonEmptyString
            let minAge = m.required("min_age")?.int
            let maxField = m.required("max_age")
            let maxAge = maxField?.int
            guard let label, let minAge, let maxAge else { return nil }
            if minAge < 0 || maxAge > 25 || minAge > maxAge {
                maxField?.report("ages \(minAge)-\(maxAge) are out of order or out of range (0 to 25, min_age ≤ max_age)")
                return nil
            }
            return AgeGroup(code: code, label: label, minAge: minAge, maxAge: maxAge)
        }
    }

    // MARK: tariffs

    private func parseTariffs(_ field: Field, units: [BookingUnit]) -> [Tariff]? {
        guard let items = field.list else { return nil }
        var codes = Set<String>()
        return items.compactMap { parseTariff($0, units: units, codes: &codes) }
    }

    /// One entry of `tariffs:` (also the body of the admin API's tariff endpoints).
    func parseTariff(_ item: Field, units: [BookingUnit], codes: inout Set<String>) -> Tariff? {
        let unitCodes = Set(units.map(\.code))
        guard let m = item.mapping(keys: ["code", "label", "valid_from", "valid_to", "model", "prices", "brackets", "categories"]) else { return nil }
        guard let codeField = m.required("code"), let code = codeField.nonEmptyString.flatMap({ checkCode($0, codeField) }) else { return nil }
        if !codes.insert(code).inserted { codeField.report("tariff \"\(code)\" is declared twice"); return nil }
        let label = m["label"]?.nonEmptyString ?? code
        let from = m["valid_from"]?.date
        let toField = m["valid_to"]
        let to = toField?.date
        if let from, let to, to < from { toField?.report("valid_to \(to) is before valid_from \(from)") }
        guard let modelField = m.required("model"), let modelName = modelField.nonEmptyString else { return nil }
        guard ["flat", "qf", "siblings"].contains(modelName) else {
            let h = nearest(to: modelName, in: ["flat", "qf", "siblings"]).map { " (did you mean \"\($0)\"?)" } ?? ""
            modelField.report("unknown tariff model \"\(modelName)\"\(h): use flat, qf or siblings")
            return nil
        }
        guard let model = parseGrid(modelName, prices: m["prices"], brackets: m["brackets"], owner: item, unitCodes: unitCodes) else { return nil }
        // Other grids for families of a category ("hors-commune"), in the same model.
        var categories: [String: TariffModel] = [:]
        if let entries = m["categories"]?.entries {
            for (category, keyNode, value) in entries {
                guard category.range(of: "^[a-z0-9][a-z0-9-]{0,39}$", options: .regularExpression) != nil else {
                    diagnostics.report("\"\(category)\" is not a valid category code: lowercase letters, digits and dashes", at: keyNode, path: value.path)
                    continue
                }
                guard let grid = value.mapping(keys: ["prices", "brackets"]) else { continue }
                if let model = parseGrid(modelName, prices: grid["prices"], brackets: grid["brackets"], owner: value, unitCodes: unitCodes) {
                    categories[category] = model
                }
            }
        }
        return Tariff(code: code, label: label, validFrom: from, validTo: to, model: model, categories: categories)
    }

    /// One price grid of a model: `prices` for flat and siblings, `brackets` for qf.
    private func parseGrid(_ model: String, prices: Field?, brackets: Field?, owner: Field, unitCodes: Set<String>) -> TariffModel? {
        func missing(_ key: String) -> Field? {
            diagnostics.report("missing required key \"\(key)\"", at: owner.node, path: owner.path.isEmpty ? key : "\(owner.path).\(key)")
            return nil
        }
        switch model {
        case "flat":
            brackets?.report("a flat tariff has prices, not brackets")
            return (prices ?? missing("prices")).flatMap { parsePrices($0, unitCodes: unitCodes) }.map(TariffModel.flat)
        case "qf":
            prices?.report("a qf tariff gives its prices inside each bracket")
            return (brackets ?? missing("brackets")).flatMap { parseBrackets($0, unitCodes: unitCodes) }.map(TariffModel.quotientBrackets)
        default:
            brackets?.report("a siblings tariff has prices, not brackets")
            return (prices ?? missing("prices")).flatMap { parseRankPrices($0, unitCodes: unitCodes) }.map(TariffModel.siblings)
        }
    }

    /// A price key: a unit, or units joined by "+" for a combination ("matin+repas+apres-midi").
    private func checkPriceKey(_ key: String, keyNode: Node, path: String, unitCodes: Set<String>) -> Bool {
        let parts = key.split(separator: "+", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for part in parts where !unitCodes.contains(part) {
            diagnostics.report("unknown unit \"\(part)\"\(hint(part, unitCodes)): declare it under units", at: keyNode, path: path)
            return false
        }
        if Set(parts).count != parts.count {
            diagnostics.report("combination \"\(key)\" names a unit twice", at: keyNode, path: path)
            return false
        }
        return true
    }

    private func parsePrices(_ field: Field, unitCodes: Set<String>) -> [String: Money]? {
        guard let entries = field.entries else { return nil }
        if entries.isEmpty { field.report("give at least one price, such as journee: \"12.50\"") }
        var prices: [String: Money] = [:]
        for (unit, keyNode, value) in entries {
            guard checkPriceKey(unit, keyNode: keyNode, path: value.path, unitCodes: unitCodes) else { continue }
            if let money = value.money { prices[unit.replacingOccurrences(of: " ", with: "")] = money }
        }
        return prices
    }

    private func parseRankPrices(_ field: Field, unitCodes: Set<String>) -> [String: [Money]]? {
        guard let entries = field.entries else { return nil }
        var prices: [String: [Money]] = [:]
        for (unit, keyNode, value) in entries {
            guard checkPriceKey(unit, keyNode: keyNode, path: value.path, unitCodes: unitCodes) else { continue }
            guard let items = value.list else { continue }
            if items.isEmpty { value.report("give the price of the 1st child, then the 2nd ...") }
            let amounts = items.compactMap(\.money)
            if amounts.count == items.count { prices[unit] = amounts }
        }
        return prices
    }

    private func parseBrackets(_ field: Field, unitCodes: Set<String>) -> [QuotientBracket]? {
        guard let items = field.list else { return nil }
        if items.isEmpty { field.report("give at least one bracket; the last one applies to families without QF") }
        var result: [QuotientBracket] = []
        for item in items {
            guard let m = item.mapping(keys: ["qf_min", "qf_max", "prices"]) else { continue }
            let low = m["qf_min"]?.int
            let highField = m["qf_max"]
            let high = highField?.int
            if let low, let high, high < low { highField?.report("qf_max \(high) is below qf_min \(low)") }
            if let previous = result.last?.max, let low, low <= previous {
                m["qf_min"]?.report("bracket starts at \(low) but the previous one ends at \(previous): brackets must not overlap")
            }
            guard let prices = m.required("prices").flatMap({ parsePrices($0, unitCodes: unitCodes) }) else { continue }
            result.append(QuotientBracket(min: low, max: high, prices: prices))
        }
        return result
    }

    // MARK: periods

    private func parsePeriods(_ field: Field, units: [BookingUnit], groups: [AgeGroup], tariffs: [Tariff]) -> [Period]? {
        guard let items = field.list else { return nil }
        var codes = Set<String>()
        var periods: [(Period, Field)] = []
        for item in items {
            if let period = parsePeriod(item, units: units, groups: groups, tariffs: tariffs, codes: &codes) {
                periods.append((period, item))
            }
        }
        // Two periods of one age group must not share a day: a child's day would have two prices.
        for (i, (a, _)) in periods.enumerated() {
            for (b, fieldB) in periods[(i + 1)...] {
                checkOverlap(b, fieldB, with: a)
            }
        }
        return periods.map(\.0)
    }

    func checkOverlap(_ b: Period, _ fieldB: Field, with a: Period) {
        if a.ageGroup == b.ageGroup && a.overlaps(b) {
            fieldB.report("period \"\(b.code)\" overlaps period \"\(a.code)\" for age group \"\(a.ageGroup)\" (\(b.startsOn.iso) to \(b.endsOn.iso) against \(a.startsOn.iso) to \(a.endsOn.iso))")
        }
    }

    /// One entry of `periods:` (also the body of the admin API's period endpoints).
    func parsePeriod(_ item: Field, units: [BookingUnit], groups: [AgeGroup], tariffs: [Tariff], codes: inout Set<String>) -> Period? {
        let unitCodes = Set(units.map(\.code))
        let groupCodes = Set(groups.map(\.code))
        let tariffsByCode = Dictionary(uniqueKeysWithValues: tariffs.map { ($0.code, $0) })
        guard let m = item.mapping(keys: [
            "code", "label", "age_group", "starts_on", "ends_on", "weekdays", "closed_days", "units",
            "places", "day_places", "tariff", "booking", "closed",
        ]) else { return nil }
        guard let codeField = m.required("code"), let code = codeField.nonEmptyString.flatMap({ checkCode($0, codeField) }) else { return nil }
        if !codes.insert(code).inserted { codeField.report("period \"\(code)\" is declared twice"); return nil }
        let label = m.required("label")?.nonEmptyString
        let group = m.required("age_group").flatMap { f -> String? in
            guard let g = f.nonEmptyString else { return nil }
            guard groupCodes.contains(g) else {
                f.report("unknown age group \"\(g)\"\(hint(g, groupCodes)): declare it under age_groups"); return nil
            }
            return g
        }
        let starts = m.required("starts_on")?.date
        let endsField = m.required("ends_on")
        let ends = endsField?.date
        if let starts, let ends, ends < starts {
            endsField?.report("the period ends on \(ends.iso), before it starts on \(starts.iso)")
        } else if let starts, let ends, ends.dayNumber - starts.dayNumber >= Self.maxPeriodDays {
            endsField?.report("the period lasts \(ends.dayNumber - starts.dayNumber + 1) days (\(starts.iso) to \(ends.iso)): at most \(Self.maxPeriodDays)")
        }
        let weekdays = m["weekdays"].flatMap { f -> [Weekday]? in
            guard let items = f.list else { return nil }
            return Array(Set(items.compactMap(\.weekday))).sorted()
        } ?? [.lundi, .mardi, .mercredi, .jeudi, .vendredi]
        let closed = m["closed_days"].flatMap { f -> [LocalDate]? in
            guard let items = f.list else { return nil }
            return items.compactMap { item -> LocalDate? in
                guard let d = item.date else { return nil }
                if let starts, let ends, d < starts || d > ends {
                    item.report("closed day \(d.iso) is outside the period (\(starts.iso) to \(ends.iso))")
                }
                return d
            }
        } ?? []
        let offered = m.required("units").flatMap { f -> [String]? in
            guard let items = f.list else { return nil }
            if items.isEmpty { f.report("offer at least one unit") }
            return items.compactMap { item -> String? in
                guard let u = item.nonEmptyString else { return nil }
                guard unitCodes.contains(u) else {
                    item.report("unknown unit \"\(u)\"\(hint(u, unitCodes)): declare it under units"); return nil
                }
                return u
            }
        } ?? []
        let places = m.required("places").flatMap { f -> [String: Int]? in
            guard let entries = f.entries else { return nil }
            var result: [String: Int] = [:]
            for (unit, keyNode, value) in entries {
                guard unitCodes.contains(unit) else {
                    diagnostics.report("unknown unit \"\(unit)\"\(hint(unit, unitCodes)): declare it under units", at: keyNode, path: value.path)
                    continue
                }
                guard let n = value.int else { continue }
                guard (0...10_000).contains(n) else { value.report("places must be between 0 and 10000, found \(n)"); continue }
                result[unit] = n
            }
            return result
        } ?? [:]
        // Every capacity unit used by an offered unit needs a number of places.
        let needed = Set(offered.flatMap { code in units.first { $0.code == code }?.capacityUnits ?? [] })
        for capacity in needed.sorted() where places[capacity] == nil {
            m["places"]?.report("no places given for \"\(capacity)\", which the offered units consume")
        }
        let tariffCode = m.required("tariff").flatMap { f -> String? in
            guard let t = f.nonEmptyString else { return nil }
            guard let tariff = tariffsByCode[t] else {
                f.report("unknown tariff \"\(t)\"\(hint(t, Set(tariffsByCode.keys))): declare it under tariffs"); return nil
            }
            let unpriced = offered.filter { !tariff.pricedUnits.contains($0) }
            if !unpriced.isEmpty {
                f.report("tariff \"\(t)\" has no price for \(unpriced.map { "\"\($0)\"" }.joined(separator: ", ")), offered in this period")
            }
            // Every day of the period is priced by a tariff valid that day.
            if let starts, let ends, (tariff.validFrom.map { starts < $0 } ?? false) || (tariff.validTo.map { ends > $0 } ?? false) {
                let validity = "from \(tariff.validFrom?.iso ?? "always") to \(tariff.validTo?.iso ?? "no end")"
                f.report("tariff \"\(t)\" is valid \(validity), but the period runs from \(starts.iso) to \(ends.iso): "
                    + "use a tariff valid on every day of the period, or widen the tariff's validity")
            }
            return t
        }
        // Days whose places differ from `places`: "2026-07-15": { journee: 12 }.
        let dayPlaces = m["day_places"].flatMap { f -> [LocalDate: [String: Int]]? in
            guard let entries = f.entries else { return nil }
            var result: [LocalDate: [String: Int]] = [:]
            for (dayText, keyNode, value) in entries {
                guard let day = LocalDate(iso: dayText) else {
                    diagnostics.report("\"\(dayText)\" is not a date: write it YYYY-MM-DD", at: keyNode, path: value.path); continue
                }
                if let starts, let ends, day < starts || day > ends {
                    diagnostics.report("\(day.iso) is outside the period (\(starts.iso) to \(ends.iso))", at: keyNode, path: value.path); continue
                }
                guard let units = value.entries else { continue }
                var numbers: [String: Int] = [:]
                for (unit, unitKey, number) in units {
                    guard places[unit] != nil else {
                        diagnostics.report("\"\(unit)\" has no places in this period: give it under places first", at: unitKey, path: number.path); continue
                    }
                    guard let n = number.int else { continue }
                    guard (0...10_000).contains(n) else { number.report("places must be between 0 and 10000, found \(n)"); continue }
                    numbers[unit] = n
                }
                result[day] = numbers
            }
            return result
        } ?? [:]
        let isClosed = m["closed"]?.bool ?? false
        let booking = m["booking"].map { parseBooking($0, period: code) }
        guard let label, let group, let starts, let ends, let tariffCode, ends >= starts else { return nil }
        return Period(
            code: code, label: label, ageGroup: group, startsOn: starts, endsOn: ends, weekdays: weekdays,
            closedDays: closed.sorted(), units: offered, places: places, tariff: tariffCode,
            bookingOpensAt: booking?.opens, bookingClosesAt: booking?.closes,
            deadline: booking?.deadline ?? .dayBeforeNoon, cancellation: booking?.cancellation,
            dayPlaces: dayPlaces, closed: isClosed, priorityWindows: booking?.priority ?? [], previousPeriod: booking?.previousPeriod
        )
    }

    private func parseBooking(_ field: Field, period: String) -> (
        opens: LocalDateTime?, closes: LocalDateTime?, deadline: DeadlineRule?, cancellation: DeadlineRule?,
        priority: [PriorityWindow], previousPeriod: String?
    ) {
        guard let m = field.mapping(keys: ["opens_at", "closes_at", "deadline", "cancellation", "priority", "previous_period"]) else {
            return (nil, nil, nil, nil, [], nil)
        }
        let opens = m["opens_at"]?.dateTime
        let closesField = m["closes_at"]
        let closes = closesField?.dateTime
        if let opens, let closes, closes <= opens {
            closesField?.report("booking closes at \(closes) before it opens at \(opens)")
        }
        let deadline = m["deadline"].flatMap(parseDeadline)
        // Parents may cancel a confirmed reservation themselves until this deadline (a credit note is issued).
        let cancellation = m["cancellation"].flatMap(parseDeadline)
        let priority = m["priority"].map { parsePriority($0, opens: opens, period: period) } ?? []
        if m["priority"] != nil, m["opens_at"] == nil {
            diagnostics.report("priority windows open before the general opening: give opens_at, when every family may book",
                               at: field.node, path: "\(field.path).opens_at")
        }
        let previous = m["previous_period"].flatMap { f -> String? in
            f.remember(as: "previous_period:\(period)")
            return f.nonEmptyString
        }
        return (opens, closes, deadline, cancellation, priority, previous)
    }

    /// `priority:` windows, each `{ opens_at, for: [groups] }`, earlier than the general `opens_at`;
    /// a group belongs to one window. Where residents and previous_period are named is remembered for
    /// `checkPriority`, which needs the whole center.
    private func parsePriority(_ field: Field, opens: LocalDateTime?, period: String) -> [PriorityWindow] {
        guard let items = field.list else { return [] }
        let names = Set(PriorityGroup.allCases.map(\.rawValue))
        var seen = Set<PriorityGroup>()
        return items.compactMap { item -> PriorityWindow? in
            guard let w = item.mapping(keys: ["opens_at", "for"]) else { return nil }
            let at = w.required("opens_at")?.dateTime
            if let at, let opens, at >= opens {
                w["opens_at"]?.report("the priority window opens at \(at), not before the general opening at \(opens): give an earlier date and time")
            }
            let groups = w.required("for").flatMap { f -> [PriorityGroup]? in
                guard let list = f.list else { return nil }
                if list.isEmpty { f.report("name at least one group: residents, previous_period or marked") }
                return list.compactMap { n -> PriorityGroup? in
                    guard let name = n.nonEmptyString else { return nil }
                    guard let group = PriorityGroup(rawValue: name) else {
                        n.report("unknown group \"\(name)\"\(hint(name, names)): use residents, previous_period or marked"); return nil
                    }
                    guard seen.insert(group).inserted else {
                        n.report("\"\(name)\" is already given a window: a group belongs to one window"); return nil
                    }
                    n.remember(as: "priority:\(period):\(name)")
                    return group
                }
            } ?? []
            guard let at, !groups.isEmpty else { return nil }
            return PriorityWindow(opensAt: at, groups: groups)
        }
    }

    /// The checks of priority windows that need the whole center: residents declared when a window is
    /// for them; a previous period that exists and came before.
    private func checkPriority(_ periods: [Period], declaresResidents: Bool) {
        func report(_ key: String, _ message: String) {
            guard let at = diagnostics.positions[key] else { return }
            diagnostics.report(message, line: at.line, column: at.column, path: at.path)
        }
        let byCode = Dictionary(periods.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
        for period in periods {
            let groups = Set(period.priorityWindows.flatMap(\.groups))
            if groups.contains(.residents), !declaresResidents {
                report("priority:\(period.code):residents",
                       "no family is resident: declare at the top of the file which are, e.g. residents: { postcodes: [\"06650\"] }")
            }
            if let code = period.previousPeriod {
                if code == period.code {
                    report("previous_period:\(period.code)", "a period cannot be its own previous period: name an earlier period of this center")
                } else if let previous = byCode[code] {
                    if previous.endsOn >= period.startsOn {
                        report("previous_period:\(period.code)", "period \"\(code)\" ends on \(previous.endsOn.iso), not before this one starts on \(period.startsOn.iso): name a period that came before")
                    }
                } else {
                    report("previous_period:\(period.code)", "unknown period \"\(code)\"\(hint(code, Set(byCode.keys).subtracting([period.code]))): name an earlier period of this center")
                }
            } else if groups.contains(.previousPeriod),
                      !periods.contains(where: { $0.ageGroup == period.ageGroup && $0.endsOn < period.startsOn }) {
                report("priority:\(period.code):previous_period", "no period of age group \"\(period.ageGroup)\" ends before this one starts: "
                    + "name the period whose families have priority with booking.previous_period")
            }
        }
    }

    // MARK: residents

    /// `residents: { postcodes: [...], communes: [...] }`: the families the center counts as resident.
    private func parseResidents(_ field: Field) -> Residents? {
        guard let m = field.mapping(keys: ["postcodes", "communes"]) else { return nil }
        let postcodes = m["postcodes"].flatMap { f -> [String]? in
            f.list?.compactMap { item -> String? in
                guard let s = item.nonEmptyString else { return nil }
                guard s.range(of: "^[0-9]{5}$", options: .regularExpression) != nil else {
                    item.report("\"\(s)\" is not a French postcode: five digits, in quotes so that a leading 0 is kept (\"06650\")"); return nil
                }
                return s
            }
        } ?? []
        let communes = m["communes"].flatMap { $0.list?.compactMap(\.nonEmptyString) } ?? []
        if (m["postcodes"]?.list ?? []).isEmpty && (m["communes"]?.list ?? []).isEmpty {
            field.report("list the residents' postcodes or communes, e.g. residents: { postcodes: [\"06650\"] }")
        }
        return postcodes.isEmpty && communes.isEmpty ? nil : Residents(postcodes: postcodes, communes: communes)
    }

    private func parseDeadline(_ f: Field) -> DeadlineRule? {
        guard let d = f.mapping(keys: ["days_before", "at", "skip_weekends", "skip_public_holidays", "previous_weekday"]) else { return nil }
        if let weekdayField = d["previous_weekday"] {
            // "jusqu'au jeudi 12h pour la semaine suivante".
            if d["days_before"] != nil { d["days_before"]?.report("give either days_before or previous_weekday, not both") }
            guard let weekday = weekdayField.weekday else { return nil }
            return DeadlineRule(daysBefore: 0, at: d["at"]?.time ?? LocalTime(hour: 12, minute: 0)!, skipWeekends: false,
                                skipPublicHolidays: false, previousWeekday: weekday)
        }
        let days = d.required("days_before").flatMap { df -> Int? in
            guard let n = df.int else { return nil }
            guard (0...365).contains(n) else { df.report("days_before must be between 0 and 365, found \(n)"); return nil }
            return n
        }
        let at = d["at"]?.time ?? LocalTime(hour: 12, minute: 0)!
        let weekends = d["skip_weekends"]?.bool ?? false
        let holidays = d["skip_public_holidays"]?.bool ?? false
        guard let days else { return nil }
        return DeadlineRule(daysBefore: days, at: at, skipWeekends: weekends, skipPublicHolidays: holidays)
    }

    // MARK: legal mentions

    private func parseLegal(_ field: Field) -> LegalMentions? {
        guard let m = field.mapping(keys: ["name", "siret", "address", "mentions"]) else { return nil }
        let siret = m["siret"].flatMap { f -> String? in
            guard let s = f.nonEmptyString else { return nil }
            let digits = s.filter { !$0.isWhitespace }
            guard digits.count == 14, digits.allSatisfy(\.isNumber) else {
                f.report("\"\(s)\" is not a SIRET number: 14 digits"); return nil
            }
            return s
        }
        return LegalMentions(name: m["name"]?.nonEmptyString, siret: siret, address: m["address"]?.nonEmptyString, mentions: m["mentions"]?.nonEmptyString)
    }

    // MARK: payment

    private func parsePayment(_ field: Field) -> PaymentSettings? {
        guard let entries = field.entries else { return nil }
        field.remember(as: "payment")
        var parameters: [String: String] = [:]
        var fields: [String: Field] = [:]
        var typeField: Field?
        for (key, _, value) in entries {
            if key == "type" { typeField = value; continue }
            guard let text = value.string else { continue }
            if key.hasSuffix("_env") {
                // Secrets never live in the file: it names the environment variable that holds them.
                guard text.range(of: "^[A-Z_][A-Z0-9_]*$", options: .regularExpression) != nil else {
                    value.report("\"\(text)\" is not an environment variable name: secrets are never written here, name the variable that holds them (e.g. OPIO_SYSTEMPAY_TEST_KEY)")
                    continue
                }
            }
            parameters[key] = text
            fields[key] = value
        }
        guard let typeField else {
            diagnostics.report("missing required key \"type\"", at: field.node, path: "\(field.path).type")
            return nil
        }
        guard let type = typeField.nonEmptyString else { return nil }
        guard let rule = paymentRules[type] else {
            let known = paymentRules.keys.sorted()
            let h = nearest(to: type, in: known).map { " (did you mean \"\($0)\"?)" } ?? ""
            typeField.report("unknown payment provider \"\(type)\"\(h); known: \(known.joined(separator: ", "))")
            return nil
        }
        let problems = rule.validate(parameters, environment)
        var fatal = false
        for problem in problems {
            let isWarning = problem.missingSecret && !secretsRequired
            fatal = fatal || !isWarning
            let node = fields[problem.parameter]?.node ?? field.node
            let path = fields[problem.parameter]?.path ?? "\(field.path).\(problem.parameter)"
            diagnostics.report(problem.message, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1, path: path, isWarning: isWarning)
        }
        return fatal ? nil : PaymentSettings(type: type, parameters: parameters)
    }

    private func hint(_ word: String, _ candidates: Set<String>) -> String {
        nearest(to: word, in: candidates.sorted()).map { " (did you mean \"\($0)\"?)" } ?? ""
    }
}


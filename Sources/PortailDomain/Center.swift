import Foundation

/// A leisure center (ALSH) of the federation, as declared in its YAML file.
public struct Center: Sendable, Hashable, Codable {
    /// Stable code, also the development path prefix ("opio" -> /opio/).
    public var code: String
    public var name: String
    public var organisation: String
    /// Host names the portal answers to for this center.
    public var hosts: [String]
    /// IANA identifier, "Europe/Paris" by default.
    public var timeZone: String
    public var coordinates: Coordinates
    /// Prefix of invoice numbers: "OPI" gives OPI00337.
    public var invoicePrefix: String
    /// How long a cart holds its places before it expires.
    public var cartHoldMinutes: Int
    /// The waiting room in front of the booking pages while a period opens; nil: none.
    public var waitingRoom: WaitingRoomSettings? = nil
    /// How long a place freed for the waiting list is held for the family it is offered to.
    public var waitingListOfferHours: Int = Center.defaultOfferHours
    /// A day to see the mail and pay.
    public static let defaultOfferHours = 24
    public var units: [BookingUnit]
    public var ageGroups: [AgeGroup]
    public var tariffs: [Tariff]
    public var periods: [Period]
    public var payment: PaymentSettings?
    /// Legal mentions printed on invoices and receipts.
    public var legal: LegalMentions?
    /// Which families count as resident, for the `residents` priority windows.
    public var residents: Residents?
    /// What the family's file must hold before booking, and what the staff validate; nil: nothing asked.
    public var familyFile: FamilyFileRules? = nil

    public init(
        code: String, name: String, organisation: String, hosts: [String], timeZone: String,
        coordinates: Coordinates, invoicePrefix: String, cartHoldMinutes: Int, units: [BookingUnit],
        ageGroups: [AgeGroup], tariffs: [Tariff], periods: [Period], payment: PaymentSettings?, legal: LegalMentions? = nil,
        residents: Residents? = nil
    ) {
        self.legal = legal
        self.residents = residents
        self.code = code
        self.name = name
        self.organisation = organisation
        self.hosts = hosts
        self.timeZone = timeZone
        self.coordinates = coordinates
        self.invoicePrefix = invoicePrefix
        self.cartHoldMinutes = cartHoldMinutes
        self.units = units
        self.ageGroups = ageGroups
        self.tariffs = tariffs
        self.periods = periods
        self.payment = payment
    }

    public var zone: TimeZone { Calendars.zone(timeZone) ?? Calendars.zone("Europe/Paris")! }
}

/// The block the seed titles "COORDONNÉES".
public struct Coordinates: Sendable, Hashable, Codable {
    public var name: String
    public var addressLines: [String]
    public var postcode: String
    public var city: String
    public var phone: String
    public var email: String
    public var officeHours: [OfficeHours]
    public var portalURL: String

    public init(name: String, addressLines: [String], postcode: String, city: String, phone: String,
                email: String, officeHours: [OfficeHours], portalURL: String) {
        self.name = name
        self.addressLines = addressLines
        self.postcode = postcode
        self.city = city
        self.phone = phone
        self.email = email
        self.officeHours = officeHours
        self.portalURL = portalURL
    }
}

/// Opening hours of the office on one weekday ("permanence").
public struct OfficeHours: Sendable, Hashable, Codable {
    public var weekday: Weekday
    public var slots: [TimeSlot]

    public init(weekday: Weekday, slots: [TimeSlot]) {
        self.weekday = weekday
        self.slots = slots
    }

    /// "lundi: 14h00 à 16h00"
    public var french: String {
        "\(weekday.rawValue): " + slots.map { "\($0.start.french) à \($0.end.french)" }.joined(separator: ", ")
    }
}

public struct TimeSlot: Sendable, Hashable, Codable {
    public var start: LocalTime
    public var end: LocalTime
    public init(start: LocalTime, end: LocalTime) {
        self.start = start
        self.end = end
    }
}

/// A unit a parent books on a day (journée, matin, repas ...) and the capacity units it uses.
public struct BookingUnit: Sendable, Hashable, Codable {
    public var code: String
    public var label: String
    /// Capacity units whose places one booking of this unit takes; a unit that names none uses its own.
    public var consumes: [String]

    public init(code: String, label: String, consumes: [String]) {
        self.code = code
        self.label = label
        self.consumes = consumes
    }

    public var capacityUnits: [String] { consumes.isEmpty ? [code] : consumes }
}

/// An age group such as "maternelle 3-6 ans".
public struct AgeGroup: Sendable, Hashable, Codable {
    public var code: String
    public var label: String
    public var minAge: Int
    public var maxAge: Int

    public init(code: String, label: String, minAge: Int, maxAge: Int) {
        self.code = code
        self.label = label
        self.minAge = minAge
        self.maxAge = maxAge
    }
}

/// Which provider takes a center's online payments; secrets are names of environment variables.
public struct PaymentSettings: Sendable, Hashable, Codable {
    /// Provider type, the key of the provider registry ("systempay", "simulator").
    public var type: String
    /// Provider parameters as written in the YAML (strings), validated by the provider.
    public var parameters: [String: String]

    public init(type: String, parameters: [String: String]) {
        self.type = type
        self.parameters = parameters
    }
}

/// The families a center counts as resident: an address with one of these postcodes, or in one of
/// these communes (for a postcode shared with neighbouring communes).
public struct Residents: Sendable, Hashable, Codable {
    public var postcodes: [String]
    public var communes: [String]

    public init(postcodes: [String], communes: [String]) {
        self.postcodes = postcodes
        self.communes = communes
    }

    public func includes(postcode: String, city: String) -> Bool {
        let postcode = postcode.trimmingCharacters(in: .whitespaces)
        let city = Self.comparable(city)
        return postcodes.contains(postcode) || (!city.isEmpty && communes.contains { Self.comparable($0) == city })
    }

    /// "Saint-Paul-de-Vence", "ST PAUL DE VENCE " and "saint paul de vence" name one commune.
    static func comparable(_ name: String) -> String {
        let words = name.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: Locale(identifier: "fr_FR"))
            .lowercased()
            .split { !$0.isLetter && !$0.isNumber }
            .map { $0 == "st" ? "saint" : $0 == "ste" ? "sainte" : String($0) }
        return words.joined(separator: " ")
    }
}

/// What invoices must say of the organisation that issues them.
public struct LegalMentions: Sendable, Hashable, Codable {
    /// The legal name ("Association IFAC").
    public var name: String?
    public var siret: String?
    /// The registered office, when it differs from the center.
    public var address: String?
    /// Free text: "Association loi 1901, non assujettie à la TVA (art. 261-7-1° du CGI)".
    public var mentions: String?

    public init(name: String?, siret: String?, address: String?, mentions: String?) {
        self.name = name
        self.siret = siret
        self.address = address
        self.mentions = mentions
    }
}

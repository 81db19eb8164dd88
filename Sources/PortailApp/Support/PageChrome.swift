import Foundation
import PortailDomain
import PortailStore

/// What every page of a center shows around its content: the banner, the navigation, the CSRF token.
struct PageChrome: Encodable {
    let base: String
    let centerName: String
    let centerTitle: String
    let footer: String
    let csrf: String
    let loggedIn: Bool
    /// The menu entry of the current page (aria-current), by its section of the portal.
    let onAccount: Bool
    let onCart: Bool
    let onLedger: Bool
    let onFile: Bool
    /// The person may switch to another family (here or at another center).
    let severalFamilies: Bool
    let onFamilies: Bool

    init(_ context: AppRequestContext) {
        let center = context.center!.center
        base = context.basePath
        centerName = center.name
        centerTitle = center.name.uppercased()
        footer = [center.organisation, center.coordinates.name].filter { !$0.isEmpty }.joined(separator: " – ")
        csrf = context.session?.csrfToken ?? ""
        loggedIn = context.session?.familyID != nil
        let path = context.path.hasPrefix(context.basePath) ? String(context.path.dropFirst(context.basePath.count)) : context.path
        onAccount = path.hasPrefix("/compte") || path.hasPrefix("/reservations") || path.hasPrefix("/agenda")
        onCart = path.hasPrefix("/panier")
        onLedger = path.hasPrefix("/factures") || path.hasPrefix("/paiements")
        onFile = path.hasPrefix("/dossier")
        severalFamilies = context.session?.severalFamilies ?? false
        onFamilies = path.hasPrefix("/familles")
    }
}

/// The "COORDONNÉES" block, as the seed lays it out.
struct CoordinatesBlock: Encodable {
    let name: String
    let addressLines: [String]
    let postcode: String
    let city: String
    let phone: String
    let phoneLink: String
    let email: String
    let officeHours: [String]
    let hasOfficeHours: Bool
    let portalURL: String

    init(_ c: Coordinates) {
        name = c.name
        addressLines = c.addressLines
        postcode = c.postcode
        city = c.city
        phone = c.phone
        phoneLink = c.phone.filter { $0.isNumber || $0 == "+" }
        email = c.email
        officeHours = c.officeHours.map(\.french)
        hasOfficeHours = !officeHours.isEmpty
        portalURL = c.portalURL
    }
}

/// French renderings shared by the pages.
enum French {
    static func dateTime(_ date: Date, in zone: TimeZone) -> String {
        let day = LocalDate(date, in: zone)
        return "\(day.french) à \(time(date, in: zone))"
    }

    static func time(_ date: Date, in zone: TimeZone) -> String {
        let c = Calendars.gregorian(in: zone).dateComponents([.hour, .minute], from: date)
        return Digits.pad(c.hour ?? 0, 2) + ":" + Digits.pad(c.minute ?? 0, 2)
    }

    static let weekdayShort = ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."]
    static let weekdayNames = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]

    /// "lundi"
    static func weekdayLong(_ day: LocalDate) -> String { weekdayNames[day.weekday.index] }

    /// "lun. 21/12"
    static func shortDay(_ day: LocalDate) -> String { "\(weekdayShort[day.weekday.index]) \(day.frenchDayMonth)" }

    /// A reservation state as an icon (a symbol of the layout's sprite) and words (never colour alone).
    static func state(_ state: String) -> (icon: String, words: String, css: String) {
        switch state {
        case "pending_payment": ("wait", "en attente de paiement", "pending")
        case "confirmed": ("ok", "confirmée", "confirmed")
        case "expired": ("wait", "expirée", "expired")
        case "cancelled": ("no", "annulée", "cancelled")
        default: ("open", state, "")
        }
    }

    /// "1er", "2e", "3e": a place in a waiting line.
    static func rank(_ n: Int) -> String { n == 1 ? "1er" : "\(n)e" }

    /// "00004": reservation numbers on five digits.
    static func number(_ n: Int) -> String { Digits.pad(n, 5) }
}

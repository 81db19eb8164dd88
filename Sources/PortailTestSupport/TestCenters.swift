import Foundation
import PortailDomain

/// Center files for tests, with dates relative to today so that the suite passes on any day.
public enum TestCenters {
    /// A center whose only period starts in ten days, with `places` places a day, open for booking now
    /// (or from `opensAt`, "2026-12-01T08:00" in Europe/Paris); `extra` is appended as more top-level keys.
    public static func small(code: String = "petit", places: Int, hold: Int = 30, payment: String = "", opensAt: String? = nil, extra: String = "") -> String {
        let zone = TimeZone(identifier: "Europe/Paris")!
        let today = LocalDate(Date(), in: zone)
        let start = today.adding(days: 10), end = today.adding(days: 30)
        return """
        code: \(code)
        name: Centre \(code)
        hosts: [\(code).example.org]
        coordinates:
          name: Centre \(code)
          address: [1 place du Village]
          postcode: "06000"
          city: Nice
          phone: 04 00 00 00 00
          email: petit@example.org
          portal_url: https://petit.example.org
        invoice_prefix: \(code.prefix(3).uppercased())
        cart_hold_minutes: \(hold)
        units:
          - code: journee
            label: Journée
            consumes: [matin, apres-midi]
          - code: matin
            label: Matin
          - code: apres-midi
            label: Après-midi
        age_groups:
          - code: enfants
            label: 3-11 ans
            min_age: 3
            max_age: 11
        tariffs:
          - code: base
            model: siblings
            prices: { journee: ["10.00", "8.00"], matin: ["6.00", "5.00"], apres-midi: ["6.00", "5.00"] }
        periods:
          - code: vacances
            label: Vacances
            age_group: enfants
            starts_on: \(start.iso)
            ends_on: \(end.iso)
            weekdays: [lundi, mardi, mercredi, jeudi, vendredi, samedi, dimanche]
            units: [journee, matin, apres-midi]
            places: { matin: \(places), apres-midi: \(places) }
            tariff: base
            booking:\(opensAt.map { "\n      opens_at: \"\($0)\"" } ?? "")
              deadline: { days_before: 1, at: "12:00" }
              cancellation: { days_before: 2, at: "12:00" }
        \(payment)
        \(extra)
        """
    }
}

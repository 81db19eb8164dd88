import Foundation
import Hummingbird
import PaymentKit
import PortailConfig
import PortailDomain
import PortailStore

/// The portal's routes and what they need; each page folder adds its own in an extension.
struct PortailRoutes: Sendable {
    let templates: Templates
    let database: Database
    let directory: CenterDirectory
    let developmentPages: Bool
    /// The payment provider of a center, nil when it takes no online payment.
    let paymentProvider: @Sendable (Center) -> (any PaymentProvider)?
    /// How providers reach their banks (a fake bank's local port in tests).
    var paymentHTTP: any ProviderHTTPClient = LiveProviderHTTPClient()
    /// How posted center files check their payment blocks (the provider registry's rules).
    let paymentRules: [PaymentTypeRule]
    let health: HealthCheck
    /// Where absolute links point (never the request's Host).
    var publicAddress = PublicAddress(useListener: false)
    /// The waiting room's clock.
    var clock: @Sendable () -> Date = { Date() }

    var sessionCookies: SessionCookies { SessionCookies(publicAddress: publicAddress) }

    func add(to router: Router<AppRequestContext>) {
        router.get("/healthz") { _, _ in try await health.publicResponse() }
        router.get("/static/portail.js") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "public, max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: templates.script))
            )
        }
        router.get("/static/portail.css") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: templates.stylesheet))
            )
        }
        addHomeRoutes(to: router)
        addAccountRoutes(to: router)
        addBookingRoutes(to: router)
        addCartRoutes(to: router)
        addWaitingRoomRoutes(to: router)
        addCancellationRoutes(to: router)
        addPasswordRoutes(to: router)
        addFamiliesRoutes(to: router)
        addPaymentRoutes(to: router)
        addLedgerRoutes(to: router)
        addCalendarRoutes(to: router)
        addFamilyFileRoutes(to: router)
        addSignUpRoutes(to: router)
        addAPIRoutes(to: router)
        addCenterStaffRoutes(to: router)
        addStaffAccountRoutes(to: router)
        addFamilyRoutes(to: router)
        addFamilyMemberRoutes(to: router)
        addPeriodRoutes(to: router)
        addReservationRoutes(to: router)
        addWaitingListRoutes(to: router)
        addFamilyFileAPIRoutes(to: router)
        addMoneyAPIRoutes(to: router)
        addExportRoutes(to: router)
        addAdminSignInRoutes(to: router)
        addAdminDashboardRoutes(to: router)
        addAdminFamilyRoutes(to: router)
        addAdminRegisterRoutes(to: router)
        addAdminPeriodRoutes(to: router)
        addAdminTariffRoutes(to: router)
        addAdminReservationRoutes(to: router)
        addAdminOfficeBookingRoutes(to: router)
        addAdminFamilyFileRoutes(to: router)
        addAdminFamilyMemberRoutes(to: router)
        addAdminFamilyFileReviewRoutes(to: router)
        addAdminMoneyRoutes(to: router)
        addAdminTeamRoutes(to: router)
        addAdminFederationRoutes(to: router)
        addAdminJournalRoutes(to: router)
    }

    static let globalPaths: Set<String> = ["/healthz", "/admin"]
    static let globalPrefixes = ["/static/", "/api/", "/admin/"]
}

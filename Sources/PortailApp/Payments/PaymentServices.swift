import Foundation
import PaymentKit
import PortailStore
import Synchronization

/// A provider's references, kept per center and provider in `payment_provider_references`.
struct DatabaseProviderReferences: ProviderReferences {
    let repository: ProviderReferenceRepository

    func value(for key: String) async throws -> String? { try await repository.value(for: key) }
    func set(_ value: String, for key: String) async throws { try await repository.set(value, for: key) }
    func next(_ counter: String) async throws -> Int { try await repository.next(counter) }
}

extension ProviderServices {
    /// What a center's provider is lent for one call: the HTTP client and its own references.
    static func portal(
        database: Database, center: CenterRecord, provider: any PaymentProvider, http: any ProviderHTTPClient,
        now: @escaping @Sendable () -> Date
    ) -> ProviderServices {
        ProviderServices(
            http: http,
            references: DatabaseProviderReferences(repository: ProviderReferenceRepository(
                database: database, center: center.id, provider: provider.displayName.lowercased()
            )),
            now: now,
            gate: ProviderGates.shared.gate(center: center.id, provider: provider.displayName)
        )
    }
}

/// One call gate per center and provider for the whole process, so that every request of a center shares it.
final class ProviderGates: Sendable {
    static let shared = ProviderGates()
    private let gates = Mutex<[String: CallGate]>([:])

    func gate(center: Int64, provider: String) -> CallGate {
        gates.withLock { gates in
            let key = "\(center)|\(provider)"
            if let gate = gates[key] { return gate }
            let gate = CallGate()
            gates[key] = gate
            return gate
        }
    }
}

extension PortailRoutes {
    func providerServices(_ record: CenterRecord, _ provider: any PaymentProvider) -> ProviderServices {
        .portal(database: database, center: record, provider: provider, http: paymentHTTP, now: clock)
    }
}

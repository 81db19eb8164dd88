import Foundation
import PortailConfig
import PortailStore
import Synchronization

/// The centers being served, by host and by code, and the center files that failed to load.
/// Read on every request, replaced as a whole when centers are (re)loaded.
public final class CenterDirectory: Sendable {
    public struct Snapshot: Sendable {
        public var centers: [CenterRecord] = []
        public var failures: [CenterCatalog.Failed] = []
        /// `CenterRepository.version` when the centers were read.
        public var version = ""
        /// Centers suspended by the federation: not served, but their bank's notifications are still
        /// taken (money taken while a center is suspended is recorded, never left waiting at the bank).
        public var suspended: [CenterRecord] = []
        var byHost: [String: CenterRecord] = [:]
        var byCode: [String: CenterRecord] = [:]
        var suspendedByHost: [String: CenterRecord] = [:]
        var suspendedByCode: [String: CenterRecord] = [:]

        public init(centers: [CenterRecord], suspended: [CenterRecord] = [], failures: [CenterCatalog.Failed], version: String = "") {
            self.centers = centers
            self.suspended = suspended
            self.failures = failures
            self.version = version
            for record in centers {
                byCode[record.center.code] = record
                for host in record.center.hosts { byHost[host] = record }
            }
            for record in suspended {
                suspendedByCode[record.center.code] = record
                for host in record.center.hosts { suspendedByHost[host] = record }
            }
        }

        /// Active centers, and suspended ones too.
        public init(records: [CenterRecord], failures: [CenterCatalog.Failed], version: String = "") {
            self.init(centers: records.filter { $0.state == "active" }, suspended: records.filter { $0.state != "active" },
                      failures: failures, version: version)
        }
    }

    private let state: Mutex<Snapshot>

    public init(_ snapshot: Snapshot = Snapshot(centers: [], failures: [])) {
        state = Mutex(snapshot)
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    public func replace(with snapshot: Snapshot) { state.withLock { $0 = snapshot } }

    /// The center answering to a Host header value (port and trailing dot ignored, case-insensitive);
    /// a suspended one only when `suspended` is true.
    public func center(forHost header: String, suspended: Bool = false) -> CenterRecord? {
        var host = header.lowercased()
        if host.hasPrefix("[") {
            host = String(host.prefix { $0 != "]" }) + "]"
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        if host.hasSuffix(".") { host.removeLast() }
        return state.withLock { $0.byHost[host] ?? (suspended ? $0.suspendedByHost[host] : nil) }
    }

    public func center(forCode code: String, suspended: Bool = false) -> CenterRecord? {
        state.withLock { $0.byCode[code] ?? (suspended ? $0.suspendedByCode[code] : nil) }
    }
}

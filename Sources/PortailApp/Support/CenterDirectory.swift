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
        var byHost: [String: CenterRecord] = [:]
        var byCode: [String: CenterRecord] = [:]

        public init(centers: [CenterRecord], failures: [CenterCatalog.Failed], version: String = "") {
            self.centers = centers
            self.failures = failures
            self.version = version
            for record in centers {
                byCode[record.center.code] = record
                for host in record.center.hosts { byHost[host] = record }
            }
        }
    }

    private let state: Mutex<Snapshot>

    public init(_ snapshot: Snapshot = Snapshot(centers: [], failures: [])) {
        state = Mutex(snapshot)
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    public func replace(with snapshot: Snapshot) { state.withLock { $0 = snapshot } }

    /// The center answering to a Host header value (port and trailing dot ignored, case-insensitive).
    public func center(forHost header: String) -> CenterRecord? {
        var host = header.lowercased()
        if host.hasPrefix("[") {
            host = String(host.prefix { $0 != "]" }) + "]"
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        if host.hasSuffix(".") { host.removeLast() }
        return state.withLock { $0.byHost[host] }
    }

    public func center(forCode code: String) -> CenterRecord? {
        state.withLock { $0.byCode[code] }
    }
}

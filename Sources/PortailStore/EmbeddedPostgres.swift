import Foundation
import Logging
import Synchronization

/// A private PostgreSQL cluster under a folder of ours (`.portail/` by default): initdb on first use,
/// pg_ctl to start and stop, a unix socket inside the folder and no TCP port. PostgreSQL refuses to run
/// as root, so as root the cluster belongs to the `postgres` system user.
public final class EmbeddedPostgres: Sendable {
    public let directory: String
    let logger: Logger
    /// The postmaster this process started, if it did: `stop()` stops only that one, so that a second
    /// `portail` sharing the folder (or one started after us) does not lose its database.
    private let startedPID = Mutex<String?>(nil)

    public init(directory: String, logger: Logger = Logger(label: "portail.embedded-postgres")) {
        self.directory = (directory as NSString).standardizingPath.hasPrefix("/")
            ? (directory as NSString).standardizingPath
            : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(directory)
        self.logger = logger
    }

    public var dataDirectory: String { directory + "/pgdata" }
    /// The socket lives in a short folder so that its path stays under the 107-byte limit of unix sockets.
    public var socketDirectory: String { directory + "/run" }
    public var socketPath: String { socketDirectory + "/.s.PGSQL.5432" }

    /// The roles the launcher creates: the owner runs migrations and imports, the web role serves.
    public static let ownerRole = "portail_owner"
    public static let webRole = "portail_web"

    public enum LaunchError: Error, CustomStringConvertible {
        case serverNotInstalled
        case commandFailed(String, Int32, String)
        case socketPathTooLong(String)

        public var description: String {
            switch self {
            case .serverNotInstalled:
                "PostgreSQL server programs (initdb, pg_ctl) were not found on PATH or under /usr/lib/postgresql/*/bin. "
                    + "Install them with: apt-get install -y postgresql  (or set DATABASE_URL to use an existing server)"
            case .commandFailed(let command, let status, let output):
                "\(command) failed with status \(status):\n\(output)"
            case .socketPathTooLong(let path):
                "the socket path \(path) is longer than unix sockets allow (107 bytes): use a shorter folder with --data-dir"
            }
        }
    }

    /// Starts the cluster (creating it on first use) and makes sure the database and roles exist.
    public func start(database: String = "portail") throws {
        let bin = try Self.serverBinDirectory()
        guard socketPath.utf8.count <= 107 else { throw LaunchError.socketPathTooLong(socketPath) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        if Self.isRoot {
            try Self.makeReachable(directory)
            try run("/bin/chown", ["-R", "postgres:postgres", directory], asPostgres: false)
        }
        if !fm.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            logger.info("creating a PostgreSQL cluster in \(dataDirectory)")
            try? fm.removeItem(atPath: dataDirectory)
            try run(bin + "/initdb", ["-D", dataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"])
            let settings = """

            # Portail Famille embedded cluster: unix socket only, no TCP port.
            listen_addresses = ''
            unix_socket_directories = '\(socketDirectory)'
            max_connections = 200
            fsync = on

            """
            let conf = dataDirectory + "/postgresql.conf"
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: conf))
            handle.seekToEndOfFile()
            handle.write(Data(settings.utf8))
            try handle.close()
        }
        if !isRunning(bin: bin) {
            try run(bin + "/pg_ctl", ["-D", dataDirectory, "-l", directory + "/postgres.log", "-w", "-t", "60", "start"])
            let pid = postmasterPID()
            startedPID.withLock { $0 = pid }
        } else {
            logger.info("using the PostgreSQL server already running in \(dataDirectory)")
        }
        try bootstrap(bin: bin, database: database)
    }

    /// Stops the cluster (fast shutdown: open transactions are rolled back).
    public func stop() {
        guard let pid = startedPID.withLock({ $0 }), pid == postmasterPID(), let bin = try? Self.serverBinDirectory() else { return }
        _ = try? run(bin + "/pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"])
    }

    /// The first line of postmaster.pid: the running server's process id.
    func postmasterPID() -> String? {
        (try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8))?.split(separator: "\n").first.map(String.init)
    }

    /// Stops a server of this folder whoever started it (a crashed run's leftover).
    public func stopAnyway() {
        guard let bin = try? Self.serverBinDirectory() else { return }
        _ = try? run(bin + "/pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"])
    }

    func isRunning(bin: String) -> Bool {
        (try? run(bin + "/pg_ctl", ["-D", dataDirectory, "status"])) != nil
    }

    /// Creates the roles and the database when missing, as the cluster's superuser.
    func bootstrap(bin: String, database: String) throws {
        try psql(bin: bin, database: "postgres", """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '\(Self.ownerRole)') THEN
            CREATE ROLE \(Self.ownerRole) LOGIN CREATEDB CREATEROLE;
          END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'portail_app') THEN
            CREATE ROLE portail_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
          END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '\(Self.webRole)') THEN
            CREATE ROLE \(Self.webRole) LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE portail_app;
          END IF;
        END $$;
        """)
        let exists = try psql(bin: bin, database: "postgres", "SELECT 1 FROM pg_database WHERE datname = '\(database)'")
        if exists.trimmingCharacters(in: .whitespacesAndNewlines) != "1" {
            try psql(bin: bin, database: "postgres", "CREATE DATABASE \"\(database)\" OWNER \(Self.ownerRole)")
        }
    }

    /// Runs SQL as the cluster's superuser (tests create their databases with it).
    @discardableResult
    public func execute(_ sql: String, database: String = "postgres") throws -> String {
        try psql(bin: try Self.serverBinDirectory(), database: database, sql)
    }

    @discardableResult
    func psql(bin: String, database: String, _ sql: String) throws -> String {
        let client = FileManager.default.isExecutableFile(atPath: bin + "/psql") ? bin + "/psql" : "psql"
        return try run(client, ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-U", "postgres", "-d", database, "-c", sql])
    }

    /// Connection settings for a role of this cluster.
    public func settings(database: String = "portail") -> DatabaseSettings {
        DatabaseSettings(
            owner: .init(unixSocketPath: socketPath, username: Self.ownerRole, password: nil, database: database),
            app: .init(unixSocketPath: socketPath, username: Self.webRole, password: nil, database: database),
            description: "embedded PostgreSQL in \(directory)"
        )
    }

    // MARK: processes

    static var isRoot: Bool { geteuid() == 0 }

    /// Runs a program (as the postgres user when we are root) and returns its output; throws on failure.
    @discardableResult
    func run(_ program: String, _ arguments: [String], asPostgres: Bool = true) throws -> String {
        let argv: [String]
        if Self.isRoot && asPostgres {
            // From "/", since the postgres user may not be allowed into our working directory.
            argv = ["/usr/sbin/runuser", "-u", "postgres", "--", "/bin/sh", "-c", "cd / && exec \"$0\" \"$@\"", program] + arguments
        } else {
            argv = program.hasPrefix("/") ? [program] + arguments : ["/usr/bin/env", program] + arguments
        }
        let (status, output) = try ChildProcess.run(argv)
        guard status == 0 else {
            throw LaunchError.commandFailed(([program] + arguments).joined(separator: " "), status, output)
        }
        return output
    }

    /// Lets the postgres user traverse the folders above ours (it needs execute permission on each).
    static func makeReachable(_ path: String) throws {
        var current = (path as NSString).deletingLastPathComponent
        while current != "/" && !current.isEmpty {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: current),
               let mode = attributes[.posixPermissions] as? Int, mode & 0o001 == 0 {
                try FileManager.default.setAttributes([.posixPermissions: mode | 0o001], ofItemAtPath: current)
            }
            current = (current as NSString).deletingLastPathComponent
        }
    }

    /// The folder holding initdb and pg_ctl: on PATH, or the newest /usr/lib/postgresql/N/bin.
    public static func serverBinDirectory() throws -> String {
        let fm = FileManager.default
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) where fm.isExecutableFile(atPath: dir + "/initdb") && fm.isExecutableFile(atPath: dir + "/pg_ctl") {
            // Follow symlinks so that the matching psql of the same version is found beside them.
            let real = (try? fm.destinationOfSymbolicLink(atPath: dir + "/initdb")).map { ($0 as NSString).deletingLastPathComponent } ?? dir
            return real.hasPrefix("/") ? real : dir
        }
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() {
            let dir = "/usr/lib/postgresql/\(version)/bin"
            if fm.isExecutableFile(atPath: dir + "/initdb") && fm.isExecutableFile(atPath: dir + "/pg_ctl") { return dir }
        }
        throw LaunchError.serverNotInstalled
    }
}

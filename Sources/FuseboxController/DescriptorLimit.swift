#if canImport(Glibc)
import Glibc
#endif

/// How many files and sockets this process may have open. Every Modbus TCP
/// charger holds a socket, and a Debian box starts a process with a soft limit
/// of 1024: a site of a thousand chargers needs more, so the controller raises
/// its soft limit to the hard one (systemd's LimitNOFILE=, deploy/fusebox.service).
public enum DescriptorLimit {
    /// Descriptors the controller needs beside its chargers' connections:
    /// the history database, the web server's clients, pipes, serial lines.
    public static let reserve = 256

    /// Raises the soft limit to the hard limit and returns it.
    @discardableResult
    public static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)   // RLIM_INFINITY is the largest value: Int.max
    }
}

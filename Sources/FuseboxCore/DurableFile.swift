import Foundation

/// A file replaced so that a crash or a power cut at any moment leaves either
/// the old contents or the new, never a mix: written beside it, flushed to the
/// disk, renamed over it, and the folder flushed so the rename itself lasts.
public enum DurableFile {
    public struct Failed: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Writes `data` to `path`; a file there keeps its permissions (a site.yaml
    /// may hold password hashes), a new one is readable by its owner and group only.
    public static func write(_ data: Data, to path: String) throws(Failed) {
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let temporary = folder + "/." + (path as NSString).lastPathComponent + ".\(getpid()).new"
        var status = stat()
        let mode = stat(path, &status) == 0 ? status.st_mode & 0o7777 : 0o640
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failed("cannot write \(temporary)") }
        let written = data.withUnsafeBytes { bytes -> Bool in
            guard let base = bytes.baseAddress else { return true }   // nothing to write
            var at = 0
            while at < bytes.count {
                let n = Foundation.write(fd, base + at, bytes.count - at)
                if n < 0 { if errno == EINTR { continue } else { return false } }
                at += n
            }
            return true
        }
        let synced = written && fsync(fd) == 0
        close(fd)
        guard synced else { unlink(temporary); throw failed("cannot write \(temporary)") }
        guard rename(temporary, path) == 0 else { unlink(temporary); throw failed("cannot replace \(path)") }
        let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 { fsync(dir); close(dir) }
    }

    private static func failed(_ what: String) -> Failed { Failed(description: "\(what): \(String(cString: strerror(errno)))") }
}

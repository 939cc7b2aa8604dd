import Foundation

/// What a command writes for a person or a pipe. A report (CSV, JSON) that
/// cannot be written, to a full disk or a closed descriptor, is an error the
/// command names and exits 1 for; Foundation's `FileHandle.write(_:)` would
/// stop the process with a trap instead.
public enum StandardOutput {
    public static func write(_ text: String) throws {
        try write(Data(text.utf8))
    }

    public static func write(_ data: Data) throws {
        do {
            try FileHandle.standardOutput.write(contentsOf: data)
        } catch {
            throw Failure(message: "cannot write to standard output: \(reason(error))")
        }
    }

    private static func reason(_ error: any Error) -> String {
        let code = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.code ?? (error as NSError).code
        switch Int32(clamping: code) {
        case ENOSPC: return "the disk is full"
        case EBADF: return "it is closed"
        case EPIPE: return "the reader went away"
        case EIO: return "an I/O error"
        default: return error.localizedDescription
        }
    }
}

/// One line to standard output, at once (a test may be reading it live). The
/// controller's console is for people: when nobody can read it any more (a
/// closed pipe, a full disk), the line is dropped and the controller goes on.
public func say(_ line: String) {
    try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
}

/// An error the user can act on: printed as "fusebox: message", exit status 1.
public struct Failure: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}

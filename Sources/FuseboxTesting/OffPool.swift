import Foundation

/// Runs blocking work (a socket's poll, a child process's exit) on a thread of
/// its own and awaits it: the cooperative thread pool (two threads here) is
/// what in-process servers and other tests' tasks need, and a test that blocks
/// it starves them.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

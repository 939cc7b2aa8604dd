import Foundation
import Synchronization

/// One device's calls as the cycle makes them: each waited for until a
/// deadline and no longer. A device that has not answered by then counts as
/// not answering for this cycle while its call runs on to its end on the
/// device's own queue; until it has ended, the device is given no new call, so
/// calls never pile up behind a slow device and one device cannot hold the
/// cycle (docs/design.md, "The cycle never waits on one device").
final class DeviceGate: Sendable {
    enum Outcome<T: Sendable>: Sendable {
        case answered(T)
        /// The deadline passed first; the call goes on without a waiter.
        case late
        /// The call of an earlier cycle still runs.
        case busy
    }

    private let running = Atomic<Bool>(false)

    /// Runs `work` (on `executor`, the device's queue) and waits for it at most `seconds`.
    func call<T: Sendable>(within seconds: Double, on executor: (any TaskExecutor)?,
                           _ work: @escaping @Sendable () async -> T) async -> Outcome<T> {
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return .busy
        }
        // No deadline (simulated time, where a cycle has no wall-clock period): wait.
        guard seconds.isFinite else {
            let result = await Task(executorPreference: executor) { await work() }.value
            running.store(false, ordering: .releasing)
            return .answered(result)
        }
        let race = Race<Outcome<T>>()
        return await withCheckedContinuation { continuation in
            race.wait(continuation)
            let timer = Task {
                do {
                    try await Task.sleep(for: .seconds(seconds))
                    race.finish(.late)
                } catch {}   // cancelled: the call answered in time
            }
            Task(executorPreference: executor) {
                let result = await work()
                self.running.store(false, ordering: .releasing)
                timer.cancel()
                race.finish(.answered(result))
            }
        }
    }
}

/// The first of two finishers resumes the waiter; the second finds it gone.
private final class Race<T: Sendable>: Sendable {
    private let waiter = Mutex<CheckedContinuation<T, Never>?>(nil)

    func wait(_ continuation: CheckedContinuation<T, Never>) {
        waiter.withLock { $0 = continuation }
    }

    func finish(_ value: T) {
        let continuation = waiter.withLock { w -> CheckedContinuation<T, Never>? in
            defer { w = nil }
            return w
        }
        continuation?.resume(returning: value)
    }
}

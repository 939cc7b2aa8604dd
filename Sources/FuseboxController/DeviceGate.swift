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

    /// One call for one device: its gate, where it runs (the device's queue), and what it does.
    struct Call<T: Sendable>: Sendable {
        var gate: DeviceGate
        var executor: (any TaskExecutor)?
        var work: @Sendable () async -> T
    }

    private let running = Atomic<Bool>(false)

    /// Starts every call at once, each on its own executor, and waits for them
    /// until `seconds` have passed (for ever when infinite: simulated time).
    /// One timer for all of them: a cycle of 100 chargers makes 100 calls.
    static func callAll<T: Sendable>(_ calls: [Call<T>], within seconds: Double) async -> [Outcome<T>] {
        let batch = Batch<T>(count: calls.count)
        return await withCheckedContinuation { continuation in
            batch.wait(continuation)
            for (i, call) in calls.enumerated() {
                guard call.gate.running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
                    batch.finish(i, .busy)
                    continue
                }
                Task(executorPreference: call.executor) {
                    let result = await call.work()
                    call.gate.running.store(false, ordering: .releasing)
                    batch.finish(i, .answered(result))
                }
            }
            if seconds.isFinite {
                let timer = Task {
                    do {
                        try await Task.sleep(for: .seconds(seconds))
                        batch.expire()
                    } catch {}   // cancelled: every call answered in time
                }
                batch.onDone { timer.cancel() }
            }
        }
    }
}

/// The outcomes of one `callAll`, and its waiter: resumed once, when the last
/// call has answered or the deadline has passed, whichever comes first.
private final class Batch<T: Sendable>: Sendable {
    private struct State {
        var outcomes: [DeviceGate.Outcome<T>?]
        var left: Int
        var waiter: CheckedContinuation<[DeviceGate.Outcome<T>], Never>?
        var done = false
        var whenDone: (@Sendable () -> Void)?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(outcomes: Array(repeating: nil, count: count), left: count))
    }

    func wait(_ continuation: CheckedContinuation<[DeviceGate.Outcome<T>], Never>) {
        let ready = state.withLock { s -> [DeviceGate.Outcome<T>]? in
            guard s.left == 0 else { s.waiter = continuation; return nil }
            s.done = true
            return s.outcomes.map { $0 ?? .late }
        }
        if let ready { continuation.resume(returning: ready) }
    }

    /// Runs `body` once the batch is done (now, if it is already).
    func onDone(_ body: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.done { return true }
            s.whenDone = body
            return false
        }
        if now { body() }
    }

    func finish(_ i: Int, _ outcome: DeviceGate.Outcome<T>) {
        settle { s in
            guard s.outcomes[i] == nil else { return }
            s.outcomes[i] = outcome
            s.left -= 1
        }
    }

    /// The deadline: every call not answered yet is late.
    func expire() {
        settle { s in
            for i in s.outcomes.indices where s.outcomes[i] == nil { s.outcomes[i] = .late }
            s.left = 0
        }
    }

    /// Applies `change`; when it leaves nothing to wait for, resumes the waiter once.
    private func settle(_ change: (inout State) -> Void) {
        let resume = state.withLock { s -> (CheckedContinuation<[DeviceGate.Outcome<T>], Never>, [DeviceGate.Outcome<T>], (@Sendable () -> Void)?)? in
            guard !s.done else { return nil }
            change(&s)
            guard s.left == 0, let waiter = s.waiter else { return nil }
            s.done = true
            s.waiter = nil
            return (waiter, s.outcomes.map { $0 ?? .late }, s.whenDone)
        }
        if let (waiter, outcomes, whenDone) = resume {
            whenDone?()
            waiter.resume(returning: outcomes)
        }
    }
}

/// The ripple mode from its inputs: each contact debounced, the most restrictive
/// active one wins, and a mode set through the API (the "cloud REST" signal,
/// with a time to live) counts as one more input. An API call can therefore add
/// a restriction but never lift one a contact holds.
public struct RippleSignal: Sendable {
    public struct Contact: Sendable, Equatable {
        /// true when the signal is on while the contact is closed.
        public var activeWhenClosed: Bool
        public var mode: RippleMode
        public var debounce: Double

        public init(activeWhenClosed: Bool = true, mode: RippleMode = .locked, debounce: Double = 1) {
            self.activeWhenClosed = activeWhenClosed
            self.mode = mode
            self.debounce = debounce
        }
    }

    struct State: Sendable {
        var stable: Bool?          // debounced: is the signal on?
        var candidate: Bool?
        var since: Double = 0
    }

    public let contacts: [Contact]
    private var states: [State]
    /// The API's mode and until when, whether or not that has passed.
    public private(set) var remote: (mode: RippleMode, until: Double)?

    public init(contacts: [Contact]) {
        self.contacts = contacts
        states = Array(repeating: State(), count: contacts.count)
    }

    /// A contact read: closed or open, or nil when it could not be read (the
    /// last debounced state stays; a contact never read counts as off).
    public mutating func observe(_ index: Int, closed: Bool?, at time: Double) {
        guard let closed else { return }
        let on = closed == contacts[index].activeWhenClosed
        var s = states[index]
        if s.stable == nil {
            s.stable = on          // the first reading is the state: nothing to bounce from
        } else if on == s.stable {
            s.candidate = nil
        } else if s.candidate != on {
            s.candidate = on
            s.since = time
        }
        if let c = s.candidate, time - s.since >= contacts[index].debounce {
            s.stable = c
            s.candidate = nil
        }
        states[index] = s
    }

    /// The API's mode until `until`; nil clears it.
    public mutating func setRemote(_ mode: RippleMode?, until: Double) {
        remote = mode.map { ($0, until) }
    }

    public func remoteMode(at time: Double) -> RippleMode? {
        guard let remote, time < remote.until else { return nil }
        return remote.mode
    }

    public func mode(at time: Double) -> RippleMode {
        var modes = zip(contacts, states).compactMap { c, s in s.stable == true ? c.mode : nil }
        if let r = remoteMode(at: time) { modes.append(r) }
        return modes.max(by: { $0.severity < $1.severity }) ?? .normal
    }
}

extension RippleMode {
    /// normal < reduced < locked.
    public var severity: Int {
        switch self {
        case .normal: 0
        case .reduced: 1
        case .locked: 2
        }
    }
}

import CLuaShim
import FuseboxCore

// The Swift end of the sharing trampolines (Sources/CLuaShim/Sharing.c): the
// shim copies the site and a call's lists into C arrays, and these run
// FuseboxCore's WaterFill on them, the code the native fallback runs. They
// check every list again, never trap and never call into Lua; the shim raises
// after they have returned.

@_cdecl("fb_host_fill")
func hostFill(_ request: UnsafeMutablePointer<fb_fill_request>?) -> Int32 {
    guard let request, let fill = SharingBridge.fill(request.pointee) else { return -1 }
    for (i, amps) in fill.allocation.enumerated() { request.pointee.allocation[i] = amps }
    request.pointee.all_fit = fill.allFit ? 1 : 0
    return 0
}

@_cdecl("fb_host_sort")
func hostSort(_ request: UnsafeMutablePointer<fb_sort_request>?) -> Int32 {
    guard let request, let order = SharingBridge.sortOrder(request.pointee) else { return -1 }
    for (j, i) in order.enumerated() { request.pointee.order[j] = Double(i + 1) }
    return 0
}

enum SharingBridge {
    static func list(_ n: fb_numbers) -> [Double] {
        guard let values = n.values, n.count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: values, count: Int(n.count)))
    }

    /// Whole numbers in `range` as Int, or nil.
    static func indices(_ n: fb_numbers, offset: Int, below bound: Int) -> [Int]? {
        var out: [Int] = []
        out.reserveCapacity(Int(n.count))
        for v in list(n) {
            guard v == v.rounded(), v - Double(offset) >= 0, v - Double(offset) < Double(bound) else { return nil }
            out.append(Int(v) - offset)
        }
        return out
    }

    static func fill(_ r: fb_fill_request) -> (allocation: [Double], allFit: Bool)? {
        let lower = list(r.lower)
        let n = lower.count
        let perCharger = { (numbers: fb_numbers) -> [Double]? in
            let values = list(numbers)
            return values.isEmpty ? [Double](repeating: 0, count: n) : values.count == n ? values : nil
        }
        guard let members = indices(r.members, offset: 1, below: n),
              let limitStart = indices(r.limit_start, offset: 0, below: members.count + 1),
              let groupStart = indices(r.group_start, offset: 0, below: Int(r.order.count) + 1),
              let order = indices(r.order, offset: 1, below: n),
              let hold = indices(r.hold, offset: 1, below: n),
              let fixed = perCharger(r.fixed), let extra = perCharger(r.extra), let reserved = perCharger(r.reserved),
              let caps = perCharger(r.caps), (fixed + extra + reserved).allSatisfy(\.isFinite),
              groupStart.first == 0, groupStart.last == order.count,
              zip(groupStart, groupStart.dropFirst()).allSatisfy({ $0 <= $1 }),
              var fill = WaterFill(lower: lower, upper: zip(list(r.upper), caps).map { r.caps.count > 0 ? Swift.min($0, $1) : $0 },
                                   available: list(r.available),
                                   limitStart: limitStart, members: members, weights: list(r.weights))
        else { return nil }
        for i in 0..<n where fixed[i] != 0 { fill.count(i, fixed[i]) }
        let groups = zip(groupStart, groupStart.dropFirst()).map { Array(order[$0..<$1]) }
        if r.admit_only != 0 || groups.count == 1 && hold.isEmpty && reserved.allSatisfy({ $0 == 0 }) {
            let allFit = fill.admit(order, extra: extra)
            if r.admit_only == 0 { fill.rise() }
            return (fill.allocation, allFit)
        }
        fill.fillInTurn(groups, reserved: reserved, hold: hold, extra: extra)
        return (fill.allocation, false)
    }

    /// The permutation (0-based) that orders `values` by their keys, then by value.
    static func sortOrder(_ r: fb_sort_request) -> [Int]? {
        let keys = list(r.keys), values = list(r.values)
        let width = Int(r.key_count)
        guard width >= 0, keys.count == width * values.count else { return nil }
        return values.indices.sorted { a, b in
            for k in 0..<width where keys[a * width + k] != keys[b * width + k] {
                return keys[a * width + k] < keys[b * width + k]
            }
            return (values[a], a) < (values[b], b)
        }
    }
}

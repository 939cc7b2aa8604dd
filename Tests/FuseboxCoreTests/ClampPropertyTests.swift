import FuseboxCore
import FuseboxTesting
import Testing

@Suite("Invariants hold for any snapshot and any request")
struct ClampPropertyTests {
    @Test("10,000 random snapshots with hostile requests: the clamped allocation breaks no invariant")
    func clampAlwaysHoldsInvariants() {
        var rng = SiteGenerator.Random(seed: 0xF05E)
        var failures = 0
        var cuts = 0
        for round in 0..<10_000 {
            let snapshot = RandomSite.snapshot(&rng)
            let request = RandomSite.hostileRequest(&rng, count: snapshot.chargers.count)
            let result = SafetyClamp.apply(request, snapshot: snapshot, budget: Budget(snapshot: snapshot))
            cuts += result.corrections.filter { $0.reason == .overLimit }.count
            let problems = InvariantCheck.violations(result.allocation, snapshot: snapshot)
            if !problems.isEmpty {
                failures += 1
                if failures <= 3 { Issue.record("round \(round): \(problems)\nrequest \(request)\nsnapshot \(snapshot)") }
            }
        }
        #expect(failures == 0)
        // The sample must exercise the cutting, not only the per-charger checks.
        #expect(cuts > 1000, "only \(cuts) cuts over a limit: the generator is too gentle")
    }

    @Test("the native fallback never needs the clamp")
    func fallbackIsAlreadyValid() {
        var rng = SiteGenerator.Random(seed: 0xFA11)
        for round in 0..<3_000 {
            let snapshot = RandomSite.snapshot(&rng)
            let budget = Budget(snapshot: snapshot)
            let allocation = FallbackAllocator.allocate(snapshot, budget: budget)
            let problems = InvariantCheck.violations(allocation, snapshot: snapshot)
            #expect(problems.isEmpty, "round \(round): \(problems)")
            if !problems.isEmpty { break }
        }
    }

    @Test("a request that already fits is left alone")
    func fittingRequestIsUntouched() {
        var rng = SiteGenerator.Random(seed: 0xC0DE)
        for _ in 0..<2_000 {
            let snapshot = RandomSite.snapshot(&rng)
            let budget = Budget(snapshot: snapshot)
            let fitting = FallbackAllocator.allocate(snapshot, budget: budget)
            #expect(SafetyClamp.apply(fitting, snapshot: snapshot, budget: budget).allocation == fitting)
        }
    }
}

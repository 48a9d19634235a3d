import Foundation
import TRIMTensor

// The control of every comparison: keep K patches drawn uniformly at random (a seeded SplitMix64 partial
// Fisher–Yates shuffle), in spatial order, then TRIM's mean token for the rest. Needs nothing beyond the
// features; whatever a real method beats it by is what its signal is worth at that budget.

/// K random patches (`--method random`).
public struct RandomSelection: TokenReducer {
    /// How many patches to keep (clamped to N); ignored when `ratio` is set.
    public var keep: Int
    /// Keep `int(N · ratio)` patches instead of `keep`.
    public var ratio: Double?
    /// The generator's seed; the same seed keeps the same patches.
    public var seed: UInt64
    /// Append the mean of the other patches (default on, as TRIM).
    public var meanToken: Bool

    /// `keep` (or `int(N · ratio)`) random patches from `seed`.
    public init(keep: Int, seed: UInt64 = 0, meanToken: Bool = true, ratio: Double? = nil) {
        self.keep = keep
        self.ratio = ratio
        self.seed = seed
        self.meanToken = meanToken
    }

    public var name: String { "random" }
    public var settings: String {
        (ratio.map { "int(N·\($0))" } ?? "\(keep)") + " uniformly random patches, seed \(seed)" + (meanToken ? " · mean token" : "")
    }
    public var needs: ReducerNeeds { [] }

    public func reduce(_ input: ReducerInput) throws -> Reduction {
        let n = input.patchCount
        let kept = Self.sample(ratio.map { Int(Double(n) * $0) } ?? keep, of: n, seed: seed)
        // The signal drawn by the heat map: 1 on the kept patches, 0 elsewhere.
        var mark = [Float](repeating: 0, count: n)
        for i in kept { mark[i] = 1 }
        return Reduction(reduced: reduceFeatures(input.features, kept: kept, meanToken: meanToken),
                         rows: input.patchRows(kept) + (meanToken ? [.mean(view: input.view)] : []),
                         signal: ("random_mask", mark))
    }

    /// `k` distinct indices of `0..<n`, ascending.
    public static func sample(_ k: Int, of n: Int, seed: UInt64) -> [Int] {
        var generator = SplitMix64(seed: seed)
        var order = Array(0..<n)
        let k = min(max(k, 0), n)
        for i in 0..<k {
            let j = i + Int(generator.next() % UInt64(n - i))
            order.swapAt(i, j)
        }
        return order.prefix(k).sorted()
    }
}

/// SplitMix64: a small, fast, well-mixed generator whose sequence a seed fixes on every platform (the random
/// control here, the demo world's scenes in TRIMEval).
public struct SplitMix64: Sendable {
    private var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

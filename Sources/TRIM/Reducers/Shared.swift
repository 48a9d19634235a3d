import Foundation
import TRIMTensor

// What several reducers share: IQR outliers, top-k with index tie-breaks, row normalisation and cosine
// matrices, argmax, budgets. One copy each, beside the methods that call them.

/// The indices of the IQR outliers of `values` (`> Q3 + m·(Q3 − Q1)`, numpy's linear percentiles on
/// float32, the bound in float32), ascending, with the statistics (`nil` for no values).
public func iqrOutliers(_ values: [Float], multiplier m: Float = 1.5) -> (indices: [Int], statistics: IQRStatistics?) {
    guard !values.isEmpty else { return ([], nil) }
    let sorted = values.sorted()
    let q1 = numpyPercentile(sorted: sorted, 25), q3 = numpyPercentile(sorted: sorted, 75)
    let upper = q3 + m * (q3 - q1)
    return (values.indices.filter { values[$0] > upper }, IQRStatistics(q1: q1, q3: q3, upper: upper))
}

/// The `k` largest values' indices, largest first; equal values go to the lower index (`torch.topk` leaves
/// ties unspecified; this makes them deterministic).
public func topK(_ values: [Float], _ k: Int) -> [Int] {
    let n = values.count
    let k = min(max(k, 0), n)
    guard k > 0 else { return [] }
    // `a` ranks before `b`: larger value, then lower index (a total order, so the result is unique).
    @inline(__always) func before(_ a: Int, _ b: Int) -> Bool { values[a] != values[b] ? values[a] > values[b] : a < b }
    if k * 4 > n { return Array((0..<n).sorted(by: before).prefix(k)) }
    // Few of many (PruMerge's 32 neighbours of 575): a min-heap of the best k seen, O(n log k).
    var heap = [Int](0..<k)
    func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var worst = i
            if l < k && before(heap[worst], heap[l]) { worst = l }
            if r < k && before(heap[worst], heap[r]) { worst = r }
            if worst == i { return }
            heap.swapAt(i, worst)
            i = worst
        }
    }
    for i in stride(from: k / 2 - 1, through: 0, by: -1) { siftDown(i) }  // root = the worst of the best k
    for j in k..<n where before(j, heap[0]) {
        heap[0] = j
        siftDown(0)
    }
    return heap.sorted(by: before)
}

/// Rows of `x` divided by their L2 norm clamped below at `epsilon`, `[R, C]`: `F.normalize` (eps 1e-12) by
/// default; `epsilon` 0 is `x / x.norm(dim=-1, keepdim=True)` (see `unitRows`).
public func l2NormalizedRows(_ x: Tensor, epsilon: Float = 1e-12) -> Tensor {
    let r = x.rows, c = x.columns
    var out = x.scalars
    out.withUnsafeMutableBufferPointer { o in
        for i in 0..<r {
            var ss: Float = 0
            for j in 0..<c { ss += o[i * c + j] * o[i * c + j] }
            let norm = max(ss.squareRoot(), epsilon)
            for j in 0..<c { o[i * c + j] /= norm }
        }
    }
    return Tensor(shape: [r, c], scalars: out)
}

/// The dot products of row `i` of `a` with every row of `b`, `[b.rows]` (cosines when both are normalised).
public func rowDots(_ a: Tensor, _ i: Int, _ b: Tensor) -> [Float] {
    let c = a.columns
    precondition(b.columns == c, "rowDots: widths \(c) and \(b.columns) differ")
    return a.scalars.withUnsafeBufferPointer { pa in
        b.scalars.withUnsafeBufferPointer { pb in
            (0..<b.rows).map { j in
                var s: Float = 0
                for t in 0..<c { s += pa[i * c + t] * pb[j * c + t] }
                return s
            }
        }
    }
}

/// All pairwise dot products `a · bᵀ`, `[a.rows, b.rows]`, as one GEMM (cosines when both have unit rows,
/// e.g. from `l2NormalizedRows`).
public func pairwiseDots(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.columns == b.columns, "pairwiseDots: widths \(a.columns) and \(b.columns) differ")
    return linear(a, PackedMatrix(weight: b))
}

/// Rows of `x` divided by their L2 norm with no epsilon (`x / x.norm(dim=-1, keepdim=True)`, as the
/// VisionZip, VisPruner, DivPrune and CDPruner releases write it; a zero row becomes NaN there and here).
public func unitRows(_ x: Tensor) -> Tensor { l2NormalizedRows(x, epsilon: 0) }

/// The cosines of every pair of rows of `x`, `[R, R]`: rows divided by their norms (`unitRows`), then their
/// Gram matrix (`gram`: one GEMM's results, half its work) — the `x̂ x̂ᵀ` of VisPruner, DivPrune and CDPruner.
public func cosineMatrix(_ x: Tensor) -> Tensor { gram(unitRows(x)) }

/// The first index of the largest value (`torch.argmax`: ties to the lower index); NaN counts as largest,
/// as in PyTorch. `nil` for an empty array.
public func argmax(_ values: [Float]) -> Int? {
    guard var best = values.indices.first else { return nil }
    for i in values.indices.dropFirst() {
        if values[best].isNaN { return best }
        if values[i].isNaN || values[i] > values[best] { best = i }
    }
    return best
}

/// A budget of rows for a method that keeps patches: at most the N patches, at least none.
func clampedBudget(_ keep: Int, patches n: Int) -> Int { min(max(keep, 0), n) }

/// Python's `round(x)` for a non-negative finite Double: to nearest, halves to even.
func pythonRound(_ x: Double) -> Int { Int(x.rounded(.toNearestOrEven)) }

extension ReducerInput {
    /// The class token's attention to each patch from `need` (`classAttention`, or HiRED's
    /// `firstLayerClassAttention`; `[H, N+1]`), summed (VisionZip, HiRED) or averaged (FasterVLM, VisPruner)
    /// over heads: `[N]`.
    func classAttentionToPatches(by reducer: String, mean: Bool, need: Need = .classAttention) throws -> [Float] {
        let a = try required(need, by: reducer)
        let n = patchCount, h = a.rows
        guard a.columns == n + 1, h > 0 else {
            throw TRIMError.invalidOption("\(reducer): class attention \(a.shape) does not match \(n) patches + the class token")
        }
        var s = [Float](repeating: 0, count: n)
        for head in 0..<h {
            for j in 0..<n { s[j] += a.scalars[head * (n + 1) + 1 + j] }
        }
        if mean { for j in 0..<n { s[j] /= Float(h) } }
        return s
    }
}

import Foundation
import TRIMTensor

// PruMerge and PruMerge+ (Shang et al., "LLaVA-PruMerge", 2024; released code 42Shawn/LLaVA-PruMerge,
// llava/model/multimodal_encoder/clip_encoder.py: `token_prune_merge_advanced`,
// `token_prune_merge_advanced_plus`, `outlier_dectection`, `complement_idx`), SEMANTICS.md §3b:
//
//   q, k    = q_proj / k_proj outputs of the layer fed hidden_states[-2] (the last of 24), [1+N, C], biases,
//             full width, not split into heads
//   cls_attn = softmax(q·kᵀ·C^-0.5)[0, 1:]                        C = the hidden width, not the head dim
//   ratio   = #(cls_attn > Q3 + 1.5·IQR) / N                      numpy percentiles on float32
//   kept    = topk(cls_attn, int(N·ratio))                        descending attention, not spatial order
//   PruMerge+ appends arange(0, N−1, int(int(1/ratio)/3)) minus the kept, in that order
//   x_i    += Σ cls_attn_j·x_j over the 32 tokens j ≠ i (other kept in kept order, then the unkept
//             ascending) whose L2-normalised keys have the highest cosine with i's, from unmerged x
//   last row = Σ_unkept cls_attn_j·x_j                            a weighted sum, not a mean
//
// Needs: only q/k of the next layer (its layer_norm1 and two projections), not its attention or MLP.
//
// Where the released code breaks, this implementation does what the formula tends to (Docs/ALGORITHM.md):
//   - no outlier (ratio 0): PruMerge keeps nothing (only the last row); PruMerge+'s 1/ratio divides by
//     zero — here the step is infinite, so the spatial sample is index 0 alone;
//   - ratio above 1/3: int(int(1/ratio)/3) = 0 makes `arange` fail — here the step is 1 (every patch);
//   - fewer than 33 tokens: top-32 of fewer fails — here all the others are merged;
//   - grids other than 24 × 24: 575 is hard-coded — here N − 1;
//   - an empty supplement (every sampled index already kept) makes a float tensor the code then fails to
//     concatenate — here nothing is appended.
// With a fixed ratio (`if_adaptive=False`), PruMerge keeps the top int(N·r). PruMerge+'s released fixed-
// ratio branch is its training path: it appends arange(int(s/2), 575, s), s = int(1/r), unfiltered (kept
// patches can repeat) into a tensor of twice the kept count, which fails unless both counts match; here a
// fixed ratio uses the inference supplement with r in place of the adaptive ratio.

/// PruMerge / PruMerge+ as members of the reducer family (`--method prumerge|prumerge+`).
public struct PruMerge: TokenReducer {
    /// Whether to append PruMerge+'s spatially uniform sample.
    public var plus: Bool
    /// A fixed ratio (the released `if_adaptive=False`), or `nil` for the adaptive IQR ratio (the default).
    public var keepRatio: Double?
    /// How many most similar tokens each kept token absorbs (32 in the released code).
    public var mergeCount: Int

    /// PruMerge (`plus` false) or PruMerge+, adaptive unless `keepRatio` is given.
    public init(plus: Bool = false, keepRatio: Double? = nil, mergeCount: Int = 32) {
        self.plus = plus
        self.keepRatio = keepRatio
        self.mergeCount = mergeCount
    }

    public var name: String { plus ? "prumerge+" : "prumerge" }

    public var settings: String {
        (keepRatio.map { "fixed ratio \($0)" } ?? "adaptive ratio (IQR ×1.5 of CLS attention)")
            + " · merge top \(mergeCount) by key cosine · weighted-sum token"
    }

    public var needs: ReducerNeeds { [.nextLayerQueriesKeys] }

    public func reduce(_ input: ReducerInput) throws -> Reduction {
        let qk = try input.required(.nextLayerQueriesKeys, by: name)
        let x = input.features
        let n = x.rows, c = x.columns
        guard qk.rows == n + 1 && qk.columns % 2 == 0 else {
            throw TRIMError.invalidOption("\(name): q | k \(qk.shape) does not match \(n) patches + the class token")
        }
        let q = qk.columnSlice(0..<(qk.columns / 2)), k = qk.columnSlice((qk.columns / 2)..<qk.columns)

        // cls_attn = softmax(q₀·kᵀ · C^-0.5)[1:]
        let attention = Self.classAttention(queries: q, keys: k, width: c)
        let clsAttention = Array(attention[1...])

        // Ratio and the kept patches, highest attention first.
        var stats: IQRStatistics?
        let ratio: Double
        if let r = keepRatio {
            ratio = r
        } else {
            let o = iqrOutliers(clsAttention)
            stats = o.statistics
            ratio = Double(o.indices.count) / Double(n)
        }
        var kept = topK(clsAttention, Int(Double(n) * ratio))
        if plus {
            let isKept = Set(kept)
            kept += Self.spatialSample(ratio: ratio, patches: n).filter { !isKept.contains($0) }
        }

        // Merge: each kept row absorbs its most key-similar tokens, weighted by their CLS attention.
        let isKept = Set(kept)
        let unkept = (0..<n).filter { !isKept.contains($0) }  // complement_idx: ascending
        let normalizedKeys = l2NormalizedRows(k.rows(1..<(n + 1)))  // [N, C'], patches only
        let cosines = pairwiseDots(normalizedKeys.gatherRows(kept), normalizedKeys)  // [K, N], one GEMM
        var rows = [Float](repeating: 0, count: (kept.count + 1) * c)
        x.scalars.withUnsafeBufferPointer { xs in
            for (i, patch) in kept.enumerated() {
                // The other tokens in the released order: kept before i, kept after i, then the unkept.
                let rest = Array(kept[..<i]) + Array(kept[(i + 1)...]) + unkept
                let row = i * n
                let cos = rest.map { cosines.scalars[row + $0] }
                var sum = [Double](repeating: 0, count: c)
                for t in topK(cos, min(mergeCount, rest.count)) {
                    let j = rest[t], w = Double(clsAttention[j])
                    for d in 0..<c { sum[d] += w * Double(xs[j * c + d]) }
                }
                for d in 0..<c { rows[i * c + d] = xs[patch * c + d] + Float(sum[d]) }
            }
            var extra = [Double](repeating: 0, count: c)
            for j in unkept {
                let w = Double(clsAttention[j])
                for d in 0..<c { extra[d] += w * Double(xs[j * c + d]) }
            }
            for d in 0..<c { rows[kept.count * c + d] = Float(extra[d]) }
        }
        return Reduction(
            reduced: Tensor(shape: [kept.count + 1, c], scalars: rows),
            rows: input.patchRows(kept) + [.merged(view: input.view)], signal: ("cls_attention", clsAttention), iqr: stats)
    }

    /// `softmax(q₀·kᵀ · width^-0.5)` over all 1 + N tokens, `[1 + N]` (the class token's attention row).
    static func classAttention(queries q: Tensor, keys k: Tensor, width: Int) -> [Float] {
        let scale = 1 / Float(width).squareRoot()
        var logits = Tensor(shape: [1, k.rows], scalars: rowDots(q, 0, k).map { $0 * scale })
        softmaxRowsInPlace(&logits)
        return logits.scalars
    }

    /// PruMerge+'s spatial supplement `arange(0, N − 1, int(int(1/ratio)/3))` (before removing the kept),
    /// with the released failures made total: ratio 0 → `[0]`, a zero step → step 1.
    static func spatialSample(ratio: Double, patches n: Int) -> [Int] {
        guard n > 1 else { return [] }
        guard ratio > 0 else { return [0] }
        let stepLength = 1 / ratio  // Python: int(1/ratio), then int(step_length/3)
        guard stepLength < Double(Int.max / 4) else { return [0] }
        let step = max(Int(Double(Int(stepLength)) / 3), 1)
        return Array(stride(from: 0, to: n - 1, by: step))
    }
}

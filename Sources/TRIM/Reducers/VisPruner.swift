import Foundation
import TRIMImage
import TRIMTensor

// VisPruner (Zhang et al., "Beyond Text-Visual Attention: Exploiting Visual Cues for Effective Token Pruning
// in VLMs", 2025; released code Theia-4869/VisPruner, llava/model/llava_arch.py `encode_images`), SEMANTICS.md §3c:
//
//   s         = mean_h A[h, 0, 1:]                      as FasterVLM
//   T_imp     = int(T·r), T_div = T − T_imp             r = the important ratio (0.5)
//   order     = s descending (ties to the lower index); important = order[:T_imp]; residual = the rest
//   x̂         = rows of x divided by their norm
//   while r' = min(8, R − T_div) > 0:                   R = len(residual)
//       a, b  = residual[0::2], residual[1::2]
//       score a_i by its highest cosine to any b; drop the r' highest-scoring a's
//       residual = the kept a's by descending score, then all b's
//   rows      = important ∪ residual, ascending
//
// Where the released code breaks: with an odd R (an odd T_imp on 576 patches) `expand(-1, R // 2 − r)`
// has one a too few, so the gather fails or loses a row; here every kept a stays (⌈R/2⌉ − r' of them), so
// each round removes exactly r' and the loop ends at R = T_div. When r' exceeds the number of a's (small
// residuals, a budget near N), Python's slice `[r:]` keeps none of them and the released `expand(-1, R//2 − r)`
// gets a negative size; here every a is dropped (the slice's reading), and the loop still ends at R = T_div.
// Budgets above N keep all N.
// The cosines come from one Gram matrix of x̂ (a GEMM) instead of one product per round: the same values.
//
// Any resolution (Docs/SEMANTICS.md §5b): the release replaces the pinpoints by a fixed 2S×2S canvas (its
// 672×672 at S = 336: `ViewGeometry.fixedCanvas`, 2×2 tiles), runs the choice above with T in every view,
// and packs as FasterVLM does (base, then the tiles' kept cells over the full padded grid; no unpadding, no
// newline rows): V·T rows. `--views hf`: the same choice per view, Hugging Face's views and packing.

/// VisPruner as a member of the reducer family (`--method vispruner --keep T [--important-ratio R]`).
public struct VisPruner: TokenReducer {
    /// Rows handed to the LLM (T).
    public var keep: Int
    /// The share of T chosen by [CLS] attention (the rest by diversity), 0…1; released default 0.5.
    public var importantRatio: Double

    /// VisPruner keeping `keep` patches, `importantRatio` of them by [CLS] attention.
    public init(keep: Int, importantRatio: Double = 0.5) {
        self.keep = keep
        self.importantRatio = importantRatio
    }

    public var name: String { "vispruner" }
    public var settings: String {
        let important = Int(Double(keep) * importantRatio)
        return "\(important) important (by [CLS] attention) + \(keep - important) diverse (duplicates removed 8 at a time)"
    }
    public var needs: ReducerNeeds { [.classAttention] }

    /// VisPruner's choice from its two inputs — the attention signal `s [N]` and the cosines `x̂x̂ᵀ [N, N]` of
    /// the normalised features (computed only when the budget has a diverse part) — ascending. Separate so
    /// its logic can be checked on given cosines: on near-duplicate features the rounds follow the last bit
    /// of each cosine (Docs/REDUCERS.md).
    public static func select(signal s: [Float], cosines: @autoclosure () -> Tensor, keep: Int, importantRatio: Double) throws
        -> [Int]
    {
        let n = s.count
        let t = clampedBudget(keep, patches: n)
        let importantCount = Int(Double(t) * importantRatio)
        let diverseCount = t - importantCount
        let order = topK(s, n)
        var selected = Array(order[..<importantCount])
        if diverseCount > 0 {
            let gram = cosines()
            guard gram.shape == [n, n] else { throw TRIMError.invalidOption("vispruner: cosines \(gram.shape) for \(n) patches") }
            var residual = Array(order[importantCount...])
            while true {
                let r = min(8, residual.count - diverseCount)
                if r <= 0 { break }
                let a = stride(from: 0, to: residual.count, by: 2).map { residual[$0] }
                let b = stride(from: 1, to: residual.count, by: 2).map { residual[$0] }
                let scores = gram.scalars.withUnsafeBufferPointer { g in
                    a.map { i in
                        var best = -Float.infinity
                        for j in b where g[i * n + j] > best { best = g[i * n + j] }
                        return best
                    }
                }
                let ranked = topK(scores, scores.count)  // descending, ties to the lower position
                residual = ranked.dropFirst(r).map { a[$0] } + b  // r' may exceed the a's: all are dropped
            }
            selected += residual
        }
        return selected.sorted()
    }

    public func reduce(_ input: ReducerInput) throws -> Reduction {
        guard importantRatio >= 0 && importantRatio <= 1 else {
            throw TRIMError.invalidOption("vispruner: important ratio \(importantRatio) is outside 0…1")
        }
        let s = try input.classAttentionToPatches(by: name, mean: true)
        let kept = try Self.select(signal: s, cosines: cosineMatrix(input.features), keep: keep, importantRatio: importantRatio)
        return Reduction(reduced: input.features.gatherRows(kept), rows: input.patchRows(kept), signal: ("cls_attention", s))
    }

    public func viewGeometry(_ mode: ViewsMode) -> ViewGeometry { mode == .released ? .fixedCanvas : .huggingFace }

    public func reduceImage(_ image: ImageInput) throws -> ImageReduction {
        let views = try image.reduceEachView(self)
        return image.mode == .released ? image.packedSpatially(views) : image.packedAsHuggingFace(views)
    }
}

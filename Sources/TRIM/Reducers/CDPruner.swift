import Foundation
import TRIMImage
import TRIMTensor

// CDPruner (Zhang et al., "Beyond Attention or Similarity: Maximizing Conditional Diversity for Token
// Pruning in MLLMs", 2025; released code Theia-4869/CDPruner, llava/model/llava_arch.py `encode_images`,
// llava/model/multimodal_encoder/clip_encoder.py `forward`), SEMANTICS.md §3c:
//
//   X    = the projector's output rows (no projector: the features x — a convention of this project)
//   E    = image_tokens (TRIM's patches in CLIP space);  T = the prompt's text embeds per 77-token segment
//   rel  = mean_m(−cos(E_i, T_m))   the released sign ("authors"); `paper` scoring drops the minus
//   r    = (rel − min rel + 1e-6) / (max rel − min rel)
//   K    = r_i · S_ij · r_j,  S = X̂X̂ᵀ
//   fast greedy MAP inference of the DPP (Chen et al. 2018), exactly T steps:
//     d² = diag K; step i: j = argmax d², e = (K[j,:] − Σ_{t<i} c_t[j]·c_t) / sqrt(d²_j), c_i = e,
//     d² −= e², d²_j = −∞
//   rows = picks ascending
//
// Where the released code breaks (Docs/REDUCERS.md):
//   - max rel = min rel (one patch, or a prompt every patch matches equally) divides by zero: here r = 1;
//   - T above N repeats picks: here T = N;
//   - T above the rank of K (e.g. more picks than X has columns) takes square roots of rounding noise:
//     here, once the largest remaining d² is ≤ 1e-4 of the largest initial one (float32 noise stays far below, real steps far above), the remaining picks are
//     the unpicked patches by descending r (ties to the lower index).
//
// Any resolution (Docs/SEMANTICS.md §5b): the release's fixed 2S×2S canvas (`ViewGeometry.fixedCanvas`, 2×2
// tiles), the relevance of all V·N patches rescaled by one joint minimum and maximum, one DPP per view with T
// steps (once every unpicked row's residual d² is at most 1e-4 of its own K_jj — the view's rank is used up,
// where the release goes on with NaN-driven duplicates — its remaining picks are the unpicked patches by
// descending r, as at one view, with a note), packed as FasterVLM packs. `--views hf`: the same choice, Hugging
// Face's views and packing.

/// CDPruner as a member of the reducer family (`--method cdpruner --keep T [--scoring authors|paper]`).
public struct CDPruner: TokenReducer {
    /// Rows handed to the LLM (T).
    public var keep: Int
    /// `authors`: the released negated cosine (the default); `paper`: the cosine itself.
    public var scoring: Scoring

    /// CDPruner keeping `keep` patches.
    public init(keep: Int, scoring: Scoring = .authors) {
        self.keep = keep
        self.scoring = scoring
    }

    public var name: String { "cdpruner" }
    public var settings: String {
        "\(keep) rows by conditional DPP · relevance \(scoring == .authors ? "-cos (released)" : "+cos (paper)") to the prompt"
    }
    public var needs: ReducerNeeds { [.imageTokens, .promptSegments, .projectedRows] }

    public func reduce(_ input: ReducerInput) throws -> Reduction {
        let rel = try relevance(input)
        return try select(input, relevance: Self.normalised(rel, lo: rel.min() ?? 0, hi: rel.max() ?? 0), rankTest: .largestInitial)
    }

    /// `rel_i = mean_m(±cos(E_i, T_m))`, before normalisation, `[N]`.
    func relevance(_ input: ReducerInput) throws -> [Float] {
        let e = try input.required(.imageTokens, by: name)
        let text = try input.required(.promptSegments, by: name)
        let n = input.patchCount
        guard e.rows == n, text.columns == e.columns, text.rows > 0 else {
            throw TRIMError.invalidOption("cdpruner: image tokens \(e.shape) and text segments \(text.shape) do not match")
        }
        let cos = pairwiseDots(unitRows(e), unitRows(text))  // [N, M]
        let m = text.rows
        let sign: Float = scoring == .authors ? -1 : 1
        return (0..<n).map { i in
            var s: Float = 0
            for t in 0..<m { s += sign * cos.scalars[i * m + t] }
            return s / Float(m)
        }
    }

    /// `(rel − lo + 1e-6) / (hi − lo)`; every value 1 when hi = lo (the release divides by zero).
    static func normalised(_ rel: [Float], lo: Float, hi: Float) -> [Float] {
        hi > lo ? rel.map { ($0 - lo + 1e-6) / (hi - lo) } : [Float](repeating: 1, count: rel.count)
    }

    /// How the DPP judges that a view's kernel has no rank left (Docs/SEMANTICS.md §3c, §5b).
    enum RankTest {
        /// One view: the largest remaining d² is at most 1e-4 of the largest initial one.
        case largestInitial
        /// Any resolution: every unpicked row's d²_j is at most 1e-4 of its own K_jj (it lies in the span of
        /// the picks up to float32 noise) — a test the joint relevance scale does not move.
        case ownDiagonal
    }

    /// The conditional DPP on one view with normalised relevance `r`. When the kernel's rank is used up
    /// before T picks (as `rankTest` judges it), the rest are the unpicked patches by descending r, and the
    /// note says after how many picks that happened.
    func select(_ input: ReducerInput, relevance r: [Float], rankTest: RankTest) throws -> Reduction {
        let n = input.patchCount
        let projectedRows = input[.projectedRows]
        let x = projectedRows ?? input.features
        let similarity = cosineMatrix(x)  // [N, N]
        var kernel = similarity.scalars
        kernel.withUnsafeMutableBufferPointer { k in
            for i in 0..<n { for j in 0..<n { k[i * n + j] = r[i] * k[i * n + j] * r[j] } }
        }
        let t = clampedBudget(keep, patches: n)
        var d2 = (0..<n).map { kernel[$0 * n + $0] }
        let floor = 1e-4 * (d2.max() ?? 0)
        var c = [Float](repeating: 0, count: t * n)  // c_0 … c_{T−1}, one row each
        var picks: [Int] = []
        var projection = [Float](repeating: 0, count: n)
        var stopped: String?
        let diagonal = d2
        while picks.count < t {
            let j = argmax(d2)!
            let exhausted: Bool
            switch rankTest {
            case .largestInitial: exhausted = !(d2[j] > floor)
            case .ownDiagonal:
                let residual = d2.indices.lazy.filter { d2[$0] > -.infinity }.map { d2[$0] / diagonal[$0] }.max() ?? 0
                exhausted = !(residual > 1e-4)
            }
            if exhausted {  // the kernel's rank is used up: fill by relevance
                stopped = "the kernel's rank ran out after \(picks.count) of \(t) picks; the other \(t - picks.count) are the unpicked patches by descending relevance"
                let picked = Set(picks)
                picks += topK(r, n).filter { !picked.contains($0) }.prefix(t - picks.count)
                break
            }
            let root = d2[j].squareRoot(), i = picks.count
            c.withUnsafeMutableBufferPointer { cs in
                // Σ_{s<i} c_s[j]·c_s, then subtracted once (the released einsum)
                for k in 0..<n { projection[k] = 0 }
                for s in 0..<i {
                    let w = cs[s * n + j]
                    for k in 0..<n { projection[k] += w * cs[s * n + k] }
                }
                for k in 0..<n {
                    let e = (kernel[j * n + k] - projection[k]) / root
                    cs[i * n + k] = e
                    d2[k] -= e * e
                }
            }
            d2[j] = -.infinity
            picks.append(j)
        }
        let kept = picks.sorted()
        let notes = [stopped.map { rankTest == .ownDiagonal ? "view \(input.view): \($0)" : $0 },
                     projectedRows == nil ? "no projector: similarity measured on the features x (a convention of this project)" : nil]
            .compactMap { $0 }
        return Reduction(
            reduced: input.features.gatherRows(kept), rows: input.patchRows(kept), signal: ("relevance", r),
            projected: projectedRows.map { $0.gatherRows(kept) },
            note: notes.isEmpty ? nil : notes.joined(separator: "; "))
    }

    public func viewGeometry(_ mode: ViewsMode) -> ViewGeometry { mode == .released ? .fixedCanvas : .huggingFace }

    /// Any resolution: the relevance of every view's patches rescaled by one minimum and maximum over all
    /// V·N values, then one DPP per view with T picks (filled by relevance when a view's rank runs out).
    public func reduceImage(_ image: ImageInput) throws -> ImageReduction {
        let rel = try image.views.map(relevance)
        let all = rel.flatMap { $0 }
        let (lo, hi) = (all.min() ?? 0, all.max() ?? 0)
        let views = try zip(image.views, rel).map { try select($0, relevance: Self.normalised($1, lo: lo, hi: hi), rankTest: .ownDiagonal) }
        return image.mode == .released ? image.packedSpatially(views) : image.packedAsHuggingFace(views)
    }
}

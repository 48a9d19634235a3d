import Foundation
import TRIMJSON
import TRIMTensor

// TRIM (Song et al., "Less is More", COLING 2025; released code FreedomIntelligence/TRIM,
// llava/model/multimodal_encoder/clip_encoder.py), SEMANTICS.md §1 steps 6–8: score every patch against the prompt
// in CLIP's joint space (`image_tokens` · `text_embeds`), softmax, keep the IQR outliers in spatial order,
// append one mean token for the rest. Needs: the prompt's `text_embeds` and the patches' `image_tokens`.
// Everything here is plain arithmetic on tensors; the models that produce them live in the CLIP module.

/// TRIM as a member of the reducer family (`--method trim`).
public struct TRIMReducer: TokenReducer {
    /// Scoring, selection rule and mean token (`selectLayer` is the pipeline's business).
    public var options: ReductionOptions

    /// TRIM with `options` (default: the paper's).
    public init(options: ReductionOptions = ReductionOptions()) { self.options = options }

    public var name: String { "trim" }

    public var settings: String {
        let sel: String
        switch options.selection {
        case .iqr(let m): sel = "IQR ×\(m)"
        case .keepRatio(let r): sel = "keep ratio \(r)"
        }
        return "scoring \(options.scoring.rawValue) · \(sel)\(options.meanToken ? " · mean token" : "")"
    }

    public var needs: ReducerNeeds { [.promptEmbedding, .imageTokens] }

    /// At any resolution, TRIM runs on every view on its own (Docs/SEMANTICS.md §5.6).

    /// `scoring`, `selection` with its multiplier or ratio, `mean_token` (the JSON of `trim reduce`).
    public var settingsFields: [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = [("scoring", .string(options.scoring.rawValue))]
        switch options.selection {
        case .iqr(let m): fields += [("selection", "iqr"), ("iqr_multiplier", .double(Double(m)))]
        case .keepRatio(let x): fields += [("selection", "ratio"), ("keep_ratio", .double(x))]
        }
        return fields + [("mean_token", .bool(options.meanToken))]
    }

    /// SEMANTICS.md §1 steps 6–8: scores (`scores [N]`, the ranking signal), the selection in spatial order
    /// with its IQR statistics, the kept features and the mean token.
    public func reduce(_ input: ReducerInput) throws -> Reduction {
        let tokens = try input.required(.imageTokens, by: name)
        let text = try input.required(.promptEmbedding, by: name)
        let scores = scorePatches(imageTokens: tokens, textEmbeds: text, scoring: options.scoring)
        let selection = selectPatches(scores: scores.scores, rule: options.selection)
        let kept = selection.keptIndices
        return Reduction(
            reduced: reduceFeatures(input.features, kept: kept, meanToken: options.meanToken),
            rows: input.patchRows(kept) + (options.meanToken ? [.mean(view: input.view)] : []),
            signal: ("scores", scores.scores), iqr: selection.statistics)
    }
}

/// How patch–prompt similarity is measured before the softmax (SEMANTICS.md §1 step 6).
public enum Scoring: String, Sendable, CaseIterable {
    /// The paper's Eq. 1: `s_i = cos(image_token_i, text_embeds)`.
    case paper
    /// The released code: `s_i = −(image_token_i · text_embeds)`, a negated raw dot product.
    case authors
}

/// Which patches survive (SEMANTICS.md §1 step 7).
public enum SelectionRule: Sendable, Equatable {
    /// Keep `score > Q3 + multiplier · (Q3 − Q1)`, the IQR outliers (TRIM's default, multiplier 1.5).
    case iqr(multiplier: Float)
    /// Keep the top `Int(N · ratio)` scores.
    case keepRatio(Double)

    /// TRIM's default: IQR outliers with Tukey's 1.5.
    public static let iqr = SelectionRule.iqr(multiplier: 1.5)
}

/// Options of a reduction; the defaults are the paper's.
public struct ReductionOptions: Sendable, Equatable {
    /// Similarity measure (default `.paper`).
    public var scoring: Scoring = .paper
    /// Selection rule (default IQR with 1.5).
    public var selection: SelectionRule = .iqr
    /// Append the mean of the unselected features as one extra token (default on).
    public var meanToken = true
    /// Which hidden state feeds the LLM, Python-style: −2 = the one after the second-to-last layer
    /// (LLaVA's `mm_vision_select_layer`), 0 = the embeddings, positive k = after k layers.
    public var selectLayer = -2

    /// The paper's defaults.
    public init() {}
}

/// The patch scores of one image–prompt pair.
public struct PatchScores: Sendable, Equatable {
    /// `s_i` before the softmax, `[N]`: cosines (`paper`) or negated dot products (`authors`).
    public var similarities: [Float]
    /// `softmax(s)`, `[N]`: the scores TRIM selects on (the dump name `scores`).
    public var scores: [Float]
}

/// The kept patches and the statistics that chose them.
public struct PatchSelection: Sendable, Equatable {
    /// Indices of kept patches in increasing (spatial) order.
    public var keptIndices: [Int]
    /// First and third quartiles of the scores (IQR rule only), as `numpy.percentile` computes them.
    public var q1: Float?, q3: Float?
    /// The IQR bound `Q3 + m·(Q3 − Q1)`; a patch is kept when its score is strictly greater (IQR rule only).
    public var upper: Float?

    /// The three statistics together (IQR rule only).
    public var statistics: IQRStatistics? {
        guard let q1, let q3, let upper else { return nil }
        return IQRStatistics(q1: q1, q3: q3, upper: upper)
    }
}

/// Scores every patch token against the prompt embedding (SEMANTICS.md §1 step 6).
///
/// - Parameters:
///   - imageTokens: `[N, P]` patch tokens in CLIP's joint space (`post_layernorm` + `visual_projection`).
///   - textEmbeds: `[P]` the prompt's `text_embeds`.
public func scorePatches(imageTokens: Tensor, textEmbeds: Tensor, scoring: Scoring) -> PatchScores {
    precondition(imageTokens.rank == 2 && imageTokens.columns == textEmbeds.count,
                 "scorePatches: image tokens \(imageTokens.shape) and text embeds \(textEmbeds.shape) differ in width")
    let n = imageTokens.rows, p = imageTokens.columns
    let t = textEmbeds.scalars
    // Dot products and norms accumulate in Double: the scores then differ from PyTorch's float32
    // matmul only by float32 rounding of the result.
    let textNorm = max(t.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot(), 1e-12)
    var s = [Float](repeating: 0, count: n)
    imageTokens.scalars.withUnsafeBufferPointer { x in
        for i in 0..<n {
            var dot = 0.0, norm = 0.0
            for j in 0..<p {
                let v = Double(x[i * p + j])
                dot += v * Double(t[j])
                norm += v * v
            }
            switch scoring {
            case .paper: s[i] = Float(dot / (max(norm.squareRoot(), 1e-12) * textNorm))
            case .authors: s[i] = Float(-dot)
            }
        }
    }
    var scores = Tensor(shape: [n], scalars: s)
    softmaxRowsInPlace(&scores)
    return PatchScores(similarities: s, scores: scores.scalars)
}

/// Chooses the patches to keep (SEMANTICS.md §1 step 7). Kept indices come back in spatial order.
public func selectPatches(scores: [Float], rule: SelectionRule) -> PatchSelection {
    let n = scores.count
    switch rule {
    case .iqr(let m):
        // float32 quartiles and bound, as numpy computes them from float32 scores
        let o = iqrOutliers(scores, multiplier: m)
        return PatchSelection(keptIndices: o.indices, q1: o.statistics?.q1, q3: o.statistics?.q3, upper: o.statistics?.upper)
    case .keepRatio(let r):
        let k = min(max(Int(Double(n) * r), 0), n)
        // Highest scores first; ties broken by the lower index so the result is deterministic.
        return PatchSelection(keptIndices: topK(scores, k).sorted(), q1: nil, q3: nil, upper: nil)
    }
}

/// The reduced sequence (SEMANTICS.md §1 step 8): the kept feature rows in spatial order, then — when
/// `meanToken` — the mean of all other rows (a zero row when every patch was kept).
///
/// - Parameters:
///   - features: `[N, D]` vision features (LLaVA's `hidden_states[-2]` without the class token).
///   - kept: indices into the rows of `features`, increasing.
/// - Returns: `[K, D]` or `[K + 1, D]`.
public func reduceFeatures(_ features: Tensor, kept: [Int], meanToken: Bool) -> Tensor {
    let selected = features.gatherRows(kept)
    guard meanToken else { return selected }
    let n = features.rows, d = features.columns
    var isKept = [Bool](repeating: false, count: n)
    for i in kept { isKept[i] = true }
    var sum = [Double](repeating: 0, count: d)
    var count = 0
    features.scalars.withUnsafeBufferPointer { f in
        for i in 0..<n where !isKept[i] {
            count += 1
            for j in 0..<d { sum[j] += Double(f[i * d + j]) }
        }
    }
    let mean = Tensor(shape: [1, d], scalars: sum.map { count == 0 ? 0 : Float($0 / Double(count)) })
    return Tensor.concatenateRows([selected, mean])
}

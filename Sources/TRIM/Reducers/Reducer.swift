import Foundation
import TRIMTensor

// The reducer family: one interface for every method that shortens the image-token sequence on the
// CLIP side of LLaVA (TRIM, PruMerge, PruMerge+, a random control, …). Each method says what it needs from
// the towers; the pipeline computes only that, in one vision pass, and hands it over as a `ReducerInput`.
// What several methods share (IQR outliers, top-k with index tie-breaks, cosine rows, row gathering)
// lives once, at the end of this file.

/// What a reducer needs from the towers beyond the selected hidden state (which every reducer gets).
public struct ReducerNeeds: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public let rawValue: Int
    /// An option set from its bits.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The prompt's `text_embeds [P]` (the text tower).
    public static let promptEmbedding = ReducerNeeds(rawValue: 1 << 0)
    /// The patches in CLIP's joint space, `image_tokens [N, P]` (`post_layernorm` + `visual_projection`).
    public static let imageTokens = ReducerNeeds(rawValue: 1 << 1)
    /// `q_proj` and `k_proj` outputs, full width with biases, of the encoder layer that is fed the selected
    /// hidden state (the last layer for LLaVA's `hidden_states[-2]`), `[N+1, D]` each: PruMerge's signal.
    /// Only that layer's `layer_norm1` and projections run; its attention and MLP do not.
    public static let nextLayerQueriesKeys = ReducerNeeds(rawValue: 1 << 2)
    /// The class token's attention probabilities per head in the layer that produces the selected hidden
    /// state (LLaVA's "layer L−2"), `A[h, 0, :]` as `[H, N+1]`: FasterVLM's, VisionZip's and VisPruner's
    /// signal. Read from that layer's q/k during the one vision pass; only the class token's row is kept,
    /// never the attention matrix.
    public static let classAttention = ReducerNeeds(rawValue: 1 << 3)
    /// That layer's keys averaged over heads, `[N+1, head_dim]` (VisionZip's merge metric).
    public static let headMeanKeys = ReducerNeeds(rawValue: 1 << 4)
    /// LLaVA's projector applied to every patch row of the features, `[N, H]` (DivPrune, CDPruner); absent
    /// when the pipeline has no projector (those reducers then work on the features).
    public static let projectedRows = ReducerNeeds(rawValue: 1 << 5)
    /// The untruncated prompt through the text tower in segments of the text context (77 tokens),
    /// `[M, P]` (CDPruner).
    public static let promptSegments = ReducerNeeds(rawValue: 1 << 6)
}

/// What the pipeline hands a reducer: the features and whatever the reducer said it needs.
public struct ReducerInput: Sendable {
    /// `x`: the selected hidden state without the class token, `[N, D]` (LLaVA's image features).
    public var features: Tensor
    /// The class token's row of the same hidden state, `[D]`.
    public var classToken: [Float]
    /// Patches per side of the grid (N = gridSize²).
    public var gridSize: Int
    /// `image_tokens [N, P]`, when needed.
    public var imageTokens: Tensor?
    /// The prompt's `text_embeds [P]`, when needed.
    public var textEmbeds: Tensor?
    /// `q_proj` / `k_proj` outputs of the next layer, `[N+1, D]` each (class token first), when needed.
    public var queries: Tensor?, keys: Tensor?
    /// `A[h, 0, :]` of the layer producing the features, `[H, N+1]`, when needed.
    public var classAttention: Tensor?
    /// That layer's head-averaged keys, `[N+1, head_dim]`, when needed.
    public var headMeanKeys: Tensor?
    /// The projector's output for every patch, `[N, H]`, when needed and a projector is loaded.
    public var projectedRows: Tensor?
    /// The prompt's text embeddings per 77-token segment, `[M, P]`, when needed.
    public var promptSegments: Tensor?

    /// An input from its parts.
    public init(features: Tensor, classToken: [Float], gridSize: Int, imageTokens: Tensor? = nil,
                textEmbeds: Tensor? = nil, queries: Tensor? = nil, keys: Tensor? = nil,
                classAttention: Tensor? = nil, headMeanKeys: Tensor? = nil, projectedRows: Tensor? = nil,
                promptSegments: Tensor? = nil)
    {
        self.features = features
        self.classToken = classToken
        self.gridSize = gridSize
        self.imageTokens = imageTokens
        self.textEmbeds = textEmbeds
        self.queries = queries
        self.keys = keys
        self.classAttention = classAttention
        self.headMeanKeys = headMeanKeys
        self.projectedRows = projectedRows
        self.promptSegments = promptSegments
    }

    /// Number of patches N.
    public var patchCount: Int { features.rows }

    /// The input `need` names, or a `TRIMError.missingInput` saying which reducer lacked it.
    func required(_ tensor: Tensor?, _ what: String, by reducer: String) throws -> Tensor {
        guard let tensor else { throw TRIMError.missingInput(reducer: reducer, input: what) }
        return tensor
    }
}

/// What a reducer hands on: the rows for the language model and how it chose them.
public struct Reduction: Sendable {
    /// `reduced [R, D]`: the rows handed to the projector / LLM.
    public var reduced: Tensor
    /// The patch indices of the rows of `reduced` that are single (possibly merged-into) patches, in row
    /// order; rows that are not one patch (a mean or weighted-sum token) are not listed.
    public var keptIndices: [Int]
    /// What the method ranks patches by, `[N]`, under its dump name (`scores`, `cls_attention`, …); drawn
    /// by the heat map.
    public var signal: (name: String, values: [Float])
    /// IQR statistics of the signal, when the method used the IQR rule: `upper` is the bound a kept patch
    /// exceeds.
    public var q1: Float?, q3: Float?, upper: Float?
    /// Further named tensors for the dump.
    public var extras: [(name: String, tensor: Tensor)]
    /// The projector's rows for `reduced`, when the reducer already had them (DivPrune and CDPruner select
    /// among projected rows); otherwise the pipeline projects `reduced`.
    public var projected: Tensor?
    /// A remark about this run the output should show (e.g. a convention applied), or `nil`.
    public var note: String?

    /// A reduction from its parts.
    public init(reduced: Tensor, keptIndices: [Int], signal: (name: String, values: [Float]), q1: Float? = nil,
                q3: Float? = nil, upper: Float? = nil, extras: [(name: String, tensor: Tensor)] = [],
                projected: Tensor? = nil, note: String? = nil)
    {
        self.reduced = reduced
        self.keptIndices = keptIndices
        self.signal = signal
        self.q1 = q1
        self.q3 = q3
        self.upper = upper
        self.extras = extras
        self.projected = projected
        self.note = note
    }
}

/// A token-reduction method.
public protocol TokenReducer: Sendable {
    /// The `--method` name, e.g. `trim`, `prumerge+`.
    var name: String { get }
    /// One line of its settings, e.g. `scoring paper · IQR ×1.5 · mean token`.
    var settings: String { get }
    /// What it needs from the towers.
    var needs: ReducerNeeds { get }
    /// Chooses and builds the rows.
    func reduce(_ input: ReducerInput) throws -> Reduction
}

// MARK: - Shared by the reducers

/// The indices of the IQR outliers of `values` (`> Q3 + m·(Q3 − Q1)`, numpy's linear percentiles on
/// float32, the bound in float32), ascending, with the statistics.
public func iqrOutliers(_ values: [Float], multiplier m: Float = 1.5) -> (indices: [Int], q1: Float?, q3: Float?, upper: Float?) {
    guard !values.isEmpty else { return ([], nil, nil, nil) }
    let sorted = values.sorted()
    let q1 = numpyPercentile(sorted: sorted, 25), q3 = numpyPercentile(sorted: sorted, 75)
    let upper = q3 + m * (q3 - q1)
    return (values.indices.filter { values[$0] > upper }, q1, q3, upper)
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

/// The cosines of every pair of rows of `x`, `[R, R]`: rows divided by their norms (`unitRows`), then one
/// GEMM — the `x̂ x̂ᵀ` of VisPruner, DivPrune and CDPruner.
public func cosineMatrix(_ x: Tensor) -> Tensor {
    let unit = unitRows(x)
    return pairwiseDots(unit, unit)
}

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
    /// The class token's attention to each patch from `classAttention [H, N+1]`, summed (VisionZip) or
    /// averaged (FasterVLM, VisPruner) over heads: `[N]`.
    func classAttentionToPatches(by reducer: String, mean: Bool) throws -> [Float] {
        let a = try required(classAttention, "the class token's attention of the selected layer", by: reducer)
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

import Foundation
import TRIMImage
import TRIMTensor

// VisionZip (Yang et al., "VisionZip: Longer is Better but Not Necessary in Vision Language Models", 2024;
// released code dvlab-research/VisionZip, visionzip/clip_encoder.py `CLIPVisionTower_VisionZip.forward`,
// visionzip/utils.py, visionzip/main.py), SEMANTICS.md §3c:
//
//   s        = Σ_h A[h, 0, 1:]                          summed over heads (not averaged)
//   dominant = topk(s, D − 1), ascending                D counts the [CLS] row (main.py passes dominant − 1)
//   metric   = layer L−2's keys averaged over heads, rows divided by their norm
//   others   = the M = N − (D − 1) remaining patches, ascending
//   targets  = positions 0, step, 2·step, … (the first C) of `others`,  step = max(1, M // C)
//   each other non-target joins the target of highest cosine (ties to the first target)
//   contextual row = x_target + mean(x of its members)  (x_target alone when it has none)
//   rows     = [x_CLS, x[dominant], contextual rows in target order]  = D + C rows
//
// Where the released code breaks (Docs/REDUCERS.md):
//   - layer 22 is hard-coded (any tower but 24 layers fails): here the layer producing the selected state;
//   - C = 0 divides by zero: here no contextual rows;
//   - M < C fails to broadcast: here C = M (every remaining patch is its own target);
//   - D above N + 1: here D = N + 1 (every patch dominant, no contextual row).
//
// Any resolution (Docs/SEMANTICS.md §5b): original LLaVA's views (`ViewGeometry.original`), the choice above
// in every view (D + C rows each), restored in the release's order: the base view's rows as at one view
// ([CLS], dominant ascending, contextual), then the tiles' dominant patches at their cells of the full padded
// grid read row by row (no unpadding), then the tiles' [CLS] rows in tile order, then their contextual rows
// tile by tile; no newline rows: V·(D + C) rows. `--views hf`: Hugging Face's views and packing, each view's
// [CLS] and contextual rows after its block, in their one-view order.

/// VisionZip as a member of the reducer family (`--method visionzip --keep T` or `--dominant D --contextual C`).
public struct VisionZip: TokenReducer {
    /// Dominant rows, the [CLS] row included (the released `dominant`, e.g. 54).
    public var dominant: Int
    /// Contextual (merged) rows (the released `contextual`, e.g. 10).
    public var contextual: Int

    /// VisionZip with `dominant` rows ([CLS] included) and `contextual` merged rows.
    public init(dominant: Int, contextual: Int) {
        self.dominant = dominant
        self.contextual = contextual
    }

    /// The released split of a budget of T rows: D = round(27·T/32) (54 + 10, 108 + 20, 162 + 30), C = T − D.
    public init(keep: Int) {
        let d = pythonRound(27 * Double(keep) / 32)
        self.init(dominant: d, contextual: keep - d)
    }

    public var name: String { "visionzip" }
    public var settings: String { "\(dominant) dominant ([CLS] + top \(max(dominant - 1, 0)) by [CLS] attention) + \(contextual) contextual (merged by key cosine)" }
    public var needs: ReducerNeeds { [.classAttention, .headMeanKeys] }

    public func reduce(_ input: ReducerInput) throws -> Reduction {
        guard dominant >= 1, contextual >= 0 else {
            throw TRIMError.invalidOption("visionzip: the dominant count (with the [CLS] row) must be at least 1 and the contextual count at least 0")
        }
        let s = try input.classAttentionToPatches(by: name, mean: false)
        let keys = try input.required(.headMeanKeys, by: name)
        let x = input.features
        let n = x.rows, c = x.columns
        guard keys.rows == n + 1 else {
            throw TRIMError.invalidOption("visionzip: keys \(keys.shape) do not match \(n) patches + the class token")
        }
        let dominantPatches = topK(s, min(dominant - 1, n)).sorted()
        let isDominant = Set(dominantPatches)
        let others = (0..<n).filter { !isDominant.contains($0) }
        let m = others.count
        let contextualCount = min(contextual, m)

        var rows = input.classToken + x.gatherRows(dominantPatches).scalars
        var assignment = [Float](repeating: -1, count: n)  // dump: the contextual row each patch went to
        if contextualCount > 0 {
            let step = max(1, m / contextualCount)
            let targets = Array(stride(from: 0, to: m, by: step).prefix(contextualCount))  // positions in `others`
            let isTarget = Set(targets)
            let members = (0..<m).filter { !isTarget.contains($0) }
            let metric = unitRows(keys.gatherRows(others.map { $0 + 1 }))  // [M, hd]
            let similarity = pairwiseDots(metric.gatherRows(members), metric.gatherRows(targets))  // [members, C]
            var sums = [[Double]](repeating: [Double](repeating: 0, count: c), count: contextualCount)
            var counts = [Int](repeating: 0, count: contextualCount)
            x.scalars.withUnsafeBufferPointer { xs in
                for (r, p) in members.enumerated() {
                    let t = argmax(Array(similarity.scalars[(r * contextualCount)..<((r + 1) * contextualCount)]))!
                    counts[t] += 1
                    let patch = others[p]
                    assignment[patch] = Float(t)
                    for d in 0..<c { sums[t][d] += Double(xs[patch * c + d]) }
                }
                for (t, p) in targets.enumerated() {
                    let patch = others[p]
                    assignment[patch] = Float(t)
                    let count = Double(max(counts[t], 1))
                    for d in 0..<c { rows.append(xs[patch * c + d] + Float(sums[t][d] / count)) }
                }
            }
        }
        let rowCount = 1 + dominantPatches.count + contextualCount
        return Reduction(
            reduced: Tensor(shape: [rowCount, c], scalars: rows),
            rows: [.classToken(view: input.view)] + input.patchRows(dominantPatches)
                + Array(repeating: .contextual(view: input.view), count: contextualCount),
            signal: ("cls_attention", s),
            extras: [("contextual_assignment", Tensor(shape: [n], scalars: assignment))])
    }

    public func viewGeometry(_ mode: ViewsMode) -> ViewGeometry { mode == .released ? .original : .huggingFace }

    public func reduceImage(_ image: ImageInput) throws -> ImageReduction {
        let views = try image.reduceEachView(self)
        guard image.mode == .released else { return image.packedAsHuggingFace(views) }
        return image.pack(views, Packing(views: views.map(\.rows), grid: image.packedGrid(.none), newlines: .none,
                                         basePatchesFirst: false, othersByKind: true))
    }
}

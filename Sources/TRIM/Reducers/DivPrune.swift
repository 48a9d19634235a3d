import Foundation
import TRIMImage
import TRIMTensor

// DivPrune (Alvar et al., "DivPrune: Diversity-based Visual Token Pruning for Large Multimodal Models",
// CVPR 2025; released code vbdi/divprune, LLaVA/llava/model/llava_arch.py `DivPrune`,
// `pairwise_cosine_similarity`), SEMANTICS.md §3c:
//
//   X     = the projector's output rows (no projector: the features x — a convention of this project)
//   Dist  = 1 − X̂X̂ᵀ,  X̂ = X / ‖X‖
//   pick₀ = argmax_j of the second-smallest entry of column j (the diagonal included)
//   pickᵢ = argmax_j min_{s picked} Dist[s, j]          picked columns are not masked, as released
//   rows  = picks ascending; no extra token. Default budget int(round(0.098·N)) (56 of 576).
//
// Any resolution (Docs/SEMANTICS.md §5b): original LLaVA's views and packing — its unpadding, a newline after
// every grid row — and one selection over all L packed rows, the newline rows among the candidates; budget
// int(round(0.098·L)) or --keep / --keep-ratio of L (`reduceImage`).
//
// Ignores the prompt. Budgets above N keep N picks (a pick can repeat only when a patch duplicates a picked
// one exactly; the rows then repeat, as in the released code).

/// DivPrune as a member of the reducer family (`--method divprune [--keep T]`).
public struct DivPrune: TokenReducer {
    /// Rows handed to the LLM, or `nil` for a share of the candidates.
    public var keep: Int?
    /// The share of the candidates kept when `keep` is `nil` (default: the released 0.098).
    public var keepRatio: Double?
    /// The released default share (`SUBSET_RATIO` in its scripts).
    public static let defaultRatio = 0.098

    /// DivPrune keeping `keep` rows, else `int(round(keepRatio · N))` (default ratio 0.098).
    public init(keep: Int? = nil, keepRatio: Double? = nil) {
        self.keep = keep
        self.keepRatio = keepRatio
    }

    public var name: String { "divprune" }
    public var settings: String {
        (keep.map { "\($0) rows" } ?? "int(round(\(keepRatio ?? Self.defaultRatio)·N)) rows") + " by max–min cosine distance of projected rows"
    }
    public var needs: ReducerNeeds { [.projectedRows] }

    public func reduce(_ input: ReducerInput) throws -> Reduction {
        let n = input.patchCount
        let t = clampedBudget(budget(rows: n), patches: n)
        let projectedRows = input[.projectedRows]
        let x = projectedRows ?? input.features
        let picks = Self.picks(cosine: cosineMatrix(x).scalars, count: n, budget: t)
        let kept = picks.sorted()
        let projected = projectedRows.map { $0.gatherRows(kept) }
        return Reduction(
            reduced: input.features.gatherRows(kept), rows: input.patchRows(kept), signal: ("pick_order", Self.pickOrder(picks, count: n)),
            projected: projected,
            note: projectedRows == nil ? "no projector: diversity measured on the features x (a convention of this project)" : nil)
    }

    /// The budget for `rows` candidates: `--keep`, else `int(round(ratio · rows))`.
    func budget(rows: Int) -> Int { keep ?? pythonRound((keepRatio ?? Self.defaultRatio) * Double(rows)) }

    /// The signal drawn by the heat map: the order in which candidates were picked (first = T, last = 1).
    static func pickOrder(_ picks: [Int], count n: Int) -> [Float] {
        var order = [Float](repeating: 0, count: n)
        for (i, p) in picks.enumerated() where order[p] == 0 { order[p] = Float(picks.count - i) }
        return order
    }

    /// The max–min picks, in pick order, among `n` candidates with cosines `cosine [n·n]` (row-major).
    static func picks(cosine: [Float], count n: Int, budget t: Int) -> [Int] {
        var picks: [Int] = []
        var minDistance = [Float](repeating: .infinity, count: n)
        if t > 0 {
            // The second-smallest distance in each column (torch.topk(…, 2, largest=False).values[1]).
            var lo = [Float](repeating: .infinity, count: n), next = lo  // per column, rows in order
            cosine.withUnsafeBufferPointer { c in
                for i in 0..<n {
                    for j in 0..<n {
                        let d = 1 - c[i * n + j]
                        if d < lo[j] { next[j] = lo[j]; lo[j] = d } else if d < next[j] { next[j] = d }
                    }
                }
            }
            picks.append(argmax(n > 1 ? next : lo)!)
        }
        while picks.count < t {
            let last = picks[picks.count - 1]
            for j in 0..<n { minDistance[j] = min(minDistance[j], 1 - cosine[last * n + j]) }
            picks.append(argmax(minDistance)!)
        }
        return picks
    }

    public func viewGeometry(_ mode: ViewsMode) -> ViewGeometry { mode == .released ? .original : .huggingFace }

    /// Any resolution: every patch of every view packed (original LLaVA's unpadding and a newline after every
    /// grid row, or Hugging Face's packing and `--newlines` with `--views hf`), then one max–min selection over
    /// all L packed rows — projected rows and `image_newline` rows alike — with the budget of L; the kept rows
    /// in packed order. Without a projector the candidates are the features and there are no newline rows
    /// (they live in the language model's space).
    public func reduceImage(_ image: ImageInput) throws -> ImageReduction {
        let all = image.views.map { v in Reduction(reduced: v.features, rows: v.patchRows(Array(0..<v.patchCount)), signal: ("pick_order", []),
                                                   projected: v[.projectedRows]) }
        let projected = all.allSatisfy { $0.projected != nil }
        let newline = projected ? image.imageNewline : nil
        let full = Packing(views: all.map(\.rows), grid: image.packedGrid(image.mode == .released ? .original : .huggingFace),
                           newlines: newline == nil ? .none : image.mode == .released ? .all : image.newlines)
        // The candidates' distinct rows: each packed patch once (not the cells unpadding cuts away), the newline
        // once (so all newline rows stay equal). A cosine does not depend on which other rows share the GEMM.
        let n = image.patchCount, v = all.count
        var used = [[Int]](repeating: [], count: v), seen = Set<Int>()
        for o in full.origins { if let o, seen.insert(o.view * n + o.row).inserted { used[o.view].append(o.row) } }
        var slot: [Int: Int] = [:]  // view·n + row → its row in `distinct` (the newline's is slot.count)
        for k in 0..<v { for r in used[k] { slot[k * n + r] = slot.count } }
        let distinct = Tensor.concatenateRows((0..<v).map { (projected ? all[$0].projected! : all[$0].reduced).gatherRows(used[$0]) }
                                              + (newline.map { [$0.reshaped([1, $0.scalars.count])] } ?? []))
        let unique = cosineMatrix(distinct).scalars, u = distinct.rows
        let index = full.origins.map { o in o.map { slot[$0.view * n + $0.row]! } ?? slot.count }
        var cosine = [Float](repeating: 0, count: index.count * index.count)
        for (i, a) in index.enumerated() { for (j, b) in index.enumerated() { cosine[i * index.count + j] = unique[a * u + b] } }
        let picks = Self.picks(cosine: cosine, count: index.count, budget: clampedBudget(budget(rows: index.count), patches: index.count))
        let order = Self.pickOrder(picks, count: index.count)
        // Each view's share: its kept patches in packed order; the packing keeps the picked rows in packed order.
        var shares = [[Int]](repeating: [], count: v)
        var rows: [RowSource] = [], origins: [(view: Int, row: Int)?] = []
        var signal = [[Float]](repeating: [Float](repeating: 0, count: n), count: v)
        for (i, o) in full.origins.enumerated() { if let o { signal[o.view][o.row] = order[i] } }
        for i in picks.sorted() {
            rows.append(full.rows[i])
            guard let o = full.origins[i] else { origins.append(nil); continue }
            origins.append((o.view, shares[o.view].count))
            shares[o.view].append(o.row)
        }
        let views = (0..<v).map { k in
            Reduction(reduced: all[k].reduced.gatherRows(shares[k]), rows: image.views[k].patchRows(shares[k]), signal: ("pick_order", signal[k]),
                      projected: all[k].projected?.gatherRows(shares[k]),
                      note: projected ? nil : "no projector: diversity measured on the features x, and no newline rows (a convention of this project)")
        }
        return image.pack(views, Packing(grid: full.grid, rows: rows, origins: origins, droppedInPadding: 0))
    }
}

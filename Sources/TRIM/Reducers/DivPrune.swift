import Foundation
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
// Ignores the prompt. Budgets above N keep N picks (a pick can repeat only when a patch duplicates a picked
// one exactly; the rows then repeat, as in the released code).

/// DivPrune as a member of the reducer family (`--method divprune [--keep T]`).
public struct DivPrune: TokenReducer {
    /// Rows handed to the LLM, or `nil` for the released default share of the patches.
    public var keep: Int?
    /// The released default share (`SUBSET_RATIO` in its scripts).
    public static let defaultRatio = 0.098

    /// DivPrune keeping `keep` rows (default: int(round(0.098·N))).
    public init(keep: Int? = nil) { self.keep = keep }

    public var name: String { "divprune" }
    public var settings: String {
        (keep.map { "\($0) rows" } ?? "int(round(0.098·N)) rows") + " by max–min cosine distance of projected rows"
    }
    public var needs: ReducerNeeds { [.projectedRows] }

    public func reduce(_ input: ReducerInput) throws -> Reduction {
        let n = input.patchCount
        let t = clampedBudget(keep ?? pythonRound(Self.defaultRatio * Double(n)), patches: n)
        let projectedRows = input[.projectedRows]
        let x = projectedRows ?? input.features
        let cosine = cosineMatrix(x)  // [N, N]
        var picks: [Int] = []
        var minDistance = [Float](repeating: .infinity, count: n)
        if t > 0 {
            // The second-smallest distance in each column (torch.topk(…, 2, largest=False).values[1]).
            var lo = [Float](repeating: .infinity, count: n), next = lo  // per column, rows in order
            cosine.scalars.withUnsafeBufferPointer { c in
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
            for j in 0..<n { minDistance[j] = min(minDistance[j], 1 - cosine.scalars[last * n + j]) }
            picks.append(argmax(minDistance)!)
        }
        let kept = picks.sorted()
        let projected = projectedRows.map { $0.gatherRows(kept) }
        // The signal drawn by the heat map: the order in which patches were picked (first = T, last = 1).
        var order = [Float](repeating: 0, count: n)
        for (i, p) in picks.enumerated() where order[p] == 0 { order[p] = Float(t - i) }
        return Reduction(
            reduced: input.features.gatherRows(kept), rows: input.patchRows(kept), signal: ("pick_order", order),
            projected: projected,
            note: projectedRows == nil ? "no projector: diversity measured on the features x (a convention of this project)" : nil)
    }
}

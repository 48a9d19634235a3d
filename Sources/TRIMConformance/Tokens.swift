/// A patch as a selection names it: its view and its index within the view (view 0 in a single-view dump).
public struct PatchToken: Hashable, Sendable {
    /// The view (0 for LLaVA-1.5's single view; the crop or base image in an any-resolution dump).
    public var view: Int
    /// The patch's index within its view.
    public var patch: Int

    /// A token from its parts.
    public init(view: Int = 0, patch: Int) {
        self.view = view
        self.patch = patch
    }

    /// `17`, or `(1, 17)` when the dump names tokens as (view, patch) pairs.
    public func text(pairs: Bool) -> String { pairs ? "(\(view), \(patch))" : "\(patch)" }
}

/// Where one row of `reduced` (or `projected`) comes from, as the dump tells it.
enum RowKey: Equatable {
    /// A single patch.
    case token(PatchToken)
    /// Any other row (a mean, merged, class-token, contextual or newline row).
    case other
}

/// Reading selections and row sources out of the dump tensors.
enum SelectionReading {
    /// The tokens of `kept_indices`: `[K]` (patches of view 0) or `[K,2]` (view, patch) int64; nil for
    /// anything else.
    static func keptTokens(_ t: DumpTensor) -> (tokens: [PatchToken], pairs: Bool)? {
        guard let v = t.integers else { return nil }
        if t.info.shape.count == 1 { return (v.map { PatchToken(patch: Int($0)) }, false) }
        guard t.info.shape.count == 2, t.info.shape[1] == 2 else { return nil }
        return (stride(from: 0, to: v.count, by: 2).map { PatchToken(view: Int(v[$0]), patch: Int(v[$0 + 1])) }, true)
    }

    /// The rows of `token_map [L,2]` (view, patch): a patch for `patch ≥ 0`, another row for `(view, −1)` and
    /// the newline `(−1, −1)` (left out with `droppingNewlines`: `reduced` holds no newline rows, `projected`
    /// does); nil for anything else.
    static func tokenMapRows(_ t: DumpTensor, droppingNewlines: Bool = false) -> [RowKey]? {
        guard let v = t.integers, t.info.shape.count == 2, t.info.shape[1] == 2 else { return nil }
        return stride(from: 0, to: v.count, by: 2).compactMap { i -> RowKey? in
            if v[i] >= 0 && v[i + 1] >= 0 { return .token(PatchToken(view: Int(v[i]), patch: Int(v[i + 1]))) }
            return droppingNewlines && v[i] < 0 && v[i + 1] < 0 ? nil : .other
        }
    }

    /// The patch tokens of row keys, in row order.
    static func tokens(of rows: [RowKey]) -> [PatchToken] {
        rows.compactMap { if case .token(let t) = $0 { t } else { nil } }
    }

    /// The rows of `reduced` when only `kept_indices` names them (Docs/SEMANTICS.md §3: the single-patch rows
    /// in row order): with `contextual_assignment` in the dump, VisionZip's `[CLS]`, the patches, then the
    /// contextual rows (§3c); otherwise the patches, then the other rows (TRIM's mean token, PruMerge's
    /// merged row). Nil when `rows` is too small to hold the patches.
    static func rows(kept: [PatchToken], rowCount rows: Int, classTokenFirst: Bool) -> [RowKey]? {
        let lead = classTokenFirst ? 1 : 0
        guard rows >= kept.count + lead else { return nil }
        let trailing = rows - kept.count - lead
        return Array(repeating: .other, count: lead) + kept.map { .token($0) } + Array(repeating: .other, count: trailing)
    }
}

/// The expected side's ranking signal, looked up by token: `[N]`, `[V, N]` (views × patches), or `[V·N]`
/// (the views' signals one after the other) with N given by the dump's other tensors.
struct ScoreTable {
    /// Its dump name (`scores`, `cls_attention`, …).
    let name: String
    /// The values, row-major.
    let values: [Double]
    /// Patches per view: the last extent.
    let perView: Int

    /// The table of a signal tensor; nil when it is not a float tensor of rank 1 or 2. `patchesPerView` splits
    /// a rank-1 signal into views when it divides the signal's length.
    init?(name: String, _ t: DumpTensor, patchesPerView: Int? = nil) {
        guard case .float(let v) = t.values, (1...2).contains(t.info.shape.count), let n = t.info.shape.last, n > 0 else {
            return nil
        }
        self.name = name
        values = v.map(Double.init)
        if t.info.shape.count == 1, let p = patchesPerView, p > 0, n % p == 0 { perView = p } else { perView = n }
    }

    /// The score of `token`, or nil when the signal has no such patch.
    func score(_ token: PatchToken) -> Double? {
        guard token.view >= 0, token.patch >= 0, token.patch < perView else { return nil }
        let (i, overflow) = token.view.multipliedReportingOverflow(by: perView)
        return !overflow && i + token.patch < values.count ? values[i + token.patch] : nil
    }

    /// Every token the signal scores.
    var tokens: [PatchToken] {
        (0..<values.count).map { PatchToken(view: $0 / perView, patch: $0 % perView) }
    }
}

/// How each stage of a dump is compared: the selection tensors as selections, `reduced` and `projected` row
/// by source token, the tensors recording a selection's outcome in the light of the selection, every other
/// tensor as a whole.
extension Sides {
    /// The comparison of `name`, present on both sides as `e` and `a`.
    mutating func compare(_ name: String, _ e: DumpTensor, _ a: DumpTensor, selection: SelectionDiff?,
                          tolerance: DiffTolerance) -> TensorDiff {
        switch name {
        case "kept_indices":
            return TensorDiff.selection(name, e, a, selection: selection?.source == name ? selection : nil, tolerance)
        case "token_map":
            return tokenMap(e, a, selection: selection, tolerance: tolerance)
        case "reduced", "projected":
            guard let (er, ar) = rowKeys(expectedRows: e.info.shape.first, actualRows: a.info.shape.first) else {
                return TensorDiff.whole(name, e, a, tolerance)
            }
            return TensorDiff.rows(name, e, a, expectedRows: er, actualRows: ar, selection: selection, tolerance)
        case _ where DumpNames.selectionOutcomes.contains(name):
            return TensorDiff.outcome(name, e, a, selection: selection, tolerance)
        default:
            return TensorDiff.whole(name, e, a, tolerance)
        }
    }

    /// Each side's row sources for a tensor of `expectedRows` / `actualRows` rows: from `token_map` when both
    /// sides have one that fits, with its newline rows (`projected`) or without them (`reduced`), else from
    /// `kept_indices`; nil when neither can say.
    mutating func rowKeys(expectedRows: Int?, actualRows: Int?) -> ([RowKey], [RowKey])? {
        guard let eCount = expectedRows, let aCount = actualRows else { return nil }
        if let (e, a) = try? pair("token_map") {
            for dropping in [false, true] {
                if let er = SelectionReading.tokenMapRows(e, droppingNewlines: dropping), er.count == eCount,
                   let ar = SelectionReading.tokenMapRows(a, droppingNewlines: dropping), ar.count == aCount {
                    return (er, ar)
                }
            }
        }
        guard let (e, a) = try? pair("kept_indices"), let ek = SelectionReading.keptTokens(e),
              let ak = SelectionReading.keptTokens(a),
              let er = SelectionReading.rows(kept: ek.tokens, rowCount: eCount, classTokenFirst: expected.contains("contextual_assignment")),
              let ar = SelectionReading.rows(kept: ak.tokens, rowCount: aCount, classTokenFirst: actual.contains("contextual_assignment"))
        else { return nil }
        return (er, ar)
    }

    /// `token_map [L,2]`: its patch rows compared as a selection (the selection itself when it was read from
    /// `token_map`), its other rows — `(view, −1)`, `(−1, −1)` — exactly, in order.
    mutating func tokenMap(_ e: DumpTensor, _ a: DumpTensor, selection: SelectionDiff?, tolerance: DiffTolerance) -> TensorDiff {
        var diff = TensorDiff.whole("token_map", e, a, tolerance)
        guard diff.verdict == .out, let er = SelectionReading.tokenMapRows(e), let ar = SelectionReading.tokenMapRows(a),
              let ev = e.integers, let av = a.integers
        else { return diff }
        let analysis = selection?.source == "token_map" ? selection! : SelectionDiff.analyze(
            source: "token_map", expected: SelectionReading.tokens(of: er), actual: SelectionReading.tokens(of: ar), pairs: true,
            scores: scoreTable(), iqrMultiplier: nil, tolerance: tolerance)
        func otherEntries(_ v: [Int64]) -> [[Int64]] {
            stride(from: 0, to: v.count, by: 2).map { [v[$0], v[$0 + 1]] }.filter { $0[0] < 0 || $0[1] < 0 }
        }
        guard otherEntries(ev) == otherEntries(av) else {
            diff.notes.append("its rows that are not one patch differ")
            return diff
        }
        (diff.verdict, diff.maxAbs, diff.maxRel) = (analysis.verdict == .identical ? .out : analysis.verdict, nil, nil)
        diff.notes.append(analysis.verdict == .nearTie ? "its patch rows differ only by near-ties of the selection"
                                                       : "its patch rows differ beyond near-ties")
        return diff
    }
}

extension TensorDiff {
    /// `kept_indices`: the selection's verdict (when both sides could be read as a selection).
    static func selection(_ name: String, _ e: DumpTensor, _ a: DumpTensor, selection: SelectionDiff?,
                          _ tolerance: DiffTolerance) -> TensorDiff {
        var diff = whole(name, e, a, tolerance)
        guard let selection, diff.verdict != .identical, e.kind == a.kind else { return diff }
        (diff.verdict, diff.maxAbs, diff.maxRel) = (selection.verdict, nil, nil)  // index differences mean nothing
        diff.notes = [selection.verdict == .nearTie ? "differs only by near-ties (see the selection)"
                                                    : "differs beyond near-ties (see the selection)"]
        return diff
    }

    /// A tensor recording the selection's outcome (`pick_order`, `random_mask`, `contextual_assignment`): when
    /// the selection differs only by near-ties, a difference here follows from them.
    static func outcome(_ name: String, _ e: DumpTensor, _ a: DumpTensor, selection: SelectionDiff?,
                        _ tolerance: DiffTolerance) -> TensorDiff {
        var diff = whole(name, e, a, tolerance)
        guard diff.verdict == .out, diff.maxAbs != nil, selection?.verdict == .nearTie else { return diff }
        diff.verdict = .nearTie
        diff.notes.append("follows the selection's near-ties")
        return diff
    }
}

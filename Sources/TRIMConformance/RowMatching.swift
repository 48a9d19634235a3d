import Foundation

/// Rows of two tensors paired by their source: a patch row with the row of the same token, the other rows
/// (mean, merged, class-token, contextual, newline) by their position among such rows.
struct RowPairing {
    /// Pairs of (expected row, actual row) of the same token.
    var tokenPairs: [(Int, Int)] = []
    /// Pairs of other rows, by position among them.
    var otherPairs: [(Int, Int)] = []
    /// Tokens whose row is on the expected / actual side only.
    var onlyExpected: [PatchToken] = [], onlyActual: [PatchToken] = []
    /// Other rows without a partner on the expected / actual side.
    var unpairedOthers = (expected: 0, actual: 0)

    init(expected: [RowKey], actual: [RowKey]) {
        var actualRow: [PatchToken: Int] = [:]
        for (i, key) in actual.enumerated() { if case .token(let t) = key, actualRow[t] == nil { actualRow[t] = i } }
        var expectedTokens = Set<PatchToken>()
        for (i, key) in expected.enumerated() {
            guard case .token(let t) = key, expectedTokens.insert(t).inserted else { continue }
            if let j = actualRow[t] { tokenPairs.append((i, j)) } else { onlyExpected.append(t) }
        }
        onlyActual = SelectionDiff.unique(SelectionReading.tokens(of: actual).filter { !expectedTokens.contains($0) })
        let eOthers = expected.indices.filter { expected[$0] == .other }, aOthers = actual.indices.filter { actual[$0] == .other }
        otherPairs = Array(zip(eOthers, aOthers))
        unpairedOthers = (eOthers.count - otherPairs.count, aOthers.count - otherPairs.count)
    }

    /// The deviation over `pairs` of rows `width` wide.
    static func deviation(_ pairs: [(Int, Int)], _ e: [Double], _ a: [Double], width: Int) -> Deviation {
        var d = Deviation()
        for (i, j) in pairs { d.merge(Deviation(e[i * width..<(i + 1) * width], a[j * width..<(j + 1) * width])) }
        return d
    }
}

extension TensorDiff {
    /// `reduced` or `projected`, rows compared by the token they come from (`expectedRows` / `actualRows`,
    /// one key per row). Rows of tokens chosen by one side only must be near-ties of `selection`; when the
    /// selection differs only by near-ties, the rows that are not one patch follow from it and are not held to
    /// the tolerance; every other matched row must be within it.
    static func rows(_ name: String, _ e: DumpTensor, _ a: DumpTensor, expectedRows: [RowKey], actualRows: [RowKey],
                     selection: SelectionDiff?, _ tolerance: DiffTolerance) -> TensorDiff {
        let es = e.info.shape, ashape = a.info.shape
        guard e.kind == "float", a.kind == "float", es.count >= 2, ashape.count >= 2, es.dropFirst() == ashape.dropFirst(),
              es[0] == expectedRows.count, ashape[0] == actualRows.count, let ev = e.doubles, let av = a.doubles
        else { return whole(name, e, a, tolerance) }
        var diff = whole(name, e, a, tolerance)
        if diff.verdict == .identical { return diff }
        let width = es.dropFirst().reduce(1, *)
        let pairing = RowPairing(expected: expectedRows, actual: actualRows)
        let followsNearTie = selection?.verdict == .nearTie
        var strict = RowPairing.deviation(pairing.tokenPairs, ev, av, width: width)
        let others = RowPairing.deviation(pairing.otherPairs, ev, av, width: width)
        if !followsNearTie { strict.merge(others) }
        let scale = Deviation(ev[...], ev[...]).maxExpected
        (diff.maxAbs, diff.maxRel, diff.notes) = (strict.maxAbs, strict.relative(to: scale), [])
        let swapped = pairing.onlyExpected + pairing.onlyActual
        let explained = swapped.allSatisfy { selection?.nearTieTokens.contains($0) ?? false }
        if !swapped.isEmpty || pairing.unpairedOthers != (0, 0) {
            diff.notes.append("rows matched by source token: \(count(pairing.tokenPairs.count, "patch row")), "
                              + "\(count(pairing.otherPairs.count, "other row"))")
        }
        if !swapped.isEmpty { diff.notes.append(swappedNote(pairing, selection: selection, explained: explained)) }
        if pairing.unpairedOthers != (0, 0) {
            diff.notes.append("\(pairing.unpairedOthers.expected + pairing.otherPairs.count) vs "
                              + "\(pairing.unpairedOthers.actual + pairing.otherPairs.count) rows that are not one patch")
        }
        if followsNearTie && !pairing.otherPairs.isEmpty && others.maxAbs > 0 {
            let one = pairing.otherPairs.count == 1
            diff.notes.append("\(count(pairing.otherPairs.count, "row")) that \(one ? "is" : "are") not one patch "
                              + "follow\(one ? "s" : "") the changed selection (max |Δ| \(formatNumber(others.maxAbs)), not held to the tolerance)")
        }
        let strictVerdict = verdict(name, kind: "float", strict, tolerance, scale: scale)
        if !explained || pairing.unpairedOthers != (0, 0) || strictVerdict == .out {
            diff.verdict = .out
        } else {
            diff.verdict = followsNearTie ? .nearTie : (strictVerdict == .identical && es == ashape ? .identical : .within)
        }
        return diff
    }

    /// `rows of tokens only in expected: 17; only in actual: 18 — near-ties of the selection` (or `— not …`).
    static func swappedNote(_ p: RowPairing, selection: SelectionDiff?, explained: Bool) -> String {
        let pairs = selection?.pairs ?? false
        func list(_ ts: [PatchToken]) -> String { ts.isEmpty ? "none" : ts.map { $0.text(pairs: pairs) }.joined(separator: ", ") }
        return "rows of tokens only in expected: \(list(p.onlyExpected)); only in actual: \(list(p.onlyActual)) — "
            + (explained ? "the selection's near-ties" : "not explained by near-ties")
    }
}

/// `1 row`, `3 rows`.
func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

/// `0`, `3.10e-07`, `inf`: a compact number for reports.
func formatNumber(_ x: Double) -> String {
    if x == 0 { return "0" }
    if !x.isFinite { return x.isNaN ? "nan" : "inf" }
    return String(format: "%.2e", x)
}

import Foundation
import TRIMJSON

extension DumpDiff {
    /// The report: what was compared, one line per tensor in pipeline order (dtypes and shapes, max |Δ|,
    /// max |Δ| / max |expected|, verdict), the selection explained, the notes, the verdict and the first
    /// stage out of tolerance on its own line.
    public func report(expectedName: String, actualName: String) -> String {
        var lines = [
            "expected   \(expectedName)", "actual     \(actualName)",
            "tolerance  pixel_values |Δ| ≤ \(tolerance.pixelAbsolute) · other floats max|Δ|/max|expected| ≤ "
                + "\(tolerance.relative) · integers exact · near-tie \(tolerance.nearTie) relative",
            "",
        ]
        lines += table()
        if let selection { lines += [""] + selection.reportLines() }
        let notes = tensors.flatMap { t in t.notes.map { "  \(t.name): \($0)" } }
        if !notes.isEmpty { lines += ["", "notes"] + notes }
        lines += ["", "verdict    \(verdict.rawValue)"]
        lines.append(firstOut.map { "first out  \($0)  (everything after it follows from it)" } ?? "first out  none")
        return lines.joined(separator: "\n")
    }

    /// The table: a header and one row per tensor (missing ones included, in pipeline order).
    func table() -> [String] {
        var rows: [[String]] = [["tensor", "expected", "actual", "max |Δ|", "max |Δ|/max|e|", "verdict"]]
        let missingByName = Dictionary(missing.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let diffs = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in order {
            if let t = diffs[name] {
                rows.append([name, t.expected, t.actual, t.maxAbs.map(formatNumber) ?? "—", t.maxRel.map(formatNumber) ?? "—",
                             t.verdict.rawValue])
            } else if let m = missingByName[name] {
                rows.append([name, m.inExpected ? m.summary : "—", m.inExpected ? "—" : m.summary, "—", "—",
                             m.inExpected ? "missing in actual" : "missing in expected"])
            }
        }
        let widths = (0..<5).map { c in rows.map { $0[c].count }.max()! }
        return rows.map { r in
            (0..<5).map { r[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "  " + r[5]
        }
    }

    /// Every name compared or missing, in pipeline order.
    var order: [String] {
        let known = DumpNames.inputs + DumpNames.signals
        let names = tensors.map(\.name) + missing.map(\.name)
        let others = names.filter { !known.contains($0) && !DumpNames.outputs.contains($0) }
        return known.filter(names.contains) + others.filter { n in names.contains(n) } + DumpNames.outputs.filter(names.contains)
    }

    /// The JSON object: `verdict`, `first_out`, `tensors` (`name`, `verdict`, `max_abs`, `max_rel`), `missing`,
    /// and `selection` (`only_expected`, `only_actual`, `near_ties`) when the dumps hold one.
    public var json: JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("verdict", .string(verdict.rawValue)), ("first_out", firstOut.map { .string($0) } ?? .null),
            ("tensors", .array(tensors.map { t in
                .object(JSONObject([("name", .string(t.name)), ("verdict", .string(t.verdict.rawValue)),
                                    ("max_abs", t.maxAbs.map { .double($0) } ?? .null),
                                    ("max_rel", t.maxRel.map { .double($0) } ?? .null)]))
            })),
            ("missing", .array(order.filter { n in missing.contains { $0.name == n } }.map { .string($0) })),
        ]
        if let s = selection {
            func tokens(_ js: [TokenJudgement]) -> JSONValue {
                .array(js.map { s.pairs ? .array([.int($0.token.view), .int($0.token.patch)]) : .int($0.token.patch) })
            }
            pairs.append(("selection", .object(JSONObject([("only_expected", tokens(s.onlyExpected)),
                                                           ("only_actual", tokens(s.onlyActual)), ("near_ties", .int(s.nearTies))]))))
        }
        return .object(JSONObject(pairs))
    }
}

extension SelectionDiff {
    /// The selection's lines in the report: where it was read from, the thresholds, each token chosen by one
    /// side only with its score and margin, each order swap, each problem.
    func reportLines() -> [String] {
        var head = "selection  \(source): \(verdict.rawValue)"
        if verdict == .identical { return [head] }
        if let signal {
            let thresholds = [("smallest kept", smallestKept), ("largest not kept", largestNotKept), ("IQR bound", iqrBound)]
                .compactMap { name, v in v.map { "\(name) \(formatScore($0))" } }
            head += " · judged on the expected \(signal)" + (thresholds.isEmpty ? "" : " (" + thresholds.joined(separator: ", ") + ")")
        } else {
            head += " · no score signal in the expected dump: no difference can be judged a near-tie"
        }
        var lines = [head]
        for (side, judgements) in [("only in expected", onlyExpected), ("only in actual", onlyActual)] {
            for j in judgements { lines.append("  \(side): \(j.token.text(pairs: pairs))  \(describe(j))") }
        }
        for s in orderSwaps {
            let m = s.margin.map { "scores \(formatNumber($0)) apart" } ?? "no scores"
            lines.append("  order at \(s.position): expected \(s.expected.text(pairs: pairs)), actual \(s.actual.text(pairs: pairs))  "
                         + "\(m): \(s.isNearTie ? "near-tie" : "not a near-tie")")
        }
        lines += problems.map { "  \($0)" }
        return lines
    }

    /// `score 0.0213, 3.10e-07 from the IQR bound: near-tie`.
    func describe(_ j: TokenJudgement) -> String {
        guard let score = j.score else { return "no expected score: not a near-tie" }
        guard let margin = j.margin, let against = j.against else { return "score \(formatScore(score)), nothing to compare: not a near-tie" }
        return "score \(formatScore(score)), \(formatNumber(margin)) from \(against): \(j.isNearTie ? "near-tie" : "not a near-tie")"
    }
}

/// A score with enough digits to see a near-tie: `0.021342817`.
func formatScore(_ x: Double) -> String { String(format: "%.9g", x) }

import TRIMTensor

/// One token chosen by one side only, and whether a near-tie explains it.
public struct TokenJudgement: Sendable, Equatable {
    /// The token.
    public var token: PatchToken
    /// Its score in the expected side's signal (nil without a signal, or outside it).
    public var score: Double?
    /// Whether the score is within the near-tie margin of what it was compared with.
    public var isNearTie: Bool
    /// The smallest relative margin found (nil when there was nothing to compare with).
    public var margin: Double?
    /// What that margin is measured to: `the smallest kept score`, `the IQR bound`, `17's score`, ….
    public var against: String?
}

/// Two common tokens in another order at one position of a ranked selection (e.g. PruMerge's attention
/// order), and whether their scores nearly tie.
public struct OrderSwap: Sendable, Equatable {
    /// The position among the tokens both sides chose.
    public var position: Int
    /// The expected and actual tokens there.
    public var expected: PatchToken, actual: PatchToken
    /// Whether their expected scores are within the near-tie margin.
    public var isNearTie: Bool
    /// Their relative score margin (nil without scores).
    public var margin: Double?
}

/// How two selections (`kept_indices`, or the patch rows of `token_map`) differ, judged on the expected
/// side's signal: a token chosen by one side only is a near-tie when its score is within the near-tie margin
/// of the selection threshold — the smallest kept score (for a token only the actual side chose), the largest
/// score not kept (for one only the expected side chose), the IQR bound when the expected dump says it used
/// one and the bound reproduces its choice — or of the score of a token it displaced.
public struct SelectionDiff: Sendable, Equatable {
    /// The tensor the selection was read from: `kept_indices` or `token_map`.
    public var source: String
    /// Whether tokens are (view, patch) pairs.
    public var pairs: Bool
    /// The expected side's signal the decisions were judged by (nil: none in the dump).
    public var signal: String?
    /// The thresholds on the expected side: smallest kept score, largest score not kept, IQR bound.
    public var smallestKept: Double?, largestNotKept: Double?, iqrBound: Double?
    /// Tokens only the expected side chose, in its order.
    public var onlyExpected: [TokenJudgement]
    /// Tokens only the actual side chose, in its order.
    public var onlyActual: [TokenJudgement]
    /// Positions where the tokens both chose come in another order.
    public var orderSwaps: [OrderSwap]
    /// What makes the selection unusable as it is (a repeated token), one line each.
    public var problems: [String]

    /// Differing decisions explained by near-ties: tokens on one side only, and order swaps.
    public var nearTies: Int {
        (onlyExpected + onlyActual).filter(\.isNearTie).count + orderSwaps.filter(\.isNearTie).count
    }

    /// `identical` (same tokens in the same order), `near-tie` (every difference a near-tie) or `out`.
    public var verdict: DiffVerdict {
        if onlyExpected.isEmpty && onlyActual.isEmpty && orderSwaps.isEmpty && problems.isEmpty { return .identical }
        let all = (onlyExpected + onlyActual).allSatisfy(\.isNearTie) && orderSwaps.allSatisfy(\.isNearTie)
        return all && problems.isEmpty ? .nearTie : .out
    }

    /// The tokens judged near-ties (on either side).
    public var nearTieTokens: Set<PatchToken> { Set((onlyExpected + onlyActual).filter(\.isNearTie).map(\.token)) }
}

extension SelectionDiff {
    /// Compares `expected` and `actual` token lists read from `source`, judging differences on `scores`
    /// (the expected side's signal); `iqrMultiplier` is the expected dump's IQR multiplier, when it says so.
    static func analyze(source: String, expected: [PatchToken], actual: [PatchToken], pairs: Bool, scores: ScoreTable?,
                        iqrMultiplier: Float?, tolerance: DiffTolerance) -> SelectionDiff {
        let eSet = Set(expected), aSet = Set(actual)
        var diff = SelectionDiff(source: source, pairs: pairs, signal: scores?.name, onlyExpected: [], onlyActual: [],
                                 orderSwaps: [], problems: [])
        guard expected != actual else { return diff }
        for (side, list, set) in [("expected", expected, eSet), ("actual", actual, aSet)] where set.count != list.count {
            diff.problems.append("the \(side) \(source) repeat a token")
        }
        if let scores { diff.setThresholds(scores, kept: eSet, iqrMultiplier: iqrMultiplier) }
        let onlyE = unique(expected.filter { !aSet.contains($0) }), onlyA = unique(actual.filter { !eSet.contains($0) })
        let judge = Judge(scores: scores, margin: tolerance.nearTie, pairs: pairs)
        diff.onlyExpected = onlyE.map {
            judge.judge($0, thresholds: [(diff.largestNotKept, "the largest score not kept"), (diff.iqrBound, "the IQR bound")],
                        displaced: onlyA, verb: "which took its place")
        }
        diff.onlyActual = onlyA.map {
            judge.judge($0, thresholds: [(diff.smallestKept, "the smallest kept score"), (diff.iqrBound, "the IQR bound")],
                        displaced: onlyE, verb: "which it displaced")
        }
        let commonE = expected.filter(aSet.contains), commonA = actual.filter(eSet.contains)
        for (i, (e, a)) in zip(commonE, commonA).enumerated() where e != a {
            let m = judge.margin(e, a)
            diff.orderSwaps.append(OrderSwap(position: i, expected: e, actual: a, isNearTie: m.map { $0 <= tolerance.nearTie } ?? false,
                                             margin: m))
        }
        return diff
    }

    /// The expected side's thresholds: the smallest kept score, the largest score not kept, and the IQR bound
    /// `Q3 + m·(Q3 − Q1)` (numpy's float32 percentiles, Docs/SEMANTICS.md §1 step 7) when `iqrMultiplier` is
    /// given and the bound keeps exactly `kept`.
    mutating func setThresholds(_ scores: ScoreTable, kept: Set<PatchToken>, iqrMultiplier: Float?) {
        let all = scores.tokens
        smallestKept = kept.compactMap(scores.score).min()
        largestNotKept = all.filter { !kept.contains($0) }.compactMap(scores.score).max()
        guard let m = iqrMultiplier, scores.values.count == scores.perView, !scores.values.isEmpty else { return }
        let floats = scores.values.map { Float($0) }
        let bound = iqrUpperBound(floats, multiplier: m)
        if all.allSatisfy({ (Float(scores.score($0)!) > bound) == kept.contains($0) }) { iqrBound = Double(bound) }
    }

    /// The elements of `xs` without repeats, in order.
    static func unique(_ xs: [PatchToken]) -> [PatchToken] {
        var seen = Set<PatchToken>()
        return xs.filter { seen.insert($0).inserted }
    }
}

/// `Q3 + m·(Q3 − Q1)` in float32 with numpy's default (linear) percentiles, as Docs/SEMANTICS.md §1 step 7
/// defines TRIM's IQR rule.
func iqrUpperBound(_ values: [Float], multiplier m: Float) -> Float {
    let sorted = values.sorted()
    let q1 = numpyPercentile(sorted: sorted, 25), q3 = numpyPercentile(sorted: sorted, 75)
    return q3 + m * (q3 - q1)
}

/// Judges one token against thresholds and the tokens it displaced (or that displaced it).
struct Judge {
    let scores: ScoreTable?
    let margin: Double
    let pairs: Bool

    /// The relative margin between two tokens' scores (nil when either has none).
    func margin(_ a: PatchToken, _ b: PatchToken) -> Double? {
        guard let sa = scores?.score(a), let sb = scores?.score(b) else { return nil }
        return relativeMargin(sa, sb)
    }

    /// The closest of `thresholds` and the scores of `displaced`, and whether it is within the margin.
    func judge(_ token: PatchToken, thresholds: [(Double?, String)], displaced: [PatchToken], verb: String) -> TokenJudgement {
        let score = scores?.score(token)
        var result = TokenJudgement(token: token, score: score, isNearTie: false, margin: nil, against: nil)
        guard let score else { return result }
        let others = displaced.compactMap { t in scores?.score(t).map { ($0 as Double?, "\(t.text(pairs: pairs))'s score, \(verb)") } }
        for case let (value?, what) in thresholds + others {
            let m = relativeMargin(score, value)
            if result.margin.map({ m < $0 }) ?? true { (result.margin, result.against) = (m, what) }
        }
        result.isNearTie = result.margin.map { $0 <= margin } ?? false
        return result
    }
}

import Foundation
import SafeTensors

/// Where two runs of the pipeline part ways: every tensor of two dumps (Docs/SEMANTICS.md §3) compared in
/// pipeline order under the conformance rules of §4, the selection explained, and the first stage out of
/// tolerance named — everything after it follows from it.
///
/// Float tensors are compared by `max|Δ| / max|expected|` (`pixel_values` by `|Δ|`), integer tensors exactly.
/// `kept_indices` (or the patch rows of `token_map`) are compared as a selection: tokens chosen by one side
/// only are judged on the expected side's signal, and a selection that differs only by near-ties is a
/// near-tie, not out. Rows of `reduced` and `projected` are paired by the token they come from, so a
/// near-tie changes only the rows it swaps. Tensors in one dump only are listed as missing, not out.
public struct DumpDiff: Sendable {
    /// Every tensor present in both dumps, in pipeline order.
    public var tensors: [TensorDiff]
    /// Tensors present in one dump only, in pipeline order.
    public var missing: [MissingTensor]
    /// The selection's comparison (nil when the dumps hold no selection both sides can be read from).
    public var selection: SelectionDiff?
    /// The tolerances applied.
    public var tolerance: DiffTolerance

    /// The worst verdict of any tensor (`identical` when there is none).
    public var verdict: DiffVerdict { tensors.map(\.verdict).max() ?? .identical }

    /// The first tensor in pipeline order that is out of tolerance, or nil.
    public var firstOut: String? { tensors.first { $0.verdict == .out }?.name }

    /// Compares the dumps at two paths (errors name the path as given).
    public static func compare(expectedPath: String, actualPath: String, tolerance: DiffTolerance = .conformance)
        throws(DumpDiffError) -> DumpDiff
    {
        try compare(expected: open(expectedPath), actual: open(actualPath), expectedPath: expectedPath, actualPath: actualPath,
                    tolerance: tolerance)
    }

    /// Compares two opened dumps; `expectedPath` and `actualPath` name them in errors.
    public static func compare(expected: SafeTensorsFile, actual: SafeTensorsFile, expectedPath: String = "expected",
                               actualPath: String = "actual", tolerance: DiffTolerance = .conformance)
        throws(DumpDiffError) -> DumpDiff
    {
        var sides = Sides(expected: expected, actual: actual, expectedPath: expectedPath, actualPath: actualPath)
        let selection = sides.selection(tolerance: tolerance)
        var diff = DumpDiff(tensors: [], missing: [], selection: selection, tolerance: tolerance)
        for name in DumpNames.pipelineOrder(expected: expected, actual: actual) {
            guard let (e, a) = try sides.pair(name) else {
                let inExpected = expected.contains(name)
                let info = (inExpected ? expected : actual).info(name)!
                diff.missing.append(MissingTensor(name: name, inExpected: inExpected, summary: DumpTensor.summary(info)))
                continue
            }
            diff.tensors.append(sides.compare(name, e, a, selection: selection, tolerance: tolerance))
        }
        return diff
    }

    /// Opens a dump, turning any failure into a one-line error naming `path`.
    static func open(_ path: String) throws(DumpDiffError) -> SafeTensorsFile {
        do { return try SafeTensorsFile(url: URL(fileURLWithPath: path)) } catch {
            throw .notSafeTensors(path: path, reason: "\(error)")
        }
    }
}

/// The two dumps being compared, with their tensors read once.
struct Sides {
    let expected: SafeTensorsFile, actual: SafeTensorsFile
    let expectedPath: String, actualPath: String
    private var cache: [String: (DumpTensor, DumpTensor)] = [:]

    init(expected: SafeTensorsFile, actual: SafeTensorsFile, expectedPath: String, actualPath: String) {
        (self.expected, self.actual, self.expectedPath, self.actualPath) = (expected, actual, expectedPath, actualPath)
    }

    /// Both sides' `name`, or nil when a side lacks it.
    mutating func pair(_ name: String) throws(DumpDiffError) -> (DumpTensor, DumpTensor)? {
        if let p = cache[name] { return p }
        guard expected.contains(name), actual.contains(name) else { return nil }
        let p = (try DumpTensor.load(expected, name, path: expectedPath), try DumpTensor.load(actual, name, path: actualPath))
        cache[name] = p
        return p
    }

    /// The expected side's first score signal (`scores`, `cls_attention`, …), if it holds one.
    mutating func scoreTable() -> ScoreTable? {
        for name in DumpNames.scoreSignals where expected.contains(name) {
            if let t = try? DumpTensor.load(expected, name, path: expectedPath),
               let table = ScoreTable(name: name, t, patchesPerView: patchesPerView()) { return table }
        }
        return nil
    }

    /// Patches per view of a multi-view expected dump: N of `features [V, N, D]`, or the signal's length over
    /// V of `pixel_values [V, 3, H, W]` (nil for a single view).
    func patchesPerView() -> Int? {
        if let f = expected.info("features")?.shape, f.count == 3 { return f[1] }
        guard let p = expected.info("pixel_values")?.shape, p.count == 4, p[0] > 0,
              let n = DumpNames.scoreSignals.lazy.compactMap({ expected.info($0)?.shape }).first?.first else { return nil }
        return n % p[0] == 0 ? n / p[0] : nil
    }

    /// The IQR multiplier the expected dump's metadata names (`options` = `… IQR ×1.5 …`, as `trim` writes it
    /// for TRIM's rule), when it judges by `scores`.
    func iqrMultiplier(signal: String?) -> Float? {
        guard signal == "scores", let options = expected.metadata["options"], let r = options.range(of: "IQR ×") else { return nil }
        return Float(options[r.upperBound...].prefix { !$0.isWhitespace })
    }

    /// The tokens both sides' `kept_indices` (else `token_map`) name, and where they came from.
    mutating func selectedTokens() -> (source: String, expected: [PatchToken], actual: [PatchToken], pairs: Bool)? {
        if let (e, a) = try? pair("kept_indices"), let ek = SelectionReading.keptTokens(e), let ak = SelectionReading.keptTokens(a),
           ek.pairs == ak.pairs {
            return ("kept_indices", ek.tokens, ak.tokens, ek.pairs)
        }
        if let (e, a) = try? pair("token_map"), let er = SelectionReading.tokenMapRows(e), let ar = SelectionReading.tokenMapRows(a) {
            return ("token_map", SelectionReading.tokens(of: er), SelectionReading.tokens(of: ar), true)
        }
        return nil
    }

    /// The selection's comparison, or nil when no selection can be read from both sides.
    mutating func selection(tolerance: DiffTolerance) -> SelectionDiff? {
        guard let s = selectedTokens() else { return nil }
        let scores = scoreTable()
        return SelectionDiff.analyze(source: s.source, expected: s.expected, actual: s.actual, pairs: s.pairs, scores: scores,
                                     iqrMultiplier: iqrMultiplier(signal: scores?.name), tolerance: tolerance)
    }
}

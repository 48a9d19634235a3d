import Foundation
import SafeTensors
import TRIMJSON
import XCTest

@testable import TRIMConformance

/// `DumpDiff` on dumps the tests build: identical runs, perturbations below and above the tolerance at
/// different stages, selections changed by a near-tie and by a clear error, missing tensors, wrong shapes
/// and kinds, VisionZip's row layout and any-resolution (view, patch) selections.
final class DumpDiffTests: XCTestCase {
    func diff(_ e: Dump, _ a: Dump, _ tolerance: DiffTolerance = .conformance) throws -> DumpDiff {
        try DumpDiff.compare(expected: e.file("expected"), actual: a.file("actual"), tolerance: tolerance)
    }

    func verdicts(_ d: DumpDiff) -> [String: DiffVerdict] {
        Dictionary(uniqueKeysWithValues: d.tensors.map { ($0.name, $0.verdict) })
    }

    func testIdenticalRunsAreIdenticalInPipelineOrder() throws {
        let run = SyntheticRun().dump
        let d = try diff(run, run)
        XCTAssertEqual(d.verdict, .identical)
        XCTAssertNil(d.firstOut)
        XCTAssertEqual(d.tensors.map(\.name), ["pixel_values", "features", "image_tokens", "input_ids", "text_embeds", "scores",
                                              "kept_indices", "reduced", "projected"])
        XCTAssertTrue(d.tensors.allSatisfy { $0.verdict == .identical && $0.maxAbs == 0 }, "\(d.tensors)")
        XCTAssertEqual(d.selection?.verdict, .identical)
        XCTAssertTrue(d.report(expectedName: "a", actualName: "b").hasSuffix("first out  none"))
    }

    func testPerturbationBelowTheToleranceIsWithin() throws {
        var actual = SyntheticRun()
        actual.features[5] *= 1 + 2e-6  // relative to max|features| < 1: below 1e-5
        let d = try diff(SyntheticRun().dump, actual.dump)
        XCTAssertEqual(d.verdict, .within)
        XCTAssertNil(d.firstOut)
        XCTAssertEqual(verdicts(d)["features"], .within)
        XCTAssertEqual(verdicts(d)["reduced"], .within)  // the mean row moved with it
        XCTAssertEqual(verdicts(d)["pixel_values"], .identical)
        let f = d.tensors.first { $0.name == "features" }!
        XCTAssertLessThan(f.maxRel!, 1e-5)
        XCTAssertGreaterThan(f.maxAbs!, 0)
    }

    func testFirstStageOutOfToleranceIsNamed() throws {
        // image_tokens out, everything else as expected: the first out is image_tokens.
        var actual = SyntheticRun().dump
        actual.edit("image_tokens") { $0[7] += 1e-3 }
        var d = try diff(SyntheticRun().dump, actual)
        XCTAssertEqual(d.verdict, .out)
        XCTAssertEqual(d.firstOut, "image_tokens")
        XCTAssertEqual(verdicts(d)["features"], .identical)
        XCTAssertTrue(d.report(expectedName: "a", actualName: "b").contains("first out  image_tokens  (everything after it"))
        // Features out too (and so everything built from them): features come first.
        var later = SyntheticRun()
        later.features[0] += 1e-3
        var both = later.dump
        both.edit("image_tokens") { $0[7] += 1e-3 }
        d = try diff(SyntheticRun().dump, both)
        XCTAssertEqual(d.firstOut, "features")
        XCTAssertEqual(verdicts(d)["reduced"], .out)
        // Only the projector's output out: projected.
        var projected = SyntheticRun().dump
        projected.edit("projected") { $0[3] *= 1.001 }
        d = try diff(SyntheticRun().dump, projected)
        XCTAssertEqual(d.firstOut, "projected")
        XCTAssertEqual(verdicts(d)["reduced"], .identical)
    }

    func testPixelValuesAreHeldToTheAbsoluteBound() throws {
        for (delta, expected) in [(Float(5e-7), DiffVerdict.within), (2e-6, .out)] {
            var actual = SyntheticRun().dump
            actual.edit("pixel_values") { $0[10] += delta }
            let d = try diff(SyntheticRun().dump, actual)
            XCTAssertEqual(verdicts(d)["pixel_values"], expected, "\(delta)")
            XCTAssertEqual(d.firstOut, expected == .out ? "pixel_values" : nil)
        }
    }

    func testFullSizeAndCustomTolerances() throws {
        var actual = SyntheticRun()
        actual.features[9] += 1e-4
        XCTAssertEqual(try diff(SyntheticRun().dump, actual.dump).firstOut, "features")
        XCTAssertEqual(try diff(SyntheticRun().dump, actual.dump, .fullSize).verdict, .within)
        XCTAssertEqual(try diff(SyntheticRun().dump, actual.dump, DiffTolerance(relative: 1e-6)).firstOut, "features")
        XCTAssertEqual(DiffTolerance.fullSize.relative, 1e-3)
        XCTAssertEqual(DiffTolerance.conformance.pixelAbsolute, 1e-6)
    }

    /// Token 9 scores within 1e-6 below token 3, the weakest kept: the actual run keeps 9 instead of 3.
    func nearTieRuns() -> (SyntheticRun, SyntheticRun) {
        var expected = SyntheticRun()
        expected.scores[9] = Float(Double(expected.scores[3]) * (1 - 4e-7))
        var actual = expected
        actual.kept = [7, 9, 12]
        return (expected, actual)
    }

    func testASelectionChangedByANearTieIsANearTie() throws {
        let (expected, actual) = nearTieRuns()
        let d = try diff(expected.dump, actual.dump)
        XCTAssertEqual(d.verdict, .nearTie)
        XCTAssertNil(d.firstOut)
        let s = try XCTUnwrap(d.selection)
        XCTAssertEqual(s.onlyExpected.map(\.token.patch), [3])
        XCTAssertEqual(s.onlyActual.map(\.token.patch), [9])
        XCTAssertEqual(s.nearTies, 2)
        XCTAssertEqual(s.signal, "scores")
        XCTAssertEqual(verdicts(d)["kept_indices"], .nearTie)
        // reduced: rows 7 and 12 match exactly; 3/9 are the swap; the mean row follows the selection.
        XCTAssertEqual(verdicts(d)["reduced"], .nearTie)
        XCTAssertEqual(verdicts(d)["projected"], .nearTie)
        XCTAssertEqual(d.tensors.first { $0.name == "reduced" }?.maxAbs, 0)
        let report = d.report(expectedName: "a", actualName: "b")
        XCTAssertTrue(report.contains("only in actual: 9"), report)
        XCTAssertTrue(report.contains("near-tie"), report)
    }

    func testANearTieDoesNotExcuseOtherRows() throws {
        // The same swap, but a matched row (token 7's, row 0) is off in reduced: out.
        let (expected, actual) = nearTieRuns()
        var a = actual.dump
        a.edit("reduced") { $0[1] += 1e-2 }
        let d = try diff(expected.dump, a)
        XCTAssertEqual(d.firstOut, "reduced")
        XCTAssertEqual(verdicts(d)["kept_indices"], .nearTie)
    }

    func testASelectionChangedByAClearErrorIsOut() throws {
        var actual = SyntheticRun()
        actual.kept = [3, 7, 5]  // 5 scores 0.02, far below the kept 0.09
        let d = try diff(SyntheticRun().dump, actual.dump)
        XCTAssertEqual(d.verdict, .out)
        XCTAssertEqual(d.firstOut, "kept_indices")
        XCTAssertEqual(verdicts(d)["reduced"], .out)
        let s = try XCTUnwrap(d.selection)
        XCTAssertEqual(s.nearTies, 0)
        XCTAssertEqual(s.onlyActual.first?.isNearTie, false)
        XCTAssertEqual(s.onlyExpected.map(\.token.patch), [12])
    }

    func testAnIQRNearTieIsJudgedByTheBoundWhenTheDumpNamesTheRule() throws {
        // Token 20 sits just below the IQR bound, far below the smallest kept score: only the bound explains
        // the actual run keeping it.
        var expected = SyntheticRun()
        expected.scores[20] = 0.05
        let bound = iqrUpperBound(expected.scores, multiplier: 1.5)
        expected.scores[20] = Float(Double(bound) * (1 - 3e-7))
        XCTAssertEqual(iqrUpperBound(expected.scores, multiplier: 1.5), bound)
        XCTAssertEqual((0..<SyntheticRun.n).filter { expected.scores[$0] > bound }, [3, 7, 12])
        var actual = expected
        actual.kept = [3, 7, 12, 20]
        XCTAssertEqual(try diff(expected.dump, actual.dump).firstOut, "kept_indices")  // no rule named: out
        var e = expected.dump
        e.metadata["options"] = "trim · scoring paper · IQR ×1.5 · mean token · layer -2"
        let d = try diff(e, actual.dump)
        XCTAssertEqual(d.selection?.iqrBound, Double(bound))
        XCTAssertEqual(d.selection?.onlyActual.first?.against, "the IQR bound")
        XCTAssertEqual(d.verdict, .nearTie)
    }

    func testARankedOrderSwappedByANearTie() throws {
        // PruMerge lists kept patches in attention order: 7 and 12 swapped with near-tie scores is a near-tie.
        var expected = SyntheticRun()
        expected.signalName = "cls_attention"
        expected.scores[12] = Float(Double(expected.scores[7]) * (1 - 2e-7))
        expected.kept = [7, 12, 3]
        var actual = expected
        actual.kept = [12, 7, 3]
        let d = try diff(expected.dump, actual.dump)
        XCTAssertEqual(d.selection?.orderSwaps.count, 2)
        XCTAssertEqual(d.verdict, .nearTie)
        // 3 and 7 swapped are far apart: out.
        actual.kept = [3, 12, 7]
        XCTAssertEqual(try diff(expected.dump, actual.dump).firstOut, "kept_indices")
    }

    func testMissingTensorsAreListedNotOut() throws {
        var actual = SyntheticRun().dump
        actual["image_tokens"] = nil
        actual["extra_thing"] = .floats([1, 2], [2])
        let d = try diff(SyntheticRun().dump, actual)
        XCTAssertEqual(d.verdict, .identical)
        XCTAssertEqual(d.missing.map(\.name), ["image_tokens", "extra_thing"])
        XCTAssertEqual(d.missing.map(\.inExpected), [true, false])
        let json = JSON.serialize(d.json)
        XCTAssertTrue(json.contains("\"missing\":[\"image_tokens\",\"extra_thing\"]"), json)
    }

    func testAWrongShapeIsOut() throws {
        var actual = SyntheticRun().dump
        actual["text_embeds"] = .floats(SyntheticRun().textEmbeds, [1, SyntheticRun.p])
        let d = try diff(SyntheticRun().dump, actual)
        XCTAssertEqual(d.firstOut, "text_embeds")
        let t = d.tensors.first { $0.name == "text_embeds" }!
        XCTAssertNil(t.maxAbs)
        XCTAssertEqual(t.notes, ["shape [3] vs [1, 3]"])
    }

    func testIntegerVersusFloatIsOut() throws {
        var actual = SyntheticRun().dump
        actual["input_ids"] = .floats(SyntheticRun().inputIDs.map(Float.init), [4])
        let d = try diff(SyntheticRun().dump, actual)
        XCTAssertEqual(d.firstOut, "input_ids")
        XCTAssertEqual(d.tensors.first { $0.name == "input_ids" }?.notes, ["integer vs float values"])
        // Integers compare exactly: one id off is out, however small.
        var ids = SyntheticRun()
        ids.inputIDs[1] += 1
        XCTAssertEqual(try diff(SyntheticRun().dump, ids.dump).firstOut, "input_ids")
    }

    func testVisionZipRowsAndAssignmentFollowANearTie() throws {
        var expected = SyntheticRun()
        expected.visionZip = true
        expected.signalName = "cls_attention"
        expected.scores[9] = Float(Double(expected.scores[3]) * (1 - 4e-7))
        var actual = expected
        actual.kept = [7, 9, 12]
        let d = try diff(expected.dump, actual.dump)
        XCTAssertEqual(verdicts(d)["contextual_assignment"], .nearTie)
        XCTAssertEqual(verdicts(d)["reduced"], .nearTie)
        XCTAssertEqual(d.tensors.first { $0.name == "reduced" }?.maxAbs, 0)  // [CLS] and patch rows matched exactly
        XCTAssertEqual(d.verdict, .nearTie)
        XCTAssertEqual(d.tensors.map(\.name).firstIndex(of: "contextual_assignment"), 6)
    }

    func testAnyResolutionSelectionsByViewAndPatch() throws {
        let (e, a) = anyResolutionDumps(actualKept: [(0, 1), (1, 2)])
        let d = try diff(e, a)
        XCTAssertEqual(d.selection?.pairs, true)
        XCTAssertEqual(d.selection?.onlyExpected.map(\.token), [PatchToken(view: 1, patch: 5)])
        XCTAssertEqual(d.selection?.onlyActual.map(\.token), [PatchToken(view: 1, patch: 2)])
        XCTAssertEqual(verdicts(d)["kept_indices"], .nearTie)
        XCTAssertEqual(verdicts(d)["token_map"], .nearTie)
        XCTAssertEqual(verdicts(d)["reduced"], .nearTie)
        XCTAssertEqual(verdicts(d)["projected"], .nearTie)
        XCTAssertEqual(d.tensors.first { $0.name == "reduced" }?.maxAbs, 0)  // (0, 1) matched, the newline left out
        XCTAssertEqual(d.tensors.first { $0.name == "projected" }?.maxAbs, 0)
        XCTAssertEqual(JSON.serialize(d.json["selection"]!["only_actual"]!), "[[1,2]]")
        let (_, clear) = anyResolutionDumps(actualKept: [(0, 1), (1, 3)])
        XCTAssertEqual(try diff(e, clear).firstOut, "kept_indices")
        // The views' signals one after the other, [V·N]: split by features [V, N, D].
        let (flatE, flatA) = anyResolutionDumps(actualKept: [(0, 1), (1, 2)], flatSignal: true)
        XCTAssertEqual(try diff(flatE, flatA).verdict, .nearTie)
    }

    /// Two views of 8 patches, scores `[2, 8]` (or `[16]`); expected keeps (0, 1) and (1, 5), where (1, 2)
    /// nearly ties with (1, 5). Rows of `projected` and `token_map`, as LLaVA-NeXT packs them: view 0's patches,
    /// its mean, a newline, view 1's patches, its mean; `reduced` holds the same rows without the newline.
    func anyResolutionDumps(actualKept: [(Int, Int)], flatSignal: Bool = false) -> (Dump, Dump) {
        var scores = [Float](repeating: 0.05, count: 16)
        for i in 0..<16 { scores[i] += Float(i) * 1e-3 }
        scores[1] = 0.5
        scores[8 + 5] = 0.4
        scores[8 + 2] = Float(0.4 * (1 - 3e-7))
        let features = SyntheticRun.values(16 * 4, seed: 7)
        func dump(_ kept: [(Int, Int)]) -> Dump {
            var map: [Int64] = [], packed: [[Float]] = []
            for v in 0..<2 {
                let mine = kept.filter { $0.0 == v }.map(\.1)
                for p in mine { map += [Int64(v), Int64(p)]; packed.append(Array(features[(v * 8 + p) * 4..<(v * 8 + p + 1) * 4])) }
                map += [Int64(v), -1]
                packed.append([Float](repeating: Float(mine.reduce(0, +)), count: 4))  // a row that follows the selection
                if v == 0 { map += [-1, -1]; packed.append([9, 9, 9, 9]) }
            }
            let rows = packed.indices.filter { map[2 * $0] >= 0 }.flatMap { packed[$0] }
            var d = Dump()
            d["features"] = .floats(features, [2, 8, 4])
            d["scores"] = .floats(scores, flatSignal ? [16] : [2, 8])
            d["kept_indices"] = .ints(kept.flatMap { [Int64($0.0), Int64($0.1)] }, [kept.count, 2])
            d["token_map"] = .ints(map, [map.count / 2, 2])
            d["reduced"] = .floats(rows, [rows.count / 4, 4])
            d["projected"] = .floats(packed.flatMap { $0 }, [packed.count, 4])
            return d
        }
        return (dump([(0, 1), (1, 5)]), dump(actualKept))
    }

    func testJSONHasTheDocumentedFields() throws {
        let (expected, actual) = nearTieRuns()
        let j = try JSON.parse(JSON.serialize(try diff(expected.dump, actual.dump).json))
        XCTAssertEqual(j.objectValue?.keys, ["verdict", "first_out", "tensors", "missing", "selection"])
        XCTAssertEqual(j["verdict"]?.stringValue, "near-tie")
        XCTAssertEqual(j["first_out"], .null)
        XCTAssertEqual(j["tensors"]?[0]?.objectValue?.keys, ["name", "verdict", "max_abs", "max_rel"])
        XCTAssertEqual(j["selection"]?["only_expected"], [3])
        XCTAssertEqual(j["selection"]?["only_actual"], [9])
        XCTAssertEqual(j["selection"]?["near_ties"]?.intValue, 2)
        // No selection on either side: no "selection" key.
        var bare = SyntheticRun().dump
        bare["kept_indices"] = nil
        let k = try JSON.parse(JSON.serialize(try diff(bare, bare).json))
        XCTAssertFalse(k.objectValue!.contains("selection"))
    }

    func testAFileThatIsNotSafetensorsIsATypedErrorNamingIt() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("trim-diff-\(getpid()).txt")
        try Data("not a dump at all".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try DumpDiff.compare(expectedPath: url.path, actualPath: url.path)) { error in
            guard case DumpDiffError.notSafeTensors(let path, _)? = error as? DumpDiffError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertFalse("\(error)".contains("\n"))
        }
    }
}

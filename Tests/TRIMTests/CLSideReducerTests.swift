import Foundation
import TRIMTensor
import XCTest

@testable import TRIM

/// FasterVLM, VisionZip, VisPruner, DivPrune and CDPruner on hand-made inputs: what each needs, the counts
/// and orders of their rows, and what they do where the released code breaks (Docs/REDUCERS.md). The
/// released semantics themselves are checked against PyTorch ports in `ReducerGoldenTests`.
final class CLSideReducerTests: XCTestCase {
    /// A deterministic input: N patches of width D with H heads; attention rows and keys from a generator.
    func input(n: Int, d: Int = 6, heads: Int = 2, p: Int = 4, segments: Int = 1, seed: UInt64 = 1) -> ReducerInput {
        var g = SplitMix64(seed: seed)
        func uniform() -> Float { Float(g.next() >> 40) / Float(1 << 24) - 0.5 }
        let x = Tensor(shape: [n, d], scalars: (0..<(n * d)).map { _ in uniform() })
        var attention = Tensor(shape: [heads, n + 1], scalars: (0..<(heads * (n + 1))).map { _ in 4 * uniform() })
        softmaxRowsInPlace(&attention)
        return ReducerInput(
            features: x, classToken: (0..<d).map { _ in uniform() },
            imageTokens: Tensor(shape: [n, p], scalars: (0..<(n * p)).map { _ in uniform() }),
            classAttention: attention,
            headMeanKeys: Tensor(shape: [n + 1, 3], scalars: (0..<((n + 1) * 3)).map { _ in uniform() }),
            promptSegments: Tensor(shape: [segments, p], scalars: (0..<(segments * p)).map { _ in uniform() }))
    }

    func testEachMethodStatesWhatItNeeds() {
        XCTAssertEqual(FasterVLM(keep: 1).needs, [.classAttention])
        XCTAssertEqual(VisionZip(keep: 1).needs, [.classAttention, .headMeanKeys])
        XCTAssertEqual(VisPruner(keep: 1).needs, [.classAttention])
        XCTAssertEqual(DivPrune().needs, [.projectedRows])
        XCTAssertEqual(CDPruner(keep: 1).needs, [.imageTokens, .promptSegments, .projectedRows])
    }

    func testFasterVLMKeepsTheTopPatchesByHeadMeanAttentionInAscendingOrder() throws {
        let inp = input(n: 25)
        let r = try FasterVLM(keep: 7).reduce(inp)
        let a = inp.classAttention!
        let s: [Float] = (0..<25).map { (j: Int) -> Float in
            let first: Float = a.scalars[1 + j], second: Float = a.scalars[27 + j]
            return (first + second) / 2
        }
        XCTAssertEqual(r.signal.values, s)
        XCTAssertEqual(r.keptIndices, topK(s, 7).sorted())
        XCTAssertEqual(r.reduced, inp.features.gatherRows(r.keptIndices))
        XCTAssertEqual(try FasterVLM(keep: 99).reduce(inp).keptIndices, Array(0..<25))  // budget above N: all
        XCTAssertEqual(try FasterVLM(keep: 0).reduce(inp).reduced.rows, 0)
    }

    func testVisionZipRowsAreTheClassTokenDominantPatchesAndContextualMerges() throws {
        let inp = input(n: 25)
        let r = try VisionZip(dominant: 6, contextual: 3).reduce(inp)
        XCTAssertEqual(r.reduced.rows, 9)  // D + C, the [CLS] row counted in D
        XCTAssertEqual(r.keptIndices.count, 5)
        XCTAssertEqual(r.keptIndices, r.keptIndices.sorted())
        XCTAssertEqual(Array(r.reduced.scalars[0..<6]), inp.classToken)
        XCTAssertEqual(r.reduced.rows(1..<6), inp.features.gatherRows(r.keptIndices))
        // Every non-dominant patch went to exactly one of the 3 contextual rows.
        let assignment = r.extras.first { $0.name == "contextual_assignment" }!.tensor.scalars
        XCTAssertEqual(assignment.filter { $0 >= 0 }.count, 20)
        XCTAssertEqual(Set(assignment.filter { $0 >= 0 }), [0, 1, 2])
        // The released split of a budget: 54 + 10, 108 + 20, 162 + 30.
        for (t, d) in [(64, 54), (128, 108), (192, 162)] {
            XCTAssertEqual(VisionZip(keep: t).dominant, d)
            XCTAssertEqual(VisionZip(keep: t).contextual, t - d)
        }
    }

    func testVisionZipWhereTheReleasedCodeBreaks() throws {
        let inp = input(n: 16)
        // C = 0 divides by zero there: no contextual rows here.
        XCTAssertEqual(try VisionZip(dominant: 5, contextual: 0).reduce(inp).reduced.rows, 5)
        // M < C fails to broadcast there: every remaining patch becomes its own contextual row.
        let r = try VisionZip(dominant: 12, contextual: 10).reduce(inp)  // 11 dominant, M = 5
        XCTAssertEqual(r.reduced.rows, 1 + 11 + 5)
        // D above N + 1: every patch dominant.
        XCTAssertEqual(try VisionZip(dominant: 40, contextual: 3).reduce(inp).keptIndices, Array(0..<16))
        // D = 1: the [CLS] row alone plus the contextual rows.
        XCTAssertEqual(try VisionZip(dominant: 1, contextual: 2).reduce(inp).reduced.rows, 3)
        XCTAssertThrowsError(try VisionZip(dominant: 0, contextual: 2).reduce(inp))
    }

    func testVisPrunerKeepsExactlyTheBudgetForOddAndEvenResiduals() throws {
        let inp = input(n: 36)
        for t in [1, 5, 9, 10, 17, 36, 50] {
            for ratio in [0.0, 0.5, 0.3, 1.0] {
                let r = try VisPruner(keep: t, importantRatio: ratio).reduce(inp)
                XCTAssertEqual(r.keptIndices.count, min(t, 36), "T \(t) r \(ratio)")
                XCTAssertEqual(Set(r.keptIndices).count, r.keptIndices.count)
                XCTAssertEqual(r.keptIndices, r.keptIndices.sorted())
            }
        }
        // The important part is FasterVLM's choice.
        let all = try VisPruner(keep: 8, importantRatio: 1).reduce(inp).keptIndices
        XCTAssertEqual(all, try FasterVLM(keep: 8).reduce(inp).keptIndices)
        XCTAssertThrowsError(try VisPruner(keep: 8, importantRatio: 1.5).reduce(inp))
    }

    func testDivPruneDefaultBudgetAndItsFirstPicks() throws {
        XCTAssertEqual(pythonRound(0.098 * 576), 56)
        XCTAssertEqual(pythonRound(2.5), 2)  // Python rounds halves to even
        let inp = input(n: 49)
        let r = try DivPrune().reduce(inp)
        XCTAssertEqual(r.keptIndices.count, 5)  // int(round(0.098·49)) = int(round(4.802))
        XCTAssertEqual(r.keptIndices, r.keptIndices.sorted())
        XCTAssertNotNil(r.note)  // no projector: says it works on the features
        // Two identical patches and one far away: the far one is picked first (largest second-smallest
        // distance), then the one farthest from it.
        let x = Tensor(shape: [3, 2], scalars: [1, 0, 1, 0, -1, 0.1])
        let picks = try DivPrune(keep: 2).reduce(ReducerInput(features: x, classToken: [0, 0])).keptIndices
        XCTAssertEqual(picks, [0, 2])
        var withRows = inp
        withRows.projectedRows = Tensor(shape: [49, 5], scalars: (0..<245).map { Float(($0 * 7919) % 101) / 50 - 1 })
        let projected = try DivPrune(keep: 4).reduce(withRows)
        XCTAssertNil(projected.note)
        XCTAssertEqual(projected.projected, withRows.projectedRows!.gatherRows(projected.keptIndices))
    }

    func testCDPrunerPicksTheBudgetAndHandlesDegenerateInputs() throws {
        let inp = input(n: 30, d: 8, segments: 3)
        for t in [1, 8, 30] {
            let r = try CDPruner(keep: t).reduce(inp)
            XCTAssertEqual(r.keptIndices.count, t)
            XCTAssertEqual(Set(r.keptIndices).count, t)
            XCTAssertEqual(r.keptIndices, r.keptIndices.sorted())
        }
        // Relevance is min–max normalised to (0, 1]; paper scoring flips the order.
        let authors = try CDPruner(keep: 3).reduce(inp).signal.values
        let paper = try CDPruner(keep: 3, scoring: .paper).reduce(inp).signal.values
        XCTAssertEqual(authors.max()!, 1, accuracy: 1e-5)
        XCTAssertGreaterThan(authors.min()!, 0)
        XCTAssertEqual(argmax(authors), paper.indices.min { paper[$0] < paper[$1] })
        // Budgets above the kernel's rank (8 columns here) fill by relevance instead of failing.
        let ranked = try CDPruner(keep: 20).reduce(inp)
        XCTAssertEqual(Set(ranked.keptIndices).count, 20)
        // Equal relevances (max = min divides by zero there): r = 1, a pure diversity DPP.
        var flat = inp
        flat.imageTokens = Tensor(shape: [30, 4], scalars: [Float](repeating: 1, count: 120))
        XCTAssertEqual(try CDPruner(keep: 5).reduce(flat).signal.values, [Float](repeating: 1, count: 30))
        XCTAssertEqual(try CDPruner(keep: 99).reduce(inp).keptIndices.count, 30)  // budget above N: all
    }

    /// The any-resolution rank test (every unpicked row's residual against its own K_jj) also fills the
    /// remaining picks by relevance rather than handing on fewer rows: a view gives T rows, all N at T = N,
    /// and the note says where the rank ran out.
    func testCDPrunerAnyResolutionRankTestFillsByRelevance() throws {
        let inp = input(n: 30, d: 8, segments: 3)  // the kernel's rank is at most 8
        let rel = try CDPruner(keep: 1).relevance(inp)
        let r = CDPruner.normalised(rel, lo: rel.min()!, hi: rel.max()!)
        for t in [20, 30] {
            let out = try CDPruner(keep: t).select(inp, relevance: r, rankTest: .ownDiagonal)
            XCTAssertEqual(out.keptIndices.count, t)
            XCTAssertEqual(Set(out.keptIndices).count, t)
            let note = try XCTUnwrap(out.note)
            XCTAssertTrue(note.hasPrefix("view 0: the kernel's rank ran out after "), note)
            XCTAssertTrue(note.contains("by descending relevance"), note)
        }
        // Below the rank nothing is filled and no note is written about it.
        XCTAssertFalse(try CDPruner(keep: 3).select(inp, relevance: r, rankTest: .ownDiagonal).note?.contains("rank") ?? false)
    }

    func testCDPrunerTextSegmentsCoverTheWholePromptAndAreBounded() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let p = try TRIMPipeline(modelDirectory: root.appendingPathComponent("Weights/clip-odd"))
        let context = p.clip.config.text.maxPositions
        let long = "<image>\n" + String(repeating: "where is the red ball? ", count: 12)
        let s = try p.embedPromptSegments(long)
        XCTAssertEqual(s.ids, p.tokenizer.encode(long.replacingOccurrences(of: "<image>", with: " "), truncateTo: nil))
        XCTAssertGreaterThan(s.ids.count, 2 * context)
        XCTAssertEqual(s.embeds.rows, (s.ids.count - 1) / context + 1)
        // A prompt within the context is one segment, the same embedding TRIM's text tower gives.
        XCTAssertEqual(try p.embedPromptSegments("a red ball").embeds.scalars, try p.embedPrompt("a red ball").embeds.scalars)
        XCTAssertThrowsError(try p.embedPromptSegments(String(repeating: "ball ", count: TRIMPipeline.maxPromptSegments * context + 10)))
    }

    func testReducersSayWhatIsMissing() {
        let bare = ReducerInput(features: Tensor(shape: [4, 2], repeating: 1), classToken: [0, 0])
        for reducer in [FasterVLM(keep: 1), VisionZip(keep: 2), VisPruner(keep: 1), CDPruner(keep: 1)] as [any TokenReducer] {
            XCTAssertThrowsError(try reducer.reduce(bare), reducer.name) { error in
                XCTAssertTrue("\(error)".contains(reducer.name), "\(error)")
            }
        }
    }
}

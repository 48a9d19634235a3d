import Foundation
import TRIM
import TRIMImage
import XCTest

@testable import TRIMEval

/// `trim eval --anyres` and `trim demo --anyres`: the comparison on a tiny LLaVA-NeXT checkpoint (the conformance
/// goldens' 56 px one, so a debug build runs it in seconds), and the command lines.
final class AnyResolutionEvaluationTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let next = root.appendingPathComponent("Tests/Goldens/next")

    func testTheComparisonsRowsAgreeWithEachOther() throws {
        let pipeline = try TRIMPipeline(modelDirectory: Self.next.appendingPathComponent("clip-next"),
                                        projector: Self.next.appendingPathComponent("llava-next-hf"))
        var options = ReductionOptions()
        options.selection = .keepRatio(0.25)  // 4 of each view's 16 patches: never an empty selection
        let evaluation = AnyResolutionEvaluation(pipeline: pipeline, options: options, pinpoints: pipeline.next!.pinpoints)
        let scenes = (0..<2).map { SceneGenerator.highResolutionScene(seed: UInt64(2_000_000 + $0)) }
        let report = evaluation.run(count: 2) { scenes[$0] }
        var views: [String: Int] = [:]
        for s in scenes {
            views[s.name] = try AnyResolution.grid(height: s.image.height, width: s.image.width, viewSize: 56,
                                                   pinpoints: pipeline.next!.pinpoints).viewCount
        }
        XCTAssertTrue(report.failures.isEmpty, "\(report.failures)")
        XCTAssertEqual(report.scenes, 2)
        XCTAssertEqual(report.rows.map(\.method), AnyResolutionEvaluation.Method.allCases)
        for r in report.rows { XCTAssertEqual(r.prompts, report.prompts, "\(r.method)") }
        func outcomes(_ m: AnyResolutionEvaluation.Method) -> [AnyResolutionEvaluation.Outcome] {
            report.outcomes.filter { $0.method == m }
        }
        for (one, every) in zip(outcomes(.trimOneView), outcomes(.trimEveryView)) {
            XCTAssertEqual(one.kept, 4)  // int(16 · 0.25)
            XCTAssertEqual(one.tokens, 5)  // + the mean token
            XCTAssertEqual(every.kept + every.dropped, 4 * views[every.scene]!)  // 4 per view, some cut by the unpadding
        }
        for (every, (base, tiles)) in zip(outcomes(.trimEveryView), zip(outcomes(.trimBaseView), outcomes(.trimTiles))) {
            XCTAssertEqual(every.kept, base.kept + tiles.kept)
            XCTAssertEqual(every.tokens, base.tokens + tiles.tokens)
            XCTAssertEqual(every.score.touching, base.score.touching + tiles.score.touching)
            XCTAssertEqual(every.score.found, base.score.found || tiles.score.found)
        }
        // The random control keeps as many patches per view as TRIM did (before the unpadding).
        for (trim, random) in zip(outcomes(.trimEveryView), outcomes(.randomEveryView)) {
            XCTAssertEqual(trim.kept + trim.dropped, random.kept + random.dropped)
        }
        for r in report.rows { XCTAssertLessThanOrEqual(r.foundOnly, r.found) }
    }
}

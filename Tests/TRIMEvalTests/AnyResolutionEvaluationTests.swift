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

    // MARK: the command lines

    func testEvalAnyresPrintsItsFields() throws {
        let out = try trim(["eval", "--anyres", "--scenes", "3", "--json", "--quiet",
                            "--model", Self.next.appendingPathComponent("clip-next").path,
                            "--projector", Self.next.appendingPathComponent("llava-next-hf").path])
        XCTAssertEqual(out.code, 0, out.err)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.out.utf8)) as? [String: Any])
        XCTAssertEqual(json["scenes"] as? Int, 3)
        XCTAssertNotNil((json["vision_ms_per_scene"] as? [String: Any])?["every_view"])
        XCTAssertEqual((json["pinpoints"] as? [[Int]])?.first, [56, 112])
        let methods = try XCTUnwrap(json["methods"] as? [[String: Any]])
        XCTAssertEqual(methods.map { "\($0["method"]!) \($0["layout"]!)" },
                       ["trim one_view", "trim every_view", "trim base_view", "trim tiles", "random one_view", "random every_view"])
        for m in methods {
            for field in ["precision_median", "precision_mean", "recall_median", "recall_mean", "recall_prompts", "kept_median",
                          "tokens_mean", "found", "found_only", "versus", "ms_per_prompt", "empty", "prompts"] {
                XCTAssertTrue(m.keys.contains(field), "\(m["layout"]!) lacks \(field)")
            }
        }
    }

    func testEvalAnyresRefusesWhatItCannotCompare() throws {
        for args in [["--method", "prumerge"], ["--budgets", "64"], ["--scoring", "both"],
                     ["--projector", Self.root.appendingPathComponent("Weights/projector-demo.safetensors").path]] {
            let out = try trim(["eval", "--anyres", "--scenes", "1"] + args)
            XCTAssertEqual(out.code, 2, "\(args): \(out.err)")
        }
        let out = try trim(["eval", "--pinpoints", "336x672", "--scenes", "1"])
        XCTAssertEqual(out.code, 2, out.err)
    }

    /// The bundled high-resolution scene through the bundled LLaVA-NeXT image side. One 336 × 336 canvas keeps
    /// the debug build's run short (two views); the default cuts the scene 1 × 3.
    func testDemoAnyresNamesItsViewsAndGrid() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let heatmap = dir.appendingPathComponent("h.png").path
        let out = try trim(["demo", "--anyres", "--json", "--pinpoints", "336x336", "--heatmap", heatmap])
        XCTAssertEqual(out.code, 0, out.err)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.out.utf8)) as? [String: Any])
        XCTAssertEqual(json["views"] as? Int, 2)
        XCTAssertEqual(json["grid"] as? [Int], [1, 1])
        XCTAssertEqual(json["image_size"] as? [Int], [373, 1031])
        XCTAssertEqual(json["scene"] as? String, "demo-hires")
        XCTAssertEqual(json["target"] as? String, "red ball")
        XCTAssertEqual((json["per_view"] as? [[String: Any]])?.count, 2)
        XCTAssertEqual((json["reached"] as? [[String: Any]])?.count, 6)
        XCTAssertNotNil((json["one_view"] as? [String: Any])?["reached"])
        let png = try Data(contentsOf: URL(fileURLWithPath: heatmap))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
    }

    // MARK: running the binary

    struct Run { var code: Int32, out: String, err: String }

    /// Runs the `trim` that `swift test` built beside the test bundle, in a fresh directory.
    func trim(_ arguments: [String]) throws -> Run {
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        let binary = dir.appendingPathComponent("trim")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("trim binary not found at \(binary.path); build it with `swift build`")
        }
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let outURL = work.appendingPathComponent("stdout"), errURL = work.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL), errHandle = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        p.currentDirectoryURL = work
        p.standardOutput = outHandle
        p.standardError = errHandle
        try p.run()
        p.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        return Run(code: p.terminationStatus, out: try String(contentsOf: outURL, encoding: .utf8),
                   err: try String(contentsOf: errURL, encoding: .utf8))
    }

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trim-anyres-eval-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

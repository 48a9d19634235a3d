import Foundation
import XCTest

/// `trim eval --anyres` and `trim demo --anyres` through the binary: their JSON fields, and what they refuse.
final class AnyResolutionDemoEvalCLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let next = root.appendingPathComponent("Tests/Goldens/next")

    struct Run { var code: Int32, out: String, err: String }

    /// Runs `trim args` in a fresh temporary directory (three minutes at most: a debug build).
    func trim(_ args: [String]) throws -> Run {
        let dir = try TrimBinary.makeTemporaryDirectory("anyres-demo-eval")
        defer { try? FileManager.default.removeItem(at: dir) }
        let o = try TrimBinary.run(try TrimBinary.require(), args, in: dir, timeLimit: 180)
        XCTAssertFalse(o.timedOut || o.signalled, "trim \(args.prefix(3)): timed out or signalled")
        return Run(code: o.code, out: o.stdout, err: o.stderr)
    }

    func temporaryDirectory() throws -> URL { try TrimBinary.makeTemporaryDirectory("anyres-demo-heatmap") }

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
}

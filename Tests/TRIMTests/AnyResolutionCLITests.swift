import Foundation
import SafeTensors
import TRIMImage
import TRIMJSON
import XCTest

/// `trim reduce` and `trim preprocess` on any-resolution input: on by itself with a LLaVA-NeXT checkpoint,
/// the JSON fields and dump names of Docs/SEMANTICS.md §5.7, and the usage errors around it.
final class AnyResolutionCLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let next = root.appendingPathComponent("Tests/Goldens/next")

    struct Run { let code: Int32; let out: String; let err: String }

    func trim(_ args: [String]) throws -> Run {
        let dir = try TrimBinary.makeTemporaryDirectory("anyres")
        defer { try? FileManager.default.removeItem(at: dir) }
        let o = try TrimBinary.run(try TrimBinary.require(), args, in: dir, timeLimit: 120)
        XCTAssertFalse(o.timedOut || o.signalled, "trim \(args.prefix(3)): timed out or signalled")
        return Run(code: o.code, out: o.stdout, err: o.stderr)
    }

    var base: [String] {
        ["reduce", "--model", next.appendingPathComponent("clip-next").path, "--image", next.appendingPathComponent("images/odd.png").path,
         "--prompt", "Where is the red ball?"]
    }

    func testANextCheckpointTurnsAnyResolutionOnAndTheDumpHoldsTheTokenMap() throws {
        let dump = FileManager.default.temporaryDirectory.appendingPathComponent("trim-anyres-\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: dump) }
        let r = try trim(base + ["--projector", next.appendingPathComponent("llava-next-hub").path, "--method", "none", "--json",
                                 "--dump", dump.path])
        XCTAssertEqual(r.code, 0, r.err)
        let j = try JSON.parse(r.out)
        XCTAssertEqual(j["views"]?.intValue, 5)
        XCTAssertEqual(j["grid"]?.arrayValue?.compactMap(\.intValue), [2, 2])
        XCTAssertEqual(j["image_size"]?.arrayValue?.compactMap(\.intValue), [57, 113])
        XCTAssertEqual(j["unpadded"]?.arrayValue?.compactMap(\.intValue), [4, 8])
        XCTAssertEqual(j["newlines"]?.intValue, 4)
        XCTAssertEqual(j["dropped_in_padding"]?.intValue, 32)
        XCTAssertEqual(j["total"]?.intValue, 80)
        XCTAssertEqual(j["tokens"]?.intValue, 52)
        let d = try SafeTensorsFile(url: dump)
        XCTAssertEqual(d.info("pixel_values")?.shape, [5, 3, 56, 56])
        XCTAssertEqual(try d.int64s("image_sizes"), [57, 113])
        XCTAssertEqual(d.info("features")?.shape, [5, 16, 32])
        XCTAssertEqual(d.info("kept_indices")?.shape, [48, 2])
        XCTAssertEqual(d.info("token_map")?.shape, [52, 2])
        XCTAssertEqual(d.info("reduced")?.shape, [48, 32])
        XCTAssertEqual(d.info("projected")?.shape, [52, 48])
        // --no-anyres: one padded view, the 1.5 dump.
        let one = try trim(base + ["--projector", next.appendingPathComponent("llava-next-hf").path, "--no-anyres", "--json"])
        XCTAssertEqual(one.code, 0, one.err)
        XCTAssertNil(try JSON.parse(one.out)["views"])
        XCTAssertEqual(try JSON.parse(one.out)["total"]?.intValue, 16)
    }

    /// The family on any-resolution input: every method with `--method all` (each on the views its release
    /// cuts), the two methods built for it refused on one view, FasterVLM's degenerate aspect refused as bad input.
    func testTheFamilyOnAnyResolutionInputAndItsRefusals() throws {
        let projector = ["--projector", next.appendingPathComponent("llava-next-hf").path]
        let all = try trim(base + projector + ["--method", "all", "--keep", "4", "--json"])
        XCTAssertEqual(all.code, 0, all.err)
        let lines = try all.out.split(separator: "\n").map { try JSON.parse(String($0)) }
        XCTAssertEqual(lines.compactMap { $0["method"]?.stringValue }, ["trim", "prumerge", "prumerge+", "fastervlm", "visionzip",
                                                                        "vispruner", "divprune", "cdpruner", "hired", "globalcom2", "random"])
        let rule = Dictionary(uniqueKeysWithValues: lines.map { ($0["method"]!.stringValue!, $0["view_rule"]!.stringValue!) })
        XCTAssertEqual(rule["fastervlm"], "fastervlm")
        XCTAssertEqual(rule["vispruner"], "fixed")
        XCTAssertEqual(rule["visionzip"], "original")
        XCTAssertEqual(rule["hired"], "hired")
        XCTAssertEqual(rule["trim"], "hf")
        for line in lines { XCTAssertEqual(line["rows"]?.intValue, line["tokens"]?.intValue) }
        // --views hf: every method on Hugging Face's views.
        let hf = try trim(base + projector + ["--method", "all", "--keep", "4", "--views", "hf", "--json"])
        XCTAssertEqual(hf.code, 0, hf.err)
        XCTAssertEqual(Set(try hf.out.split(separator: "\n").map { try JSON.parse(String($0))["view_rule"]!.stringValue! }), ["hf"])
        // HiRED and GlobalCom² need any-resolution input.
        for method in ["hired", "globalcom2"] {
            let e = try trim(base + ["--method", method])
            XCTAssertEqual(e.code, 2, e.err)
            XCTAssertTrue(e.err.contains("built for any-resolution input"), e.err)
        }
        // A 1200 × 1 image fills no canvas by FasterVLM's rule: one line, exit 1; Hugging Face's rule takes it.
        let dir = try TrimBinary.makeTemporaryDirectory("degenerate")
        defer { try? FileManager.default.removeItem(at: dir) }
        let strip = dir.appendingPathComponent("strip.png")
        try Data(PNGEncoder.encode(RGBImage(width: 1200, height: 1, pixels: [UInt8](repeating: 90, count: 3600)))).write(to: strip)
        var args = base + projector + ["--method", "fastervlm", "--keep", "3"]
        args[args.firstIndex(of: "--image")! + 1] = strip.path
        let refused = try trim(args)
        XCTAssertEqual(refused.code, 1, refused.err)
        XCTAssertEqual(refused.err.split(separator: "\n").count, 1, refused.err)
        XCTAssertTrue(refused.err.contains("FasterVLM's grid rule"), refused.err)
        XCTAssertEqual(try trim(args + ["--views", "hf"]).code, 0)
    }

    func testAnyResolutionWithoutANextCheckpointAndItsUsageErrors() throws {
        // A plain CLIP with --anyres and --pinpoints: the views and the packing, no projector (no newline vector needed).
        let r = try trim(base + ["--anyres", "--pinpoints", "56x168,168x56", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try JSON.parse(r.out)["grid"]?.arrayValue?.compactMap(\.intValue), [1, 3])
        let projector1_5 = Self.root.appendingPathComponent("Tests/Goldens/trim/projector-odd.safetensors").path
        for (args, message) in [
            (["--anyres", "--no-anyres"], "exclude each other"),
            (["--pinpoints", "56x112"], "applies to --anyres"),
            (["--anyres", "--no-pad"], "--no-pad applies to one view"),
            (["--anyres", "--pinpoints", "56by112"], "height×width pairs"),
            (["--views", "hf"], "applies to --anyres"),
            (["--anyres", "--views", "mine"], "--views must be"),
        ] {
            let e = try trim(base + args)
            XCTAssertEqual(e.code, 2, "\(args): \(e.err)")
            XCTAssertTrue(e.err.contains(message), "\(args): \(e.err)")
        }
        // Bad input: pinpoints that are not multiples of the view size; a 1.5 projector has no image_newline.
        let bad = try trim(base + ["--anyres", "--pinpoints", "50x100"])
        XCTAssertEqual(bad.code, 1, bad.err)
        XCTAssertEqual(bad.err.split(separator: "\n").count, 1, bad.err)
        let odd = ["reduce", "--model", Self.root.appendingPathComponent("Weights/clip-odd").path, "--image",
                   Self.root.appendingPathComponent("Tests/Goldens/trim/images/tiny.png").path, "--prompt", "a ball",
                   "--anyres", "--pinpoints", "75x150", "--projector", projector1_5]
        let noNewline = try trim(odd)
        XCTAssertEqual(noNewline.code, 1, noNewline.err)
        XCTAssertTrue(noNewline.err.contains("image_newline"), noNewline.err)
        let withoutNewlines = try trim(odd + ["--newlines", "none", "--json"])
        XCTAssertEqual(withoutNewlines.code, 0, withoutNewlines.err)
        XCTAssertEqual(try JSON.parse(withoutNewlines.out)["newlines"]?.intValue, 0)
    }

    func testPreprocessWritesTheViewsAndImageSizes() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("trim-anyres-pre-\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try trim(["preprocess", "--model", next.appendingPathComponent("clip-next").path, "--image",
                          next.appendingPathComponent("images/wide.png").path, "--anyres", "--output", out.path])
        XCTAssertEqual(r.code, 0, r.err)
        let f = try SafeTensorsFile(url: out)
        XCTAssertEqual(f.info("pixel_values")?.shape, [4, 3, 56, 56])
        XCTAssertEqual(try f.int64s("image_sizes"), [30, 150])
    }

    /// `trim preprocess --anyres --method M` writes the views M's release cuts: VisPruner's fixed 2S×2S canvas
    /// (2×2 tiles, 5 views) where Hugging Face's grid for the 30×150 image is 1×3 (4 views); `--views hf` gives
    /// Hugging Face's again. The rule is in the file's metadata; on one view, or with `all`, it is a usage error.
    func testPreprocessCutsTheViewsOfTheMethodGiven() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("trim-anyres-pre-m-\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: out) }
        let base = ["preprocess", "--model", next.appendingPathComponent("clip-next").path, "--image",
                    next.appendingPathComponent("images/wide.png").path, "--output", out.path]
        for (extra, views, rule) in [(["--method", "vispruner"], 5, "fixed"), (["--method", "vispruner", "--views", "hf"], 4, "hf"),
                                     (["--method", "fastervlm"], 4, "fastervlm"), ([], 4, "hf")] {
            let r = try trim(base + ["--anyres"] + extra)
            XCTAssertEqual(r.code, 0, r.err)
            let f = try SafeTensorsFile(url: out)
            XCTAssertEqual(f.info("pixel_values")?.shape, [views, 3, 56, 56], "\(extra)")
            XCTAssertEqual(f.metadata["view_rule"], rule, "\(extra)")
            XCTAssertTrue(r.out.contains("view rule \(rule)"), r.out)
        }
        for bad in [["--method", "vispruner"], ["--anyres", "--method", "all"], ["--anyres", "--method", "nope"]] {
            let r = try trim(base + bad)
            XCTAssertEqual(r.code, 2, "\(bad): \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("error: --method") && !r.err.contains("or all"), r.err)
        }
    }

    /// `trim batch` with a LLaVA-NeXT checkpoint: any resolution on by itself, [view, patch] kept indices.
    func testBatchRunsAnyResolutionItems() throws {
        let dir = try TrimBinary.makeTemporaryDirectory("anyres-batch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("items.jsonl")
        try Data((#"{"id": "a", "image": "\#(next.appendingPathComponent("images/wide.png").path)", "prompt": "a ball"}"# + "\n").utf8)
            .write(to: input)
        let r = try trim(["batch", "--model", next.appendingPathComponent("clip-next").path, "--projector",
                          next.appendingPathComponent("llava-v1.6-orig").path, "--input", input.path, "--output",
                          dir.appendingPathComponent("out").path, "--quiet", "--keep-ratio", "0.25"])
        XCTAssertEqual(r.code, 0, r.err)
        let line = try String(contentsOf: dir.appendingPathComponent("out/results.jsonl"), encoding: .utf8)
        let j = try JSON.parse(line.trimmingCharacters(in: .whitespacesAndNewlines))
        let kept = try XCTUnwrap(j["kept_indices"]?.arrayValue)
        XCTAssertFalse(kept.isEmpty)
        XCTAssertTrue(kept.allSatisfy { $0.arrayValue?.count == 2 }, line)
    }

    /// A LLaVA-NeXT checkpoint as `trim preprocess --model` brings its own pinpoints (and turns any resolution
    /// on); an original LLaVA-1.6 one, which carries no preprocessing, is refused with what to give instead.
    func testPreprocessUsesANextCheckpointsPinpoints() throws {
        let dir = try TrimBinary.makeTemporaryDirectory("anyres-pinpoints")
        defer { try? FileManager.default.removeItem(at: dir) }
        let hf = next.appendingPathComponent("llava-next-hf")
        for name in ["model.safetensors", "preprocessor_config.json"] {
            try FileManager.default.copyItem(at: hf.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        var config = try JSON.parse([UInt8](Data(contentsOf: hf.appendingPathComponent("config.json"))))
        guard case .object(var object) = config else { return XCTFail("config.json is not an object") }
        object["image_grid_pinpoints"] = .array([.array([.int(56), .int(224)])])  // one 1×4 canvas
        config = .object(object)
        try Data(JSON.serialize(config).utf8).write(to: dir.appendingPathComponent("config.json"))
        let out = dir.appendingPathComponent("views.safetensors")
        let r = try trim(["preprocess", "--model", dir.path, "--image", next.appendingPathComponent("images/square.png").path,
                          "--output", out.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try SafeTensorsFile(url: out).info("pixel_values")?.shape, [5, 3, 56, 56])
        let original = try trim(["preprocess", "--model", next.appendingPathComponent("llava-v1.6-orig").path, "--image",
                                 next.appendingPathComponent("images/square.png").path, "--output", out.path])
        XCTAssertEqual(original.code, 1, original.err)
        XCTAssertTrue(original.err.contains("--pinpoints"), original.err)
    }
}

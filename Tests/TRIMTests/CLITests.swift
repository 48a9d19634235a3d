import Foundation
import SafeTensors
import TRIMJSON
import XCTest

/// The `trim` executable's contract: exit 0 / 1 (one line `error: …`) / 2 (usage), the JSON and dump
/// formats of SEMANTICS.md §3. Runs the binary `swift test` builds next to the test bundle.
final class CLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Run { let code: Int32; let out: String; let err: String }

    /// Runs `trim args` in a fresh temporary directory (two minutes at most: a debug build).
    func trim(_ args: [String]) throws -> Run {
        let dir = try TrimBinary.makeTemporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let o = try TrimBinary.run(try TrimBinary.require(), args, in: dir, timeLimit: 120)
        XCTAssertFalse(o.timedOut || o.signalled, "trim \(args.prefix(3)): timed out or signalled")
        return Run(code: o.code, out: o.stdout, err: o.stderr)
    }

    // The small odd model and a small image keep these debug-build runs quick.
    var tiny: String { Self.root.appendingPathComponent("Weights/clip-tiny").path }
    var odd: String { Self.root.appendingPathComponent("Weights/clip-odd").path }
    var image: String { Self.root.appendingPathComponent("Tests/Goldens/trim/images/tiny.png").path }

    func testReduceJSONHasTheSpecFieldsAndDumpHasTheSpecNames() throws {
        let dump = FileManager.default.temporaryDirectory.appendingPathComponent("trim-cli-test-\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: dump) }
        let r = try trim(["reduce", "--model", odd, "--image", image, "--prompt", "Where is the red ball?",
                          "--projector", Self.root.appendingPathComponent("Tests/Goldens/trim/projector-odd.safetensors").path,
                          "--json", "--dump", dump.path])
        XCTAssertEqual(r.code, 0, r.err)
        let j = try JSON.parse(r.out)
        XCTAssertEqual(j["total"]?.intValue, 49)
        let kept = j["kept"]!.intValue!
        XCTAssertEqual(j["tokens"]?.intValue, kept + 1)
        XCTAssertEqual(j["kept_indices"]?.arrayValue?.count, kept)
        XCTAssertNotNil(j["upper"]?.doubleValue)
        let d = try SafeTensorsFile(url: dump)
        XCTAssertEqual(Set(d.tensorNames), ["pixel_values", "features", "image_tokens", "input_ids", "text_embeds",
                                            "scores", "kept_indices", "reduced", "projected"])
        XCTAssertEqual(d.info("reduced")?.shape, [kept + 1, 60])
        XCTAssertEqual(d.info("projected")?.shape, [kept + 1, 96])
        XCTAssertEqual(d.info("input_ids")?.dtype, .I64)
        XCTAssertEqual(try d.int64s("kept_indices").map(Int.init), j["kept_indices"]!.arrayValue!.map { $0.intValue! })
        // A fixed ratio has no threshold.
        let ratio = try trim(["reduce", "--model", odd, "--image", image, "--prompt", "x", "--keep-ratio", "0.25", "--json"])
        XCTAssertEqual(ratio.code, 0, ratio.err)
        XCTAssertEqual(try JSON.parse(ratio.out)["kept"]?.intValue, 12)
        XCTAssertEqual(try JSON.parse(ratio.out)["upper"], .null)
    }

    func testBadInputExitsOneWithOneLineNamingTheProblem() throws {
        let cases: [([String], String)] = [
            (["reduce", "--model", tiny, "--image", "/nonexistent.jpg", "--prompt", "x"], "image '/nonexistent.jpg' does not exist"),
            (["reduce", "--model", tiny, "--image", Self.root.appendingPathComponent("README.md").path, "--prompt", "x"], "error: "),
            (["reduce", "--model", Self.root.appendingPathComponent("Weights").path, "--image", image, "--prompt", "x"], "config.json"),
            (["inspect", Self.root.appendingPathComponent("README.md").path], "error: "),
            (["reduce", "--model", tiny, "--image", image, "--prompt", "x", "--select-layer", "9"], "select layer 9"),
            (["reduce", "--model", tiny, "--image", image, "--prompt", "x",
              "--projector", Self.root.appendingPathComponent("Tests/Goldens/trim/projector-odd.safetensors").path], "projector takes 60-wide"),
        ]
        for (args, expected) in cases {
            let r = try trim(args)
            XCTAssertEqual(r.code, 1, "\(args): \(r.err)")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, "\(args): \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.contains(expected), "\(args): \(r.err)")
        }
    }

    func testUsageErrorsExitTwo() throws {
        for args in [[], ["frobnicate"], ["reduce", "--bogus"], ["reduce", "--model"], ["tokenize"],
                     ["reduce", "--model", tiny, "--image", image, "--prompt", "x", "--scoring", "cosine"],
                     ["reduce", "--model", tiny, "--image", image, "--prompt", "x", "--keep-ratio", "2"],
                     ["reduce", "--model", tiny, "--image", image, "--prompt", "x", "--weights", "f16"]] {
            XCTAssertEqual(try trim(args).code, 2, "\(args)")
        }
        let help = try trim(["reduce", "--help"])
        XCTAssertEqual(help.code, 0)
        XCTAssertTrue(help.out.contains("--keep-ratio"))
    }

    func testEveryMethodOnOneVisionPassWithMethodAll() throws {
        let dir = try TrimBinary.makeTemporaryDirectory("all")
        defer { try? FileManager.default.removeItem(at: dir) }
        let projector = Self.root.appendingPathComponent("Tests/Goldens/trim/projector-odd.safetensors").path
        let heatmap = dir.appendingPathComponent("all.png"), dump = dir.appendingPathComponent("d.safetensors")
        let r = try trim(["reduce", "--model", odd, "--image", image, "--prompt", "Where is the red ball?", "--projector", projector,
                          "--method", "all", "--keep", "12", "--json", "--heatmap", heatmap.path, "--dump", dump.path])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n").map { try? JSON.parse(String($0)) }
        XCTAssertEqual(lines.compactMap { $0?["method"]?.stringValue },
                       ["trim", "prumerge", "prumerge+", "fastervlm", "visionzip", "vispruner", "divprune", "cdpruner", "random"])
        for j in lines.compactMap({ $0 }) where !["trim", "prumerge", "prumerge+"].contains(j["method"]!.stringValue!) {
            XCTAssertEqual(j["tokens"]?.intValue, 12, "\(j["method"]!): rows at the --keep budget")
        }
        // One picture, 3 columns × 3 rows of panels; a dump per method with its signal.
        let png = try Data(contentsOf: heatmap)
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        for (method, signal) in [("fastervlm", "cls_attention"), ("visionzip", "cls_attention"), ("divprune", "pick_order"),
                                 ("cdpruner", "relevance"), ("prumerge-plus", "cls_attention")] {
            let d = try SafeTensorsFile(url: dir.appendingPathComponent("d-\(method).safetensors"))
            XCTAssertNotNil(d.info(signal), "\(method): \(d.tensorNames)")
            XCTAssertNotNil(d.info("projected"), method)
        }
        // The text-agnostic methods keep the same patches whatever the prompt; CDPruner's choice moves with it.
        func kept(_ method: String, _ prompt: String) throws -> [Int] {
            let o = try trim(["reduce", "--model", odd, "--image", image, "--prompt", prompt, "--method", method, "--keep", "12",
                              "--projector", projector, "--json"])
            XCTAssertEqual(o.code, 0, o.err)
            return try JSON.parse(o.out)["kept_indices"]!.arrayValue!.map { $0.intValue! }
        }
        XCTAssertEqual(try kept("divprune", "a red ball"), try kept("divprune", "the sky above the trees"))
        XCTAssertEqual(try kept("fastervlm", "a red ball"), try kept("fastervlm", "the sky above the trees"))
    }

    func testMethodOptionsAreCheckedPerMethod() throws {
        let base = ["reduce", "--model", odd, "--image", image, "--prompt", "x"]
        for extra in [["--method", "fastervlm"], ["--method", "visionzip", "--dominant", "5"], ["--method", "cdpruner"],
                      ["--method", "divprune", "--scoring", "paper"], ["--method", "trim", "--keep", "5"],
                      ["--method", "vispruner", "--keep", "5", "--important-ratio", "1.5"],
                      ["--method", "visionzip", "--keep", "9", "--dominant", "5", "--contextual", "3"]] {
            let r = try trim(base + extra)
            XCTAssertEqual(r.code, 2, "\(extra): \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("error: "), r.err)
        }
        let r = try trim(base + ["--method", "divprune", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let j = try JSON.parse(r.out)
        XCTAssertEqual(j["tokens"]?.intValue, 5)  // int(round(0.098·49))
        XCTAssertNotNil(j["note"]?.stringValue)  // no projector: said in the output
    }

    func testWeightsOptionGivesTheSameReduction() throws {
        // clip-tiny is F16: kept 16-bit (default) or made Floats, the dump must be the same byte for byte.
        let dir = try TrimBinary.makeTemporaryDirectory("weights")
        defer { try? FileManager.default.removeItem(at: dir) }
        var dumps = [Data]()
        for weights in ["checkpoint", "float32"] {
            let dump = dir.appendingPathComponent("\(weights).safetensors")
            let r = try trim(["reduce", "--model", tiny, "--image", image, "--prompt", "a red ball", "--weights", weights,
                              "--dump", dump.path, "--json"])
            XCTAssertEqual(r.code, 0, r.err)
            dumps.append(try Data(contentsOf: dump))
        }
        XCTAssertEqual(dumps[0], dumps[1])
    }

    func testTokenizeJSONAndInspect() throws {
        let t = try trim(["tokenize", "--json", "a photo of a cat", ""])
        XCTAssertEqual(t.code, 0, t.err)
        XCTAssertEqual(t.out.trimmingCharacters(in: .whitespacesAndNewlines), "[[49406,320,1125,539,320,2368,49407],[49406,49407]]")
        let i = try trim(["inspect", tiny])
        XCTAssertEqual(i.code, 0, i.err)
        let line = i.out.split(separator: "\n").first { $0.contains("vision_model.embeddings.patch_embedding.weight") }
        XCTAssertEqual(line?.split(separator: " ", omittingEmptySubsequences: true).dropFirst().joined(separator: " "),
                       "F16 [64, 3, 14, 14]")
        XCTAssertTrue(i.out.contains("inferred: vision_model: CLIP vision tower, 4 layers × 64 wide"), i.out)
    }

    func testBinCheckpointsGiveTheSameReductionAndConvertToSafetensors() throws {
        // Weights/clip-odd as torch.save shards (+ its tokenizer files) and its projector as mm_projector.bin:
        // the reduction and the dump must be byte for byte those of the safetensors files.
        let dir = try TrimBinary.makeTemporaryDirectory("bin")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let torch = Self.root.appendingPathComponent("Tests/Goldens/torch")
        let model = dir.appendingPathComponent("clip-odd-bin")
        try fm.copyItem(at: torch.appendingPathComponent("clip-odd"), to: model)
        for f in ["vocab.json", "merges.txt"] {
            try fm.copyItem(atPath: odd + "/" + f, toPath: model.appendingPathComponent(f).path)
        }
        var outputs = [(String, Data)]()
        for (m, projector) in [(odd, "Tests/Goldens/trim/projector-odd.safetensors"),
                               (model.path, "Tests/Goldens/torch/projector-odd/mm_projector.bin"),
                               (model.path, "Tests/Goldens/torch/projector-odd")] {
            let dump = dir.appendingPathComponent("dump-\(outputs.count).safetensors")
            let r = try trim(["reduce", "--model", m, "--image", image, "--prompt", "a red ball",
                              "--projector", Self.root.appendingPathComponent(projector).path, "--json", "--dump", dump.path])
            XCTAssertEqual(r.code, 0, r.err)
            // Everything but the timings.
            outputs.append((String(r.out.split(separator: "\"timings_s\"").first ?? ""),
                            try Data(contentsOf: dump)))
        }
        for o in outputs.dropFirst() {
            XCTAssertEqual(o.0, outputs[0].0)
            XCTAssertEqual(o.1, outputs[0].1)
        }

        // convert: the .bin shards become one safetensors file with the very tensors of Weights/clip-odd.
        let out = dir.appendingPathComponent("converted.safetensors")
        let c = try trim(["convert", model.path, out.path])
        XCTAssertEqual(c.code, 0, c.err)
        let converted = try SafeTensorsFile(url: out), original = try SafeTensorsFile(url: URL(fileURLWithPath: odd + "/model.safetensors"))
        XCTAssertEqual(converted.tensorNames, original.tensorNames)
        for name in original.tensorNames {
            XCTAssertEqual(converted.info(name)?.dtype, original.info(name)?.dtype, name)
            XCTAssertEqual(converted.info(name)?.shape, original.info(name)?.shape, name)
            try converted.withUnsafeBytes(of: name) { a in
                try original.withUnsafeBytes(of: name) { b in XCTAssertTrue(a.elementsEqual(b), name) }
            }
        }
        XCTAssertEqual(converted.metadata, ["format": "pt"])

        // inspect lists .bin files; bad .bin input exits 1 with one line; missing OUT exits 2.
        let i = try trim(["inspect", torch.appendingPathComponent("llava/mm_projector.bin").path])
        XCTAssertEqual(i.code, 0, i.err)
        XCTAssertTrue(i.out.contains("model.mm_projector.0.weight"), i.out)
        XCTAssertTrue(i.out.contains("BF16"), i.out)
        for args in [["convert", torch.appendingPathComponent("malformed/global_os_system.bin").path, out.path],
                     ["convert", torch.appendingPathComponent("legacy.bin").path, out.path],
                     ["inspect", torch.appendingPathComponent("malformed/zip_bomb_declared_4GB.bin").path]] {
            let r = try trim(args)
            XCTAssertEqual(r.code, 1, "\(args): \(r.err)")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, "\(args): \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("error: "), r.err)
        }
        XCTAssertEqual(try trim(["convert", model.path]).code, 2)
    }

    /// Each command's usage is made from the options it declares, so it accepts exactly what its `--help`
    /// lists: every listed option parses (a stray positional argument then stops the run before any work),
    /// and an option it does not list is refused.
    func testEveryCommandAcceptsWhatItsUsageSays() throws {
        let commands = ["demo", "reduce", "batch", "eval", "embed", "tokenize", "preprocess", "inspect", "convert", "bench"]
        for command in commands {
            let help = try trim([command, "--help"])
            XCTAssertEqual(help.code, 0, command)
            let options = help.out.split(separator: "\n").compactMap { line -> (String, Bool)? in
                guard line.hasPrefix("  --") else { return nil }
                let name = String(line.dropFirst(2).prefix { $0 != " " })
                let rest = line.dropFirst(2 + name.count)  // " PLACEHOLDER …" for an option that takes a value
                return (name, rest.count > 1 && rest.first == " " && rest.dropFirst().first != " ")
            }
            if ["demo", "reduce", "batch", "eval", "bench"].contains(command) { XCTAssertGreaterThan(options.count, 5, command) }
            for (option, takesValue) in options {
                let r = try trim([command, option] + (takesValue ? ["1"] : []) + ["stray"])
                XCTAssertFalse(r.err.contains("unknown option"), "\(command) \(option): \(r.err)")
                if command != "tokenize" {  // (its positional arguments are the texts)
                    XCTAssertNotEqual(r.code, 0, "\(command) \(option) ran despite a stray argument")
                }
            }
            let unknown = try trim([command, "--no-such-option", "stray"])
            XCTAssertEqual(unknown.code, 2, command)
            XCTAssertTrue(unknown.err.contains("unknown option --no-such-option"), unknown.err)
        }
        // trim demo takes what its usage lists, --projector, --weights and --no-pad included.
        let demo = try trim(["demo", "--json", "--weights", "float32", "--no-pad",
                             "--projector", Self.root.appendingPathComponent("Weights/projector-demo.safetensors").path])
        XCTAssertEqual(demo.code, 0, demo.err)
    }
}

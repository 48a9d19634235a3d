import Foundation
import SafeTensors
import TRIMJSON
import XCTest

@testable import TRIM

/// `trim batch` and multi-prompt `trim reduce`: results identical to single runs, resume after a kill,
/// shards whose union is the whole run, bad items as errors that never stop the run.
final class BatchTests: XCTestCase {
    static let root = CLITests.root
    var odd: String { Self.root.appendingPathComponent("Weights/clip-odd").path }
    var image: URL { Self.root.appendingPathComponent("Tests/Goldens/trim/images/tiny.png") }
    var portrait: URL { Self.root.appendingPathComponent("Tests/Goldens/trim/images/portrait.png") }

    func trim(_ args: [String], in dir: URL) throws -> (code: Int32, out: String, err: String) {
        let o = try TrimBinary.run(try TrimBinary.require(), args, in: dir, timeLimit: 180)
        XCTAssertFalse(o.timedOut || o.signalled)
        return (o.code, o.stdout, o.stderr)
    }

    /// The corpus: good items (two images, several prompts, one with LLaVA's <image>) and bad ones.
    func corpus(_ dir: URL) throws -> URL {
        try FileManager.default.copyItem(at: image, to: dir.appendingPathComponent("tiny.png"))
        try FileManager.default.copyItem(at: portrait, to: dir.appendingPathComponent("portrait.png"))
        try Data("not an image".utf8).write(to: dir.appendingPathComponent("corrupt.png"))
        let lines = [
            #"{"id": "a", "image": "tiny.png", "prompts": ["Where is the red ball?", "<image>\nWhat is this?"]}"#,
            #"{"id": 7, "image": "portrait.png", "prompt": "a red square"}"#,
            #"{"id": "bad json""#,
            #"{"id": "c", "image": "corrupt.png", "prompt": "x"}"#,
            #"{"id": "d", "image": "missing.png", "prompt": "x"}"#,
            #"{"id": "e", "prompt": "no image"}"#,
            #"{"id": "f", "image": "tiny.png", "prompt": ""}"#,
            #"{"id": "g", "image": "portrait.png", "prompts": ["the red square", "a photo of a cat"]}"#,
        ]
        let input = dir.appendingPathComponent("items.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: input)
        return input
    }

    func results(_ dir: URL) throws -> [String: JSONValue] {
        let text = try String(contentsOf: dir.appendingPathComponent("results.jsonl"), encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("\n"))
        var out: [String: JSONValue] = [:]
        for line in text.split(separator: "\n") {
            let j = try JSON.parse(String(line))
            let key = JSON.serialize(j["id"]!) + "/" + String(j["prompt_index"]!.intValue!)
            XCTAssertNil(out[key], "duplicate result \(key)")
            out[key] = j
        }
        return out
    }

    func testBatchMatchesSingleRunsResumesAfterAKillAndShardsUnionToTheWhole() throws {
        let dir = try TrimBinary.makeTemporaryDirectory("batch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try corpus(dir)
        let full = dir.appendingPathComponent("full")
        let r = try trim(["batch", "--model", odd, "--input", input.path, "--output", full.path, "--dump", "--quiet"], in: dir)
        XCTAssertEqual(r.code, 1, "bad items make the exit status 1")
        XCTAssertTrue(r.err.contains("failed"), r.err)
        let all = try results(full)
        XCTAssertEqual(all.count, 10)  // 6 good (id, prompt) pairs + 4 bad lines
        for key in ["\"bad json\"/0", "\"c\"/0", "\"d\"/0", "\"e\"/0"] where all[key] == nil {
            // the unparsable line has no id: it is reported by its line number
            XCTAssertTrue(key == "\"bad json\"/0")
        }
        XCTAssertNotNil(all["\"line 3\"/0"]?["error"])
        for key in ["\"c\"/0", "\"d\"/0", "\"e\"/0"] { XCTAssertNotNil(all[key]?["error"], key) }

        // Each good result equals a separate `trim reduce` run, kept indices and dump bytes alike.
        for (key, imageName, prompt) in [("\"a\"/0", "tiny.png", "Where is the red ball?"),
                                         ("\"a\"/1", "tiny.png", "<image>\nWhat is this?"),
                                         ("7/0", "portrait.png", "a red square"), ("\"f\"/0", "tiny.png", ""),
                                         ("\"g\"/1", "portrait.png", "a photo of a cat")] {
            let single = dir.appendingPathComponent("single.safetensors")
            let s = try trim(["reduce", "--model", odd, "--image", dir.appendingPathComponent(imageName).path,
                              "--prompt", prompt, "--json", "--dump", single.path], in: dir)
            XCTAssertEqual(s.code, 0, s.err)
            let j = try JSON.parse(s.out)
            XCTAssertEqual(all[key]?["kept_indices"], j["kept_indices"], key)
            XCTAssertEqual(all[key]?["tokens"], j["tokens"], key)
            let dump = full.appendingPathComponent(all[key]!["dump"]!.stringValue!)
            let a = try SafeTensorsFile(url: dump), b = try SafeTensorsFile(url: single)
            XCTAssertEqual(a.tensorNames, b.tensorNames)
            for name in b.tensorNames {
                if b.info(name)?.dtype == .I64 {
                    XCTAssertEqual(try a.int64s(name), try b.int64s(name), "\(key) \(name)")
                } else {
                    XCTAssertEqual(try a.tensor(name), try b.tensor(name), "\(key) \(name)")
                }
            }
        }
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: full.appendingPathComponent("dumps").path)
            .allSatisfy { !$0.hasSuffix(".tmp") })

        // A run killed part-way: keep 3 whole lines and half of the 4th, then resume.
        let resumed = dir.appendingPathComponent("resumed")
        try FileManager.default.createDirectory(at: resumed, withIntermediateDirectories: true)
        let text = try String(contentsOf: full.appendingPathComponent("results.jsonl"), encoding: .utf8)
        let lines = text.split(separator: "\n")
        let partial = lines.prefix(3).joined(separator: "\n") + "\n" + lines[3].prefix(lines[3].count / 2)
        try Data(partial.utf8).write(to: resumed.appendingPathComponent("results.jsonl"))
        let rr = try trim(["batch", "--model", odd, "--input", input.path, "--output", resumed.path, "--quiet"], in: dir)
        XCTAssertEqual(rr.code, 1)
        XCTAssertEqual(Set(try results(resumed).keys), Set(all.keys))
        for (k, v) in try results(resumed) { XCTAssertEqual(v["kept_indices"], all[k]?["kept_indices"], k) }

        // Shards 1/2 and 2/2 together: exactly the unsharded results.
        var union: [String: JSONValue] = [:]
        for i in 1...2 {
            let out = dir.appendingPathComponent("shard\(i)")
            _ = try trim(["batch", "--model", odd, "--input", input.path, "--output", out.path, "--shard", "\(i)/2", "--quiet"],
                         in: dir)
            for (k, v) in try results(out) {
                XCTAssertNil(union[k], "\(k) in both shards")
                union[k] = v
            }
        }
        XCTAssertEqual(Set(union.keys), Set(all.keys))
        for (k, v) in union { XCTAssertEqual(v["kept_indices"], all[k]?["kept_indices"], k) }
    }

    func testReduceWithSeveralPromptsIsOneRunPerPromptBitForBit() throws {
        let dir = try TrimBinary.makeTemporaryDirectory("multi")
        defer { try? FileManager.default.removeItem(at: dir) }
        let prompts = ["Where is the red ball?", "a photo of a cat", ""]
        let many = try trim(["reduce", "--model", odd, "--image", image.path] + prompts.flatMap { ["--prompt", $0] }
                            + ["--json", "--dump", dir.appendingPathComponent("m.safetensors").path], in: dir)
        XCTAssertEqual(many.code, 0, many.err)
        let lines = many.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        for (i, p) in prompts.enumerated() {
            let one = try trim(["reduce", "--model", odd, "--image", image.path, "--prompt", p, "--json",
                                "--dump", dir.appendingPathComponent("one.safetensors").path], in: dir)
            let a = try JSON.parse(String(lines[i])), b = try JSON.parse(one.out)
            XCTAssertEqual(a["prompt"]?.stringValue, p)
            XCTAssertEqual(a["kept_indices"], b["kept_indices"])
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("m-\(i + 1).safetensors")),
                           try Data(contentsOf: dir.appendingPathComponent("one.safetensors")), "prompt \(i) dump bytes")
        }
    }

    func testShardsPartitionIdsAndItemsParseWithLineNumbers() {
        let items = BatchItem.parse("{\"id\": 1, \"image\": \"a.png\", \"prompt\": \"x\"}\n\n[1]\n{\"image\": \"b.png\"}\n",
                                    relativeTo: URL(fileURLWithPath: "/data"))
        XCTAssertEqual(items.count, 3)
        XCTAssertEqual(items[0].image?.path, "/data/a.png")
        XCTAssertNil(items[0].error)
        XCTAssertEqual(items[1].error, "line 3: not a JSON object")
        XCTAssertEqual(items[2].error, "line 4: no \"prompt\" or \"prompts\"")
        let many = (0..<200).map { BatchItem(id: .int($0), image: nil, prompts: ["p"], line: $0, error: nil) }
        for n in 1...4 {
            var seen = 0
            for i in 0..<n { seen += many.filter { $0.inShard(i, of: n) }.count }
            XCTAssertEqual(seen, 200)
        }
        XCTAssertGreaterThan(many.filter { $0.inShard(0, of: 2) }.count, 60)
    }
}

import Foundation
import SafeTensors
import TRIMJSON
import TRIMTensor
import XCTest

/// `trim diff`'s contract: exit 0 when nothing is out, 3 when something is, 1 with one line naming a file
/// that is not safetensors, 2 on a usage error; the `--json` fields; two runs of `trim reduce` identical.
final class DiffCLITests: XCTestCase {
    static let root = CLITests.root
    var dir: URL!

    override func setUpWithError() throws { dir = try TrimBinary.makeTemporaryDirectory("diff") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func trim(_ args: [String]) throws -> CLITests.Run {
        let o = try TrimBinary.run(try TrimBinary.require(), args, in: dir, timeLimit: 120)
        XCTAssertFalse(o.timedOut || o.signalled, "trim \(args.prefix(3)): timed out or signalled")
        return CLITests.Run(code: o.code, out: o.stdout, err: o.stderr)
    }

    /// A small dump: features, scores, a selection, reduced rows; `featureShift` moves one feature value.
    func writeDump(_ name: String, featureShift: Float = 0, kept: [Int64] = [1, 4]) throws -> String {
        var features = (0..<24).map { Float($0) / 24 }
        features[5] += featureShift
        var w = SafeTensorsWriter(metadata: ["producer": "DiffCLITests"])
        w.add("features", Tensor(shape: [6, 4], scalars: features))
        w.add("input_ids", int64s: [49406, 320, 49407], shape: [3])
        w.add("scores", Tensor(shape: [6], scalars: [0.1, 0.3, 0.1, 0.1, 0.3, 0.1]))
        w.add("kept_indices", int64s: kept, shape: [kept.count])
        let rows = kept.flatMap { features[Int($0) * 4..<Int($0) * 4 + 4] }
        w.add("reduced", Tensor(shape: [kept.count, 4], scalars: Array(rows)))
        let path = dir.appendingPathComponent(name).path
        try w.write(to: URL(fileURLWithPath: path))
        return path
    }

    func testExitZeroWhenNothingIsOutAndThreeWhenSomethingIs() throws {
        let a = try writeDump("a.safetensors"), same = try writeDump("same.safetensors")
        let close = try writeDump("close.safetensors", featureShift: 1e-6), far = try writeDump("far.safetensors", featureShift: 1e-2)
        let identical = try trim(["diff", a, same])
        XCTAssertEqual(identical.code, 0, identical.err)
        XCTAssertTrue(identical.out.contains("first out  none"), identical.out)
        XCTAssertEqual(try trim(["diff", a, close]).code, 0)
        let out = try trim(["diff", a, far])
        XCTAssertEqual(out.code, 3, out.err)
        XCTAssertTrue(out.out.contains("first out  features"), out.out)
        XCTAssertEqual(out.err, "")
        // The full-size rule and --tolerance move the bar.
        XCTAssertEqual(try trim(["diff", a, far, "--tolerance", "0.1"]).code, 0)
        XCTAssertEqual(try trim(["diff", a, close, "--tolerance", "1e-9"]).code, 3)
        XCTAssertEqual(try trim(["diff", a, try writeDump("mid.safetensors", featureShift: 1e-4), "--full-size"]).code, 0)
        // A selection changed by a clear error: out at kept_indices.
        let other = try trim(["diff", a, try writeDump("k.safetensors", kept: [1, 2])])
        XCTAssertEqual(other.code, 3)
        XCTAssertTrue(other.out.contains("first out  kept_indices"), other.out)
    }

    func testJSONFields() throws {
        let a = try writeDump("a.safetensors"), b = try writeDump("b.safetensors", featureShift: 1e-2, kept: [4, 1])
        let r = try trim(["diff", a, b, "--json"])
        XCTAssertEqual(r.code, 3, r.err)
        let j = try JSON.parse(r.out)
        XCTAssertEqual(j["verdict"]?.stringValue, "out")
        XCTAssertEqual(j["first_out"]?.stringValue, "features")
        XCTAssertEqual(j["tensors"]?.arrayValue?.compactMap { $0["name"]?.stringValue },
                       ["features", "input_ids", "scores", "kept_indices", "reduced"])
        XCTAssertEqual(j["tensors"]?[0]?["verdict"]?.stringValue, "out")
        XCTAssertEqual(j["tensors"]?[0]?["max_abs"]?.doubleValue ?? 0, 1e-2, accuracy: 1e-6)
        XCTAssertNotNil(j["tensors"]?[0]?["max_rel"]?.doubleValue)
        XCTAssertEqual(j["missing"], [])
        // 1 and 4 swapped in order, their scores equal: a near-tie of the ranked order.
        XCTAssertEqual(j["selection"]?["only_expected"], [])
        XCTAssertEqual(j["selection"]?["only_actual"], [])
        XCTAssertEqual(j["selection"]?["near_ties"]?.intValue, 2)
        XCTAssertEqual(j["tensors"]?[3]?["verdict"]?.stringValue, "near-tie")
    }

    func testAFileThatIsNotSafetensorsExitsOneWithOneLineNamingIt() throws {
        let a = try writeDump("a.safetensors")
        let readme = Self.root.appendingPathComponent("README.md").path
        for (args, named) in [(["diff", readme, a], readme), (["diff", a, readme], readme),
                              (["diff", a, "/nonexistent.safetensors"], "/nonexistent.safetensors")] {
            let r = try trim(args)
            XCTAssertEqual(r.code, 1, "\(args): \(r.err)")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
            XCTAssertTrue(r.err.hasPrefix("error: ") && r.err.contains("'\(named)'"), r.err)
            XCTAssertEqual(r.out, "")
        }
    }

    func testUsageErrorsExitTwo() throws {
        let a = try writeDump("a.safetensors")
        for args in [["diff"], ["diff", a], ["diff", a, a, a], ["diff", a, a, "--tolerance", "2"],
                     ["diff", a, a, "--tolerance", "x"], ["diff", a, a, "--full-size", "--tolerance", "1e-4"],
                     ["diff", a, a, "--model", "m"]] {
            let r = try trim(args)
            XCTAssertEqual(r.code, 2, "\(args): \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("error: "), r.err)
        }
        let help = try trim(["diff", "--help"])
        XCTAssertEqual(help.code, 0)
        XCTAssertTrue(help.out.contains("--full-size") && help.out.contains("--tolerance R"), help.out)
    }

    func testTwoRunsOfReduceGiveIdenticalDumps() throws {
        let model = Self.root.appendingPathComponent("Weights/clip-odd").path
        let image = Self.root.appendingPathComponent("Tests/Goldens/trim/images/tiny.png").path
        let projector = Self.root.appendingPathComponent("Tests/Goldens/trim/projector-odd.safetensors").path
        var dumps: [String] = []
        for name in ["A.safetensors", "B.safetensors"] {
            let path = dir.appendingPathComponent(name).path
            let r = try trim(["reduce", "--model", model, "--image", image, "--prompt", "the sky above the trees",
                              "--projector", projector, "--dump", path])
            XCTAssertEqual(r.code, 0, r.err)
            dumps.append(path)
        }
        let r = try trim(["diff", dumps[0], dumps[1], "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let j = try JSON.parse(r.out)
        XCTAssertEqual(j["verdict"]?.stringValue, "identical")
        XCTAssertEqual(j["first_out"], .null)
        XCTAssertEqual(j["tensors"]?.arrayValue?.compactMap { $0["name"]?.stringValue },
                       ["pixel_values", "features", "image_tokens", "input_ids", "text_embeds", "scores", "kept_indices",
                        "reduced", "projected"])
        XCTAssertEqual(j["selection"]?["near_ties"]?.intValue, 0)
    }
}

import Foundation
import SafeTensors
import TRIMImage
import TRIMJSON
import TRIMTensor
import XCTest

@testable import TRIM

/// FasterVLM, VisionZip, VisPruner, DivPrune and CDPruner against `Tests/Goldens/reducers_goldens.py`,
/// PyTorch ports of each method's released function (SEMANTICS.md §3c). Kept indices must be identical in order;
/// `reduced`, `projected` and the ranking signal within SEMANTICS.md §4.
final class ReducerGoldenTests: XCTestCase {
    static let root = TRIMGoldenTests.root

    /// The reducer a manifest case describes.
    static func reducer(_ k: JSONValue) throws -> any TokenReducer {
        let keep = k["keep"]?.intValue
        switch k["method"]!.stringValue! {
        case "fastervlm": return FasterVLM(keep: keep!)
        case "visionzip": return VisionZip(dominant: k["dominant"]!.intValue!, contextual: k["contextual"]!.intValue!)
        case "vispruner": return VisPruner(keep: keep!, importantRatio: k["important_ratio"]?.doubleValue ?? 0.5)
        case "divprune": return DivPrune(keep: keep)
        case "cdpruner": return CDPruner(keep: keep!, scoring: Scoring(rawValue: k["scoring"]!.stringValue!)!)
        case let m: throw XCTSkip("unknown method \(m)")
        }
    }

    /// Runs every case of a goldens file through the Swift pipeline (one vision pass per image, capturing
    /// what all five methods need); returns the worst relative error.
    func checkGoldens(_ url: URL, tolerance: Double = 1e-5) throws -> Double {
        let ref = try SafeTensorsFile(url: url)
        let manifest = try JSON.parse(ref.metadata["manifest"]!)
        let model = Self.root.appendingPathComponent(manifest["model"]!.stringValue!)
        let projector = manifest["projector"]?.stringValue.map { Self.root.appendingPathComponent($0) }
        let needs: ReducerNeeds = [.classAttention, .headMeanKeys, .imageTokens, .projectedRows, .promptSegments]
        let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, needs: needs)
        let images = manifest["images"]!.arrayValue!.map { Self.root.appendingPathComponent($0.stringValue!) }
        let prompts = manifest["prompts"]?.arrayValue?.map { $0.stringValue! } ?? []
        var encoded: [Int: EncodedImage] = [:]
        var worst = 0.0
        var ties: [String] = []
        for (c, k) in manifest["cases"]!.arrayValue!.enumerated() {
            let i = k["image"]!.intValue!
            if encoded[i] == nil {
                encoded[i] = try pipeline.encode(image: try ImageDecoder.decode(contentsOf: images[i]), needs: needs)
            }
            var e = encoded[i]!
            let withProjector = k["projector"]?.boolValue ?? false
            if !withProjector { e.views[0].values[.projectedRows] = nil }
            let reducer = try Self.reducer(k)
            let prompt = k["prompt"]?.intValue.map { prompts[$0] } ?? ""
            let result = try pipeline.reduce(e, prompt: prompt, reducer: reducer)
            let r = result.reduction
            let label = "\(manifest["model"]!.stringValue!) image \(i) case \(c) \(reducer.name) \(reducer.settings)"
                + (withProjector ? " projector" : "")
            let refKept = try ref.int64s("case\(c).kept_indices").map(Int.init)
            XCTAssertEqual(r.keptIndices.count, refKept.count, "\(label): kept count")
            XCTAssertEqual(r.reduced.rows, k["rows"]?.intValue, "\(label): rows")
            if r.keptIndices != refKept {
                // SEMANTICS.md §4: a choice decided within 1e-6 relative is a tie, which either side may break. The
                // manifest's `gap` is the smallest relative margin of any choice the case made (top-k
                // boundaries, argmaxes, drop rounds, the DPP's stop). Only then may the sets differ.
                var gap = k["gap"]?.doubleValue ?? 1
                if let stop = k["dpp_stop"], let ratio = stop["ratio"]?.doubleValue {
                    // CDPruner's stop (d² ≤ 1e-4 of the largest initial d², in units of the kernel's scale):
                    // its margin on both sides counts as one of the choices.
                    let last = stop["last_ratio"]?.doubleValue ?? 1
                    gap = min(gap, abs(ratio - 1e-4), abs(last - 1e-4))
                }
                XCTAssertLessThan(gap, 1e-6, "\(label): kept indices (in order) differ: \(r.keptIndices) vs \(refKept)")
                ties.append("\(label): gap \(gap), \(Set(r.keptIndices).symmetricDifference(refKept).count / 2) of \(refKept.count) differ")
                continue
            }
            var pairs: [(String, Tensor)] = [("reduced", r.reduced)]
            if withProjector, let p = result.projected { pairs.append(("projected", p)) }
            if let signal = k["signal"]?.stringValue {
                XCTAssertEqual(r.signal.name, signal, "\(label): signal name")
                pairs.append(("signal", Tensor(shape: [r.signal.values.count], scalars: r.signal.values)))
            }
            for (key, t) in pairs {
                let refTensor = try ref.tensor("case\(c).\(key)")
                guard refTensor.shape == t.shape else {
                    XCTFail("\(label) \(key): shape \(t.shape), reference \(refTensor.shape)")
                    continue
                }
                let err = maxRelativeError(t, reference: refTensor)
                worst = max(worst, err)
                XCTAssertLessThanOrEqual(err, tolerance, "\(label) \(key): max|Δ|/max|ref| = \(err)")
            }
        }
        // VisPruner's selection logic on the port's own cosines: given the same inputs, no tie can excuse a
        // difference (the stored cosines are what the port decided on, bit for bit).
        for (l, k) in (manifest["logic"]?.arrayValue ?? []).enumerated() {
            let i = k["image"]!.intValue!
            let cosines = try ref.tensor("logic_image\(i).cosines")
            let kept = try VisPruner.select(signal: try ref.tensor("logic_image\(i).signal").scalars, cosines: cosines,
                                            keep: k["keep"]!.intValue!, importantRatio: k["important_ratio"]!.doubleValue!)
            XCTAssertEqual(kept, try ref.int64s("logic\(l).kept_indices").map(Int.init),
                           "\(manifest["model"]!.stringValue!) image \(i): VisPruner's logic on the port's cosines, T \(k["keep"]!)")
        }
        for t in ties { print("tie (SEMANTICS.md §4): \(t)") }
        // Ties must stay the exception: rounding decides them, not the method.
        XCTAssertLessThanOrEqual(ties.count * 3, manifest["cases"]!.arrayValue!.count, "too many ties")
        return worst
    }

    func goldens(_ name: String) -> URL {
        Self.root.appendingPathComponent("Tests/Goldens/reducers/\(name).safetensors")
    }

    func testTinyModelMatchesTheReleasedCode() throws {
        print("clip-tiny reducers: worst max|Δ|/max|ref| = \(try checkGoldens(goldens("clip-tiny")))")
    }

    func testOddModelMatchesTheReleasedCode() throws {
        print("clip-odd reducers: worst max|Δ|/max|ref| = \(try checkGoldens(goldens("clip-odd")))")
    }

    func testDemoModelMatchesTheReleasedCode() throws {
        print("clip-demo reducers: worst max|Δ|/max|ref| = \(try checkGoldens(goldens("clip-demo")))")
    }

    /// Goldens made by `reducers_goldens.py --model-dir … --out FILE` (held-out checks); runs only when
    /// `TRIM_REDUCERS_CHECK=FILE` is set; `TRIM_TOLERANCE` overrides 1e-5.
    func testExternalModelMatchesTheReleasedCode() throws {
        let env = ProcessInfo.processInfo.environment
        guard let path = env["TRIM_REDUCERS_CHECK"] else {
            throw XCTSkip("set TRIM_REDUCERS_CHECK to a goldens file made by reducers_goldens.py --model-dir")
        }
        let worst = try checkGoldens(URL(fileURLWithPath: path), tolerance: env["TRIM_TOLERANCE"].flatMap(Double.init) ?? 1e-5)
        print("\(path) reducers: worst max|Δ|/max|ref| = \(worst)")
    }
}

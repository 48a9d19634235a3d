import Foundation
import SafeTensors
import TRIMImage
import TRIMJSON
import TRIMTensor
import XCTest

@testable import TRIM

/// PruMerge and PruMerge+ against `Tests/Goldens/prumerge_goldens.py`, a line-by-line PyTorch port of the
/// released LLaVA-PruMerge functions (`token_prune_merge_advanced(_plus)`, `outlier_dectection`,
/// `complement_idx`). Kept indices must be identical in order; `cls_attention` and `reduced` within SEMANTICS.md §4.
final class PruMergeGoldenTests: XCTestCase {
    static let root = TRIMGoldenTests.root

    /// Runs every case of a goldens file through the Swift pipeline (one vision pass per image); returns the
    /// worst relative error.
    func checkGoldens(_ url: URL, tolerance: Double = 1e-5) throws -> Double {
        let ref = try SafeTensorsFile(url: url)
        let manifest = try JSON.parse(ref.metadata["manifest"]!)
        let model = Self.root.appendingPathComponent(manifest["model"]!.stringValue!)
        let pipeline = try TRIMPipeline(modelDirectory: model, needs: [.nextLayerQueriesKeys])
        let images = manifest["images"]!.arrayValue!.map { Self.root.appendingPathComponent($0.stringValue!) }
        var encoded: [Int: EncodedImage] = [:]
        var worst = 0.0
        for (c, k) in manifest["cases"]!.arrayValue!.enumerated() {
            let i = k["image"]!.intValue!
            if encoded[i] == nil {
                encoded[i] = try pipeline.encode(image: try ImageDecoder.decode(contentsOf: images[i]),
                                                 needs: [.nextLayerQueriesKeys])
            }
            let name = k["name"]!.stringValue!
            let reducer = PruMerge(plus: k["plus"]!.boolValue!, keepRatio: k["ratio"]?.doubleValue)
            let r = try pipeline.reduce(encoded[i]!, prompt: nil, reducer: reducer).reduction
            let label = "\(manifest["model"]!.stringValue!) image \(i) \(name)"
            let refKept = try ref.int64s("case\(c).kept_indices").map(Int.init)
            XCTAssertEqual(r.keptIndices, refKept, "\(label): kept indices (in order)")
            let attention = Tensor(shape: [r.signal.values.count], scalars: r.signal.values)
            for (key, t) in [("cls_attention", attention), ("reduced", r.reduced)] {
                let e = maxRelativeError(t, reference: try ref.tensor("case\(c).\(key)"))
                worst = max(worst, e)
                XCTAssertLessThanOrEqual(e, tolerance, "\(label) \(key): max|Δ|/max|ref| = \(e)")
            }
            if let upper = k["upper"]?.doubleValue {
                // The IQR arithmetic bit for bit on the reference attention; ours within the attention's tolerance.
                // The bound Q3 + 1.5·(Q3 − Q1) moves at most 4× as far as the attention values do, and those are held
                // to max|Δ| ≤ tolerance · max|ref| (SEMANTICS.md §4): relative to the bound itself the error can be
                // far larger when the attention is peaked (the demo CLIP's: Q1 ~ 1e-10, Q3 ~ 1e-6, max ~ 0.2).
                let refAttention = try ref.tensor("case\(c).cls_attention").scalars
                let onRef = iqrOutliers(refAttention)
                XCTAssertEqual(onRef.statistics?.upper, Float(upper), "\(label): IQR bound on the reference attention")
                let scale = Double(refAttention.map(abs).max() ?? 0)
                XCTAssertLessThanOrEqual(abs(Double(r.iqr!.upper) - upper), tolerance * max(abs(upper), 4 * scale),
                                         "\(label): IQR bound")
            }
        }
        return worst
    }

    func testTinyModelMatchesTheReleasedCode() throws {
        let worst = try checkGoldens(Self.root.appendingPathComponent("Tests/Goldens/prumerge/clip-tiny.safetensors"))
        print("clip-tiny PruMerge: worst max|Δ|/max|ref| = \(worst)")
    }

    func testOddModelMatchesTheReleasedCode() throws {
        let worst = try checkGoldens(Self.root.appendingPathComponent("Tests/Goldens/prumerge/clip-odd.safetensors"))
        print("clip-odd PruMerge: worst max|Δ|/max|ref| = \(worst)")
    }

    func testDemoModelMatchesTheReleasedCode() throws {
        let url = Self.root.appendingPathComponent("Tests/Goldens/prumerge/clip-demo.safetensors")
        let worst = try checkGoldens(url)
        print("clip-demo PruMerge: worst max|Δ|/max|ref| = \(worst)")
    }

    /// Goldens made by `prumerge_goldens.py --model-dir … --out FILE` (held-out checks); runs only when
    /// `TRIM_PRUMERGE_CHECK=FILE` is set; `TRIM_TOLERANCE` overrides 1e-5.
    func testExternalModelMatchesTheReleasedCode() throws {
        let env = ProcessInfo.processInfo.environment
        guard let path = env["TRIM_PRUMERGE_CHECK"] else {
            throw XCTSkip("set TRIM_PRUMERGE_CHECK to a goldens file made by prumerge_goldens.py --model-dir")
        }
        let worst = try checkGoldens(URL(fileURLWithPath: path), tolerance: env["TRIM_TOLERANCE"].flatMap(Double.init) ?? 1e-5)
        print("\(path) PruMerge: worst max|Δ|/max|ref| = \(worst)")
    }
}

/// PruMerge's behaviour where the released code breaks, on hand-built inputs.
final class PruMergeEdgeTests: XCTestCase {
    /// N = 9 patches of width 2, keys chosen so the class token attends most to patch 4.
    func input(n: Int = 9) -> ReducerInput {
        let d = 2
        var x = [Float](), q = [Float](repeating: 0, count: (n + 1) * d), k = [Float]()
        q[0] = 1  // class token's query along the first axis
        k += [0, 1]  // class token's key: orthogonal, no self-preference
        for i in 0..<n {
            x += [Float(i), 1]
            k += [i == 4 ? 6 : Float(i % 3) * 0.1, Float(i) * 0.05 + 0.2]
        }
        return ReducerInput(features: Tensor(shape: [n, d], scalars: x), classToken: [0, 0],
                            queries: Tensor(shape: [n + 1, d], scalars: q), keys: Tensor(shape: [n + 1, d], scalars: k))
    }

    func testFewerThan33TokensMergesAllOthers() throws {
        let r = try PruMerge(keepRatio: 1.0 / 9).reduce(input())
        XCTAssertEqual(r.keptIndices, [4])
        // The kept row absorbs all 8 others, weighted by their attention; the last row sums the same 8 (the
        // released code merges the unkept into the kept rows and into the extra row alike).
        let a = r.signal.values
        var expected: [Float] = [4, 1]
        for j in 0..<9 where j != 4 {
            expected[0] += a[j] * Float(j)
            expected[1] += a[j]
        }
        XCTAssertEqual(r.reduced.rows, 2)
        XCTAssertEqual(r.reduced.scalars[0], expected[0], accuracy: 1e-5)
        XCTAssertEqual(r.reduced.scalars[1], expected[1], accuracy: 1e-5)
        XCTAssertEqual(r.reduced.scalars[2], expected[0] - 4, accuracy: 1e-5)
        XCTAssertEqual(r.reduced.scalars[3], expected[1] - 1, accuracy: 1e-5)
    }

    func testNoOutlierKeepsOnlyTheWeightedSumOrPlusSampleZero() throws {
        // Equal keys: uniform attention, no outlier.
        var i = input()
        i.keys = Tensor(shape: [10, 2], scalars: [Float](repeating: 1, count: 20))
        let p = try PruMerge().reduce(i)
        XCTAssertEqual(p.keptIndices, [])
        XCTAssertEqual(p.reduced.rows, 1)
        // Σ attention over the patches (the class token's own share, 1/10, is not a patch's)
        XCTAssertEqual(p.reduced.scalars[1], 0.9, accuracy: 1e-6)
        let plus = try PruMerge(plus: true).reduce(i)
        XCTAssertEqual(plus.keptIndices, [0])
    }

    func testLargeRatioUsesStepOneForThePlusSample() {
        XCTAssertEqual(PruMerge.spatialSample(ratio: 0.4, patches: 9), Array(0..<8))
        XCTAssertEqual(PruMerge.spatialSample(ratio: 1.0 / 8, patches: 576).count, 288)  // step int(8/3) = 2
        XCTAssertEqual(PruMerge.spatialSample(ratio: 7.0 / 576, patches: 576), Array(stride(from: 0, to: 575, by: 27)))
        XCTAssertEqual(PruMerge.spatialSample(ratio: 0, patches: 576), [0])
    }

    func testMissingQueriesIsATypedError() {
        var i = input()
        i.queries = nil
        XCTAssertThrowsError(try PruMerge().reduce(i)) { e in
            XCTAssertTrue("\(e)".contains("q_proj"), "\(e)")
        }
    }
}

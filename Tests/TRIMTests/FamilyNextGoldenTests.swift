import Foundation
import SafeTensors
import TRIMImage
import TRIMJSON
import TRIMTensor
import XCTest

@testable import TRIM

/// The reducer family on any-resolution input against PyTorch ports of each method's released LLaVA-1.6 code
/// and its `--views hf` form (`Tests/Goldens/family_next_goldens.py`, on the tiny LLaVA-NeXT of
/// `next_goldens.py`): per image, method and mode, the token map and kept patches identical, the rows, the
/// projected rows and the method's signal within 1e-5 (Docs/SEMANTICS.md §4).
final class FamilyNextGoldenTests: XCTestCase {
    static let goldens = NextGoldenTests.root.appendingPathComponent("Tests/Goldens")

    func testEveryMethodInBothModesMatchesItsPort() throws {
        let file = try SafeTensorsFile(url: Self.goldens.appendingPathComponent("family_next/family.safetensors"))
        let manifest = try JSON.parse(file.metadata["manifest"]!)
        let cases = manifest["cases"]!.arrayValue!
        XCTAssertGreaterThanOrEqual(cases.count, 80)
        let needs = try ReducerCatalog.needs(of: ReducerCatalog.comparedAnyResolution)
        let pipeline = try TRIMPipeline(modelDirectory: Self.goldens.appendingPathComponent("next/clip-next"),
                                        projector: Self.goldens.appendingPathComponent("next/llava-next-hf"), needs: needs)
        var encodings: [String: EncodedImage] = [:]
        var methods = Set<String>()
        for c in cases {
            let key = c["key"]!.stringValue!, method = c["method"]!.stringValue!
            let mode = ViewsMode(rawValue: c["mode"]!.stringValue!)!
            let label = "\(key) \(c["image"]!.stringValue!) \(method) \(mode.rawValue)"
            let options = c["options"]!.arrayValue!.compactMap(\.stringValue)
            var values: [String: String] = [:]
            for i in stride(from: 0, to: options.count, by: 2) { values[String(options[i].dropFirst(2))] = options[i + 1] }
            let reducer = try ReducerCatalog.make(method, OptionValues(values))
            let geometry = reducer.viewGeometry(mode)
            let image = c["image"]!.stringValue!
            let cacheKey = "\(image) \(geometry.rawValue)"
            if encodings[cacheKey] == nil {
                let decoded = try ImageDecoder.decode(contentsOf: Self.goldens.appendingPathComponent("next").appendingPathComponent(image))
                encodings[cacheKey] = try pipeline.encode(image: decoded, layout: pipeline.defaultLayout.with(geometry: geometry), needs: needs)
            }
            let encoded = encodings[cacheKey]!
            let r = try pipeline.reduce(encoded, prompt: c["prompt"]!.stringValue!, reducer: reducer, views: mode)
            XCTAssertEqual([encoded.grid!.rows, encoded.grid!.columns], c["grid"]!.arrayValue!.compactMap(\.intValue), label)
            XCTAssertEqual(NextGoldenTests.tokenMap(r.rows), try pairs(file, "\(key).token_map"), label)
            XCTAssertEqual(r.reduction.rows.compactMap(\.patch).map { [$0.view, $0.index] }, try pairs(file, "\(key).kept"), label)
            let reduced = try file.tensor("\(key).reduced")
            if reduced.count > 0 {
                XCTAssertLessThanOrEqual(maxRelativeError(r.reduction.reduced, reference: reduced.reshaped(r.reduction.reduced.shape)), 1e-5, label)
            }
            let projected = try file.tensor("\(key).projected")
            XCTAssertLessThanOrEqual(maxRelativeError(r.projected!, reference: projected.reshaped(r.projected!.shape)), 1e-5, label)
            if file.contains("\(key).signal") {
                let signal = try file.tensor("\(key).signal")
                let mine = Tensor(shape: signal.shape, scalars: r.reduction.signal.values)
                XCTAssertLessThanOrEqual(maxRelativeError(mine, reference: signal), 1e-5, label)
            }
            if file.contains("\(key).signal_layer0"), let layer0 = r.reduction.extras.first(where: { $0.name == "cls_attention_layer0" }) {
                XCTAssertLessThanOrEqual(maxRelativeError(layer0.tensor, reference: try file.tensor("\(key).signal_layer0")), 1e-5, label)
            }
            methods.insert(method)
        }
        XCTAssertEqual(methods, Set(ReducerCatalog.comparedAnyResolution).subtracting(["trim", "random"]))
    }

    private func pairs(_ file: SafeTensorsFile, _ name: String) throws -> [[Int]] {
        let flat = try file.int64s(name).map(Int.init)
        return stride(from: 0, to: flat.count, by: 2).map { [flat[$0], flat[$0 + 1]] }
    }
}

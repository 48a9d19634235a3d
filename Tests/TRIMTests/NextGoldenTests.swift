import Foundation
import SafeTensors
import TRIMImage
import TRIMJSON
import TRIMTensor
import XCTest

@testable import TRIM

/// LLaVA-NeXT any-resolution input against Hugging Face (`Tests/Goldens/next_goldens.py`: transformers'
/// `LlavaNextImageProcessorPil` and `LlavaNextModel.get_image_features`, and a port of TRIM on every view):
/// the checkpoint's own tower in its three published layouts, the views, the packed rows of `--method none`
/// with their `image_newline`s, and TRIM's kept cells, token map and rows per case.
final class NextGoldenTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let next = root.appendingPathComponent("Tests/Goldens/next")

    struct Goldens {
        let file: SafeTensorsFile
        let manifest: JSONValue
        init() throws {
            file = try SafeTensorsFile(url: NextGoldenTests.next.appendingPathComponent("next.safetensors"))
            manifest = try JSON.parse(file.metadata["manifest"]!)
        }
        func pairs(_ name: String) throws -> [[Int]] {
            let flat = try file.int64s(name).map(Int.init)
            return stride(from: 0, to: flat.count, by: 2).map { [flat[$0], flat[$0 + 1]] }
        }
    }

    func pipeline(_ layout: String) throws -> TRIMPipeline {
        try TRIMPipeline(modelDirectory: Self.next.appendingPathComponent("clip-next"),
                         projector: Self.next.appendingPathComponent(layout))
    }

    static func tokenMap(_ rows: [RowSource]) -> [[Int]] { rows.map { [$0.tokenMapEntry.view, $0.tokenMapEntry.patch] } }

    /// The three layouts load the same tower and give HF's views, features and packed `get_image_features`.
    func testEveryLayoutReproducesHuggingFacesPackedFeatures() throws {
        let g = try Goldens()
        for layout in ["llava-next-hf", "llava-next-hub", "llava-v1.6-orig"] {
            let p = try pipeline(layout)
            XCTAssertNotNil(p.next, layout)
            XCTAssertEqual(p.defaultLayout, .anyResolution(pinpoints: [(56, 112), (112, 56), (112, 112), (168, 56), (56, 168)]
                .map { Pinpoint(height: $0.0, width: $0.1) }), layout)
            for image in g.manifest["images"]!.arrayValue! {
                let name = image["name"]!.stringValue!
                let label = "\(layout) \(name)"
                let decoded = try ImageDecoder.decode(contentsOf: Self.next.appendingPathComponent(image["image"]!.stringValue!))
                let encoded = try p.encode(image: decoded, layout: p.defaultLayout, needs: [])
                XCTAssertEqual(encoded.views.count, image["views"]!.intValue!, label)
                XCTAssertEqual([encoded.imageHeight, encoded.imageWidth], try g.file.int64s("\(name).image_sizes").map(Int.init))
                let pixels = Tensor.concatenateRows(encoded.views.map { $0.pixelValues.reshaped([1, $0.pixelValues.count]) })
                XCTAssertLessThanOrEqual(maxAbsoluteError(pixels.scalars, try g.file.tensor("\(name).pixel_values").scalars), 1e-6, label)
                let features = Tensor.concatenateRows(encoded.views.map(\.features))
                XCTAssertLessThanOrEqual(maxRelativeError(features, reference: try g.file.tensor("\(name).features").reshaped(features.shape)),
                                         1e-5, label)
                let r = try p.reduce(encoded, prompt: nil, reducer: NoReduction())
                XCTAssertEqual(Self.tokenMap(r.rows), try g.pairs("\(name).packed_rows"), label)
                XCTAssertEqual(r.packing?.droppedInPadding, image["none"]!["dropped_in_padding"]!.intValue, label)
                XCTAssertEqual(r.tokens, image["tokens"]!.intValue, label)
                XCTAssertLessThanOrEqual(maxRelativeError(r.projected!, reference: try g.file.tensor("\(name).packed")), 1e-5, label)
            }
        }
    }

    /// TRIM on every view: per-view scores, kept cells in output-row order, the token map with each newline
    /// policy, the rows and their projection, and the kept cells unpad cut away.
    func testTRIMOnEveryViewMatchesThePortForEveryCase() throws {
        let g = try Goldens()
        let p = try pipeline("llava-next-hf")
        let prompts = g.manifest["prompts"]!.arrayValue!.map { $0.stringValue! }
        var checked = 0
        for image in g.manifest["images"]!.arrayValue! {
            let name = image["name"]!.stringValue!
            let decoded = try ImageDecoder.decode(contentsOf: Self.next.appendingPathComponent(image["image"]!.stringValue!))
            let encoded = try p.encode(image: decoded, layout: p.defaultLayout)
            for c in g.manifest["cases"]!.arrayValue! {
                let caseName = c["name"]!.stringValue!, key = "\(name).\(caseName)", label = key
                var options = ReductionOptions()
                options.scoring = Scoring(rawValue: c["scoring"]!.stringValue!)!
                if c["selection"]!.stringValue! == "ratio" { options.selection = .keepRatio(c["param"]!.doubleValue!) }
                let policy = NewlinePolicy(rawValue: c["newlines"]!.stringValue!)!
                let r = try p.reduce(encoded, prompt: prompts[c["prompt"]!.intValue!], reducer: TRIMReducer(options: options),
                                     newlines: policy)
                let expected = image["results"]![caseName]!
                XCTAssertEqual(r.reduction.rows.compactMap { $0.patch.map { [$0.view, $0.index] } }, try g.pairs("\(key).kept_indices"), label)
                XCTAssertEqual(Self.tokenMap(r.rows), try g.pairs("\(key).token_map"), label)
                XCTAssertEqual(r.packing?.droppedInPadding, expected["dropped_in_padding"]!.intValue, label)
                XCTAssertEqual(r.tokens, expected["tokens"]!.intValue, label)
                XCTAssertLessThanOrEqual(maxRelativeError(Tensor(shape: [r.reduction.signal.values.count], scalars: r.reduction.signal.values),
                                                          reference: try g.file.tensor("\(key).scores").reshaped([r.reduction.signal.values.count])),
                                         1e-5, label)
                XCTAssertLessThanOrEqual(maxRelativeError(r.reduction.reduced, reference: try g.file.tensor("\(key).reduced")), 1e-5, label)
                XCTAssertLessThanOrEqual(maxRelativeError(r.projected!, reference: try g.file.tensor("\(key).projected")), 1e-5, label)
                checked += 1
            }
        }
        XCTAssertEqual(checked, 5 * 24)
    }
}

/// The largest |a − b|.
func maxAbsoluteError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "maxAbsoluteError: \(a.count) vs \(b.count) values")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

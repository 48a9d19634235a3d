import Foundation
import SafeTensors
import TRIMTensor
import XCTest

import CLIP

/// Conformance of the CLIP towers against PyTorch: every tensor stored by `Tests/Goldens/clip_goldens.py`
/// (Hugging Face `transformers` CLIPModel, float32 on CPU) must match within SEMANTICS.md §4's
/// `max|Δ| / max|ref| ≤ 1e-5`.
final class CLIPGoldenTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let tolerance = 1e-5

    /// Runs every stored comparison for one model directory against one goldens file.
    static func checkAll(modelDir: URL, goldens: URL, tolerance: Double = tolerance, file: StaticString = #filePath,
                         line: UInt = #line) throws -> Double {
        let model = try CLIPModel(directory: modelDir)
        let ref = try SafeTensorsFile(url: goldens)
        var worst = 0.0
        var worstByKind: [String: Double] = [:]  // vision_hidden, text_embeds, … (input and layer indices dropped)
        defer {
            print(modelDir.lastPathComponent + ": " + worstByKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        func compare(_ name: String, _ t: Tensor) throws {
            let r = try ref.tensor(name)
            XCTAssertEqual(t.shape, r.shape, name, file: file, line: line)
            let e = maxRelativeError(t, reference: r)
            worst = max(worst, e)
            let kind = name.split(separator: "_").filter { Int($0) == nil }.joined(separator: "_")
            worstByKind[kind] = max(worstByKind[kind] ?? 0, e)
            XCTAssertLessThanOrEqual(e, tolerance, "\(name): max|Δ|/max|ref| = \(e)", file: file, line: line)
        }
        let c = model.config
        var i = 0
        while ref.contains("pixel_values_\(i)") {
            let px = try ref.tensor("pixel_values_\(i)")
            let states = try model.vision_model.hiddenStates(px, upTo: c.vision.layers)
            XCTAssertEqual(states.count, c.vision.layers + 1)
            for (k, s) in states.enumerated() { try compare("vision_hidden_\(i)_\(k)", s) }
            try compare("vision_pooled_\(i)", try model.vision_model.pooledOutput(px))
            try compare("image_embeds_\(i)", try model.imageEmbeds(px))
            i += 1
        }
        XCTAssertGreaterThan(i, 0, "no image inputs in \(goldens.lastPathComponent)", file: file, line: line)
        var j = 0
        while ref.contains("input_ids_\(j)") {
            let ids = try ref.int64s("input_ids_\(j)").map { Int($0) }
            let text = model.text_model!
            let states = try text.hiddenStates(ids)
            for (k, s) in states.enumerated() { try compare("text_hidden_\(j)_\(k)", s) }
            try compare("text_last_\(j)", try text.lastHiddenState(ids))
            try compare("text_pooled_\(j)", try text.pooledOutput(ids))
            try compare("text_embeds_\(j)", try model.textEmbeds(ids))
            j += 1
        }
        XCTAssertGreaterThan(j, 0, "no text inputs in \(goldens.lastPathComponent)", file: file, line: line)
        XCTAssertEqual(Double(model.logit_scale), Double(try ref.tensor("logit_scale").scalars[0]), accuracy: 1e-6)
        return worst
    }


    func testTinyModelMatchesPyTorchAtEveryLayer() throws {
        let worst = try Self.checkAll(modelDir: Self.root.appendingPathComponent("Weights/clip-tiny"),
                                      goldens: Self.root.appendingPathComponent("Tests/Goldens/clip/clip-tiny.safetensors"))
        print("clip-tiny: worst max|Δ|/max|ref| = \(worst)")
    }

    func testOddModelMatchesPyTorchAtEveryLayer() throws {
        let worst = try Self.checkAll(modelDir: Self.root.appendingPathComponent("Weights/clip-odd"),
                                      goldens: Self.root.appendingPathComponent("Tests/Goldens/clip/clip-odd.safetensors"))
        print("clip-odd: worst max|Δ|/max|ref| = \(worst)")
    }

    /// A model and goldens made by `clip_goldens.py --random-shape --seed N --out DIR` (or `--preset`), which
    /// nobody tuned against. Runs only when `TRIM_CLIP_CHECK_DIR=DIR` is set; `TRIM_TOLERANCE` overrides 1e-5
    /// (SEMANTICS.md §4 allows 1e-3 at full ViT-L/14-336 size). See Docs/CONFORMANCE.md.
    func testExternalCheckpointMatchesPyTorch() throws {
        let env = ProcessInfo.processInfo.environment
        guard let dir = env["TRIM_CLIP_CHECK_DIR"] else {
            throw XCTSkip("set TRIM_CLIP_CHECK_DIR to a directory made by clip_goldens.py --out")
        }
        let url = URL(fileURLWithPath: dir)
        let worst = try Self.checkAll(modelDir: url, goldens: url.appendingPathComponent("goldens.safetensors"),
                                      tolerance: env["TRIM_TOLERANCE"].flatMap(Double.init) ?? Self.tolerance)
        print("\(dir): worst max|Δ|/max|ref| = \(worst)")
    }

    func testHalfPrecisionWeightsGiveTheSameResultsAsFloats() throws {
        // clip-tiny is an F16 checkpoint: by default its weight matrices stay 16-bit (half the bytes), and
        // every output must equal, bit for bit, the one from weights converted to Floats at load.
        let dir = Self.root.appendingPathComponent("Weights/clip-tiny")
        let narrow = try CLIPModel(directory: dir), wide = try CLIPModel(directory: dir, weightPrecision: .float32)
        let layer = { (m: CLIPModel) in m.vision_model.layers[0].mlp.fc1.weight }
        XCTAssertEqual(layer(narrow).storage, .float16)
        XCTAssertEqual(layer(wide).storage, .float32)
        XCTAssertEqual(layer(narrow).byteCount * 2, layer(wide).byteCount)
        XCTAssertEqual(narrow.text_projection?.weight.storage, .float16)
        let ref = try SafeTensorsFile(url: Self.root.appendingPathComponent("Tests/Goldens/clip/clip-tiny.safetensors"))
        let px = try ref.tensor("pixel_values_0"), ids = try ref.int64s("input_ids_0").map { Int($0) }
        XCTAssertEqual(try narrow.vision_model.hiddenStates(px, upTo: 4), try wide.vision_model.hiddenStates(px, upTo: 4))
        XCTAssertEqual(try narrow.imageEmbeds(px), try wide.imageEmbeds(px))
        XCTAssertEqual(try narrow.textEmbeds(ids), try wide.textEmbeds(ids))
        // An F32 checkpoint is packed as Floats whatever the setting.
        let odd = try CLIPModel(directory: Self.root.appendingPathComponent("Weights/clip-odd"))
        XCTAssertEqual(odd.vision_model.layers[0].mlp.fc1.weight.storage, .float32)
    }

    func testLoadingFewerVisionLayersGivesTheSameHiddenState() throws {
        let dir = Self.root.appendingPathComponent("Weights/clip-tiny")
        let capped = try CLIPModel(directory: dir, visionLayers: 3, loadText: false)
        XCTAssertEqual(capped.vision_model.layers.count, 3)
        XCTAssertNil(capped.text_model)
        let ref = try SafeTensorsFile(url: Self.root.appendingPathComponent("Tests/Goldens/clip/clip-tiny.safetensors"))
        let h = try capped.vision_model.hiddenState(try ref.tensor("pixel_values_1"), afterLayers: 3)
        XCTAssertLessThanOrEqual(maxRelativeError(h, reference: try ref.tensor("vision_hidden_1_3")), Self.tolerance)
        XCTAssertThrowsError(try capped.vision_model.hiddenState(try ref.tensor("pixel_values_1"), afterLayers: 4))
        XCTAssertThrowsError(try capped.vision_model.pooledOutput(try ref.tensor("pixel_values_1")))
    }

    func testTextPoolingIgnoresEverythingAfterEndOfText() throws {
        let model = try CLIPModel(directory: Self.root.appendingPathComponent("Weights/clip-tiny"))
        let text = model.text_model!
        let a = [49406, 320, 1125, 539, 49407]
        let b = a + [49407, 500, 7, 49407]  // arbitrary trailing tokens
        XCTAssertEqual(try text.pooledOutput(a), try text.pooledOutput(b))
        XCTAssertEqual(text.poolingPosition(b), 4)
    }

    func testWrongInputsAreTypedErrors() throws {
        let model = try CLIPModel(directory: Self.root.appendingPathComponent("Weights/clip-odd"))
        XCTAssertThrowsError(try model.imageEmbeds(Tensor(shape: [3, 74, 75]))) { e in
            XCTAssertTrue("\(e)".contains("pixel_values has shape [3, 74, 75]"), "\(e)")
        }
        XCTAssertThrowsError(try model.textEmbeds([998, 1000, 999])) { e in
            XCTAssertTrue("\(e)".contains("token id 1000"), "\(e)")
        }
        XCTAssertThrowsError(try model.textEmbeds([Int](repeating: 5, count: 21)))
        XCTAssertThrowsError(try model.textEmbeds([]))
    }
}

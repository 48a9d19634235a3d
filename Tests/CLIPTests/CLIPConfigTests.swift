import Foundation
import SafeTensors
import TRIMJSON
import TRIMTensor
import XCTest

import CLIP

final class CLIPConfigTests: XCTestCase {
    func testReadsHuggingFaceConfigAndFillsDefaults() throws {
        let json = try JSON.parse("""
            {"projection_dim": 768,
             "text_config": {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072, "eos_token_id": 2},
             "vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
                               "num_hidden_layers": 24, "image_size": 336, "patch_size": 14}}
            """)
        let c = try CLIPConfig(json: json)
        XCTAssertEqual(c, CLIPConfig.vitL14_336)
        XCTAssertEqual(c.vision.patchCount, 576)
        XCTAssertEqual(c.vision.headDim, 64)
        XCTAssertEqual(c.text.layers, 12)  // default
    }

    func testRejectsImpossibleValuesWithTheKeyName() throws {
        let cases: [(String, String)] = [
            (#"{"vision_config": {"hidden_size": 100, "num_attention_heads": 3}}"#, "not divisible"),
            (#"{"vision_config": {"hidden_size": -4}}"#, "vision_config.hidden_size = -4"),
            (#"{"text_config": {"hidden_act": "relu"}}"#, "text_config.hidden_act"),
            (#"{"text_config": {"layer_norm_eps": "tiny"}}"#, "text_config.layer_norm_eps"),
            (#"{"projection_dim": 1.5}"#, "projection_dim must be an integer"),
            (#"{"vision_config": {"image_size": 10, "patch_size": 14}}"#, "exceeds image_size"),
            (#"[1, 2]"#, "top level is not an object"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try CLIPConfig(json: try JSON.parse(text))) { e in
                XCTAssertTrue("\(e)".contains(expected), "\(text): \(e)")
            }
        }
    }

    func testMissingOrMisshapenTensorsNameTheTensor() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let dir = root.appendingPathComponent("Weights/clip-odd")
        var config = try CLIPConfig(contentsOf: dir.appendingPathComponent("config.json"))
        let source = try SafeTensorsCheckpoint.open(dir)
        config.vision.intermediateSize = 99
        XCTAssertThrowsError(try CLIPModel(config: config, weights: source, sourceName: "odd")) { e in
            XCTAssertEqual("\(e)", "odd: tensor 'vision_model.encoder.layers.0.mlp.fc1.weight' has shape [100, 60], expected [99, 60] from config.json")
        }
        config.vision.intermediateSize = 100
        config.text.layers = 3
        XCTAssertThrowsError(try CLIPModel(config: config, weights: source, sourceName: "odd")) { e in
            XCTAssertEqual("\(e)", "odd: missing tensor 'text_model.encoder.layers.2.layer_norm1.weight'")
        }
    }
}

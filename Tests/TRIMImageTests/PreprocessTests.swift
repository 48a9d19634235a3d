import XCTest

@testable import TRIMImage

final class PreprocessTests: XCTestCase {
    /// Builds the config a golden case was made with (HF kwargs merged over the CLIP-336 defaults).
    private func config(_ json: [String: Any]) -> PreprocessorConfig {
        var c = PreprocessorConfig()
        let size = json["size"] as! [String: Int]
        if let edge = size["shortest_edge"] {
            c.size = .shortestEdge(edge)
        } else {
            c.size = .exact(height: size["height"]!, width: size["width"]!)
        }
        let crop = json["crop_size"] as! [String: Int]
        c.cropHeight = crop["height"]!
        c.cropWidth = crop["width"]!
        c.imageMean = json["image_mean"] as! [Double]
        c.imageStd = json["image_std"] as! [Double]
        c.resample = [0: .nearest, 2: .bilinear][json["resample"] as! Int] ?? .bicubic
        c.doRescale = json["do_rescale"] as? Bool ?? true
        c.doNormalize = json["do_normalize"] as? Bool ?? true
        return c
    }

    /// Every case of preprocess.safetensors: expand2square + HF resize + center crop, uint8, byte for byte;
    /// and `pixel_values` from `CLIPImageProcessorPil` within 1e-6 where stored.
    func testPixelValuesMatchCLIPImageProcessorPilWithLLaVAPad() throws {
        let goldens = try ImageGoldens("preprocess.safetensors")
        let cases = goldens.cases.filter { goldens.entries[$0 + ".src"] != nil }
        XCTAssertGreaterThanOrEqual(cases.count, 18)
        for name in cases {
            let meta = try goldens.json(name)
            let config = config(meta["config"] as! [String: Any])
            let pad = meta["pad"] as! Bool
            let src = try goldens.image(name + ".src")
            let crop = try preprocessedImage(for: src, config: config, padToSquare: pad)
            let expectedCrop = try goldens.image(name + ".crop")
            XCTAssertTrue(crop == expectedCrop, "\(name): \(firstDifference(crop, expectedCrop))")

            let got = try pixelValues(for: src, config: config, padToSquare: pad)
            XCTAssertEqual(got.shape, [3, config.cropHeight, config.cropWidth], name)
            var expected: [Float]
            if goldens.entries[name + ".pixel_values"] != nil {
                let (shape, values) = try goldens.floats(name + ".pixel_values")
                XCTAssertEqual(shape, got.shape, name)
                expected = values
            } else {
                // Full-size cases store HF's per-byte table (its rescale + normalize is elementwise;
                // the script asserts table[crop] == pixel_values exactly).
                let table = try goldens.floats("default.table").values
                let plane = expectedCrop.width * expectedCrop.height
                expected = (0..<(3 * plane)).map { i in
                    let c = i / plane
                    return table[c * 256 + Int(expectedCrop.pixels[(i % plane) * 3 + c])]
                }
            }
            let maxError = zip(got.scalars, expected).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(maxError, 1e-6, name)
        }
    }

    /// The config file format of openai/clip-vit-large-patch14-336 (old int forms) gives the defaults.
    func testConfigFromOldStyleCLIP336FileEqualsDefaults() throws {
        let json = """
            {"crop_size": 336, "do_center_crop": true, "do_normalize": true, "do_resize": true,
             "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
             "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 336}
            """
        XCTAssertEqual(try PreprocessorConfig(json: Array(json.utf8)), PreprocessorConfig())
    }

    func testConfigFromNewStyleDictsAndMissingKeysUsesHFClassDefaults() throws {
        let json = """
            {"size": {"shortest_edge": 224}, "crop_size": {"height": 200, "width": 210},
             "rescale_factor": 0.00392156862745098, "do_rescale": true, "resample": 2,
             "image_processor_type": "CLIPImageProcessor"}
            """
        let c = try PreprocessorConfig(json: Array(json.utf8))
        XCTAssertEqual(c.size, .shortestEdge(224))
        XCTAssertEqual([c.cropHeight, c.cropWidth], [200, 210])
        XCTAssertEqual(c.resample, .bilinear)
        XCTAssertEqual(c.rescaleFactor, 1.0 / 255.0)
        XCTAssertEqual(c.imageMean, PreprocessorConfig().imageMean)
        let exact = try PreprocessorConfig(json: Array(#"{"size": {"height": 30, "width": 40}}"#.utf8))
        XCTAssertEqual(exact.size, .exact(height: 30, width: 40))
        XCTAssertEqual([exact.cropHeight, exact.cropWidth], [224, 224])
    }

    func testConfigRejectsBadValuesWithTypedErrors() {
        for (json, key) in [
            (#"{"size": -3}"#, "size"), (#"{"crop_size": {"height": 3}}"#, "crop_size.width"),
            (#"{"image_std": [1, 0, 1]}"#, "image_std"), (#"{"resample": 1}"#, "resample"), (#"{"resample": 4}"#, "resample"),
            (#"{"do_resize": "yes"}"#, "do_resize"), (#"{"size": {"longest_edge": 5}}"#, "size"),
        ] {
            XCTAssertThrowsError(try PreprocessorConfig(json: Array(json.utf8))) { error in
                guard case .badValue(_, let k, _) = error as? PreprocessorConfigError else {
                    return XCTFail("\(json): \(error)")
                }
                XCTAssertEqual(k, key, json)
            }
        }
        XCTAssertThrowsError(try PreprocessorConfig(json: Array("{".utf8)))
    }

    func testExtremeAspectRatioPadThrowsAndNoPadComputesOnlyTheCrop() {
        let strip = RGBImage(width: 1, height: 600_000, fill: (1, 2, 3))
        XCTAssertThrowsError(try pixelValues(for: strip, padToSquare: true))
        // Without padding only the 336×336 crop of the 336×201,600,000 resize is computed.
        XCTAssertEqual(try pixelValues(for: strip, padToSquare: false).shape, [3, 336, 336])
    }

    func testResizeTargetFollowsHFShortestEdgeRule() {
        let c = PreprocessorConfig()
        XCTAssertTrue(c.resizedSize(height: 300, width: 400) == (336, 448))
        XCTAssertTrue(c.resizedSize(height: 640, width: 427) == (503, 336))  // int(336*640/427) = 503
        XCTAssertTrue(c.resizedSize(height: 336, width: 1000) == (336, 1000))
        XCTAssertTrue(c.resizedSize(height: 10, width: 10) == (336, 336))
    }

    func testLLaVAPadColourIsIntOfMeanTimes255() {
        XCTAssertTrue(PreprocessorConfig().padColor == (122, 116, 104))
    }

    func testExpandToSquareCentresWithFloorOffset() {
        let image = RGBImage(width: 1, height: 4, fill: (1, 2, 3))
        let square = expandToSquare(image, background: (9, 9, 9))
        XCTAssertEqual(square.width, 4)
        // (4 - 1) // 2 = 1: column 1 holds the image.
        for y in 0..<4 {
            for x in 0..<4 {
                XCTAssertEqual(square.pixels[(y * 4 + x) * 3], x == 1 ? 1 : 9)
            }
        }
    }

    func testCenterCropPadsWithZerosWhenImageIsSmaller() {
        let image = RGBImage(width: 2, height: 1, fill: (5, 5, 5))
        let out = centerCrop(image, height: 4, width: 5)
        // Rows: ceil(3/2) = 2 zero rows above; columns: ceil(3/2) = 2 zero columns left.
        let lit = (0..<20).filter { out.pixels[$0 * 3] == 5 }
        XCTAssertEqual(lit, [2 * 5 + 2, 2 * 5 + 3])
    }
}

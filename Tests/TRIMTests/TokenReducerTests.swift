import Foundation
import SafeTensors
import TRIMTensor
import XCTest

import TRIM

final class TokenReducerTests: XCTestCase {
    func testPercentileFollowsNumpysFloat32Interpolation() {
        // numpy 2.4: np.percentile(np.float32([1, 2, 4, 8, 16]), 25) == 2.0, 75 → 8.0;
        // for 4 values the virtual index 0.75 interpolates from the upper neighbour (γ ≥ 0.5).
        XCTAssertEqual(numpyPercentile(sorted: [1, 2, 4, 8, 16], 25), 2)
        XCTAssertEqual(numpyPercentile(sorted: [1, 2, 4, 8, 16], 75), 8)
        XCTAssertEqual(numpyPercentile(sorted: [1, 2, 3, 4], 25), 1.75)
        XCTAssertEqual(numpyPercentile(sorted: [1, 2, 3, 4], 75), 3.25)
        XCTAssertEqual(numpyPercentile(sorted: [5], 25), 5)
    }

    func testIQRKeepsOnlyScoresStrictlyAboveTheBoundInSpatialOrder() {
        let scores: [Float] = [0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1]
        let s = selectPatches(scores: scores, rule: .iqr)
        // 12 values, virtual indices 2.75 and 8.25 both fall among the ten 0.1s: Q1 = Q3 = 0.1,
        // bound 0.1; only the two large scores are strictly above it.
        XCTAssertEqual(s.upper, 0.1)
        XCTAssertEqual(s.keptIndices, [2, 6])
        XCTAssertEqual(selectPatches(scores: [Float](repeating: 0.25, count: 4), rule: .iqr).keptIndices, [])
        XCTAssertEqual(selectPatches(scores: [], rule: .iqr).keptIndices, [])
    }

    func testKeepRatioTakesTopIntNTimesRatioAndBreaksTiesByIndex() {
        let scores: [Float] = [0.3, 0.5, 0.5, 0.1, 0.9]
        XCTAssertEqual(selectPatches(scores: scores, rule: .keepRatio(0.4)).keptIndices, [1, 4])  // int(2.0) = 2
        XCTAssertEqual(selectPatches(scores: scores, rule: .keepRatio(0.59)).keptIndices, [1, 4])  // int(2.95) = 2
        XCTAssertEqual(selectPatches(scores: scores, rule: .keepRatio(0)).keptIndices, [])
        XCTAssertEqual(selectPatches(scores: scores, rule: .keepRatio(1)).keptIndices, [0, 1, 2, 3, 4])
    }

    func testMeanTokenIsTheMeanOfTheRestAndZerosWhenEverythingIsKept() {
        let f = Tensor(shape: [4, 2], scalars: [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(reduceFeatures(f, kept: [1], meanToken: true).scalars, [3, 4, 13.0 / 3, 16.0 / 3])
        XCTAssertEqual(reduceFeatures(f, kept: [], meanToken: true).scalars, [4, 5])
        XCTAssertEqual(reduceFeatures(f, kept: [0, 1, 2, 3], meanToken: true).rows, 5)
        XCTAssertEqual(Array(reduceFeatures(f, kept: [0, 1, 2, 3], meanToken: true).scalars.suffix(2)), [0, 0])
        XCTAssertEqual(reduceFeatures(f, kept: [0, 3], meanToken: false).scalars, [1, 2, 7, 8])
        XCTAssertEqual(reduceFeatures(f, kept: [], meanToken: false).shape, [0, 2])
    }

    func testScoringFormsAreCosineAndNegatedDot() {
        let tokens = Tensor(shape: [2, 2], scalars: [3, 4, 0, 2])
        let text = Tensor(shape: [2], scalars: [1, 0])
        let paper = scorePatches(imageTokens: tokens, textEmbeds: text, scoring: .paper)
        XCTAssertEqual(paper.similarities, [0.6, 0])
        let authors = scorePatches(imageTokens: tokens, textEmbeds: text, scoring: .authors)
        XCTAssertEqual(authors.similarities, [-3, 0])
        XCTAssertEqual(Double(authors.scores[0] + authors.scores[1]), 1, accuracy: 1e-6)
        XCTAssertEqual(Double(authors.scores[1]), 1 / (1 + exp(-3.0)), accuracy: 1e-6)
    }

    func testLayerSelectorFollowsPythonIndexing() throws {
        XCTAssertEqual(try TRIMPipeline.hiddenStateIndex(-2, layers: 24), 23)
        XCTAssertEqual(try TRIMPipeline.hiddenStateIndex(-1, layers: 24), 24)
        XCTAssertEqual(try TRIMPipeline.hiddenStateIndex(-25, layers: 24), 0)
        XCTAssertEqual(try TRIMPipeline.hiddenStateIndex(0, layers: 24), 0)
        XCTAssertThrowsError(try TRIMPipeline.hiddenStateIndex(-26, layers: 24))
        XCTAssertThrowsError(try TRIMPipeline.hiddenStateIndex(25, layers: 24))
    }
}

final class ProjectorTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testShardedCheckpointLoadsTheSameProjectorAndOpensOnlyItsShard() throws {
        let standalone = try Projector(contentsOf: Self.root.appendingPathComponent("Weights/projector-tiny.safetensors"))
        let index = Self.root.appendingPathComponent("Tests/Goldens/trim/llava-sharded/model.safetensors.index.json")
        let sharded = try ShardedSafeTensors(indexURL: index)
        let fromShards = try Projector(source: sharded, sourceName: index.path)
        XCTAssertEqual(sharded.openedShardNames, ["model-00002-of-00002.safetensors"])
        XCTAssertEqual(standalone.kind, .mlp2xGELU)
        XCTAssertEqual(fromShards.inputWidth, 64)
        XCTAssertEqual(fromShards.outputWidth, 128)
        let x = Tensor(shape: [3, 64], scalars: (0..<192).map { Float($0 % 11) / 7 - 0.6 })
        XCTAssertEqual(standalone(x), fromShards(x))
        // The directory form finds the index by itself.
        let dir = try Projector(contentsOf: index.deletingLastPathComponent())
        XCTAssertEqual(dir(x), standalone(x))
    }

    func testOriginalLLaVANamesAndTheLinearKindAreRecognised() throws {
        let odd = try Projector(contentsOf: Self.root.appendingPathComponent("Tests/Goldens/trim/projector-odd.safetensors"))
        XCTAssertEqual(odd.kind, .mlp2xGELU)
        XCTAssertEqual(odd.inputWidth, 60)
        var w = SafeTensorsWriter()
        w.add("model.mm_projector.weight", Tensor(shape: [3, 2], scalars: [1, 0, 0, 1, 1, 1]))
        w.add("model.mm_projector.bias", Tensor(shape: [3], scalars: [0, 0, 10]))
        let linear = try Projector(source: try SafeTensorsFile(bytes: try w.serialized()), sourceName: "mem")
        XCTAssertEqual(linear.kind, .linear)
        XCTAssertEqual(linear(Tensor(shape: [1, 2], scalars: [2, 3])).scalars, [2, 3, 15])
    }

    /// An in-memory safetensors file of 16-bit tensors (`dtype` "F16" or "BF16", bit patterns given), its
    /// header padded with spaces so that the data starts at an even or an odd byte.
    static func sixteenBitFile(_ tensors: [(name: String, shape: [Int], bits: [UInt16])], dtype: String,
                               oddData: Bool) throws -> SafeTensorsFile {
        try SafeTensorsFile(bytes: sixteenBitBytes(tensors, dtype: dtype, oddData: oddData))
    }

    /// The bytes of `sixteenBitFile`.
    static func sixteenBitBytes(_ tensors: [(name: String, shape: [Int], bits: [UInt16])], dtype: String,
                                oddData: Bool) -> [UInt8] {
        var entries = [String](), data = [UInt8](), offset = 0
        for t in tensors {
            let shape = t.shape.map(String.init).joined(separator: ",")
            entries.append("\"\(t.name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + 2 * t.bits.count)]}")
            for b in t.bits { data += [UInt8(b & 0xFF), UInt8(b >> 8)] }
            offset += 2 * t.bits.count
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while (8 + header.count) % 2 != (oddData ? 1 : 0) { header.append(0x20) }
        let length = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
        return length + header + data
    }

    func testSixteenBitProjectorWeightsStayHalfSizeAndGiveTheSameResults() throws {
        // llava-hf ships its projector in F16: kept 16-bit (the default) it must project exactly as when
        // converted to Floats, whether the file's data is 2-byte aligned (packed from the mapping) or not
        // (packed from a copy).
        var s: UInt64 = 0x5EED
        func bits(_ count: Int, _ bf16: Bool) -> [UInt16] {
            (0..<count).map { _ in
                s ^= s << 13; s ^= s >> 7; s ^= s << 17
                let r = UInt16(truncatingIfNeeded: s >> 20)
                return bf16 ? (r & 0x80FF) | 0x3C00 | (r & 0x0300) : r & 0xBBFF
            }
        }
        for (dtype, storage) in [("F16", WeightStorage.float16), ("BF16", .bfloat16)] {
            let bf = dtype == "BF16"
            let tensors = [("multi_modal_projector.linear_1.weight", [40, 24], bits(40 * 24, bf)),
                           ("multi_modal_projector.linear_1.bias", [40], bits(40, bf)),
                           ("multi_modal_projector.linear_2.weight", [33, 40], bits(33 * 40, bf)),
                           ("multi_modal_projector.linear_2.bias", [33], bits(33, bf))]
            let x = Tensor(shape: [3, 24], scalars: (0..<72).map { Float($0 % 11) / 7 - 0.6 })
            for odd in [false, true] {
                let file = try Self.sixteenBitFile(tensors.map { (name: $0.0, shape: $0.1, bits: $0.2) }, dtype: dtype,
                                                   oddData: odd)
                let narrow = try Projector(source: file, sourceName: "mem")
                let wide = try Projector(source: file, sourceName: "mem", weightPrecision: .float32)
                XCTAssertEqual(narrow.linear_1.weight.storage, storage)
                XCTAssertEqual(narrow.linear_2?.weight.storage, storage)
                XCTAssertEqual(wide.linear_2?.weight.storage, .float32)
                XCTAssertEqual(narrow.linear_1.weight.byteCount * 2, wide.linear_1.weight.byteCount)
                XCTAssertEqual(narrow(x), wide(x), "\(dtype), odd data offset: \(odd)")
            }
        }
    }

    func testSixteenBitProjectorInAShardedCheckpointIsPackedFromItsShard() throws {
        // A llava-hf-style index over two F16 shards on disk (the projector in the second): the weights
        // are packed 16-bit straight from the shard's mapping, and project as the Float-converted ones do.
        let dir = try TrimBinary.makeTemporaryDirectory("f16-shards")
        defer { try? FileManager.default.removeItem(at: dir) }
        func bits(_ count: Int, _ seed: Int) -> [UInt16] { (0..<count).map { UInt16(truncatingIfNeeded: ($0 * 7919 + seed) % 0x7800) ^ (($0 & 1) == 0 ? 0 : 0x8000) } }
        let shard1 = Self.sixteenBitBytes([(name: "language_model.model.embed_tokens.weight", shape: [10, 8], bits: bits(80, 1))],
                                          dtype: "F16", oddData: false)
        let shard2 = Self.sixteenBitBytes([(name: "multi_modal_projector.linear_1.weight", shape: [48, 20], bits: bits(960, 2)),
                                           (name: "multi_modal_projector.linear_1.bias", shape: [48], bits: bits(48, 3)),
                                           (name: "multi_modal_projector.linear_2.weight", shape: [40, 48], bits: bits(1920, 4)),
                                           (name: "multi_modal_projector.linear_2.bias", shape: [40], bits: bits(40, 5))],
                                          dtype: "F16", oddData: false)
        try Data(shard1).write(to: dir.appendingPathComponent("model-00001-of-00002.safetensors"))
        try Data(shard2).write(to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        let index = """
            {"metadata": {}, "weight_map": {"language_model.model.embed_tokens.weight": "model-00001-of-00002.safetensors",
             "multi_modal_projector.linear_1.weight": "model-00002-of-00002.safetensors",
             "multi_modal_projector.linear_1.bias": "model-00002-of-00002.safetensors",
             "multi_modal_projector.linear_2.weight": "model-00002-of-00002.safetensors",
             "multi_modal_projector.linear_2.bias": "model-00002-of-00002.safetensors"}}
            """
        let indexURL = dir.appendingPathComponent("model.safetensors.index.json")
        try Data(index.utf8).write(to: indexURL)
        let sharded = try ShardedSafeTensors(indexURL: indexURL)
        let narrow = try Projector(source: sharded, sourceName: indexURL.path)
        XCTAssertEqual(sharded.openedShardNames, ["model-00002-of-00002.safetensors"])
        XCTAssertEqual(narrow.linear_1.weight.storage, .float16)
        XCTAssertEqual(narrow.linear_2?.weight.storage, .float16)
        let wide = try Projector(contentsOf: dir, weightPrecision: .float32)
        XCTAssertEqual(wide.linear_1.weight.storage, .float32)
        let x = Tensor(shape: [5, 20], scalars: (0..<100).map { Float($0 % 13) / 9 - 0.7 })
        XCTAssertEqual(narrow(x), wide(x))
    }

    func testFilesWithoutProjectorTensorsOrWithBadShapesAreTypedErrors() throws {
        var w = SafeTensorsWriter()
        w.add("something.else", Tensor(shape: [2], scalars: [1, 2]))
        XCTAssertThrowsError(try Projector(source: try SafeTensorsFile(bytes: try w.serialized()), sourceName: "x.safetensors")) { e in
            XCTAssertTrue("\(e)".hasPrefix("invalid projector x.safetensors: no projector tensors"), "\(e)")
        }
        var b = SafeTensorsWriter()
        b.add("multi_modal_projector.linear_1.weight", Tensor(shape: [4, 2]))
        b.add("multi_modal_projector.linear_2.weight", Tensor(shape: [4, 3]))
        XCTAssertThrowsError(try Projector(source: try SafeTensorsFile(bytes: try b.serialized()), sourceName: "y")) { e in
            XCTAssertEqual("\(e)", "invalid projector y: second layer takes 3 features but the first gives 4")
        }
    }
}

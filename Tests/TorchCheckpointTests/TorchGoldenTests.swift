import Foundation
import SafeTensors
import TRIMTensor
import TorchCheckpoint
import XCTest

/// `.bin` files written by the real `torch.save` (Tests/Goldens/torch_goldens.py, torch 2.13) against the
/// same tensors written by `safetensors.torch.save_file`, compared bit for bit.
final class TorchGoldenTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let goldens = root.appendingPathComponent("Tests/Goldens/torch")

    /// Every tensor of `expected` is in `actual` with the same dtype, shape and raw bytes, and reads back
    /// as the same Floats / Int64s.
    func assertSameTensors(_ actual: any TensorSource, _ expected: SafeTensorsFile, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(actual.tensorNames, expected.tensorNames, file: file, line: line)
        for name in expected.tensorNames {
            let e = expected.info(name)!
            guard let a = try actual.info(name) else { XCTFail("missing \(name)", file: file, line: line); continue }
            XCTAssertEqual(a.dtype, e.dtype, name, file: file, line: line)
            XCTAssertEqual(a.shape, e.shape, name, file: file, line: line)
            let raw = try XCTUnwrap(try actual.rawBytes(of: name), name, file: file, line: line)
            let expectedRaw = expected.rawBytes(of: name)!
            withExtendedLifetime(raw.owner) {
                XCTAssertEqual(Array(raw.bytes), Array(expectedRaw.bytes), "\(name) bytes", file: file, line: line)
            }
            if e.dtype.isConvertibleToFloat {
                let x = try actual.tensor(name), y = try expected.tensor(name)
                XCTAssertEqual(x.shape, y.shape, name, file: file, line: line)
                XCTAssertEqual(x.scalars.map(\.bitPattern), y.scalars.map(\.bitPattern), name, file: file, line: line)
            } else {
                XCTAssertEqual(try actual.int64s(name), try expected.int64s(name), name, file: file, line: line)
            }
        }
    }

    func url(_ path: String) -> URL { Self.goldens.appendingPathComponent(path) }

    func testEveryDTypeMatchesSafetensorsBitForBit() throws {
        let bin = try TorchCheckpointFile(url: url("dtypes.bin"))
        try assertSameTensors(bin, try SafeTensorsFile(url: url("dtypes.safetensors")))
        XCTAssertEqual(bin.info("bf16")?.dtype, .BF16)
        XCTAssertEqual(bin.info("scalar")?.shape, [])
        XCTAssertEqual(bin.info("empty")?.shape, [0, 3])
        XCTAssertTrue(bin.isMapped("f32"), "a contiguous stored tensor is read from the mapping")
    }

    func testTiedSharedOffsetAndStridedViewsMatchTheirContiguousCopies() throws {
        let bin = try TorchCheckpointFile(url: url("views.bin"))
        try assertSameTensors(bin, try SafeTensorsFile(url: url("views.safetensors")))
        XCTAssertTrue(bin.isMapped("rows_2_5"), "a contiguous view at a storage offset is still mapped")
        XCTAssertFalse(bin.isMapped("w_t"), "a transposed view is gathered")
        XCTAssertFalse(bin.isMapped("expanded"))
    }

    func testDeflatedArchiveReadsThroughInflate() throws {
        let bin = try TorchCheckpointFile(url: url("views_deflated.bin"))
        try assertSameTensors(bin, try SafeTensorsFile(url: url("views.safetensors")))
        XCTAssertFalse(bin.isMapped("big"), "a deflated storage is inflated, not mapped")
    }

    func testZIP64ExtraFieldsAndUnalignedRecords() throws {
        let bin = try TorchCheckpointFile(url: url("views_zip64.bin"))
        try assertSameTensors(bin, try SafeTensorsFile(url: url("views.safetensors")))
    }

    func testModuleStateDictWithMetadataAndBuild() throws {
        // What torch.save(module.state_dict()) writes: the OrderedDict's `_metadata` arrives through BUILD.
        let bin = try TorchCheckpointFile(url: url("module_state_dict.bin"))
        try assertSameTensors(bin, try SafeTensorsFile(url: url("module_state_dict.safetensors")))
        XCTAssertEqual(bin.tensorNames.count, 4)
        let packed = try bin.packedMatrix(stacking: ["model.mm_projector.0.weight"], rows: 16, inputs: 6, precision: .checkpoint)
        XCTAssertEqual(packed.storage, .float16)
    }

    func testPickleProtocol4WithFramesAndMemoize() throws {
        try assertSameTensors(try TorchCheckpointFile(url: url("views_protocol4.bin")),
                              try SafeTensorsFile(url: url("views.safetensors")))
    }

    func testLLaVAShardedIndexOpensOnlyTheProjectorShard() throws {
        let source = try Checkpoint.open(url("llava"))
        let sharded = try XCTUnwrap(source as? ShardedCheckpoint)
        XCTAssertEqual(sharded.openedShardNames, [])
        _ = try sharded.tensor("model.mm_projector.0.weight")
        _ = try sharded.info("model.mm_projector.2.bias")
        XCTAssertEqual(sharded.openedShardNames, ["pytorch_model-00002-of-00002.bin"])
        try assertSameTensors(source, try SafeTensorsFile(url: url("llava.safetensors")))
        XCTAssertEqual(sharded.metadata["total_size"], "2828")
        // A weight of the wrong shape is reported with the shard that holds it, not a generic name.
        XCTAssertThrowsError(try sharded.packedMatrix(stacking: ["model.mm_projector.0.weight"], rows: 3, inputs: 5,
                                                      precision: .checkpoint)) { error in
            XCTAssertTrue("\(error)".contains("pytorch_model-00002-of-00002.bin"), "\(error)")
        }
    }

    func testMMProjectorBin() throws {
        let source = try Checkpoint.open(url("llava/mm_projector.bin"))
        XCTAssertTrue(source is TorchCheckpointFile)
        try assertSameTensors(source, try SafeTensorsFile(url: url("mm_projector.safetensors")))
    }

    func testSixteenBitWeightsStaySixteenBitWhenPacked() throws {
        for (path, storage) in [("llava/mm_projector.bin", WeightStorage.bfloat16), ("llava", .float16)] {
            let source = try Checkpoint.open(url(path))
            let packed = try source.packedMatrix(stacking: ["model.mm_projector.2.weight"], rows: 16, inputs: 16, precision: .checkpoint)
            XCTAssertEqual(packed.storage, storage, path)
            let floats = try source.packedMatrix(stacking: ["model.mm_projector.2.weight"], rows: 16, inputs: 16, precision: .float32)
            XCTAssertEqual(floats.storage, .float32, path)
        }
    }

    func testCLIPShardsMatchTheSafetensorsCheckpoint() throws {
        let source = try Checkpoint.open(url("clip-odd"))
        XCTAssertTrue(source is ShardedCheckpoint)
        try assertSameTensors(source, try SafeTensorsFile(url: Self.root.appendingPathComponent("Weights/clip-odd/model.safetensors")))
    }

    func testLegacyFormatIsRefusedByName() {
        XCTAssertThrowsError(try TorchCheckpointFile(url: url("legacy.bin"))) { e in
            XCTAssertEqual(e as? TorchCheckpointError, .legacyFormat(file: "legacy.bin"))
            XCTAssertTrue("\(e)".contains("legacy (pre-1.6, non-zip) torch.save format"), "\(e)")
        }
    }

    func testResolverOrderAndErrors() throws {
        // A directory holding both prefers safetensors.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("torch-resolve-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: url("dtypes.bin"), to: dir.appendingPathComponent("pytorch_model.bin"))
        XCTAssertTrue(try Checkpoint.open(dir) is TorchCheckpointFile)
        try FileManager.default.copyItem(at: url("dtypes.safetensors"), to: dir.appendingPathComponent("model.safetensors"))
        XCTAssertTrue(try Checkpoint.open(dir) is SafeTensorsFile)
        XCTAssertTrue(try Checkpoint.open(Self.root.appendingPathComponent("Tests/Goldens/safetensors/sharded")) is ShardedSafeTensors)
        XCTAssertThrowsError(try Checkpoint.open(url("missing"))) { e in
            XCTAssertTrue("\(e)".contains("no such file or directory"), "\(e)")
        }
        XCTAssertThrowsError(try Checkpoint.open(url("malformed"))) { e in
            XCTAssertTrue("\(e)".contains("pytorch_model.bin.index.json"), "\(e)")
        }
    }
}

import Foundation
import SafeTensors
import TRIMTensor
import XCTest

/// Goldens written by `Tests/Goldens/safetensors_goldens.py` with the Python `safetensors` library
/// (`safetensors.torch.save_file`) and `huggingface_hub.save_torch_state_dict`; expected values are torch's
/// own `.float()` / `.long()` conversions.
let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent()
  .appendingPathComponent("Goldens/safetensors")

/// Equal bit patterns, except that any NaN matches any NaN.
func assertSameFloats(
  _ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line
) {
  XCTAssertEqual(a.count, b.count, what, file: file, line: line)
  for (i, (x, y)) in zip(a, b).enumerated()
  where !(x.isNaN && y.isNaN) && x.bitPattern != y.bitPattern {
    XCTFail(
      "\(what)[\(i)]: \(x) (0x\(String(x.bitPattern, radix: 16))) ≠ \(y)", file: file, line: line)
    return
  }
}

final class SafeTensorsGoldenTests: XCTestCase {
  func testEveryDTypeConvertsExactlyLikeTorch() throws {
    let file = try SafeTensorsFile(url: goldens.appendingPathComponent("dtypes.safetensors"))
    let expected = try SafeTensorsFile(url: goldens.appendingPathComponent("expected.safetensors"))
    XCTAssertEqual(file.tensorNames, expected.tensorNames)
    var floats = 0
    var ints = 0
    for name in file.tensorNames {
      let info = try XCTUnwrap(file.info(name))
      let want = try XCTUnwrap(expected.info(name))
      XCTAssertEqual(info.shape, want.shape, name)
      if info.dtype.isConvertibleToFloat {
        XCTAssertEqual(want.dtype, .F32)
        let got = try file.tensor(name)
        XCTAssertEqual(got.shape, info.shape, name)
        assertSameFloats(got.scalars, try expected.tensor(name).scalars, name)
        floats += 1
      } else {
        XCTAssertEqual(want.dtype, .I64)
        XCTAssertEqual(try file.int64s(name), try expected.int64s(name), name)
        ints += 1
      }
    }
    XCTAssertEqual(floats, 11)
    XCTAssertEqual(ints, 6)
  }

  func testRowsReadsExactlyTheRowsTensorWouldForEveryFloatDType() throws {
    // Every float tensor of rank ≥ 1 in the dtype goldens: rows() in a scrambled order (with a repeat)
    // must equal the same rows cut from tensor(), bit for bit; a bad row is a typed error.
    let file = try SafeTensorsFile(url: goldens.appendingPathComponent("dtypes.safetensors"))
    var checked = 0
    for name in file.tensorNames {
      let info = try XCTUnwrap(file.info(name))
      guard info.dtype.isConvertibleToFloat, let n = info.shape.first, n > 0 else { continue }
      let width = info.shape.dropFirst().reduce(1, *)
      let ids = [n - 1, 0, n / 2, n - 1]
      let whole = try file.tensor(name).scalars
      let got = try file.rows(name, ids)
      XCTAssertEqual(got.shape, [ids.count] + Array(info.shape.dropFirst()), name)
      assertSameFloats(got.scalars, ids.flatMap { whole[($0 * width)..<($0 * width + width)] }, name)
      XCTAssertThrowsError(try file.rows(name, [n])) { error in
        XCTAssertEqual("\(error)", "dtypes.safetensors: tensor \"\(name)\": row \(n) is outside 0..<\(n)")
      }
      checked += 1
    }
    XCTAssertGreaterThanOrEqual(checked, 5)
  }

  func testAllHalfBitPatternsAndSpecialValues() throws {
    let file = try SafeTensorsFile(url: goldens.appendingPathComponent("dtypes.safetensors"))
    let all = try file.tensor("f16_all")
    XCTAssertEqual(all.shape, [65536])
    XCTAssertEqual(all.scalars[0x0001], 0x1p-24)
    XCTAssertEqual(all.scalars[0x03FF], 0x1.ff8p-15)
    XCTAssertEqual(all.scalars[0x7BFF], 65504)
    XCTAssertEqual(all.scalars[0x7C00], .infinity)
    XCTAssertEqual(all.scalars[0xFC00], -.infinity)
    XCTAssertEqual(all.scalars[0x8000].bitPattern, (-0.0 as Float).bitPattern)
    XCTAssertTrue(all.scalars[0x7E00].isNaN)
    XCTAssertEqual(all.scalars.filter(\.isNaN).count, 2 * 1023)
    let specials = try file.tensor("f16_specials").scalars
    XCTAssertEqual(specials[1].sign, .minus)
    XCTAssertEqual(specials[1], 0)
  }

  func testScalarEmptyAndMetadata() throws {
    let file = try SafeTensorsFile(url: goldens.appendingPathComponent("dtypes.safetensors"))
    XCTAssertEqual(file.metadata, ["note": "héllo \"goldens\""])
    XCTAssertEqual(try file.tensor("scalar"), Tensor(shape: [], scalars: [2.5]))
    XCTAssertEqual(try file.tensor("empty"), Tensor(shape: [0, 3], scalars: []))
    XCTAssertEqual(try file.tensor("logit_scale").shape, [])
    XCTAssertEqual(try file.int64s("i64"), [0, 1, -1, 1 << 62, Int64.min, Int64.max])
    XCTAssertEqual(try file.int64s("bool"), [1, 0, 1])
    XCTAssertEqual(file.info("i32")?.dtype, .I32)
    XCTAssertEqual(file.info("i32")?.shape, [2, 2])
    XCTAssertNil(file.info("missing"))
    XCTAssertEqual(file.url?.lastPathComponent, "dtypes.safetensors")
  }

  func testWrongDTypeRequestsAndMissingNamesThrowTypedErrors() throws {
    let file = try SafeTensorsFile(url: goldens.appendingPathComponent("dtypes.safetensors"))
    XCTAssertThrowsError(try file.tensor("i64")) {
      XCTAssertEqual(
        $0 as? SafeTensorsError,
        .unsupportedDType(
          file: "dtypes.safetensors", tensor: "i64", dtype: .I64, expected: "F32, F16, BF16 or F64")
      )
    }
    XCTAssertThrowsError(try file.int64s("f32")) {
      guard case .unsupportedDType(_, "f32", .F32, _)? = $0 as? SafeTensorsError else {
        return XCTFail("\($0)")
      }
    }
    XCTAssertThrowsError(try file.tensor("nope")) {
      XCTAssertEqual(
        $0 as? SafeTensorsError, .tensorNotFound(file: "dtypes.safetensors", tensor: "nope"))
    }
  }

  func testSummaryListsTensorsSortedWithTotals() throws {
    let file = try SafeTensorsFile(url: goldens.appendingPathComponent("dtypes.safetensors"))
    let s = try file.summary()
    XCTAssertEqual(s.tensors.map(\.name), file.tensorNames)
    XCTAssertEqual(s.tensors.map(\.name), s.tensors.map(\.name).sorted())
    XCTAssertEqual(s.totalBytes, file.fileSize - file.dataStart)
    XCTAssertEqual(s.dtypeCounts[.F16], 4)
    XCTAssertEqual(s.dtypeCounts[.F32], 4)
    XCTAssertEqual(s.dtypeCounts.values.reduce(0, +), 17)
  }
}

final class ShardedSafeTensorsTests: XCTestCase {
  func testLoadingOnlyTheProjectorOpensOnlyItsShard() throws {
    let source = try SafeTensorsCheckpoint.open(goldens.appendingPathComponent("sharded"))
    let sharded = try XCTUnwrap(source as? ShardedSafeTensors)
    XCTAssertEqual(sharded.openedShardNames, [])
    XCTAssertEqual(
      sharded.shardNames, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
    let expected = try SafeTensorsFile(
      url: goldens.appendingPathComponent("sharded_expected.safetensors"))
    for name in sharded.tensorNames where name.hasPrefix("multi_modal_projector.") {
      let t = try sharded.tensor(name)
      XCTAssertEqual(t.shape, expected.info(name)?.shape)
      assertSameFloats(t.scalars, try expected.tensor(name).scalars, name)
    }
    XCTAssertEqual(sharded.openedShardNames, ["model-00002-of-00002.safetensors"])
    XCTAssertEqual(sharded.metadata["total_size"], "4496")
    XCTAssertEqual(sharded.metadata["format"], "pt")
  }

  func testEveryShardedTensorMatchesTheSingleFileCopy() throws {
    let sharded = try ShardedSafeTensors(
      indexURL: goldens.appendingPathComponent("sharded/model.safetensors.index.json"))
    let expected = try SafeTensorsFile(
      url: goldens.appendingPathComponent("sharded_expected.safetensors"))
    XCTAssertEqual(sharded.tensorNames, expected.tensorNames)
    for name in sharded.tensorNames {
      assertSameFloats(try sharded.tensor(name).scalars, try expected.tensor(name).scalars, name)
    }
    XCTAssertEqual(try sharded.info("language_model.lm_head.weight")?.dtype, .BF16)
    XCTAssertNil(try sharded.info("nope"))
    XCTAssertEqual(try sharded.summary().totalBytes, 4496)
    XCTAssertEqual(sharded.openedShardNames.count, 2)
  }

  func testCheckpointOpenAcceptsFileIndexAndDirectory() throws {
    XCTAssertTrue(
      try SafeTensorsCheckpoint.open(goldens.appendingPathComponent("dtypes.safetensors"))
        is SafeTensorsFile)
    XCTAssertTrue(
      try SafeTensorsCheckpoint.open(
        goldens.appendingPathComponent("sharded/model.safetensors.index.json"))
        is ShardedSafeTensors)
    XCTAssertThrowsError(try SafeTensorsCheckpoint.open(goldens.appendingPathComponent("missing")))
    {
      guard case .notACheckpoint? = $0 as? SafeTensorsError else { return XCTFail("\($0)") }
    }
    XCTAssertThrowsError(try SafeTensorsCheckpoint.open(goldens)) {
      guard case .notACheckpoint? = $0 as? SafeTensorsError else { return XCTFail("\($0)") }
    }
  }
}

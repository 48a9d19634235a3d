import Foundation
import SafeTensors
import TRIMJSON
import TRIMTensor
import XCTest

final class SafeTensorsWriterTests: XCTestCase {
  func testWriterOutputReadsBackExactlyWithPaddedHeader() throws {
    var w = SafeTensorsWriter(metadata: ["format": "pt", "b": "ü \"q\""])
    let features = Tensor(
      shape: [2, 3], scalars: [1, -2.5, .infinity, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude])
    w.add("features", features)
    w.add("scalar", Tensor(shape: [], scalars: [0.5]))
    w.add("kept_indices", int64s: [0, 5, -1, Int64.max], shape: [4])
    w.add("empty", Tensor(shape: [0, 4], scalars: []))
    let bytes = try w.serialized()

    let headerLength = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    XCTAssertEqual(headerLength % 8, 0)
    let header = try JSON.parse(Array(bytes[8..<(8 + Int(headerLength))]))
    XCTAssertEqual(
      header.objectValue?.keys, ["__metadata__", "features", "scalar", "kept_indices", "empty"])
    XCTAssertEqual(header["features"]?["data_offsets"], [0, 24])
    XCTAssertEqual(header["kept_indices"]?["dtype"], "I64")

    let f = try SafeTensorsFile(bytes: bytes)
    XCTAssertEqual(f.metadata, ["format": "pt", "b": "ü \"q\""])
    XCTAssertEqual(try f.tensor("features").shape, [2, 3])
    assertSameFloats(try f.tensor("features").scalars, features.scalars, "features")
    XCTAssertEqual(try f.tensor("scalar"), Tensor(shape: [], scalars: [0.5]))
    XCTAssertEqual(try f.int64s("kept_indices"), [0, 5, -1, Int64.max])
    XCTAssertEqual(f.info("kept_indices")?.shape, [4])
    XCTAssertEqual(try f.tensor("empty").shape, [0, 4])
    XCTAssertEqual(f.dataStart, 8 + Int(headerLength))
  }

  func testWriteToDiskThenMapRoundTrips() throws {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trim-writer-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    var w = SafeTensorsWriter()
    let t = Tensor(shape: [3, 5], scalars: (0..<15).map { Float($0) * 0.1 })
    w.add("pixel_values", t)
    try w.write(to: url)
    let f = try SafeTensorsFile(url: url)
    XCTAssertEqual(try f.tensor("pixel_values"), t)
    XCTAssertEqual(f.tensorNames, ["pixel_values"])
  }

  func testDuplicateOrReservedNamesAndShapeMismatchFailOnWrite() {
    var dup = SafeTensorsWriter()
    dup.add("a", Tensor(shape: [1], scalars: [1]))
    dup.add("a", Tensor(shape: [1], scalars: [2]))
    XCTAssertThrowsError(try dup.serialized()) {
      guard case .writeFailed? = $0 as? SafeTensorsError else { return XCTFail("\($0)") }
    }
    var reserved = SafeTensorsWriter()
    reserved.add("__metadata__", Tensor(shape: [1], scalars: [1]))
    XCTAssertThrowsError(try reserved.serialized())
    var mismatch = SafeTensorsWriter()
    mismatch.add("ids", int64s: [1, 2, 3], shape: [2])
    XCTAssertThrowsError(try mismatch.serialized()) {
      XCTAssertEqual(
        $0 as? SafeTensorsError,
        .writeFailed(file: "<memory>", reason: "tensor \"ids\": 3 values do not fill shape [2]"))
    }
  }
}

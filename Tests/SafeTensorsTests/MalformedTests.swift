import Foundation
import SafeTensors
import TRIMJSON
import TRIMTensor
import XCTest

/// A file image: 8-byte length (`declared`, default the real one), `header`, then `data`.
func fileBytes(_ header: String, data: [UInt8] = [], declared: UInt64? = nil) -> [UInt8] {
  let h = Array(header.utf8)
  var out: [UInt8] = []
  withUnsafeBytes(of: (declared ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
  return out + h + data
}

final class SafeTensorsMalformedTests: XCTestCase {
  private func assertRejected(
    _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line,
    _ expected: SafeTensorsError
  ) {
    XCTAssertThrowsError(
      try SafeTensorsFile(bytes: bytes, name: "bad.safetensors"), file: file, line: line
    ) {
      XCTAssertEqual($0 as? SafeTensorsError, expected, file: file, line: line)
      XCTAssertFalse("\($0)".contains("\n"), file: file, line: line)
    }
  }

  private func assertInvalidHeader(_ header: String, data: [UInt8] = [], line: UInt = #line) {
    XCTAssertThrowsError(try SafeTensorsFile(bytes: fileBytes(header, data: data)), line: line) {
      guard case .invalidHeader? = $0 as? SafeTensorsError else {
        return XCTFail("\($0)", line: line)
      }
    }
  }

  func testTooSmallFileAndHeaderLengthBeyondFile() {
    assertRejected([1, 2, 3], .fileTooSmall(file: "bad.safetensors", size: 3))
    assertRejected(
      fileBytes("{}", declared: 3),
      .headerLengthOutOfRange(file: "bad.safetensors", length: 3, limit: 2))
    assertRejected(
      fileBytes("{}", declared: UInt64.max),
      .headerLengthOutOfRange(file: "bad.safetensors", length: UInt64.max, limit: 2))
  }

  func testEmptyHeaderObjectIsAValidEmptyFile() throws {
    let f = try SafeTensorsFile(bytes: fileBytes("{}"))
    XCTAssertEqual(f.tensorNames, [])
    XCTAssertEqual(f.metadata, [:])
  }

  func testBadJSONIsAHeaderJSONError() {
    assertRejected(
      fileBytes("{\"a\": "),
      .headerJSON(file: "bad.safetensors", error: .unexpectedEnd(offset: 6, expected: "a value")))
    assertRejected(
      fileBytes(
        #"{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":1}"#, data: [0, 0, 0, 0]),
      .headerJSON(file: "bad.safetensors", error: .duplicateKey(offset: 53, key: "a")))
    let deep = String(repeating: "[", count: 50) + String(repeating: "]", count: 50)
    XCTAssertThrowsError(try SafeTensorsFile(bytes: fileBytes(deep))) {
      guard case .headerJSON(_, .tooDeep)? = $0 as? SafeTensorsError else {
        return XCTFail("\($0)")
      }
    }
  }

  func testWrongStructureIsAnInvalidHeaderError() {
    assertInvalidHeader("[]")
    assertInvalidHeader(#"{"t": 1}"#)
    assertInvalidHeader(#"{"t": {"shape": [], "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0])
    assertInvalidHeader(#"{"t": {"dtype": "F32", "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0])
    assertInvalidHeader(
      #"{"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0])
    assertInvalidHeader(
      #"{"t": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0])
    assertInvalidHeader(
      #"{"t": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0])
    assertInvalidHeader(
      #"{"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}"#, data: [0, 0, 0, 0])
    assertInvalidHeader(
      #"{"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}"#, data: [0, 0, 0, 0])
    assertInvalidHeader(#"{"__metadata__": {"k": 1}}"#)
    assertInvalidHeader(#"{"__metadata__": []}"#)
  }

  func testUnknownDType() {
    assertRejected(
      fileBytes(
        #"{"t": {"dtype": "F17", "shape": [1], "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0]),
      .unknownDType(file: "bad.safetensors", tensor: "t", dtype: "F17"))
  }

  func testOffsetsOutOfRangeOrReversed() {
    assertRejected(
      fileBytes(
        #"{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#, data: [0, 0, 0, 0]),
      .offsetsOutOfRange(file: "bad.safetensors", tensor: "t", begin: 0, end: 8, dataSize: 4))
    assertRejected(
      fileBytes(
        #"{"t": {"dtype": "F32", "shape": [0], "data_offsets": [-4, -4]}}"#, data: [0, 0, 0, 0]),
      .offsetsOutOfRange(file: "bad.safetensors", tensor: "t", begin: -4, end: -4, dataSize: 4))
    assertRejected(
      fileBytes(
        #"{"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}"#, data: [0, 0, 0, 0]),
      .offsetsOutOfRange(file: "bad.safetensors", tensor: "t", begin: 4, end: 0, dataSize: 4))
    assertRejected(
      fileBytes(
        #"{"t": {"dtype": "F32", "shape": [1], "data_offsets": [9223372036854775804, 9223372036854775807]}}"#,
        data: [0, 0, 0, 0]),
      .offsetsOutOfRange(
        file: "bad.safetensors", tensor: "t", begin: 9_223_372_036_854_775_804, end: Int.max,
        dataSize: 4))
  }

  func testSizeMismatch() {
    assertRejected(
      fileBytes(
        #"{"t": {"dtype": "F16", "shape": [3], "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0]),
      .sizeMismatch(file: "bad.safetensors", tensor: "t", expectedBytes: 6, actualBytes: 4))
  }

  func testOverlappingTensors() {
    let header =
      #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "I32", "shape": [1], "data_offsets": [4, 8]}}"#
    let headerLength = header.utf8.count
    assertRejected(
      fileBytes(header, data: [UInt8](repeating: 0, count: 8)),
      .overlappingTensors(
        file: "bad.safetensors", tensor: "b", other: "a", offset: 8 + headerLength + 4))
    // Touching ranges and empty tensors are fine.
    let ok =
      #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "I32", "shape": [1], "data_offsets": [4, 8]}, "e": {"dtype": "F32", "shape": [0, 5], "data_offsets": [2, 2]}}"#
    XCTAssertNoThrow(
      try SafeTensorsFile(bytes: fileBytes(ok, data: [UInt8](repeating: 0, count: 8))))
  }

  func testOverflowingShapes() {
    assertRejected(
      fileBytes(
        #"{"t": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 4]}}"#
      ),
      .shapeOverflow(file: "bad.safetensors", tensor: "t", shape: [1 << 40, 1 << 40]))
    // The element count fits, the byte count does not.
    assertRejected(
      fileBytes(
        #"{"t": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 4]}}"#),
      .shapeOverflow(file: "bad.safetensors", tensor: "t", shape: [1 << 62]))
    // A zero extent makes the product 0 even with a huge one.
    XCTAssertNoThrow(
      try SafeTensorsFile(
        bytes: fileBytes(
          #"{"t": {"dtype": "F32", "shape": [0, 9223372036854775807], "data_offsets": [0, 0]}}"#)))
  }

  func testU64ValueAboveInt64MaxIsRejectedOnRead() throws {
    var data: [UInt8] = []
    for v: UInt64 in [5, UInt64.max] {
      withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
    }
    let header = #"{"u": {"dtype": "U64", "shape": [2], "data_offsets": [0, 16]}}"#
    let f = try SafeTensorsFile(bytes: fileBytes(header, data: data), name: "u.safetensors")
    XCTAssertThrowsError(try f.int64s("u")) {
      XCTAssertEqual(
        $0 as? SafeTensorsError,
        .valueOutOfRange(file: "u.safetensors", tensor: "u", offset: 8 + header.utf8.count + 8))
    }
  }

  /// Random byte flips in a valid file must either open (and then read) or throw a `SafeTensorsError`.
  func testRandomCorruptionNeverCrashes() throws {
    var w = SafeTensorsWriter(metadata: ["k": "v"])
    w.add("a", Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]))
    w.add("b", int64s: [7, 8], shape: [2])
    let valid = try w.serialized()
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int(truncatingIfNeeded: state >> 33)
    }
    var opened = 0
    for _ in 0..<3000 {
      var bytes = valid
      for _ in 0..<(1 + next() % 3) {
        bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next())
      }
      if next() % 5 == 0 { bytes.removeLast(next() % bytes.count) }
      do {
        let f = try SafeTensorsFile(bytes: bytes)
        opened += 1
        for name in f.tensorNames {
          _ = try? f.tensor(name)
          _ = try? f.int64s(name)
        }
      } catch {
        XCTAssertTrue(error is SafeTensorsError, "\(error)")
      }
    }
    XCTAssertGreaterThan(opened, 0)
  }
}

final class ShardedSafeTensorsMalformedTests: XCTestCase {
  private var dir: URL!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "trim-st-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(at: dir)
  }

  private func index(_ json: String) throws -> URL {
    let url = dir.appendingPathComponent("model.safetensors.index.json")
    try Data(json.utf8).write(to: url)
    return url
  }

  func testShardNamesEscapingTheDirectoryAreRejected() throws {
    for shard in ["../x.safetensors", "/etc/passwd", "sub/x.safetensors", "..", "", "a\\\\b"] {
      let url = try index(#"{"weight_map": {"t": "\#(shard)"}}"#)
      XCTAssertThrowsError(try ShardedSafeTensors(indexURL: url), shard) {
        guard case .invalidIndex? = $0 as? SafeTensorsError else { return XCTFail("\($0)") }
      }
    }
  }

  func testMissingWeightMapOrBadJSONIsAnInvalidIndex() throws {
    for json in [#"{"metadata": {}}"#, "{", #"{"weight_map": {"t": 3}}"#, #"{"weight_map": []}"#] {
      XCTAssertThrowsError(try ShardedSafeTensors(indexURL: try index(json)), json) {
        guard case .invalidIndex? = $0 as? SafeTensorsError else { return XCTFail("\($0)") }
      }
    }
  }

  func testTensorListedButAbsentFromItsShardIsReported() throws {
    var w = SafeTensorsWriter()
    w.add("present", Tensor(shape: [1], scalars: [1]))
    try w.write(to: dir.appendingPathComponent("s1.safetensors"))
    let sharded = try ShardedSafeTensors(
      indexURL: try index(
        #"{"weight_map": {"present": "s1.safetensors", "ghost": "s1.safetensors", "lost": "s2.safetensors"}}"#
      ))
    XCTAssertEqual(try sharded.tensor("present").scalars, [1])
    XCTAssertThrowsError(try sharded.tensor("ghost")) {
      guard case .invalidIndex? = $0 as? SafeTensorsError else { return XCTFail("\($0)") }
    }
    XCTAssertThrowsError(try sharded.tensor("lost")) {
      guard case .cannotOpen(file: "s2.safetensors", _)? = $0 as? SafeTensorsError else {
        return XCTFail("\($0)")
      }
    }
    XCTAssertThrowsError(try sharded.tensor("unlisted")) {
      XCTAssertEqual(
        $0 as? SafeTensorsError,
        .tensorNotFound(file: "model.safetensors.index.json", tensor: "unlisted"))
    }
  }
}

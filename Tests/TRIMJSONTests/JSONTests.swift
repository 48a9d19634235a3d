import TRIMJSON
import XCTest

final class JSONParseTests: XCTestCase {
  private func parse(_ s: String, _ limits: JSONLimits = .default) throws -> JSONValue {
    try JSON.parse(s, limits: limits)
  }

  private func assertError(
    _ s: String, _ limits: JSONLimits = .default, file: StaticString = #filePath,
    line: UInt = #line,
    _ check: (JSONError) -> Bool
  ) {
    do {
      let v = try JSON.parse(s, limits: limits)
      XCTFail("parsed \(v), expected an error", file: file, line: line)
    } catch {
      XCTAssertTrue(check(error), "unexpected error: \(error)", file: file, line: line)
      XCTAssertFalse(error.description.contains("\n"), file: file, line: line)
    }
  }

  func testScalarsParseToTheirCases() throws {
    XCTAssertEqual(try parse("null"), .null)
    XCTAssertEqual(try parse("true"), .bool(true))
    XCTAssertEqual(try parse(" false "), .bool(false))
    XCTAssertEqual(try parse("0"), .int(0))
    XCTAssertEqual(try parse("-12"), .int(-12))
    XCTAssertEqual(try parse("1.5"), .double(1.5))
    XCTAssertEqual(try parse("-0.0"), .double(-0.0))
    XCTAssertEqual(try parse("1e3"), .double(1000))
    XCTAssertEqual(try parse("2E-2"), .double(0.02))
    XCTAssertEqual(try parse("1.0"), .double(1))
    XCTAssertEqual(try parse("\"hi\""), .string("hi"))
    XCTAssertEqual(try parse("\t\n\r [ ] "), .array([]))
    XCTAssertEqual(try parse("{}"), .object(JSONObject()))
  }

  func testIntegerBoundariesAndHugeIntegersBecomeDouble() throws {
    XCTAssertEqual(try parse("9223372036854775807"), .int(Int.max))
    XCTAssertEqual(try parse("-9223372036854775808"), .int(Int.min))
    XCTAssertEqual(try parse("9223372036854775808"), .double(9223372036854775808.0))
    XCTAssertEqual(try parse("-9223372036854775809"), .double(-9223372036854775809.0))
    XCTAssertEqual(try parse("123456789012345678901234567890"), .double(1.2345678901234568e29))
    XCTAssertEqual(try parse("1e-400"), .double(0))
    XCTAssertEqual(try parse("0.1").doubleValue, 0.1)
    XCTAssertEqual(try parse("2.2250738585072014e-308"), .double(2.2250738585072014e-308))
    XCTAssertEqual(try parse("4.9406564584124654e-324"), .double(Double.leastNonzeroMagnitude))
  }

  func testNumberOverflowingDoubleIsRejected() {
    assertError("1e400") { if case .numberOutOfRange(offset: 0, _) = $0 { true } else { false } }
    assertError("[-1e999]") { if case .numberOutOfRange(offset: 1, _) = $0 { true } else { false } }
  }

  func testMalformedNumbersAreRejected() {
    for s in [
      "01", "-", "+1", ".5", "1.", "1e", "1e+", "-a", "NaN", "Infinity", "0x10", "1.e3", "--1",
    ] {
      assertError(s) { _ in true }
    }
    assertError("01") { $0 == .trailingData(offset: 1) }
    assertError("1.") { $0 == .unexpectedEnd(offset: 2, expected: "a digit after '.'") }
  }

  func testNestedStructureKeepsKeyOrderAndAccessorsWork() throws {
    let v = try parse(#"{"b": [1, 2.5, "x", null, true], "a": {"z": 1, "y": -3}, "c": 4.0}"#)
    XCTAssertEqual(v.objectValue?.keys, ["b", "a", "c"])
    XCTAssertEqual(v["a"]?.objectValue?.keys, ["z", "y"])
    XCTAssertEqual(v["b"]?[0]?.intValue, 1)
    XCTAssertEqual(v["b"]?[1]?.doubleValue, 2.5)
    XCTAssertNil(v["b"]?[1]?.intValue)
    XCTAssertEqual(v["b"]?[2]?.stringValue, "x")
    XCTAssertEqual(v["b"]?[3]?.isNull, true)
    XCTAssertEqual(v["b"]?[4]?.boolValue, true)
    XCTAssertNil(v["b"]?[5])
    XCTAssertNil(v["b"]?[-1])
    XCTAssertEqual(v["c"]?.intValue, 4)
    XCTAssertEqual(v["a"]?["y"]?.doubleValue, -3)
    XCTAssertNil(v["missing"])
    XCTAssertNil(v[0])
    XCTAssertEqual(v["b"]?.arrayValue?.count, 5)
    XCTAssertEqual(Array(v.objectValue!).map(\.key), ["b", "a", "c"])
  }

  func testObjectEqualityIgnoresOrderAndSetterAppends() throws {
    XCTAssertEqual(try parse(#"{"a":1,"b":2}"#), try parse(#"{"b":2,"a":1}"#))
    XCTAssertNotEqual(try parse(#"{"a":1,"b":2}"#), try parse(#"{"a":1,"b":3}"#))
    XCTAssertNotEqual(try parse(#"{"a":1}"#), try parse(#"{"a":1,"b":2}"#))
    var o = JSONObject()
    o["x"] = 1
    o["y"] = "s"
    o["x"] = 2
    XCTAssertEqual(o.keys, ["x", "y"])
    XCTAssertEqual(o["x"], .int(2))
    o["x"] = nil
    XCTAssertEqual(o.keys, ["y"])
    XCTAssertEqual(o["y"], "s")
    o["z"] = [1, 2]
    XCTAssertEqual(JSON.serialize(.object(o)), #"{"y":"s","z":[1,2]}"#)
  }

  func testDuplicateKeysAreRejected() {
    assertError(#"{"a":1, "a":2}"#) { $0 == .duplicateKey(offset: 8, key: "a") }
  }

  func testStringEscapesAndSurrogatePairsDecode() throws {
    XCTAssertEqual(try parse(#""a\"b\\c\/d\b\f\n\r\t""#), .string("a\"b\\c/d\u{8}\u{c}\n\r\t"))
    XCTAssertEqual(try parse(#""\u0041\u00e9\u4E2D""#), .string("Aé中"))
    XCTAssertEqual(try parse(#""\ud83d\ude00 smile""#), .string("😀 smile"))
    XCTAssertEqual(try parse(#""\u0000""#), .string("\u{0}"))
    XCTAssertEqual(try parse("\"é中😀\""), .string("é中😀"))
    XCTAssertEqual(try parse("\"</w>\u{0120}\""), .string("</w>Ġ"))
  }

  func testLoneSurrogatesAndBadEscapesAreRejected() {
    assertError(#""\ud83d""#) { if case .invalidEscape(offset: 1, _) = $0 { true } else { false } }
    assertError(#""\ud83dx""#) { if case .invalidEscape(offset: 1, _) = $0 { true } else { false } }
    assertError(#""\ud83d\u0041""#) {
      if case .invalidEscape(offset: 7, _) = $0 { true } else { false }
    }
    assertError(#""\ude00""#) { if case .invalidEscape(offset: 1, _) = $0 { true } else { false } }
    assertError(#""\x""#) { if case .invalidEscape(offset: 1, _) = $0 { true } else { false } }
    assertError(#""\u12G4""#) { if case .invalidEscape = $0 { true } else { false } }
    assertError(#""\u12"#) { if case .invalidEscape = $0 { true } else { false } }
    assertError(#""abc\"#) { if case .unexpectedEnd = $0 { true } else { false } }
  }

  func testRawControlCharactersAndBadUTF8AreRejected() throws {
    assertError("\"a\nb\"") { $0 == .controlCharacterInString(offset: 2, byte: 0x0A) }
    assertError("\"a\u{1}\"") { $0 == .controlCharacterInString(offset: 2, byte: 1) }
    let bad: [[UInt8]] = [
      [0x22, 0xC0, 0x80, 0x22],  // overlong NUL
      [0x22, 0xED, 0xA0, 0x80, 0x22],  // encoded surrogate
      [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
      [0x22, 0xE4, 0xB8, 0x22],  // truncated sequence
      [0x22, 0x80, 0x22],  // stray continuation
      [0x22, 0xFF, 0x22],
      [0x22, 0xE4],  // truncated at end of input
    ]
    for bytes in bad {
      XCTAssertThrowsError(try JSON.parse(bytes)) { e in
        XCTAssertEqual(e as? JSONError, .invalidUTF8(offset: 1), "\(bytes)")
      }
    }
    XCTAssertEqual(try JSON.parse([0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22]), .string("😀"))
  }

  func testUnterminatedAndMalformedStructuresAreRejected() {
    let cases = [
      "", " ", "[", "[1", "[1,", "[1,]", "[,1]", "{", "{\"a\"", "{\"a\":", "{\"a\":1,}", "{1:2}",
      "{\"a\" 1}", "[1 2]", "\"abc", "tru", "nul", "True", "[1]]", "{} {}", "'a'", "]",
    ]
    for s in cases { assertError(s) { _ in true } }
    assertError("") { $0 == .unexpectedEnd(offset: 0, expected: "a value") }
    assertError("[1]]") { $0 == .trailingData(offset: 3) }
    assertError("[1,]") {
      $0 == .unexpectedByte(offset: 3, found: UInt8(ascii: "]"), expected: "a value")
    }
    assertError("{\"a\":1,}") {
      $0 == .unexpectedByte(offset: 7, found: UInt8(ascii: "}"), expected: "a string key")
    }
  }

  func testByteOrderMarkIsSkippedOnlyAtStart() throws {
    XCTAssertEqual(try JSON.parse([0xEF, 0xBB, 0xBF] + Array("[1]".utf8)), .array([1]))
    XCTAssertThrowsError(try JSON.parse(Array(" ".utf8) + [0xEF, 0xBB, 0xBF] + Array("[1]".utf8)))
  }

  func testDepthBombIsRejectedWithoutRecursingFurther() {
    let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
    assertError(deep) { $0 == .tooDeep(offset: 128, limit: 128) }
    let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
    XCTAssertNoThrow(try parse(ok))
    let objects =
      String(repeating: #"{"a":"#, count: 129) + "1" + String(repeating: "}", count: 129)
    assertError(objects) { if case .tooDeep = $0 { true } else { false } }
  }

  func testSizeLimitsAreEnforced() {
    let small = JSONLimits(maxBytes: 10, maxDepth: 4, maxStringBytes: 3, maxElements: 4)
    assertError("[1,2,3,4,5,6]", small) { $0 == .documentTooLarge(bytes: 13, limit: 10) }
    assertError("\"abcd\"", small) { $0 == .stringTooLong(offset: 0, limit: 3) }
    assertError("\"ab\\n\\n\"", small) { $0 == .stringTooLong(offset: 0, limit: 3) }
    XCTAssertNoThrow(try parse("\"abc\"", small))
    assertError("[1,2,3,4]", small) {
      if case .tooManyElements(_, limit: 4) = $0 { true } else { false }
    }
    XCTAssertNoThrow(try parse("[1,2,3]", small))
  }
}

final class JSONSerializeTests: XCTestCase {
  func testCompactOutputKeepsInsertionOrder() {
    let v: JSONValue = ["z": 1, "a": [true, false, nil], "m": "s", "d": 0.5]
    XCTAssertEqual(JSON.serialize(v), #"{"z":1,"a":[true,false,null],"m":"s","d":0.5}"#)
  }

  func testPrettyOutputMatchesPythonIndentTwo() {
    let v: JSONValue = ["a": [1, 2], "b": [:], "c": [], "d": ["e": "f"]]
    let expected = """
      {
        "a": [
          1,
          2
        ],
        "b": {},
        "c": [],
        "d": {
          "e": "f"
        }
      }
      """
    XCTAssertEqual(JSON.serialize(v, pretty: true), expected)
  }

  func testDoublesPrintShortestRoundTripAndNonFiniteAsNull() throws {
    XCTAssertEqual(JSON.serialize(.double(0.1)), "0.1")
    XCTAssertEqual(JSON.serialize(.double(1)), "1.0")
    XCTAssertEqual(JSON.serialize(.double(-0.0)), "-0.0")
    XCTAssertEqual(JSON.serialize(.double(1e-5)), "1e-05")
    XCTAssertEqual(JSON.serialize(.double(.nan)), "null")
    XCTAssertEqual(JSON.serialize(.double(-.infinity)), "null")
    XCTAssertEqual(JSON.serialize(.int(Int.min)), "-9223372036854775808")
    for d in [0.1, 1.0 / 3, 1e300, .leastNonzeroMagnitude, 123456.789, -2.5e-7, Double(Float(0.1))] {
      XCTAssertEqual(try JSON.parse(JSON.serialize(.double(d))).doubleValue, d)
    }
  }

  func testStringsAreEscapedAndRoundTrip() throws {
    let s = "q\"b\\s/\n\r\t\u{8}\u{c}\u{0}\u{1f}é中😀\u{7f}"
    let text = JSON.serialize(.string(s))
    XCTAssertEqual(text, "\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0000\\u001fé中😀\u{7f}\"")
    XCTAssertEqual(try JSON.parse(text), .string(s))
  }

  func testDocumentRoundTripsThroughSerializeAndParse() throws {
    let source = #"""
      {"metadata": {"format": "pt", "total_size": 123456789},
       "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "ü": "\u00fc"},
       "list": [[], {}, [[1, -2.5e-10, 3e+20]], "\ud834\udd1e", -0.0, 18446744073709551616]}
      """#
    let v = try JSON.parse(source)
    for pretty in [false, true] {
      let again = try JSON.parse(JSON.serialize(v, pretty: pretty))
      XCTAssertEqual(again, v)
      XCTAssertEqual(JSON.serialize(again, pretty: pretty), JSON.serialize(v, pretty: pretty))
    }
    XCTAssertEqual(v["weight_map"]?.objectValue?.keys, ["a.weight", "ü"])
    XCTAssertEqual(v["list"]?[3]?.stringValue, "𝄞")
  }
}

final class JSONRobustnessTests: XCTestCase {
  /// Random byte edits of a valid document must either throw a `JSONError` or parse to a value that
  /// survives serialize → parse unchanged.
  func testRandomMutationsNeverCrashAndParsedValuesRoundTrip() throws {
    let seed =
      Array(
        #"{"a": [1, -2.5e-3, true, null, "x\u00e9\ud83d\ude00\n"], "b": {"c": [[], {}], "d": 123456789012},"#
          .utf8) + Array(#" "e": "ü中", "f": 0.1}"#.utf8)
    XCTAssertNoThrow(try JSON.parse(seed))
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    func next() -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int(truncatingIfNeeded: state >> 33)
    }
    let alphabet =
      Array(#"{}[]",:\u0123456789.eE+-tfnrlsa "#.utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xED, 0xF0, 0xFF]
    var parsed = 0
    for _ in 0..<5000 {
      var bytes = seed
      for _ in 0..<(1 + next() % 3) {
        let i = next() % bytes.count
        switch next() % 3 {
        case 0: bytes[i] = alphabet[next() % alphabet.count]
        case 1: bytes.remove(at: i)
        default: bytes.insert(alphabet[next() % alphabet.count], at: i)
        }
        if bytes.isEmpty { break }
      }
      guard let v = try? JSON.parse(bytes) else { continue }
      parsed += 1
      XCTAssertEqual(try JSON.parse(JSON.serialize(v)), v)
    }
    XCTAssertGreaterThan(parsed, 100)
  }
}

/// Strict RFC 8259 JSON reading and writing, bounded by `JSONLimits`.
///
/// Reading rules:
/// - exactly one value, surrounded by optional whitespace (space, tab, LF, CR); anything after it is an error;
/// - an optional UTF-8 byte order mark (EF BB BF) at the very start is skipped;
/// - strings must be well-formed UTF-8 without raw control characters; `\uXXXX` escapes are decoded, and a
///   UTF-16 surrogate pair becomes one scalar. A lone surrogate (a high one not followed by a low one, or a
///   low one on its own) is an error, never silently replaced;
/// - numbers follow the RFC grammar (no leading zeros, no `+`, no `.5`, no `NaN`); a number that overflows
///   `Double` (e.g. `1e400`) is an error, one that underflows becomes 0;
/// - an object with a repeated key is an error.
public enum JSON {
  /// Parses a whole document held in `bytes`.
  public static func parse(_ bytes: [UInt8], limits: JSONLimits = .default) throws(JSONError)
    -> JSONValue
  {
    let result: Result<JSONValue, JSONError> = bytes.withUnsafeBytes { raw in
      Result { () throws(JSONError) in try parse(raw, limits: limits) }
    }
    return try result.get()
  }

  /// Parses a whole document held in raw memory (e.g. an mmapped file region).
  public static func parse(_ bytes: UnsafeRawBufferPointer, limits: JSONLimits = .default)
    throws(JSONError)
    -> JSONValue
  {
    guard bytes.count <= limits.maxBytes else {
      throw .documentTooLarge(bytes: bytes.count, limit: limits.maxBytes)
    }
    var parser = Parser(bytes: bytes, limits: limits)
    return try parser.parseDocument()
  }

  /// Parses a whole document held in a string (its UTF-8 encoding).
  public static func parse(_ text: String, limits: JSONLimits = .default) throws(JSONError)
    -> JSONValue
  {
    try parse(Array(text.utf8), limits: limits)
  }

  /// The JSON text of `value`.
  ///
  /// Object keys are written in insertion order. Integers print exactly; doubles print with Swift's
  /// shortest round-trip `description` (`0.1`, `1e-05`, `-0.0`), and NaN/±infinity print as `null`.
  /// Strings escape `"`, `\` and control characters (`\n`, `\t`, `\r`, `\b`, `\f`, else `\u00XX`) and keep
  /// all other characters as raw UTF-8. `pretty` uses two-space indentation, one member per line and
  /// `": "` after keys (like Python's `json.dumps(indent=2)`); otherwise the output has no whitespace.
  public static func serialize(_ value: JSONValue, pretty: Bool = false) -> String {
    var out: [UInt8] = []
    write(value, into: &out, pretty: pretty, indent: 0)
    return String(decoding: out, as: UTF8.self)
  }

  // MARK: - Writing

  private static func write(_ value: JSONValue, into out: inout [UInt8], pretty: Bool, indent: Int)
  {
    switch value {
    case .null: out.append(contentsOf: "null".utf8)
    case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
    case .int(let i): out.append(contentsOf: String(i).utf8)
    case .double(let d):
      out.append(contentsOf: (d.isFinite ? d.description : "null").utf8)
    case .string(let s): writeString(s, into: &out)
    case .array(let a):
      if a.isEmpty {
        out.append(contentsOf: "[]".utf8)
        return
      }
      out.append(UInt8(ascii: "["))
      for (i, element) in a.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        if pretty { newline(&out, indent + 1) }
        write(element, into: &out, pretty: pretty, indent: indent + 1)
      }
      if pretty { newline(&out, indent) }
      out.append(UInt8(ascii: "]"))
    case .object(let o):
      if o.isEmpty {
        out.append(contentsOf: "{}".utf8)
        return
      }
      out.append(UInt8(ascii: "{"))
      for (i, member) in o.members.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        if pretty { newline(&out, indent + 1) }
        writeString(member.key, into: &out)
        out.append(UInt8(ascii: ":"))
        if pretty { out.append(UInt8(ascii: " ")) }
        write(member.value, into: &out, pretty: pretty, indent: indent + 1)
      }
      if pretty { newline(&out, indent) }
      out.append(UInt8(ascii: "}"))
    }
  }

  private static func newline(_ out: inout [UInt8], _ indent: Int) {
    out.append(UInt8(ascii: "\n"))
    out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * indent))
  }

  private static let hexDigits = Array("0123456789abcdef".utf8)

  private static func writeString(_ s: String, into out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    for c in s.utf8 {
      switch c {
      case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
      case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
      case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
      case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
      case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
      case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
      case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
      case 0..<0x20:
        out.append(contentsOf: "\\u00".utf8)
        out.append(hexDigits[Int(c >> 4)])
        out.append(hexDigits[Int(c & 15)])
      default: out.append(c)
      }
    }
    out.append(UInt8(ascii: "\""))
  }
}

// MARK: - Reading

/// Recursive-descent parser over raw bytes. Recursion depth is bounded by `limits.maxDepth`.
private struct Parser {
  let b: UnsafeRawBufferPointer
  let limits: JSONLimits
  var pos = 0
  var elements = 0
  /// Reused buffer for strings that contain escapes or non-ASCII bytes.
  var scratch: [UInt8] = []

  init(bytes: UnsafeRawBufferPointer, limits: JSONLimits) {
    self.b = bytes
    self.limits = limits
  }

  mutating func parseDocument() throws(JSONError) -> JSONValue {
    if b.count >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { pos = 3 }
    let value = try parseValue(depth: 0)
    skipWhitespace()
    guard pos == b.count else { throw .trailingData(offset: pos) }
    return value
  }

  mutating func skipWhitespace() {
    while pos < b.count {
      switch b[pos] {
      case 0x20, 0x0A, 0x0D, 0x09: pos += 1
      default: return
      }
    }
  }

  mutating func countElement() throws(JSONError) {
    elements += 1
    if elements > limits.maxElements {
      throw .tooManyElements(offset: pos, limit: limits.maxElements)
    }
  }

  func fail(_ expected: String) -> JSONError {
    pos < b.count
      ? .unexpectedByte(offset: pos, found: b[pos], expected: expected)
      : .unexpectedEnd(offset: pos, expected: expected)
  }

  mutating func expect(_ c: UInt8, _ expected: String) throws(JSONError) {
    guard pos < b.count, b[pos] == c else { throw fail(expected) }
    pos += 1
  }

  /// Parses one value starting at `pos` (after whitespace); `depth` is the nesting of the enclosing container.
  mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
    skipWhitespace()
    guard pos < b.count else { throw .unexpectedEnd(offset: pos, expected: "a value") }
    try countElement()
    switch b[pos] {
    case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
    case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"):
      try literal("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try literal("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try literal("null")
      return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
    default: throw fail("a value")
    }
  }

  mutating func literal(_ word: String) throws(JSONError) {
    for c in word.utf8 { try expect(c, "'\(word)'") }
  }

  mutating func parseObject(depth: Int) throws(JSONError) -> JSONValue {
    guard depth <= limits.maxDepth else { throw .tooDeep(offset: pos, limit: limits.maxDepth) }
    pos += 1  // '{'
    var object = JSONObject()
    skipWhitespace()
    if pos < b.count && b[pos] == UInt8(ascii: "}") {
      pos += 1
      return .object(object)
    }
    while true {
      skipWhitespace()
      guard pos < b.count, b[pos] == UInt8(ascii: "\"") else { throw fail("a string key") }
      let keyOffset = pos
      try countElement()
      let key = try parseString()
      guard !object.contains(key) else { throw .duplicateKey(offset: keyOffset, key: key) }
      skipWhitespace()
      try expect(UInt8(ascii: ":"), "':'")
      object[key] = try parseValue(depth: depth)
      skipWhitespace()
      guard pos < b.count else { throw fail("',' or '}'") }
      if b[pos] == UInt8(ascii: ",") {
        pos += 1
      } else if b[pos] == UInt8(ascii: "}") {
        pos += 1
        return .object(object)
      } else {
        throw fail("',' or '}'")
      }
    }
  }

  mutating func parseArray(depth: Int) throws(JSONError) -> JSONValue {
    guard depth <= limits.maxDepth else { throw .tooDeep(offset: pos, limit: limits.maxDepth) }
    pos += 1  // '['
    var array: [JSONValue] = []
    skipWhitespace()
    if pos < b.count && b[pos] == UInt8(ascii: "]") {
      pos += 1
      return .array(array)
    }
    while true {
      array.append(try parseValue(depth: depth))
      skipWhitespace()
      guard pos < b.count else { throw fail("',' or ']'") }
      if b[pos] == UInt8(ascii: ",") {
        pos += 1
      } else if b[pos] == UInt8(ascii: "]") {
        pos += 1
        return .array(array)
      } else {
        throw fail("',' or ']'")
      }
    }
  }

  // MARK: Strings

  /// Parses a string starting at the opening quote at `pos`.
  mutating func parseString() throws(JSONError) -> String {
    let quote = pos
    pos += 1
    let start = pos
    // Fast path: printable ASCII without escapes maps 1:1 to the string's bytes.
    var i = start
    while i < b.count {
      let c = b[i]
      if c == UInt8(ascii: "\"") {
        guard i - start <= limits.maxStringBytes else {
          throw .stringTooLong(offset: quote, limit: limits.maxStringBytes)
        }
        pos = i + 1
        return String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
      }
      if c < 0x20 || c >= 0x80 || c == UInt8(ascii: "\\") { break }
      i += 1
    }
    // Slow path: escapes or non-ASCII; validate and copy into `scratch`.
    scratch.removeAll(keepingCapacity: true)
    scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[start..<i]))
    pos = i
    while true {
      guard pos < b.count else {
        throw .unexpectedEnd(offset: pos, expected: "'\"' closing the string")
      }
      guard scratch.count <= limits.maxStringBytes else {
        throw .stringTooLong(offset: quote, limit: limits.maxStringBytes)
      }
      let c = b[pos]
      if c == UInt8(ascii: "\"") {
        pos += 1
        return String(decoding: scratch, as: UTF8.self)  // already validated: no repair happens
      } else if c == UInt8(ascii: "\\") {
        try parseEscape()
      } else if c < 0x20 {
        throw .controlCharacterInString(offset: pos, byte: c)
      } else if c < 0x80 {
        scratch.append(c)
        pos += 1
      } else {
        let n = try utf8SequenceLength(at: pos)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[pos..<(pos + n)]))
        pos += n
      }
    }
  }

  /// Length of the well-formed UTF-8 sequence starting with a non-ASCII byte at `p`
  /// (Unicode Table 3-7: no overlongs, no encoded surrogates, nothing above U+10FFFF).
  func utf8SequenceLength(at p: Int) throws(JSONError) -> Int {
    let lead = b[p]
    let n: Int
    var lo: UInt8 = 0x80
    var hi: UInt8 = 0xBF
    switch lead {
    case 0xC2...0xDF: n = 2
    case 0xE0:
      n = 3
      lo = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: n = 3
    case 0xED:
      n = 3
      hi = 0x9F
    case 0xF0:
      n = 4
      lo = 0x90
    case 0xF1...0xF3: n = 4
    case 0xF4:
      n = 4
      hi = 0x8F
    default: throw .invalidUTF8(offset: p)
    }
    guard p + n <= b.count else { throw .invalidUTF8(offset: p) }
    let second = b[p + 1]
    guard second >= lo && second <= hi else { throw .invalidUTF8(offset: p) }
    for k in 2..<max(n, 2) where b[p + k] & 0xC0 != 0x80 { throw .invalidUTF8(offset: p) }
    return n
  }

  /// Decodes the escape at `pos` (a backslash) into `scratch`.
  mutating func parseEscape() throws(JSONError) {
    let at = pos
    guard pos + 1 < b.count else {
      throw .unexpectedEnd(offset: pos + 1, expected: "an escape character")
    }
    let e = b[pos + 1]
    pos += 2
    switch e {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(e)
    case UInt8(ascii: "b"): scratch.append(0x08)
    case UInt8(ascii: "f"): scratch.append(0x0C)
    case UInt8(ascii: "n"): scratch.append(0x0A)
    case UInt8(ascii: "r"): scratch.append(0x0D)
    case UInt8(ascii: "t"): scratch.append(0x09)
    case UInt8(ascii: "u"):
      var scalar = try hex4(at: at)
      if scalar >= 0xD800 && scalar <= 0xDBFF {
        // A high surrogate must be followed by `\u` + a low surrogate.
        guard pos + 1 < b.count, b[pos] == UInt8(ascii: "\\"), b[pos + 1] == UInt8(ascii: "u")
        else {
          throw .invalidEscape(
            offset: at, reason: "lone high surrogate, expected a following \\uDC00-\\uDFFF")
        }
        let lowAt = pos
        pos += 2
        let low = try hex4(at: lowAt)
        guard low >= 0xDC00 && low <= 0xDFFF else {
          throw .invalidEscape(offset: lowAt, reason: "expected a low surrogate \\uDC00-\\uDFFF")
        }
        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
      } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
        throw .invalidEscape(offset: at, reason: "lone low surrogate")
      }
      appendUTF8(scalar)
    default:
      throw .invalidEscape(
        offset: at, reason: "expected one of \" \\ / b f n r t u after backslash")
    }
  }

  /// Reads 4 hex digits at `pos` (just after `\u`); `at` is the escape's offset for errors.
  mutating func hex4(at: Int) throws(JSONError) -> UInt32 {
    guard pos + 4 <= b.count else {
      throw .invalidEscape(offset: at, reason: "expected 4 hex digits after \\u")
    }
    var v: UInt32 = 0
    for k in 0..<4 {
      let c = b[pos + k]
      let d: UInt8
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
      default: throw .invalidEscape(offset: at, reason: "expected 4 hex digits after \\u")
      }
      v = v << 4 | UInt32(d)
    }
    pos += 4
    return v
  }

  mutating func appendUTF8(_ s: UInt32) {
    switch s {
    case 0..<0x80: scratch.append(UInt8(s))
    case 0x80..<0x800:
      scratch.append(UInt8(0xC0 | (s >> 6)))
      scratch.append(UInt8(0x80 | (s & 0x3F)))
    case 0x800..<0x10000:
      scratch.append(UInt8(0xE0 | (s >> 12)))
      scratch.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
      scratch.append(UInt8(0x80 | (s & 0x3F)))
    default:
      scratch.append(UInt8(0xF0 | (s >> 18)))
      scratch.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
      scratch.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
      scratch.append(UInt8(0x80 | (s & 0x3F)))
    }
  }

  // MARK: Numbers

  func isDigit(_ p: Int) -> Bool {
    p < b.count && b[p] >= UInt8(ascii: "0") && b[p] <= UInt8(ascii: "9")
  }

  /// Parses `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?` at `pos`.
  mutating func parseNumber() throws(JSONError) -> JSONValue {
    let start = pos
    let negative = b[pos] == UInt8(ascii: "-")
    if negative { pos += 1 }
    guard isDigit(pos) else { throw fail("a digit") }
    if b[pos] == UInt8(ascii: "0") {
      pos += 1
    } else {
      while isDigit(pos) { pos += 1 }
    }
    let integerEnd = pos
    var integral = true
    if pos < b.count && b[pos] == UInt8(ascii: ".") {
      integral = false
      pos += 1
      guard isDigit(pos) else { throw fail("a digit after '.'") }
      while isDigit(pos) { pos += 1 }
    }
    if pos < b.count && (b[pos] == UInt8(ascii: "e") || b[pos] == UInt8(ascii: "E")) {
      integral = false
      pos += 1
      if pos < b.count && (b[pos] == UInt8(ascii: "+") || b[pos] == UInt8(ascii: "-")) { pos += 1 }
      guard isDigit(pos) else { throw fail("a digit in the exponent") }
      while isDigit(pos) { pos += 1 }
    }
    if integral {
      // Accumulate toward the sign so Int.min parses; overflow falls back to Double.
      var v = 0
      var overflow = false
      for p in (negative ? start + 1 : start)..<integerEnd {
        let d = Int(b[p] - UInt8(ascii: "0"))
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
        if o1 || o2 {
          overflow = true
          break
        }
        v = s
      }
      if !overflow { return .int(v) }
    }
    let literal = String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<pos]), as: UTF8.self)
    guard let d = Double(literal), d.isFinite else {
      throw .numberOutOfRange(offset: start, literal: literal)
    }
    return .double(d)
  }
}

/// Bounds the parser enforces so untrusted input cannot exhaust memory or the stack.
public struct JSONLimits: Sendable, Equatable {
  /// Largest accepted document, in bytes.
  public var maxBytes: Int
  /// Deepest accepted nesting of arrays and objects (the top-level container is depth 1).
  public var maxDepth: Int
  /// Longest accepted string (or object key), in UTF-8 bytes after unescaping.
  public var maxStringBytes: Int
  /// Most values accepted in the whole document (every scalar, array, object and key counts once).
  public var maxElements: Int

  /// Limits with the given bounds.
  public init(maxBytes: Int, maxDepth: Int, maxStringBytes: Int, maxElements: Int) {
    self.maxBytes = maxBytes
    self.maxDepth = maxDepth
    self.maxStringBytes = maxStringBytes
    self.maxElements = maxElements
  }

  /// 128 MiB documents, depth 128, 16 MiB strings, 16 Mi values: room for `tokenizer.json`,
  /// `vocab.json` and 100 MB safetensors headers.
  public static let `default` = JSONLimits(
    maxBytes: 128 << 20, maxDepth: 128, maxStringBytes: 16 << 20, maxElements: 16 << 20)
}

/// Why a document was rejected. Offsets are 0-based byte offsets into the input.
public enum JSONError: Error, CustomStringConvertible, Equatable {
  /// The document is larger than `JSONLimits.maxBytes`.
  case documentTooLarge(bytes: Int, limit: Int)
  /// The input ended where `expected` was required.
  case unexpectedEnd(offset: Int, expected: String)
  /// Byte `found` at `offset` where `expected` was required.
  case unexpectedByte(offset: Int, found: UInt8, expected: String)
  /// Arrays/objects nest deeper than `JSONLimits.maxDepth`.
  case tooDeep(offset: Int, limit: Int)
  /// A string longer than `JSONLimits.maxStringBytes`.
  case stringTooLong(offset: Int, limit: Int)
  /// More values than `JSONLimits.maxElements`.
  case tooManyElements(offset: Int, limit: Int)
  /// A malformed escape sequence (`\x`, short `\u`, or a lone UTF-16 surrogate).
  case invalidEscape(offset: Int, reason: String)
  /// A raw control character (U+0000…U+001F) inside a string.
  case controlCharacterInString(offset: Int, byte: UInt8)
  /// Bytes that are not well-formed UTF-8 inside a string.
  case invalidUTF8(offset: Int)
  /// A number whose value is not finite as a `Double` (e.g. `1e400`).
  case numberOutOfRange(offset: Int, literal: String)
  /// An object repeats a key.
  case duplicateKey(offset: Int, key: String)
  /// Non-whitespace after the top-level value.
  case trailingData(offset: Int)

  /// One line: what was wrong, at which byte offset, what was expected.
  public var description: String {
    switch self {
    case .documentTooLarge(let n, let limit):
      return "JSON: document is \(n) bytes, limit is \(limit)"
    case .unexpectedEnd(let o, let expected):
      return "JSON: input ends at byte \(o), expected \(expected)"
    case .unexpectedByte(let o, let b, let expected):
      return "JSON: unexpected \(Self.show(b)) at byte \(o), expected \(expected)"
    case .tooDeep(let o, let limit):
      return "JSON: nesting deeper than \(limit) at byte \(o)"
    case .stringTooLong(let o, let limit):
      return "JSON: string at byte \(o) is longer than \(limit) bytes"
    case .tooManyElements(let o, let limit):
      return "JSON: more than \(limit) values (at byte \(o))"
    case .invalidEscape(let o, let reason):
      return "JSON: invalid escape at byte \(o): \(reason)"
    case .controlCharacterInString(let o, let b):
      return
        "JSON: raw control character \(Self.show(b)) in string at byte \(o), expected it escaped"
    case .invalidUTF8(let o):
      return "JSON: invalid UTF-8 in string at byte \(o)"
    case .numberOutOfRange(let o, let lit):
      return "JSON: number \(lit.prefix(40)) at byte \(o) is out of Double range"
    case .duplicateKey(let o, let key):
      return "JSON: duplicate key \"\(key.prefix(80))\" at byte \(o)"
    case .trailingData(let o):
      return "JSON: unexpected data after the top-level value at byte \(o)"
    }
  }

  private static func show(_ b: UInt8) -> String {
    if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
    let hex = String(b, radix: 16, uppercase: true)
    return "byte 0x\(hex.count == 1 ? "0" + hex : hex)"
  }
}

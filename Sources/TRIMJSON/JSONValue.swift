/// A parsed JSON document (RFC 8259).
///
/// Numbers: a literal without fraction or exponent that fits `Int` is `.int`; every other number is
/// `.double`. Objects keep their keys in document (insertion) order; see `JSONObject`.
public indirect enum JSONValue: Sendable, Equatable {
  /// `null`.
  case null
  /// `true` / `false`.
  case bool(Bool)
  /// An integer literal (no `.`, no exponent) that fits in `Int`.
  case int(Int)
  /// Any other number. Never NaN or infinite when produced by the parser.
  case double(Double)
  /// A string, with escapes resolved.
  case string(String)
  /// An array, in document order.
  case array([JSONValue])
  /// An object, keys in document order.
  case object(JSONObject)

  /// The member `key` of an object; `nil` when this is not an object or has no such key.
  public subscript(key: String) -> JSONValue? {
    if case .object(let o) = self { return o[key] }
    return nil
  }

  /// Element `index` of an array; `nil` when this is not an array or `index` is out of range.
  public subscript(index: Int) -> JSONValue? {
    if case .array(let a) = self, index >= 0, index < a.count { return a[index] }
    return nil
  }

  /// The value as an `Int`: an `.int`, or a `.double` that is integral and representable.
  public var intValue: Int? {
    switch self {
    case .int(let i): return i
    case .double(let d): return Int(exactly: d)
    default: return nil
    }
  }

  /// The value as a `Double`: an `.int` (converted, possibly rounded) or a `.double`.
  public var doubleValue: Double? {
    switch self {
    case .int(let i): return Double(i)
    case .double(let d): return d
    default: return nil
    }
  }

  /// The string of a `.string`.
  public var stringValue: String? {
    if case .string(let s) = self { return s }
    return nil
  }

  /// The flag of a `.bool`.
  public var boolValue: Bool? {
    if case .bool(let b) = self { return b }
    return nil
  }

  /// The elements of an `.array`.
  public var arrayValue: [JSONValue]? {
    if case .array(let a) = self { return a }
    return nil
  }

  /// The members of an `.object`.
  public var objectValue: JSONObject? {
    if case .object(let o) = self { return o }
    return nil
  }

  /// Whether this is `null`.
  public var isNull: Bool {
    if case .null = self { return true }
    return false
  }

  /// A short name of the case (`"null"`, `"bool"`, `"int"`, `"double"`, `"string"`, `"array"`,
  /// `"object"`), for error messages.
  public var kindName: String {
    switch self {
    case .null: return "null"
    case .bool: return "bool"
    case .int: return "int"
    case .double: return "double"
    case .string: return "string"
    case .array: return "array"
    case .object: return "object"
    }
  }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral,
  ExpressibleByIntegerLiteral,
  ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
  ExpressibleByDictionaryLiteral
{
  /// `nil` → `.null`.
  public init(nilLiteral: ()) { self = .null }
  /// `true` → `.bool(true)`.
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  /// `3` → `.int(3)`.
  public init(integerLiteral value: Int) { self = .int(value) }
  /// `0.5` → `.double(0.5)`.
  public init(floatLiteral value: Double) { self = .double(value) }
  /// `"a"` → `.string("a")`.
  public init(stringLiteral value: String) { self = .string(value) }
  /// `[1, "a"]` → `.array`.
  public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
  /// `["k": 1]` → `.object`, keys in literal order (a repeated key keeps its first position, last value).
  public init(dictionaryLiteral elements: (String, JSONValue)...) {
    var o = JSONObject()
    for (k, v) in elements { o[k] = v }
    self = .object(o)
  }
}

/// The members of a JSON object: `(key, value)` pairs in insertion order with O(1) lookup by key.
///
/// Keys are unique: the parser rejects duplicates, and setting an existing key replaces its value in
/// place. Equality ignores order (two objects are equal when they have the same keys with equal values),
/// matching JSON semantics; iterate to observe the order.
public struct JSONObject: Sendable, Equatable, Sequence {
  /// The members in insertion order.
  public private(set) var members: [(key: String, value: JSONValue)] = []
  private var index: [String: Int] = [:]

  /// An empty object.
  public init() {}

  /// An object from pairs in order; a repeated key keeps its first position and its last value.
  public init(_ pairs: [(String, JSONValue)]) {
    for (k, v) in pairs { self[k] = v }
  }

  /// The value for `key`; setting appends a new key at the end or replaces an existing value in place;
  /// setting `nil` removes the key (O(n)).
  public subscript(key: String) -> JSONValue? {
    get { index[key].map { members[$0].value } }
    set {
      if let i = index[key] {
        if let newValue {
          members[i].value = newValue
        } else {
          members.remove(at: i)
          index[key] = nil
          for j in i..<members.count { index[members[j].key] = j }
        }
      } else if let newValue {
        index[key] = members.count
        members.append((key: key, value: newValue))
      }
    }
  }

  /// The keys in insertion order.
  public var keys: [String] { members.map(\.key) }

  /// Number of members.
  public var count: Int { members.count }

  /// Whether there are no members.
  public var isEmpty: Bool { members.isEmpty }

  /// Whether `key` is present.
  public func contains(_ key: String) -> Bool { index[key] != nil }

  /// Iterates `(key, value)` pairs in insertion order.
  public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> {
    members.makeIterator()
  }

  /// Same keys with equal values, in any order.
  public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
    guard lhs.members.count == rhs.members.count else { return false }
    for (k, v) in lhs.members {
      guard let w = rhs[k], w == v else { return false }
    }
    return true
  }
}

import TRIMJSON

/// Why a safetensors file, index or checkpoint could not be read or written.
///
/// `file` is the file's last path component (or the name given to an in-memory buffer). Byte offsets are
/// absolute offsets into that file.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
  /// The file could not be opened, sized or mapped.
  case cannotOpen(file: String, reason: String)
  /// The file is shorter than the 8-byte header length.
  case fileTooSmall(file: String, size: Int)
  /// The header length (bytes 0..<8) exceeds the file or the 100 MB limit.
  case headerLengthOutOfRange(file: String, length: UInt64, limit: Int)
  /// The header is not valid JSON.
  case headerJSON(file: String, error: JSONError)
  /// The header is JSON but not of the expected structure.
  case invalidHeader(file: String, tensor: String?, reason: String)
  /// A dtype string this reader does not know.
  case unknownDType(file: String, tensor: String, dtype: String)
  /// The product of a shape, or its size in bytes, overflows `Int`.
  case shapeOverflow(file: String, tensor: String, shape: [Int])
  /// `data_offsets` outside the data buffer (offsets relative to the buffer, `dataSize` its length).
  case offsetsOutOfRange(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
  /// `end - begin` differs from the element count times the element size.
  case sizeMismatch(file: String, tensor: String, expectedBytes: Int, actualBytes: Int)
  /// Two tensors share bytes.
  case overlappingTensors(file: String, tensor: String, other: String, offset: Int)
  /// No tensor of that name.
  case tensorNotFound(file: String, tensor: String)
  /// The tensor's dtype cannot be converted to what was asked for (`expected`: e.g. "a float dtype").
  case unsupportedDType(file: String, tensor: String, dtype: DType, expected: String)
  /// A U64 element does not fit in Int64.
  case valueOutOfRange(file: String, tensor: String, offset: Int)
  /// A row index outside the tensor's first dimension (`rows: nil`: the tensor is a scalar).
  case rowOutOfRange(file: String, tensor: String, row: Int, rows: Int?)
  /// A `model.safetensors.index.json` that is not usable.
  case invalidIndex(file: String, reason: String)
  /// A path that is not a safetensors file, an index, or a directory holding one.
  case notACheckpoint(path: String, reason: String)
  /// The writer was given inconsistent input, or the file could not be written.
  case writeFailed(file: String, reason: String)

  /// One line: file, tensor, byte offset where relevant, and what was expected.
  public var description: String {
    switch self {
    case .cannotOpen(let f, let reason):
      return "\(f): cannot open: \(reason)"
    case .fileTooSmall(let f, let size):
      return
        "\(f): file is \(size) bytes, expected at least 8 (header length) for a safetensors file"
    case .headerLengthOutOfRange(let f, let length, let limit):
      return "\(f): header length \(length) at byte 0 exceeds the \(limit) bytes available"
    case .headerJSON(let f, let e):
      return "\(f): header (from byte 8) is not valid JSON: \(e)"
    case .invalidHeader(let f, let t, let reason):
      return "\(f): header\(t.map { " entry \"\($0)\"" } ?? ""): \(reason)"
    case .unknownDType(let f, let t, let d):
      let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
      return "\(f): tensor \"\(t)\": unknown dtype \"\(d.prefix(40))\", expected one of \(known)"
    case .shapeOverflow(let f, let t, let shape):
      return "\(f): tensor \"\(t)\": shape \(shape.prefix(16)) has more elements than fit in memory"
    case .offsetsOutOfRange(let f, let t, let b, let e, let size):
      return
        "\(f): tensor \"\(t)\": data_offsets [\(b), \(e)] outside the data buffer of \(size) bytes"
    case .sizeMismatch(let f, let t, let expected, let actual):
      return
        "\(f): tensor \"\(t)\": data_offsets span \(actual) bytes, expected \(expected) from dtype and shape"
    case .overlappingTensors(let f, let t, let other, let offset):
      return "\(f): tensor \"\(t)\" overlaps tensor \"\(other)\" at byte \(offset)"
    case .tensorNotFound(let f, let t):
      return "\(f): no tensor named \"\(t)\""
    case .unsupportedDType(let f, let t, let d, let expected):
      return "\(f): tensor \"\(t)\" has dtype \(d.rawValue), expected \(expected)"
    case .valueOutOfRange(let f, let t, let offset):
      return "\(f): tensor \"\(t)\": U64 value at byte \(offset) does not fit in Int64"
    case .rowOutOfRange(let f, let t, let row, let rows):
      guard let rows else { return "\(f): tensor \"\(t)\" is a scalar and has no rows" }
      return "\(f): tensor \"\(t)\": row \(row) is outside 0..<\(rows)"
    case .invalidIndex(let f, let reason):
      return "\(f): invalid safetensors index: \(reason)"
    case .notACheckpoint(let p, let reason):
      return "\(p): not a safetensors checkpoint: \(reason)"
    case .writeFailed(let f, let reason):
      return "\(f): cannot write safetensors: \(reason)"
    }
  }
}

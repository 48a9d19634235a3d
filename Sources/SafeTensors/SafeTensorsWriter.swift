import Foundation
import TRIMJSON
import TRIMTensor

/// Builds a safetensors file from Float32 tensors and Int64 arrays, readable by the Python library.
///
/// The header lists `__metadata__` first (when non-empty), then the tensors in insertion order with
/// consecutive `data_offsets`; it is padded with spaces so the data buffer starts at a multiple of 8 bytes,
/// as the Python library does.
public struct SafeTensorsWriter {
  /// String metadata stored under `__metadata__`.
  public var metadata: [String: String]
  private var entries: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])] = []
  private var problem: String?

  /// An empty file with the given metadata.
  public init(metadata: [String: String] = [:]) {
    self.metadata = metadata
  }

  /// Adds `t` as an F32 tensor with its shape.
  public mutating func add(_ name: String, _ t: Tensor) {
    let bytes = t.scalars.withUnsafeBytes { Array($0) }
    append(name, .F32, t.shape, bytes)
  }

  /// Adds `int64s` as an I64 tensor of `shape` (its product must equal `int64s.count`, else `write` throws).
  public mutating func add(_ name: String, int64s: [Int64], shape: [Int]) {
    guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, { $0 &* $1 }) == int64s.count else {
      if problem == nil {
        problem = "tensor \"\(name)\": \(int64s.count) values do not fill shape \(shape)"
      }
      return
    }
    append(name, .I64, shape, int64s.withUnsafeBytes { Array($0) })
  }

  /// Adds a tensor of any dtype from its raw little-endian row-major bytes, unchanged (e.g. F16 or BF16
  /// weights copied bit for bit). `bytes.count` must equal the shape's element count times the dtype's size,
  /// else `write` throws.
  public mutating func add(_ name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
    var elements = 1
    for extent in shape {
      let (p, o) = elements.multipliedReportingOverflow(by: extent)
      guard extent >= 0, !o else { elements = -1; break }
      elements = p
    }
    guard elements >= 0, elements.multipliedReportingOverflow(by: dtype.byteSize) == (bytes.count, false) else {
      if problem == nil {
        problem = "tensor \"\(name)\": \(bytes.count) bytes do not fill \(dtype.rawValue) shape \(shape)"
      }
      return
    }
    append(name, dtype, shape, bytes)
  }

  private mutating func append(_ name: String, _ dtype: DType, _ shape: [Int], _ bytes: [UInt8]) {
    if name == "__metadata__" || entries.contains(where: { $0.name == name }) {
      if problem == nil { problem = "tensor name \"\(name)\" is reserved or already added" }
      return
    }
    entries.append((name, dtype, shape, bytes))
  }

  /// The whole file's bytes.
  public func serialized(fileName: String = "<memory>") throws -> [UInt8] {
    if let problem { throw SafeTensorsError.writeFailed(file: fileName, reason: problem) }
    var header = JSONObject()
    if !metadata.isEmpty {
      var m = JSONObject()
      for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { m[k] = .string(v) }
      header["__metadata__"] = .object(m)
    }
    var offset = 0
    for e in entries {
      header[e.name] = [
        "dtype": .string(e.dtype.rawValue),
        "shape": .array(e.shape.map { .int($0) }),
        "data_offsets": [.int(offset), .int(offset + e.bytes.count)],
      ]
      offset += e.bytes.count
    }
    var headerBytes = Array(JSON.serialize(.object(header)).utf8)
    while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
    var out: [UInt8] = []
    out.reserveCapacity(8 + headerBytes.count + offset)
    withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: headerBytes)
    for e in entries { out.append(contentsOf: e.bytes) }
    return out
  }

  /// Writes the file atomically to `url`.
  public func write(to url: URL) throws {
    let bytes = try serialized(fileName: url.lastPathComponent)
    do {
      try Data(bytes).write(to: url, options: .atomic)
    } catch {
      throw SafeTensorsError.writeFailed(
        file: url.lastPathComponent, reason: error.localizedDescription)
    }
  }
}

import Foundation
import TRIMTensor

/// Something that yields named tensors: one safetensors file, or a sharded checkpoint.
public protocol TensorSource: AnyObject, Sendable {
  /// All tensor names, sorted.
  var tensorNames: [String] { get }
  /// The `__metadata__` (file) or `metadata` (index; non-string values as compact JSON) entries.
  var metadata: [String: String] { get }
  /// Whether a tensor of that name exists (never opens a file).
  func contains(_ name: String) -> Bool
  /// The header entry of `name`, or nil when absent. A sharded source opens (maps and validates) the shard
  /// holding it, which is why this can throw.
  func info(_ name: String) throws -> TensorInfo?
  /// The tensor `name` as row-major Float32 with its header shape, converted from F32, F16, BF16 or F64.
  func tensor(_ name: String) throws -> Tensor
  /// The elements of `name` as Int64 (row-major), converted from any integer dtype or BOOL.
  func int64s(_ name: String) throws -> [Int64]
  /// The raw little-endian element bytes of `name` in row-major order (`info(name)!.byteCount` of them),
  /// when the source can give them without converting: a view of a file mapping, or a copy the source
  /// gathered. nil when the source has no such access (the default) or no tensor `name`. The packing fast
  /// paths (`packedMatrix`) read F32 and 16-bit weights through this.
  func rawBytes(of name: String) throws -> RawTensorBytes?
}

/// A tensor's raw element bytes, valid while `owner` is alive (hold it with `withExtendedLifetime`).
public struct RawTensorBytes: @unchecked Sendable {
  /// The elements, little-endian, row-major.
  public let bytes: UnsafeRawBufferPointer
  /// Keeps `bytes` valid: the mapped file, or a buffer holding a copy.
  public let owner: AnyObject

  /// Bytes at `bytes`, kept alive by `owner`.
  public init(bytes: UnsafeRawBufferPointer, owner: AnyObject) {
    self.bytes = bytes
    self.owner = owner
  }
}

extension TensorSource {
  /// No raw access by default.
  public func rawBytes(of name: String) throws -> RawTensorBytes? { nil }
}

/// A description of a whole source, for `trim inspect`.
public struct TensorSourceSummary: Sendable, Equatable {
  /// Every tensor, sorted by name.
  public var tensors: [TensorInfo]
  /// Sum of the tensors' byte sizes.
  public var totalBytes: Int
  /// Sum of the tensors' element counts.
  public var totalElements: Int
  /// Number of tensors per dtype.
  public var dtypeCounts: [DType: Int]
  /// The source's metadata.
  public var metadata: [String: String]
}

extension TensorSource {
  /// All header entries sorted by name, with totals. A sharded source opens every shard.
  public func summary() throws -> TensorSourceSummary {
    var infos: [TensorInfo] = []
    for name in tensorNames {
      if let info = try info(name) { infos.append(info) }
    }
    var counts: [DType: Int] = [:]
    for i in infos { counts[i.dtype, default: 0] += 1 }
    return TensorSourceSummary(
      tensors: infos, totalBytes: infos.reduce(0) { $0 + $1.byteCount },
      totalElements: infos.reduce(0) { $0 + $1.elementCount }, dtypeCounts: counts,
      metadata: metadata)
  }
}

/// Opens whatever a user points at as a checkpoint.
public enum SafeTensorsCheckpoint {
  /// - A `.safetensors` file → `SafeTensorsFile`;
  /// - a `.json` file (a `model.safetensors.index.json`) → `ShardedSafeTensors`;
  /// - a directory holding `model.safetensors` (preferred) or `model.safetensors.index.json` → the same.
  public static func open(_ url: URL) throws -> any TensorSource {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw SafeTensorsError.notACheckpoint(path: url.path, reason: "no such file or directory")
    }
    if isDirectory.boolValue {
      let single = url.appendingPathComponent("model.safetensors")
      if FileManager.default.fileExists(atPath: single.path) {
        return try SafeTensorsFile(url: single)
      }
      let index = url.appendingPathComponent("model.safetensors.index.json")
      if FileManager.default.fileExists(atPath: index.path) {
        return try ShardedSafeTensors(indexURL: index)
      }
      throw SafeTensorsError.notACheckpoint(
        path: url.path,
        reason: "directory has neither model.safetensors nor model.safetensors.index.json")
    }
    if url.pathExtension.lowercased() == "json" { return try ShardedSafeTensors(indexURL: url) }
    return try SafeTensorsFile(url: url)
  }
}

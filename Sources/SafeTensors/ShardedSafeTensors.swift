import Foundation
import TRIMJSON
import TRIMTensor

/// A checkpoint split over several safetensors files, described by a `model.safetensors.index.json`:
/// `{"metadata": {…}, "weight_map": {"tensor name": "model-00001-of-00002.safetensors", …}}`.
///
/// Shards are opened lazily: a shard is mapped and validated the first time one of its tensors is asked for,
/// so reading only a projector touches only the shard holding it. Shard names must be plain file names
/// (no `/`, `\`, `..`), so they always resolve inside the index's directory. Thread-safe.
public final class ShardedSafeTensors: TensorSource, @unchecked Sendable {
  /// Largest index file accepted, in bytes.
  public static let maxIndexBytes = 100_000_000

  /// The index file.
  public let indexURL: URL
  /// The index's `metadata` entries; non-string values (e.g. `total_size`) as compact JSON.
  public let metadata: [String: String]
  /// Tensor name → shard file name, from `weight_map`.
  public let weightMap: [String: String]
  /// All tensor names, sorted.
  public let tensorNames: [String]
  /// The distinct shard file names, sorted.
  public let shardNames: [String]

  private let lock = NSLock()
  private var shards: [String: SafeTensorsFile] = [:]

  /// Reads and validates the index at `indexURL`; opens no shard.
  public init(indexURL: URL) throws {
    let f = indexURL.lastPathComponent
    let index: ShardIndex
    do {
      index = try ShardIndex(url: indexURL, maxBytes: Self.maxIndexBytes)
    } catch {
      switch error {
      case .cannotOpen(let reason): throw SafeTensorsError.cannotOpen(file: f, reason: reason)
      case .invalid(let reason): throw SafeTensorsError.invalidIndex(file: f, reason: reason)
      }
    }
    let (metadata, weightMap) = (index.metadata, index.weightMap)
    self.indexURL = indexURL
    self.metadata = metadata
    self.weightMap = weightMap
    self.tensorNames = weightMap.keys.sorted()
    self.shardNames = Set(weightMap.values).sorted()
  }


  /// The shard files opened so far, sorted (for tests and diagnostics).
  public var openedShardNames: [String] { lock.withLock { shards.keys.sorted() } }

  /// The shard `fileName`, opened on first use.
  public func shard(named fileName: String) throws -> SafeTensorsFile {
    try lock.withLock {
      if let open = shards[fileName] { return open }
      let file = try SafeTensorsFile(
        url: indexURL.deletingLastPathComponent().appendingPathComponent(fileName))
      shards[fileName] = file
      return file
    }
  }

  /// The opened shard holding `name`, checked to really contain it.
  func shard(holding name: String) throws -> SafeTensorsFile {
    guard let fileName = weightMap[name] else {
      throw SafeTensorsError.tensorNotFound(file: indexURL.lastPathComponent, tensor: name)
    }
    let file = try shard(named: fileName)
    guard file.contains(name) else {
      throw SafeTensorsError.invalidIndex(
        file: indexURL.lastPathComponent,
        reason: "tensor \"\(name)\" is mapped to \(fileName) but not in it")
    }
    return file
  }

  /// Whether the index lists `name` (opens nothing).
  public func contains(_ name: String) -> Bool { weightMap[name] != nil }

  /// The header entry of `name` (opening its shard), or nil when the index does not list it.
  public func info(_ name: String) throws -> TensorInfo? {
    guard contains(name) else { return nil }
    return try shard(holding: name).info(name)
  }

  /// The tensor `name` as Float32, read from its shard.
  public func tensor(_ name: String) throws -> Tensor { try shard(holding: name).tensor(name) }

  /// The tensor's bytes inside its shard's mapping (nil when the index does not list it).
  public func rawBytes(of name: String) throws -> RawTensorBytes? {
    guard contains(name) else { return nil }
    return try shard(holding: name).rawBytes(of: name)
  }

  /// The elements of `name` as Int64, read from its shard.
  public func int64s(_ name: String) throws -> [Int64] { try shard(holding: name).int64s(name) }
}

/// A parsed checkpoint index — `model.safetensors.index.json` or `pytorch_model.bin.index.json`, which share
/// the layout `{"metadata": {…}, "weight_map": {"tensor": "shard file", …}}` — with every shard name checked
/// to be a plain file name (no `/`, `\\`, `..`, NUL), so it resolves inside the index's directory.
public struct ShardIndex: Sendable {
  /// Why an index was refused; callers wrap it in their own error type with the file name.
  public enum Failure: Error {
    /// The file could not be read.
    case cannotOpen(String)
    /// The file is too large, not JSON, or not an index.
    case invalid(String)
  }

  /// `metadata` entries; non-string values as compact JSON.
  public let metadata: [String: String]
  /// Tensor name → shard file name.
  public let weightMap: [String: String]

  /// Reads the index at `url`, at most `maxBytes` long.
  public init(url: URL, maxBytes: Int) throws(Failure) {
    let data: Data
    do {
      data = try Data(contentsOf: url, options: .mappedIfSafe)
    } catch {
      throw .cannotOpen(error.localizedDescription)
    }
    guard data.count <= maxBytes else { throw .invalid("\(data.count) bytes, limit is \(maxBytes)") }
    let parsed: Result<JSONValue, JSONError> = data.withUnsafeBytes { raw in
      Result { () throws(JSONError) in try JSON.parse(raw) }
    }
    let json: JSONValue
    switch parsed {
    case .success(let v): json = v
    case .failure(let e): throw .invalid(e.description)
    }
    guard case .object(let map)? = json["weight_map"] else { throw .invalid("expected an object \"weight_map\"") }
    var weightMap: [String: String] = [:]
    for (tensor, value) in map {
      guard case .string(let shard) = value else {
        throw .invalid("weight_map[\"\(tensor)\"] is a \(value.kindName), expected a file name")
      }
      guard !shard.isEmpty, shard != ".", shard != "..", !shard.contains("/"), !shard.contains("\\"),
        !shard.contains("\0")
      else {
        throw .invalid("shard \"\(shard)\" of tensor \"\(tensor)\" must be a plain file name in the index's directory")
      }
      weightMap[tensor] = shard
    }
    var metadata: [String: String] = [:]
    if case .object(let m)? = json["metadata"] {
      for (k, v) in m { metadata[k] = v.stringValue ?? JSON.serialize(v) }
    }
    self.metadata = metadata
    self.weightMap = weightMap
  }
}

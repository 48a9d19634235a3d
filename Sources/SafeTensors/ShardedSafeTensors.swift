import Foundation
import TRIMJSON
import TRIMTensor

/// A checkpoint split over several files and described by an index — `model.safetensors.index.json` or
/// `pytorch_model.bin.index.json`: `{"metadata": {…}, "weight_map": {"tensor name": "shard file", …}}`.
/// One implementation for every shard format: the format supplies how a shard is opened and which error
/// type it reports in (`ShardedSafeTensors` here, `ShardedCheckpoint` in TorchCheckpoint).
///
/// Shards are opened lazily: a shard is opened (mapped and validated) the first time one of its tensors is
/// asked for, so reading only a projector touches only the shard holding it. Shard names must be plain file
/// names (no `/`, `\`, `..`), so they always resolve inside the index's directory. Thread-safe.
public final class ShardedSource<Shard: Sendable>: ShardedTensorSource, @unchecked Sendable {
  /// Largest index file accepted, in bytes.
  public static var maxIndexBytes: Int { 100_000_000 }

  /// How a format opens a shard and reports a sharded checkpoint's errors.
  public struct Format: Sendable {
    /// Opens the shard file at a URL.
    public var open: @Sendable (URL) throws -> Shard
    /// The shard as a tensor source.
    public var source: @Sendable (Shard) -> any TensorSource
    /// The index could not be read: (index file name, reason).
    public var cannotOpen: @Sendable (String, String) -> any Error
    /// The index is malformed, or maps a tensor to a shard without it: (index file name, reason).
    public var invalidIndex: @Sendable (String, String) -> any Error
    /// The index does not list a tensor: (index file name, tensor).
    public var tensorNotFound: @Sendable (String, String) -> any Error

    /// A format from its parts.
    public init(open: @escaping @Sendable (URL) throws -> Shard, source: @escaping @Sendable (Shard) -> any TensorSource,
                cannotOpen: @escaping @Sendable (String, String) -> any Error,
                invalidIndex: @escaping @Sendable (String, String) -> any Error,
                tensorNotFound: @escaping @Sendable (String, String) -> any Error) {
      self.open = open
      self.source = source
      self.cannotOpen = cannotOpen
      self.invalidIndex = invalidIndex
      self.tensorNotFound = tensorNotFound
    }
  }

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

  private let format: Format
  private let lock = NSLock()
  private var shards: [String: Shard] = [:]

  /// Reads and validates the index at `indexURL`; opens no shard.
  public init(indexURL: URL, format: Format) throws {
    let f = indexURL.lastPathComponent
    let index: ShardIndex
    do {
      index = try ShardIndex(url: indexURL, maxBytes: Self.maxIndexBytes)
    } catch {
      switch error {
      case .cannotOpen(let reason): throw format.cannotOpen(f, reason)
      case .invalid(let reason): throw format.invalidIndex(f, reason)
      }
    }
    self.indexURL = indexURL
    self.format = format
    self.metadata = index.metadata
    self.weightMap = index.weightMap
    self.tensorNames = index.weightMap.keys.sorted()
    self.shardNames = Set(index.weightMap.values).sorted()
  }

  /// The shard files opened so far, sorted (for tests and diagnostics).
  public var openedShardNames: [String] { lock.withLock { shards.keys.sorted() } }

  /// The shard `fileName`, opened on first use.
  public func shard(named fileName: String) throws -> Shard {
    try lock.withLock {
      if let open = shards[fileName] { return open }
      let file = try format.open(indexURL.deletingLastPathComponent().appendingPathComponent(fileName))
      shards[fileName] = file
      return file
    }
  }

  /// The opened shard holding `name`, checked to really contain it.
  public func shard(holding name: String) throws -> Shard {
    guard let fileName = weightMap[name] else { throw format.tensorNotFound(indexURL.lastPathComponent, name) }
    let file = try shard(named: fileName)
    guard format.source(file).contains(name) else {
      throw format.invalidIndex(indexURL.lastPathComponent, "tensor \"\(name)\" is mapped to \(fileName) but not in it")
    }
    return file
  }

  /// The shard file holding `name`, else the index's (for error messages; opens nothing).
  public func fileName(holding name: String) -> String { weightMap[name] ?? indexURL.lastPathComponent }

  /// Whether the index lists `name` (opens nothing).
  public func contains(_ name: String) -> Bool { weightMap[name] != nil }

  /// The header entry of `name` (opening its shard), or nil when the index does not list it.
  public func info(_ name: String) throws -> TensorInfo? {
    guard contains(name) else { return nil }
    return try format.source(shard(holding: name)).info(name)
  }

  /// The tensor `name` as Float32, read from its shard.
  public func tensor(_ name: String) throws -> Tensor { try format.source(shard(holding: name)).tensor(name) }

  /// The tensor's bytes inside its shard (nil when the index does not list it).
  public func rawBytes(of name: String) throws -> RawTensorBytes? {
    guard contains(name) else { return nil }
    return try format.source(shard(holding: name)).rawBytes(of: name)
  }

  /// The elements of `name` as Int64, read from its shard.
  public func int64s(_ name: String) throws -> [Int64] { try format.source(shard(holding: name)).int64s(name) }
}

/// A tensor source whose tensors live in several files.
public protocol ShardedTensorSource: TensorSource {
  /// The file holding `name` (its shard), or the index's name when no shard lists it; opens nothing.
  func fileName(holding name: String) -> String
}

/// A checkpoint split over several safetensors files (`model.safetensors.index.json`).
public typealias ShardedSafeTensors = ShardedSource<SafeTensorsFile>

extension ShardedSource where Shard == SafeTensorsFile {
  /// Reads and validates a `model.safetensors.index.json`; opens no shard. Errors are `SafeTensorsError`s.
  public convenience init(indexURL: URL) throws {
    try self.init(indexURL: indexURL, format: Format(
      open: { try SafeTensorsFile(url: $0) }, source: { $0 },
      cannotOpen: { SafeTensorsError.cannotOpen(file: $0, reason: $1) },
      invalidIndex: { SafeTensorsError.invalidIndex(file: $0, reason: $1) },
      tensorNotFound: { SafeTensorsError.tensorNotFound(file: $0, tensor: $1) }))
  }
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

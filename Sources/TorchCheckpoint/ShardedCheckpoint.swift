import Foundation
import SafeTensors
import TRIMJSON
import TRIMTensor

/// A checkpoint split over several files and described by an index — `pytorch_model.bin.index.json`
/// (`.bin` shards), or any index whose `weight_map` names `.safetensors` shards:
/// `{"metadata": {"total_size": …}, "weight_map": {"tensor name": "pytorch_model-00001-of-00002.bin", …}}`.
///
/// Shards are opened lazily, each the first time one of its tensors is asked for (a `.safetensors` shard as
/// `SafeTensorsFile`, anything else as `TorchCheckpointFile`), so reading only LLaVA's projector touches
/// only the shard holding it. Shard names must be plain file names (no `/`, `\`, `..`), so they always
/// resolve inside the index's directory. Thread-safe.
public final class ShardedCheckpoint: TensorSource, @unchecked Sendable {
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
    private var shards: [String: any TensorSource] = [:]

    /// Reads and validates the index at `indexURL`; opens no shard.
    public init(indexURL: URL) throws {
        let f = indexURL.lastPathComponent
        let index: ShardIndex
        do {
            index = try ShardIndex(url: indexURL, maxBytes: Self.maxIndexBytes)
        } catch {
            switch error {
            case .cannotOpen(let reason): throw TorchCheckpointError.cannotOpen(file: f, reason: reason)
            case .invalid(let reason): throw TorchCheckpointError.invalidIndex(file: f, reason: reason)
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
    public func shard(named fileName: String) throws -> any TensorSource {
        try lock.withLock {
            if let open = shards[fileName] { return open }
            let url = indexURL.deletingLastPathComponent().appendingPathComponent(fileName)
            let file: any TensorSource =
                url.pathExtension.lowercased() == "safetensors"
                ? try SafeTensorsFile(url: url) : try TorchCheckpointFile(url: url)
            shards[fileName] = file
            return file
        }
    }

    /// The opened shard holding `name`, checked to really contain it.
    public func shard(holding name: String) throws -> any TensorSource {
        guard let fileName = weightMap[name] else {
            throw TorchCheckpointError.tensorNotFound(file: indexURL.lastPathComponent, tensor: name)
        }
        let file = try shard(named: fileName)
        guard file.contains(name) else {
            throw TorchCheckpointError.invalidIndex(
                file: indexURL.lastPathComponent, reason: "tensor \"\(name)\" is mapped to \(fileName) but not in it")
        }
        return file
    }

    /// Whether the index lists `name` (opens nothing).
    public func contains(_ name: String) -> Bool { weightMap[name] != nil }

    /// The tensor's dtype and shape (opening its shard), or nil when the index does not list it.
    public func info(_ name: String) throws -> TensorInfo? {
        guard contains(name) else { return nil }
        return try shard(holding: name).info(name)
    }

    /// The tensor `name` as Float32, read from its shard.
    public func tensor(_ name: String) throws -> Tensor { try shard(holding: name).tensor(name) }

    /// The elements of `name` as Int64, read from its shard.
    public func int64s(_ name: String) throws -> [Int64] { try shard(holding: name).int64s(name) }

    /// The tensor's raw bytes, from its shard.
    public func rawBytes(of name: String) throws -> RawTensorBytes? {
        guard contains(name) else { return nil }
        return try shard(holding: name).rawBytes(of: name)
    }
}

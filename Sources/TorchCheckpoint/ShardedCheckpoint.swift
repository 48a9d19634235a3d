import Foundation
import SafeTensors

/// A checkpoint split over several files and described by an index — `pytorch_model.bin.index.json`
/// (`.bin` shards), or any index whose `weight_map` names `.safetensors` shards:
/// `{"metadata": {"total_size": …}, "weight_map": {"tensor name": "pytorch_model-00001-of-00002.bin", …}}`.
/// The same lazy, thread-safe `ShardedSource` as `ShardedSafeTensors`, opening each shard by its extension
/// (a `.safetensors` shard as `SafeTensorsFile`, anything else as `TorchCheckpointFile`), with
/// `TorchCheckpointError`s.
public typealias ShardedCheckpoint = ShardedSource<any TensorSource>

extension ShardedSource where Shard == any TensorSource {
    /// Reads and validates the index at `indexURL`; opens no shard.
    public convenience init(indexURL: URL) throws {
        try self.init(indexURL: indexURL, format: Format(
            open: { url -> any TensorSource in
                if url.pathExtension.lowercased() == "safetensors" { return try SafeTensorsFile(url: url) }
                return try TorchCheckpointFile(url: url)
            },
            source: { $0 },
            cannotOpen: { TorchCheckpointError.cannotOpen(file: $0, reason: $1) },
            invalidIndex: { TorchCheckpointError.invalidIndex(file: $0, reason: $1) },
            tensorNotFound: { TorchCheckpointError.tensorNotFound(file: $0, tensor: $1) }))
    }
}

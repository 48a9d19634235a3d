import Foundation
import SafeTensors
import TorchCheckpoint
import TRIMTensor

/// Pulls named tensors out of a checkpoint and checks each shape against what the configuration
/// implies, so a mismatched file fails at load with the tensor's name instead of deep in a forward pass.
struct WeightLoader {
    /// Where the tensors come from (a `model.safetensors`, or a sharded index).
    let source: any TensorSource
    /// How the source is named in errors (usually its path).
    let sourceName: String
    /// Whether F16 / BF16 weight matrices stay 16-bit once packed.
    var precision: WeightPrecision = .checkpoint

    /// The tensor `name`, which must exist with exactly `shape`.
    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try check(name, shape: shape)
        defer { releasePages(of: name) }
        return try source.tensor(name)
    }

    /// Throws unless `name` exists with exactly `shape`; returns its header entry.
    @discardableResult
    func check(_ name: String, shape: [Int]) throws -> TensorInfo {
        guard let info = try source.info(name) else {
            throw CLIPError.missingTensor(name: name, source: sourceName)
        }
        guard info.shape == shape else {
            throw CLIPError.shapeMismatch(name: name, expected: shape, found: info.shape, source: sourceName)
        }
        return info
    }

    /// `prefix.weight [outputs, inputs]` and (when `bias`) `prefix.bias [outputs]` as a packed `Linear`.
    /// The weight is packed straight from the file mapping (no intermediate copy) when it is F32, or F16 /
    /// BF16 kept at that precision (see `precision`).
    func linear(_ prefix: String, outputs: Int, inputs: Int, bias: Bool = true) throws -> Linear {
        try stackedLinear([prefix], outputs: outputs, inputs: inputs, bias: bias)
    }

    /// Several `[outputs, inputs]` linear layers (`prefixes[i].weight`, `.bias`) stacked into one packed
    /// `[prefixes.count · outputs, inputs]` `Linear` whose output holds their outputs side by side (the
    /// fused q/k/v projection), packed by `TensorSource.packedMatrix`; each tensor's file pages are
    /// released once packed.
    func stackedLinear(_ prefixes: [String], outputs: Int, inputs: Int, bias: Bool = true) throws -> Linear {
        let names = prefixes.map { $0 + ".weight" }
        for name in names { try check(name, shape: [outputs, inputs]) }
        var b: [Float]?
        if bias {
            b = []
            for prefix in prefixes { b! += try tensor(prefix + ".bias", shape: [outputs]).scalars }
        }
        let packed = try source.packedMatrix(stacking: names, rows: outputs, inputs: inputs, precision: precision)
        names.forEach(releasePages(of:))
        return Linear(weight: packed, bias: b)
    }

    /// Tells the kernel it may drop the mapped file pages of tensor `name` (already copied or packed), so
    /// that loading does not hold the whole file *and* the packed weights in memory at once. Only whole
    /// pages inside the tensor's bytes are released; a later read simply faults them in again.
    func releasePages(of name: String) {
        // Only bytes inside a file mapping: a safetensors file, or a `.bin` tensor read in place.
        let mapped: RawTensorBytes?
        if let file = source as? SafeTensorsFile {
            mapped = file.rawBytes(of: name)
        } else if let file = source as? TorchCheckpointFile, file.isMapped(name) {
            mapped = try? file.rawBytes(of: name)
        } else {
            mapped = nil
        }
        guard let mapped else { return }
        withExtendedLifetime(mapped.owner) {
            let raw = mapped.bytes
            guard let base = raw.baseAddress else { return }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            guard page > 0 else { return }
            let start = (Int(bitPattern: base) + page - 1) / page * page
            let end = (Int(bitPattern: base) + raw.count) / page * page
            if end > start {
                _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, Int32(MADV_DONTNEED))
            }
        }
    }

    /// The `[rows, width]` table `name`: left in the mapping when the source is a single file (a lookup
    /// then reads only its rows), loaded whole otherwise.
    func embeddingTable(_ name: String, rows: Int, width: Int) throws -> EmbeddingTable {
        let info = try check(name, shape: [rows, width])
        if let file = source as? SafeTensorsFile, info.dtype.isConvertibleToFloat {
            return EmbeddingTable(mapped: file, name: name, rows: rows, width: width)
        }
        return EmbeddingTable(try tensor(name, shape: [rows, width]))
    }

    /// `prefix.weight` and `prefix.bias`, both `[width]`, as a `LayerNorm`.
    func layerNorm(_ prefix: String, width: Int, eps: Float) throws -> LayerNorm {
        LayerNorm(weight: try tensor(prefix + ".weight", shape: [width]),
                  bias: try tensor(prefix + ".bias", shape: [width]), eps: eps)
    }
}

import TRIMTensor

/// Whether weight matrices that a checkpoint stores as F16 or BF16 stay 16-bit once packed.
public enum WeightPrecision: String, Sendable, CaseIterable {
    /// F16 and BF16 weight matrices keep their 16 bits in memory (half the bytes of Floats); the GEMM
    /// widens them exactly, so every result is bit for bit the one `.float32` gives. F32 and F64 weights
    /// are packed as Floats.
    case checkpoint
    /// Every weight matrix is converted to Float at load.
    case float32
}

extension TensorSource {
    /// The `[rows, inputs]` tensors `names` stacked into one `[names.count · rows, inputs]` packed weight
    /// (e.g. q, k and v projections side by side). The values are read through `rawBytes(of:)` (straight
    /// from a file mapping) when the source offers them aligned, otherwise from a copy. With `.checkpoint`
    /// and all tensors F16 (or all BF16) in a source with raw access (safetensors files and shards,
    /// PyTorch `.bin` files), the panels keep those 16-bit values (`WeightStorage.float16` / `.bfloat16`);
    /// anything else is packed as Floats (F16, BF16 exactly; F64 rounded to nearest).
    /// Throws when a tensor is missing, does not hold `rows · inputs` elements, or has no float dtype.
    public func packedMatrix(stacking names: [String], rows: Int, inputs: Int, precision: WeightPrecision) throws
        -> PackedMatrix
    {
        precondition(rows >= 0 && inputs >= 0, "packedMatrix: negative shape [\(rows), \(inputs)]")
        let count = rows * inputs
        // Each tensor's header, looked up once.
        var tensors = [PackSource]()
        for name in names {
            guard let info = try info(name) else {
                throw SafeTensorsError.tensorNotFound(file: fileName(holding: name), tensor: name)
            }
            guard info.elementCount == count else {
                throw SafeTensorsError.invalidHeader(
                    file: fileName(holding: name), tensor: name,
                    reason: "shape \(info.shape) where a [\(rows), \(inputs)] weight was expected")
            }
            tensors.append(PackSource(name: name, dtype: info.dtype))
        }
        if count == 0 || names.isEmpty {
            return PackedMatrix(outputs: rows * names.count, inputs: inputs, weights: nil)
        }
        let dtypes = Set(tensors.map(\.dtype))
        if precision == .checkpoint, dtypes == [.F16] || dtypes == [.BF16] {
            let raws = try names.compactMap { try rawBytes(of: $0) }
            if raws.count == names.count {
                let storage: WeightStorage = dtypes == [.F16] ? .float16 : .bfloat16
                return try withHalfPointers(Array(zip(names, raws))[...], count: count, []) { pointers in
                    PackedMatrix(stacking: pointers.map { ($0, rows) }, inputs: inputs, storage: storage)
                }
            }
        }
        return try withFloatPointers(tensors[...], count: count, []) { pointers in
            PackedMatrix(stacking: pointers.map { ($0, rows) }, inputs: inputs)
        }
    }

    /// The file name errors about `name` mention: its safetensors file or shard, else "checkpoint".
    private func fileName(holding name: String) -> String {
        if let file = self as? SafeTensorsFile { return file.fileName }
        if let sharded = self as? any ShardedTensorSource { return sharded.fileName(holding: name) }
        return "checkpoint"
    }

    /// Calls `body` with a float pointer to each of `tensors`: into the raw bytes for an aligned F32 tensor
    /// the source offers them for (a file mapping), into a converted copy otherwise.
    private func withFloatPointers<R>(
        _ tensors: ArraySlice<PackSource>, count: Int, _ done: [UnsafePointer<Float>],
        _ body: ([UnsafePointer<Float>]) throws -> R
    ) throws -> R {
        guard let t = tensors.first else { return try body(done) }
        if t.dtype == .F32, let raw = try rawBytes(of: t.name) {
            if let base = raw.bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0,
                raw.bytes.count == count * MemoryLayout<Float>.size
            {
                return try withExtendedLifetime(raw.owner) {
                    try withFloatPointers(tensors.dropFirst(), count: count,
                                          done + [base.assumingMemoryBound(to: Float.self)], body)
                }
            }
        }
        let copy = try tensor(t.name)
        precondition(copy.count == count, "packedMatrix: '\(t.name)' has \(copy.count) elements, not \(count)")
        return try copy.scalars.withUnsafeBufferPointer { buffer in
            try withFloatPointers(tensors.dropFirst(), count: count, done + [buffer.baseAddress!], body)
        }
    }

    /// Calls `body` with a pointer to each F16 / BF16 tensor's 16-bit values: into the raw bytes when they
    /// are 2-byte aligned there, into a copy otherwise.
    private func withHalfPointers<R>(
        _ tensors: ArraySlice<(String, RawTensorBytes)>, count: Int, _ done: [UnsafePointer<UInt16>],
        _ body: ([UnsafePointer<UInt16>]) throws -> R
    ) throws -> R {
        guard let (name, rawTensor) = tensors.first else { return try body(done) }
        return try withExtendedLifetime(rawTensor.owner) {
            let raw = rawTensor.bytes
            precondition(raw.count == count * 2, "packedMatrix: '\(name)' has \(raw.count) bytes, not \(count * 2)")
            if let base = raw.baseAddress, Int(bitPattern: base) % MemoryLayout<UInt16>.alignment == 0 {
                return try withHalfPointers(tensors.dropFirst(), count: count,
                                            done + [base.assumingMemoryBound(to: UInt16.self)], body)
            }
            let copy = [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
                initialized = count
            }
            return try copy.withUnsafeBufferPointer {
                try withHalfPointers(tensors.dropFirst(), count: count, done + [$0.baseAddress!], body)
            }
        }
    }
}

/// One tensor to pack: its name and its header's dtype.
private struct PackSource {
    let name: String
    let dtype: DType
}

import Foundation
import SafeTensors
import TRIMTensor

/// One PyTorch checkpoint written by `torch.save(state_dict, f)` (PyTorch ≥ 1.6: a zip archive), mapped
/// read-only and validated whole when opened — e.g. `pytorch_model.bin`, a shard
/// `pytorch_model-00001-of-00002.bin`, or LLaVA's `mm_projector.bin`.
///
/// Layout: one top-level folder `<prefix>/` holding `data.pkl` (the pickled state dict), `byteorder`
/// (`little`), and `data/<key>` (each storage's raw elements, 64-byte aligned by torch). A tensor in the
/// pickle is `_rebuild_tensor_v2(storage, offset, size, stride, …)`, a strided view of a storage.
///
/// Opening reads the zip directory (see `ZipArchive`), runs the pickle through `Unpickler` (a data
/// interpreter with an allow-list of globals: it cannot execute anything), and checks every view against its
/// storage: rank of size and stride equal, non-negative offset, sizes and strides, element and byte counts
/// that do not overflow, the furthest element inside the storage, and each storage's record holding exactly
/// `numel` elements. After that, reading a tensor cannot fail on untrusted bytes except for a deflated
/// storage, which is inflated (to its declared size, CRC-checked) on first use.
///
/// A contiguous view of a stored (not deflated) storage is read straight from the mapping; any other view is
/// gathered into a row-major copy. Immutable apart from the cache of inflated storages; thread-safe.
public final class TorchCheckpointFile: TensorSource, @unchecked Sendable {
    /// The file, or nil for an in-memory buffer.
    public let url: URL?
    /// The name used in error messages: the file's last path component, or the buffer's name.
    public let fileName: String
    /// Always empty: a `torch.save` state dict carries no string metadata.
    public let metadata: [String: String] = [:]
    /// All tensor names, sorted.
    public let tensorNames: [String]
    /// Each tensor's dtype and shape. `dataOffsets` is the byte range of the elements inside their storage
    /// record for a contiguous view, and `0..<byteCount` (the size of its row-major copy) for a strided one.
    public let infos: [String: TensorInfo]
    /// The archive's top-level folder (`archive`, or the file name torch saw, e.g. `pytorch_model`).
    public let prefix: String

    private let file: MappedFile
    private let views: [String: View]
    private let lock = NSLock()
    private var inflatedStorages: [String: ByteBuffer] = [:]

    /// One tensor: a strided view of a storage record.
    private struct View {
        var dtype: DType
        var shape: [Int]
        var strides: [Int]
        var offset: Int
        var count: Int
        var entry: ZipEntry
        var isContiguous: Bool
    }

    /// The first bytes of a pre-1.6 `torch.save` file: pickle protocol 2, then the magic number
    /// 0x1950a86a20f9469cfc6c as a LONG1.
    static let legacyMagic: [UInt8] = [
        0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19,
    ]

    /// Maps and validates the file at `url`.
    public convenience init(url: URL) throws {
        let name = url.lastPathComponent
        try self.init(file: try MappedFile(url: url, name: name), url: url, name: name)
    }

    /// Validates a copy of `bytes` holding a whole `.bin` file (for tests and fuzzing); `name` appears in
    /// error messages.
    public convenience init(bytes: [UInt8], name: String = "<memory>") throws {
        try self.init(file: MappedFile(bytes: bytes), url: nil, name: name)
    }

    private init(file: MappedFile, url: URL?, name f: String) throws(TorchCheckpointError) {
        let bytes = file.bytes
        if bytes.starts(with: Self.legacyMagic) { throw .legacyFormat(file: f) }
        let zip = try ZipArchive(bytes, fileName: f)
        guard let first = zip.names.first else { throw .missingRecord(file: f, record: "data.pkl") }
        let prefix = String(first.prefix { $0 != "/" })
        // The state dict's pickle.
        let pklName = prefix + "/data.pkl"
        guard let pklEntry = zip.entries[pklName] else { throw .missingRecord(file: f, record: pklName) }
        if let order = zip.entries[prefix + "/byteorder"] {
            let text = try Self.withEntry(order, bytes, f) { String(decoding: $0.prefix(64), as: UTF8.self) }
            guard text.trimmingCharacters(in: .whitespacesAndNewlines) == "little" else {
                throw .unsupportedByteOrder(file: f, byteOrder: text)
            }
        }
        let tensors = try Self.withEntry(pklEntry, bytes, f) { (pkl) throws(TorchCheckpointError) in
            var machine = Unpickler(pkl, fileName: f, record: pklName)
            return try machine.stateDict()
        }
        // Every view checked against its storage before any element is read.
        var views: [String: View] = [:]
        var infos: [String: TensorInfo] = [:]
        for (name, t) in tensors {
            let view = try Self.validate(
                t, name: name, prefix: prefix, archive: zip, fileSize: bytes.count, fileName: f)
            let byteCount = view.count * view.dtype.byteSize
            let start = view.isContiguous ? view.offset * view.dtype.byteSize : 0
            views[name] = view
            infos[name] = TensorInfo(
                name: name, dtype: view.dtype, shape: view.shape, dataOffsets: start..<(start + byteCount))
        }
        self.url = url
        self.fileName = f
        self.file = file
        self.prefix = prefix
        self.views = views
        self.infos = infos
        self.tensorNames = infos.keys.sorted()
    }

    /// Calls `body` with an entry's uncompressed bytes (inflated into a temporary for a deflated entry).
    private static func withEntry<R>(
        _ entry: ZipEntry, _ bytes: UnsafeRawBufferPointer, _ f: String,
        _ body: (UnsafeRawBufferPointer) throws(TorchCheckpointError) -> R
    ) throws(TorchCheckpointError) -> R {
        if entry.isStored { return try body(ZipArchive.storedBytes(entry, in: bytes)) }
        let inflated = try ZipArchive.inflated(entry, in: bytes, fileName: f)
        do {
            return try inflated.withUnsafeBytes { raw in try body(raw) }
        } catch let e as TorchCheckpointError {
            throw e
        } catch {
            fatalError("unreachable: body throws only TorchCheckpointError")
        }
    }

    private static func validate(
        _ t: TensorRef, name: String, prefix: String, archive: ZipArchive, fileSize: Int, fileName f: String
    ) throws(TorchCheckpointError) -> View {
        let record = "\(prefix)/data/\(t.storage.key)"
        guard let entry = archive.entries[record] else { throw .missingRecord(file: f, record: record) }
        let es = t.storage.dtype.byteSize
        let (storageBytes, o1) = t.storage.numel.multipliedReportingOverflow(by: es)
        guard !o1, storageBytes == entry.uncompressedSize else {
            throw .invalidTensor(
                file: f, tensor: name,
                reason:
                    "its storage \(record) declares \(t.storage.numel) \(t.storage.dtype.rawValue) elements but the record holds \(entry.uncompressedSize) bytes"
            )
        }
        guard t.shape.count == t.strides.count else {
            throw .invalidTensor(
                file: f, tensor: name,
                reason: "size \(t.shape.prefix(16)) and stride \(t.strides.prefix(16)) differ in rank")
        }
        guard t.offset >= 0 else {
            throw .invalidTensor(file: f, tensor: name, reason: "storage offset \(t.offset) is negative")
        }
        guard t.shape.allSatisfy({ $0 >= 0 }), t.strides.allSatisfy({ $0 >= 0 }) else {
            throw .invalidTensor(
                file: f, tensor: name,
                reason: "size \(t.shape.prefix(16)) and stride \(t.strides.prefix(16)) must be non-negative")
        }
        var count = 1
        for extent in t.shape {
            let (p, o) = count.multipliedReportingOverflow(by: extent)
            guard !o else {
                throw .invalidTensor(
                    file: f, tensor: name, reason: "size \(t.shape.prefix(16)) has more elements than fit in memory")
            }
            count = p
        }
        let (bytes, o2) = count.multipliedReportingOverflow(by: es)
        // An expanded view (stride 0) may be larger than its storage; its copy is still bounded by the file.
        guard !o2, bytes <= max(storageBytes, fileSize) else {
            throw .invalidTensor(
                file: f, tensor: name,
                reason: "size \(t.shape.prefix(16)) needs more bytes than its storage or the file holds")
        }
        if count > 0 {
            // The furthest element the view reaches: offset + Σ (size − 1) · stride, overflow-checked.
            var last = t.offset
            for (extent, stride) in zip(t.shape, t.strides) {
                let (step, o3) = (extent - 1).multipliedReportingOverflow(by: stride)
                let (sum, o4) = last.addingReportingOverflow(step)
                guard !o3, !o4 else {
                    last = Int.max
                    break
                }
                last = sum
            }
            guard last < t.storage.numel else {
                throw .invalidTensor(
                    file: f, tensor: name,
                    reason:
                        "view (offset \(t.offset), size \(t.shape.prefix(16)), stride \(t.strides.prefix(16))) reaches element \(last == Int.max ? "≥ 2^63" : String(last)), beyond its storage of \(t.storage.numel) elements"
                )
            }
        }
        // Contiguous (row-major) in torch's sense: dimensions of extent 1 may have any stride.
        var contiguous = true
        var expected = 1
        for (extent, stride) in zip(t.shape, t.strides).reversed() where extent != 1 {
            if stride != expected { contiguous = false }
            expected &*= extent
        }
        return View(
            dtype: t.storage.dtype, shape: t.shape, strides: t.strides, offset: t.offset, count: count,
            entry: entry, isContiguous: contiguous || count == 0)
    }

    private func view(_ name: String) throws -> View {
        guard let v = views[name] else { throw TorchCheckpointError.tensorNotFound(file: fileName, tensor: name) }
        return v
    }

    /// The uncompressed bytes of a storage record: in the mapping when stored, inflated once and cached
    /// when deflated.
    private func storage(_ entry: ZipEntry) throws -> (UnsafeRawBufferPointer, AnyObject) {
        if entry.isStored { return (ZipArchive.storedBytes(entry, in: file.bytes), file) }
        return try lock.withLock {
            if let cached = inflatedStorages[entry.name] { return (cached.bytes, cached) }
            let buffer = ByteBuffer(try ZipArchive.inflated(entry, in: file.bytes, fileName: fileName))
            inflatedStorages[entry.name] = buffer
            return (buffer.bytes, buffer)
        }
    }

    /// Whether a tensor of that name exists.
    public func contains(_ name: String) -> Bool { views[name] != nil }

    /// The tensor's dtype and shape, or nil.
    public func info(_ name: String) -> TensorInfo? { infos[name] }

    /// Whether `name` is read straight from the file mapping (a contiguous view of a stored storage) rather
    /// than from a copy.
    public func isMapped(_ name: String) -> Bool {
        guard let v = views[name] else { return false }
        return v.isContiguous && v.entry.isStored
    }

    /// The tensor's row-major element bytes: a view of the mapping when `isMapped(name)`, else a gathered
    /// copy. Nil when there is no tensor `name`.
    public func rawBytes(of name: String) throws -> RawTensorBytes? {
        guard let v = views[name] else { return nil }
        let es = v.dtype.byteSize
        let (storage, owner) = try storage(v.entry)
        guard let base = storage.baseAddress, v.count > 0 else {
            return RawTensorBytes(bytes: UnsafeRawBufferPointer(start: nil, count: 0), owner: owner)
        }
        if v.isContiguous {
            return RawTensorBytes(
                bytes: UnsafeRawBufferPointer(start: base + v.offset * es, count: v.count * es), owner: owner)
        }
        let copy = ByteBuffer(count: v.count * es)
        Self.gather(v, from: base, into: copy.mutableBase)
        return RawTensorBytes(bytes: copy.bytes, owner: copy)
    }

    /// Copies a strided view into row-major order: an odometer over all but the last dimension, each
    /// innermost row copied element by element (or in one block when its stride is 1).
    private static func gather(_ v: View, from src: UnsafeRawPointer, into dst: UnsafeMutableRawPointer) {
        let es = v.dtype.byteSize
        let rank = v.shape.count
        guard rank > 0 else {
            dst.copyMemory(from: src + v.offset * es, byteCount: es)
            return
        }
        let inner = v.shape[rank - 1]
        let innerStride = v.strides[rank - 1]
        var index = [Int](repeating: 0, count: rank - 1)
        var out = 0
        let rows = v.count / max(inner, 1)
        for _ in 0..<rows {
            var start = v.offset
            for d in 0..<(rank - 1) { start += index[d] * v.strides[d] }
            if innerStride == 1 {
                (dst + out).copyMemory(from: src + start * es, byteCount: inner * es)
            } else {
                for i in 0..<inner {
                    (dst + out + i * es).copyMemory(from: src + (start + i * innerStride) * es, byteCount: es)
                }
            }
            out += inner * es
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                if index[d] < v.shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }

    /// The tensor `name` as Float32 with its shape (F32 copied; F16, BF16 exact; F64 rounded to nearest).
    public func tensor(_ name: String) throws -> Tensor {
        let v = try view(name)
        guard v.dtype.isConvertibleToFloat else {
            throw TorchCheckpointError.unsupportedDType(
                file: fileName, tensor: name, dtype: v.dtype, expected: "F32, F16, BF16 or F64")
        }
        let raw = try rawBytes(of: name)!
        let scalars = withExtendedLifetime(raw.owner) {
            [Float](unsafeUninitializedCapacity: v.count) { buffer, initialized in
                if let dst = buffer.baseAddress, let src = raw.bytes.baseAddress {
                    convertToFloat(v.dtype, from: src, into: dst, count: v.count)
                }
                initialized = v.count
            }
        }
        return Tensor(shape: v.shape, scalars: scalars)
    }

    /// The elements of `name` as Int64, from I64, I32, I16, I8, U8 or BOOL.
    public func int64s(_ name: String) throws -> [Int64] {
        let v = try view(name)
        guard v.dtype.isConvertibleToInt64 else {
            throw TorchCheckpointError.unsupportedDType(
                file: fileName, tensor: name, dtype: v.dtype, expected: "an integer or BOOL dtype")
        }
        let raw = try rawBytes(of: name)!
        return withExtendedLifetime(raw.owner) {
            [Int64](unsafeUninitializedCapacity: v.count) { buffer, initialized in
                if let dst = buffer.baseAddress, let src = raw.bytes.baseAddress {
                    // No U64 storage exists in torch.save, so no element can be out of range.
                    _ = convertToInt64(v.dtype, from: src, into: dst, count: v.count)
                }
                initialized = v.count
            }
        }
    }
}

/// Bytes owned by an object (an inflated storage, a gathered view), 64-byte aligned.
final class ByteBuffer: @unchecked Sendable {
    let mutableBase: UnsafeMutableRawPointer
    let count: Int

    init(count: Int) {
        self.count = count
        mutableBase = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
    }

    convenience init(_ bytes: [UInt8]) {
        self.init(count: bytes.count)
        bytes.withUnsafeBytes { if let b = $0.baseAddress { mutableBase.copyMemory(from: b, byteCount: count) } }
    }

    deinit { mutableBase.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: mutableBase, count: count) }
}

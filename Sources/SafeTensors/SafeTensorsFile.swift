import Dispatch
import Foundation
import TRIMJSON
import TRIMTensor

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// One `.safetensors` file, memory-mapped read-only and fully validated when opened.
///
/// Layout: bytes 0..<8 hold the header length N (u64, little-endian); bytes 8..<8+N a JSON object
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, …, "__metadata__": {str: str}}`;
/// the rest is the data buffer, which `data_offsets` index.
///
/// Opening checks the whole header before any tensor is read: N ≤ 100 MB and within the file, valid JSON,
/// known dtypes, non-negative shapes whose element and byte counts do not overflow, offsets inside the data
/// buffer, `end - begin` equal to the element count times the element size, and no two tensors sharing bytes.
/// After that, reading a tensor cannot fail on untrusted bytes (only on a dtype mismatch). The mapping stays
/// valid for the object's lifetime; the file must not be truncated meanwhile. Immutable, so safe to share.
public final class SafeTensorsFile: TensorSource, @unchecked Sendable {
  /// Largest header this reader accepts, in bytes (the Python library's limit).
  public static let maxHeaderBytes = 100_000_000

  /// The file, or nil for an in-memory buffer.
  public let url: URL?
  /// The name used in error messages: the file's last path component, or the buffer's name.
  public let fileName: String
  /// The `__metadata__` entries (empty when absent).
  public let metadata: [String: String]
  /// All tensor names, sorted.
  public let tensorNames: [String]
  /// Header entries by name.
  public let infos: [String: TensorInfo]
  /// Absolute file offset of the data buffer: 8 + N.
  public let dataStart: Int
  /// Total size of the file in bytes.
  public let fileSize: Int

  private let base: UnsafeRawPointer
  private let release: Release

  private enum Release {
    case unmap
    case deallocate
  }

  /// Maps and validates the file at `url`.
  public init(url: URL) throws {
    let name = url.lastPathComponent
    // O_NONBLOCK: opening a FIFO named like a checkpoint must not wait for a writer; fstat below then
    // refuses it. (No effect on regular files.)
    let fd = open(url.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else {
      throw SafeTensorsError.cannotOpen(file: name, reason: String(cString: strerror(errno)))
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      throw SafeTensorsError.cannotOpen(file: name, reason: String(cString: strerror(errno)))
    }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
      throw SafeTensorsError.cannotOpen(file: name, reason: "not a regular file")
    }
    let size = Int(st.st_size)
    guard size >= 8 else { throw SafeTensorsError.fileTooSmall(file: name, size: size) }
    guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
      mapped != UnsafeMutableRawPointer(bitPattern: -1)
    else {
      throw SafeTensorsError.cannotOpen(
        file: name, reason: "mmap failed: \(String(cString: strerror(errno)))")
    }
    let header: Header
    do {
      header = try Header(base: UnsafeRawPointer(mapped), size: size, fileName: name)
    } catch {
      munmap(mapped, size)
      throw error
    }
    self.url = url
    self.fileName = name
    self.base = UnsafeRawPointer(mapped)
    self.fileSize = size
    self.release = .unmap
    (self.metadata, self.infos, self.dataStart) = (header.metadata, header.infos, header.dataStart)
    self.tensorNames = header.infos.keys.sorted()
  }

  /// Validates a copy of `bytes` holding a whole safetensors file (for tests and fuzzing);
  /// `name` appears in error messages.
  public init(bytes: [UInt8], name: String = "<memory>") throws {
    guard bytes.count >= 8 else {
      throw SafeTensorsError.fileTooSmall(file: name, size: bytes.count)
    }
    let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
    bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    let header: Header
    do {
      header = try Header(base: UnsafeRawPointer(copy), size: bytes.count, fileName: name)
    } catch {
      copy.deallocate()
      throw error
    }
    self.url = nil
    self.fileName = name
    self.base = UnsafeRawPointer(copy)
    self.fileSize = bytes.count
    self.release = .deallocate
    (self.metadata, self.infos, self.dataStart) = (header.metadata, header.infos, header.dataStart)
    self.tensorNames = header.infos.keys.sorted()
  }

  deinit {
    switch release {
    case .unmap: munmap(UnsafeMutableRawPointer(mutating: base), fileSize)
    case .deallocate: UnsafeMutableRawPointer(mutating: base).deallocate()
    }
  }

  /// Whether a tensor of that name exists.
  public func contains(_ name: String) -> Bool { infos[name] != nil }

  /// The header entry of `name`, or nil.
  public func info(_ name: String) -> TensorInfo? { infos[name] }

  private func require(_ name: String) throws -> TensorInfo {
    guard let info = infos[name] else {
      throw SafeTensorsError.tensorNotFound(file: fileName, tensor: name)
    }
    return info
  }

  /// Calls `body` with the tensor's raw little-endian element bytes (valid only during the call).
  public func withUnsafeBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R)
    throws -> R
  {
    let info = try require(name)
    return try body(
      UnsafeRawBufferPointer(
        start: base + dataStart + info.dataOffsets.lowerBound, count: info.byteCount))
  }

  /// The tensor's bytes inside the mapping (nil when there is no tensor `name`).
  public func rawBytes(of name: String) -> RawTensorBytes? {
    guard let info = infos[name] else { return nil }
    return RawTensorBytes(
      bytes: UnsafeRawBufferPointer(
        start: base + dataStart + info.dataOffsets.lowerBound, count: info.byteCount),
      owner: self)
  }

  /// The tensor `name` as Float32 with its header shape (F32 copied; F16, BF16 exact; F64 rounded to nearest).
  /// Large tensors are converted on all cores.
  public func tensor(_ name: String) throws -> Tensor {
    let info = try require(name)
    guard info.dtype.isConvertibleToFloat else {
      throw SafeTensorsError.unsupportedDType(
        file: fileName, tensor: name, dtype: info.dtype, expected: "F32, F16, BF16 or F64")
    }
    let count = info.elementCount
    let src = Shared(pointer: base + dataStart + info.dataOffsets.lowerBound)
    let dtype = info.dtype
    let scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      if let dst = buffer.baseAddress {
        let out = SharedMutable(pointer: dst)
        // Chunks of 1 Mi elements: big enough to amortize dispatch, small enough to spread page faults.
        let chunk = 1 << 20
        let chunks = (count + chunk - 1) / chunk
        if chunks <= 1 {
          convertToFloat(dtype, from: src.pointer, into: out.pointer, count: count)
        } else {
          DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = c * chunk
            let n = min(chunk, count - start)
            convertToFloat(
              dtype, from: src.pointer + start * dtype.byteSize, into: out.pointer + start, count: n
            )
          }
        }
      }
      initialized = count
    }
    return Tensor(shape: info.shape, scalars: scalars)
  }

  /// Rows `indices` of the tensor `name` (rank ≥ 1; a row is everything under one index of the first
  /// dimension) as Float32 `[indices.count, row…]`, converted like `tensor(_:)`. Only those rows' bytes are
  /// read — an embedding lookup touches a few pages of the mapping instead of copying the whole table.
  public func rows(_ name: String, _ indices: [Int]) throws -> Tensor {
    let info = try require(name)
    guard info.dtype.isConvertibleToFloat else {
      throw SafeTensorsError.unsupportedDType(
        file: fileName, tensor: name, dtype: info.dtype, expected: "F32, F16, BF16 or F64")
    }
    guard let first = info.shape.first else {
      throw SafeTensorsError.rowOutOfRange(file: fileName, tensor: name, row: indices.first ?? 0, rows: nil)
    }
    if let bad = indices.first(where: { $0 < 0 || $0 >= first }) {
      throw SafeTensorsError.rowOutOfRange(file: fileName, tensor: name, row: bad, rows: first)
    }
    let width = info.shape.dropFirst().reduce(1, *)
    let src = base + dataStart + info.dataOffsets.lowerBound
    let rowBytes = width * info.dtype.byteSize
    let scalars = [Float](unsafeUninitializedCapacity: indices.count * width) { buffer, initialized in
      if let dst = buffer.baseAddress {
        for (r, i) in indices.enumerated() {
          convertToFloat(info.dtype, from: src + i * rowBytes, into: dst + r * width, count: width)
        }
      }
      initialized = indices.count * width
    }
    return Tensor(shape: [indices.count] + Array(info.shape.dropFirst()), scalars: scalars)
  }

  /// The elements of `name` as Int64, from I64, I32, I16, I8, U64 (≤ Int64.max), U32, U16, U8 or BOOL.
  public func int64s(_ name: String) throws -> [Int64] {
    let info = try require(name)
    guard info.dtype.isConvertibleToInt64 else {
      throw SafeTensorsError.unsupportedDType(
        file: fileName, tensor: name, dtype: info.dtype, expected: "an integer or BOOL dtype")
    }
    let count = info.elementCount
    let src = base + dataStart + info.dataOffsets.lowerBound
    var bad: Int? = nil
    let values = [Int64](unsafeUninitializedCapacity: count) { buffer, initialized in
      if let dst = buffer.baseAddress {
        bad = convertToInt64(info.dtype, from: src, into: dst, count: count)
        if bad != nil { dst.initialize(repeating: 0, count: count) }  // keep the array fully initialized
      }
      initialized = count
    }
    if let bad {
      throw SafeTensorsError.valueOutOfRange(
        file: fileName, tensor: name, offset: dataStart + info.dataOffsets.lowerBound + 8 * bad)
    }
    return values
  }
}

/// Pointers handed to `concurrentPerform` workers, which touch disjoint ranges.
private struct Shared: @unchecked Sendable { let pointer: UnsafeRawPointer }
private struct SharedMutable: @unchecked Sendable { let pointer: UnsafeMutablePointer<Float> }

/// The validated header of a safetensors file.
private struct Header {
  var metadata: [String: String] = [:]
  var infos: [String: TensorInfo] = [:]
  var dataStart = 0

  init(base: UnsafeRawPointer, size: Int, fileName f: String) throws(SafeTensorsError) {
    let declared = base.loadUnaligned(as: UInt64.self)  // little-endian host, like the format
    let limit = min(SafeTensorsFile.maxHeaderBytes, size - 8)
    guard declared <= UInt64(limit) else {
      throw .headerLengthOutOfRange(file: f, length: declared, limit: limit)
    }
    let n = Int(declared)
    dataStart = 8 + n
    let dataSize = size - dataStart
    let json: JSONValue
    do {
      let limits = JSONLimits(
        maxBytes: SafeTensorsFile.maxHeaderBytes, maxDepth: 8, maxStringBytes: 1 << 20,
        maxElements: JSONLimits.default.maxElements)
      json = try JSON.parse(UnsafeRawBufferPointer(start: base + 8, count: n), limits: limits)
    } catch {
      throw .headerJSON(file: f, error: error)
    }
    guard case .object(let top) = json else {
      throw .invalidHeader(
        file: f, tensor: nil, reason: "expected a JSON object, found \(json.kindName)")
    }
    for (name, entry) in top {
      if name == "__metadata__" {
        metadata = try Self.metadata(entry, fileName: f)
        continue
      }
      infos[name] = try Self.tensorInfo(name, entry, dataSize: dataSize, fileName: f)
    }
    // No two tensors may share bytes: sort the non-empty ranges and compare neighbours.
    let ranges = infos.values.filter { !$0.dataOffsets.isEmpty }.sorted {
      ($0.dataOffsets.lowerBound, $0.name) < ($1.dataOffsets.lowerBound, $1.name)
    }
    for (previous, next) in zip(ranges, ranges.dropFirst())
    where next.dataOffsets.lowerBound < previous.dataOffsets.upperBound {
      throw .overlappingTensors(
        file: f, tensor: next.name, other: previous.name,
        offset: dataStart + next.dataOffsets.lowerBound)
    }
  }

  static func metadata(_ entry: JSONValue, fileName f: String) throws(SafeTensorsError) -> [String:
    String]
  {
    if entry.isNull { return [:] }
    guard case .object(let o) = entry else {
      throw .invalidHeader(
        file: f, tensor: "__metadata__", reason: "expected an object, found \(entry.kindName)")
    }
    var out: [String: String] = [:]
    for (k, v) in o {
      guard case .string(let s) = v else {
        throw .invalidHeader(
          file: f, tensor: "__metadata__",
          reason: "value of \"\(k)\" is a \(v.kindName), expected a string")
      }
      out[k] = s
    }
    return out
  }

  static func tensorInfo(_ name: String, _ entry: JSONValue, dataSize: Int, fileName f: String)
    throws(SafeTensorsError) -> TensorInfo
  {
    guard case .object(let o) = entry else {
      throw .invalidHeader(
        file: f, tensor: name, reason: "expected an object, found \(entry.kindName)")
    }
    guard case .string(let dtypeName)? = o["dtype"] else {
      throw .invalidHeader(file: f, tensor: name, reason: "expected a string \"dtype\"")
    }
    guard let dtype = DType(rawValue: dtypeName) else {
      throw .unknownDType(file: f, tensor: name, dtype: dtypeName)
    }
    guard case .array(let shapeValues)? = o["shape"] else {
      throw .invalidHeader(file: f, tensor: name, reason: "expected an array \"shape\"")
    }
    var shape: [Int] = []
    for v in shapeValues {
      guard case .int(let extent) = v, extent >= 0 else {
        throw .invalidHeader(
          file: f, tensor: name,
          reason: "\"shape\" entries must be non-negative integers, found \(JSON.serialize(v))")
      }
      shape.append(extent)
    }
    guard case .array(let offsets)? = o["data_offsets"], offsets.count == 2,
      case .int(let begin) = offsets[0], case .int(let end) = offsets[1]
    else {
      throw .invalidHeader(
        file: f, tensor: name, reason: "expected \"data_offsets\": [begin, end] of two integers")
    }
    // Element and byte counts, overflow-checked (a shape like [2^40, 2^40] must not wrap around).
    var elements = 1
    for extent in shape {
      let (product, overflow) = elements.multipliedReportingOverflow(by: extent)
      guard !overflow else { throw .shapeOverflow(file: f, tensor: name, shape: shape) }
      elements = product
    }
    let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
    guard !overflow else { throw .shapeOverflow(file: f, tensor: name, shape: shape) }
    guard begin >= 0, begin <= end, end <= dataSize else {
      throw .offsetsOutOfRange(file: f, tensor: name, begin: begin, end: end, dataSize: dataSize)
    }
    guard end - begin == bytes else {
      throw .sizeMismatch(file: f, tensor: name, expectedBytes: bytes, actualBytes: end - begin)
    }
    return TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
  }
}

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A whole file mapped read-only (or a copy of an in-memory buffer), alive as long as this object.
/// Immutable, so safe to share; the file must not be truncated while mapped.
final class MappedFile: @unchecked Sendable {
    /// Start of the bytes (64-byte aligned: a mapping starts on a page, a copy is allocated so).
    let base: UnsafeRawPointer
    /// Number of bytes.
    let size: Int
    private let isMapping: Bool

    /// Maps the regular file at `url`; `name` appears in errors.
    init(url: URL, name: String) throws(TorchCheckpointError) {
        // O_NONBLOCK: a FIFO named like a checkpoint must not block; fstat then refuses it.
        let fd = open(url.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .cannotOpen(file: name, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .cannotOpen(file: name, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .cannotOpen(file: name, reason: "not a regular file") }
        size = Int(st.st_size)
        isMapping = size > 0
        if size == 0 {
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
            mapped != UnsafeMutableRawPointer(bitPattern: -1)
        else {
            throw .cannotOpen(file: name, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(mapped)
    }

    /// A copy of `bytes`.
    init(bytes: [UInt8]) {
        let count = bytes.count
        size = count
        isMapping = false
        let copy = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        bytes.withUnsafeBytes { if let b = $0.baseAddress { copy.copyMemory(from: b, byteCount: count) } }
        base = UnsafeRawPointer(copy)
    }

    deinit {
        if isMapping {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    /// All bytes.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }
}

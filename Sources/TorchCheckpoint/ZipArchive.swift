import Inflate

/// One member of a zip archive, as the central directory declares it and its local header confirms.
struct ZipEntry: Sendable, Equatable {
    /// Path inside the archive, e.g. `archive/data/0`.
    var name: String
    /// 0 stored, 8 deflated (nothing else is accepted).
    var method: UInt16
    /// CRC-32 of the uncompressed bytes.
    var crc32: UInt32
    /// Bytes in the file.
    var compressedSize: Int
    /// Bytes once decompressed (equal to `compressedSize` when stored).
    var uncompressedSize: Int
    /// Absolute offset of the local file header.
    var localHeaderOffset: Int
    /// Absolute offset of the (compressed) data, just after the local header.
    var dataOffset: Int

    /// Whether the bytes lie in the file as they are.
    var isStored: Bool { method == 0 }
}

/// The directory of a zip archive (the container `torch.save` writes since PyTorch 1.6), validated whole
/// when read: end of central directory (ZIP64 when present), every central entry, and every local header
/// against its central entry.
///
/// Checks, all against the file's size before anything is allocated: the central directory lies inside the
/// file and holds as many entries as it declares (each at least 46 bytes, so a lying count cannot allocate);
/// names are UTF-8 and unique; each local header sits inside the file before the central directory, has the
/// same name, method and (unless a data descriptor follows) sizes as its central entry; entries do not
/// overlap; encrypted entries and methods other than stored (0) and deflate (8) are refused by name; a
/// deflated entry may declare at most 1032 bytes per compressed byte (deflate's densest ratio), and is only
/// ever inflated into that declared size.
struct ZipArchive: Sendable {
    /// Entries by name.
    let entries: [String: ZipEntry]
    /// Entry names in central-directory order.
    let names: [String]

    /// Deflate's densest ratio: a stream of length n never inflates beyond about 1032 · n bytes.
    static let maxDeflateRatio = 1032

    /// Reads the directory of the `size` bytes at `base`; `f` names the file in errors.
    init(_ bytes: UnsafeRawBufferPointer, fileName f: String) throws(TorchCheckpointError) {
        let r = ByteReader(bytes: bytes)
        let size = bytes.count
        // End of central directory: 22 bytes + a comment of up to 65535, at the very end of the file.
        guard size >= 22 else {
            throw .invalidZip(file: f, offset: 0, reason: "no end of central directory record (file has \(size) bytes)")
        }
        var eocd = -1
        var p = size - 22
        let lowest = max(0, size - 22 - 65535)
        while p >= lowest {
            if r.u32(p) == 0x0605_4b50, p + 22 + Int(r.u16(p + 20)) <= size {
                eocd = p
                break
            }
            p -= 1
        }
        guard eocd >= 0 else {
            throw .invalidZip(file: f, offset: size, reason: "no end of central directory record in the last 64 KiB")
        }
        var count = Int(r.u16(eocd + 10))
        var cdSize = Int(r.u32(eocd + 12))
        var cdOffset = Int(r.u32(eocd + 16))
        var cdLimit = eocd  // the central directory must end before this
        // ZIP64: a locator just before the end record points at the ZIP64 end record (torch always writes them).
        if eocd >= 20, r.u32(eocd - 20) == 0x0706_4b50 {
            let recordOffset = r.u64(eocd - 12)
            // The ZIP64 record (56 bytes) must end before the locator.
            guard eocd >= 20 + 56, recordOffset <= UInt64(eocd - 20 - 56), r.u32(Int(recordOffset)) == 0x0606_4b50
            else {
                throw .invalidZip(
                    file: f, offset: eocd - 20,
                    reason:
                        "ZIP64 locator points at \(recordOffset), where there is no ZIP64 end of central directory record"
                )
            }
            let z = Int(recordOffset)
            let (count64, size64, offset64) = (r.u64(z + 32), r.u64(z + 40), r.u64(z + 48))
            guard count64 <= UInt64(size), size64 <= UInt64(size), offset64 <= UInt64(size) else {
                throw .invalidZip(
                    file: f, offset: z,
                    reason:
                        "ZIP64 central directory (\(count64) entries, \(size64) bytes at \(offset64)) exceeds the file")
            }
            (count, cdSize, cdOffset, cdLimit) = (Int(count64), Int(size64), Int(offset64), z)
        }
        guard cdOffset <= cdLimit, cdSize <= cdLimit - cdOffset else {
            throw .invalidZip(
                file: f, offset: eocd,
                reason: "central directory (\(cdSize) bytes at \(cdOffset)) extends beyond its end record at \(cdLimit)"
            )
        }
        guard count <= cdSize / 46 else {
            throw .invalidZip(
                file: f, offset: cdOffset,
                reason: "central directory of \(cdSize) bytes cannot hold the \(count) entries it declares")
        }
        var entries: [String: ZipEntry] = [:]
        var names: [String] = []
        var at = cdOffset
        let cdEnd = cdOffset + cdSize
        for _ in 0..<count {
            guard at + 46 <= cdEnd, r.u32(at) == 0x0201_4b50 else {
                throw .invalidZip(
                    file: f, offset: at, reason: "expected a central directory entry (signature PK\\1\\2)")
            }
            let flags = r.u16(at + 8)
            let method = r.u16(at + 10)
            let crc = r.u32(at + 16)
            var compressed = UInt64(r.u32(at + 20))
            var uncompressed = UInt64(r.u32(at + 24))
            let nameLength = Int(r.u16(at + 28))
            let extraLength = Int(r.u16(at + 30))
            let commentLength = Int(r.u16(at + 32))
            var local = UInt64(r.u32(at + 42))
            let next = at + 46 + nameLength + extraLength + commentLength
            guard next <= cdEnd else {
                throw .invalidZip(
                    file: f, offset: at, reason: "central directory entry runs past the directory's end at \(cdEnd)")
            }
            guard
                let name = String(
                    validating: UnsafeRawBufferPointer(rebasing: bytes[(at + 46)..<(at + 46 + nameLength)]),
                    as: UTF8.self)
            else {
                throw .invalidZip(file: f, offset: at + 46, reason: "entry name is not UTF-8")
            }
            // ZIP64 extended information (id 1): the 8-byte values of the fields saturated at 0xFFFFFFFF, in order.
            var e = at + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = r.u16(e)
                let length = Int(r.u16(e + 2))
                guard e + 4 + length <= extraEnd else { break }
                if id == 1 {
                    var q = e + 4
                    func take(_ v: inout UInt64) {
                        if v == 0xFFFF_FFFF, q + 8 <= e + 4 + length {
                            v = r.u64(q)
                            q += 8
                        }
                    }
                    take(&uncompressed)
                    take(&compressed)
                    take(&local)
                }
                e += 4 + length
            }
            guard entries[name] == nil else {
                throw .invalidZip(file: f, offset: at, reason: "entry \"\(name)\" appears twice")
            }
            if flags & 0x41 != 0 {
                throw .unsupportedEntry(
                    file: f, entry: name,
                    reason: "is encrypted (flags 0x\(String(flags, radix: 16))); encrypted archives are not supported")
            }
            guard method == 0 || method == 8 else {
                throw .unsupportedEntry(
                    file: f, entry: name,
                    reason: "compression method \(method) is not supported, expected 0 (stored) or 8 (deflate)")
            }
            // Local header: inside the file, before the central directory, agreeing with the central entry.
            guard local <= UInt64(cdOffset), Int(local) + 30 <= cdOffset, r.u32(Int(local)) == 0x0403_4b50 else {
                throw .invalidZip(
                    file: f, offset: at,
                    reason:
                        "entry \"\(name)\": local header offset \(local) is beyond the entries' area (ends at \(cdOffset)) or holds no local header"
                )
            }
            let l = Int(local)
            let localNameLength = Int(r.u16(l + 26))
            let localExtraLength = Int(r.u16(l + 28))
            let dataOffset = l + 30 + localNameLength + localExtraLength
            guard dataOffset <= cdOffset,
                localNameLength == nameLength,
                bytes[(l + 30)..<(l + 30 + nameLength)].elementsEqual(bytes[(at + 46)..<(at + 46 + nameLength)])
            else {
                throw .invalidZip(
                    file: f, offset: l,
                    reason: "entry \"\(name)\": local header names a different entry than the central directory")
            }
            let localFlags = r.u16(l + 6)
            let localMethod = r.u16(l + 8)
            guard localMethod == method, localFlags & 0x41 == flags & 0x41 else {
                throw .invalidZip(
                    file: f, offset: l,
                    reason:
                        "entry \"\(name)\": local header says method \(localMethod), the central directory \(method)")
            }
            if flags & 0x08 == 0 {  // no data descriptor: the local header carries the real sizes
                let lc = r.u32(l + 18)
                let lu = r.u32(l + 22)
                let agree =
                    (lc == 0xFFFF_FFFF || UInt64(lc) == compressed) && (lu == 0xFFFF_FFFF || UInt64(lu) == uncompressed)
                guard agree else {
                    throw .invalidZip(
                        file: f, offset: l,
                        reason:
                            "entry \"\(name)\": local header declares \(lc) / \(lu) bytes, the central directory \(compressed) / \(uncompressed)"
                    )
                }
            }
            guard compressed <= UInt64(cdOffset - dataOffset) else {
                throw .invalidZip(
                    file: f, offset: dataOffset,
                    reason:
                        "entry \"\(name)\": \(compressed) bytes of data run beyond the entries' area (ends at \(cdOffset))"
                )
            }
            if method == 0, compressed != uncompressed {
                throw .invalidZip(
                    file: f, offset: at,
                    reason:
                        "stored entry \"\(name)\" declares \(compressed) bytes in the file but \(uncompressed) uncompressed"
                )
            }
            if method == 8, uncompressed > UInt64(Self.maxDeflateRatio) * max(compressed, 1) {
                throw .invalidZip(
                    file: f, offset: at,
                    reason:
                        "deflated entry \"\(name)\" declares \(uncompressed) bytes from \(compressed) (more than deflate's 1032:1 allows)"
                )
            }
            entries[name] = ZipEntry(
                name: name, method: method, crc32: crc, compressedSize: Int(compressed),
                uncompressedSize: Int(uncompressed), localHeaderOffset: l, dataOffset: dataOffset)
            names.append(name)
            at = next
        }
        // No two entries share bytes: sort by local header and compare neighbours.
        let sorted = entries.values.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.localHeaderOffset < a.dataOffset + a.compressedSize {
            throw .invalidZip(
                file: f, offset: b.localHeaderOffset,
                reason:
                    "entry \"\(b.name)\" overlaps entry \"\(a.name)\" (its local header lies inside the other's bytes)")
        }
        self.entries = entries
        self.names = names
    }

    /// The bytes of a stored entry, as they lie in the file.
    static func storedBytes(_ entry: ZipEntry, in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        precondition(entry.isStored)
        return UnsafeRawBufferPointer(rebasing: bytes[entry.dataOffset..<(entry.dataOffset + entry.compressedSize)])
    }

    /// A deflated entry inflated into exactly its declared size, its CRC-32 checked.
    static func inflated(_ entry: ZipEntry, in bytes: UnsafeRawBufferPointer, fileName f: String)
        throws(TorchCheckpointError) -> [UInt8]
    {
        let compressed = [UInt8](
            UnsafeRawBufferPointer(rebasing: bytes[entry.dataOffset..<(entry.dataOffset + entry.compressedSize)]))
        let out: [UInt8]
        do {
            out = try Inflate.inflate(compressed, maxOutputBytes: entry.uncompressedSize)
        } catch {
            throw .decompressionFailed(
                file: f, entry: entry.name,
                reason: "cannot inflate to its declared \(entry.uncompressedSize) bytes: \(error)")
        }
        guard out.count == entry.uncompressedSize else {
            throw .decompressionFailed(
                file: f, entry: entry.name, reason: "inflates to \(out.count) bytes, declared \(entry.uncompressedSize)"
            )
        }
        let crc = Checksum.crc32(out)
        guard crc == entry.crc32 else {
            throw .decompressionFailed(
                file: f, entry: entry.name,
                reason:
                    "CRC-32 0x\(String(crc, radix: 16)) of the inflated bytes differs from the declared 0x\(String(entry.crc32, radix: 16))"
            )
        }
        return out
    }
}

/// Little-endian reads at absolute offsets; callers check bounds first (reads past the end return 0 bytes).
struct ByteReader {
    let bytes: UnsafeRawBufferPointer

    func u16(_ at: Int) -> UInt16 {
        at >= 0 && at + 2 <= bytes.count
            ? UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) : 0
    }
    func u32(_ at: Int) -> UInt32 {
        at >= 0 && at + 4 <= bytes.count
            ? UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) : 0
    }
    func u64(_ at: Int) -> UInt64 {
        at >= 0 && at + 8 <= bytes.count
            ? UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) : 0
    }
}

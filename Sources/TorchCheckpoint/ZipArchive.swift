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

    /// Reads and validates the whole directory of the archive in `bytes`; `f` names the file in errors.
    ///
    /// Finds the end record (and ZIP64 end record), then reads every central entry in order, refusing a
    /// duplicate name before anything else about that entry is checked, resolves each entry's local header and
    /// data range, and finally checks that no two entries share bytes.
    init(_ bytes: UnsafeRawBufferPointer, fileName f: String) throws(TorchCheckpointError) {
        let r = ByteReader(bytes: bytes)
        let eocd = try Self.findEndRecord(r, fileName: f)
        let directory = try Self.centralDirectory(r, endRecord: eocd, fileName: f)
        var entries: [String: ZipEntry] = [:]
        var names: [String] = []
        var at = directory.offset
        for _ in 0..<directory.count {
            let central = try Self.centralEntry(r, at: at, directoryEnd: directory.end, fileName: f)
            guard entries[central.name] == nil else {
                throw .invalidZip(file: f, offset: at, reason: "entry \"\(central.name)\" appears twice")
            }
            entries[central.name] = try Self.resolvedEntry(central, r, entriesEnd: directory.offset, fileName: f)
            names.append(central.name)
            at = central.next
        }
        try Self.checkNoOverlap(entries, fileName: f)
        self.entries = entries
        self.names = names
    }

    /// Where the central directory lies: `count` entries in the `size` bytes from `offset`.
    private struct CentralDirectory {
        var count: Int
        var offset: Int
        var size: Int
        /// Offset just past the directory's last byte.
        var end: Int { offset + size }
    }

    /// One central directory entry's fields, sizes and local header offset already widened by its ZIP64
    /// extended information, before its local header has been consulted.
    private struct CentralEntry {
        /// Offset of the entry (its 46 fixed bytes, then the name at `at + 46`).
        var at: Int
        var name: String
        var nameLength: Int
        var flags: UInt16
        var method: UInt16
        var crc: UInt32
        var compressed: UInt64
        var uncompressed: UInt64
        /// Offset of the local header, as declared.
        var local: UInt64
        /// Offset of the following entry, past this one's name, extra field and comment.
        var next: Int
    }

    /// Finds the end of central directory record (22 bytes, signature PK\5\6, then a comment whose u16 length
    /// is at +20), searching backwards from `size - 22` over the last 22 + 65535 bytes, and returns its offset.
    /// Bounds: the file holds at least 22 bytes; a candidate's 22 bytes plus its declared comment end within
    /// the file.
    private static func findEndRecord(_ r: ByteReader, fileName f: String) throws(TorchCheckpointError) -> Int {
        let size = r.bytes.count
        // End of central directory: 22 bytes + a comment of up to 65535, at the very end of the file.
        guard size >= 22 else {
            throw .invalidZip(file: f, offset: 0, reason: "no end of central directory record (file has \(size) bytes)")
        }
        var p = size - 22
        let lowest = max(0, size - 22 - 65535)
        while p >= lowest {
            if r.u32(p) == 0x0605_4b50, p + 22 + Int(r.u16(p + 20)) <= size {
                return p
            }
            p -= 1
        }
        throw .invalidZip(file: f, offset: size, reason: "no end of central directory record in the last 64 KiB")
    }

    /// Reads where the central directory lies from the end record at `eocd` (entry count u16 at +10, size u32
    /// at +12, offset u32 at +16), or from the ZIP64 end record when a ZIP64 locator precedes the end record.
    /// Bounds: the directory ends before the record that declares it (the end record, or the ZIP64 end record),
    /// and it is large enough to hold its declared entries at 46 bytes each (so a lying count cannot allocate).
    private static func centralDirectory(_ r: ByteReader, endRecord eocd: Int, fileName f: String)
        throws(TorchCheckpointError) -> CentralDirectory
    {
        var count = Int(r.u16(eocd + 10))
        var cdSize = Int(r.u32(eocd + 12))
        var cdOffset = Int(r.u32(eocd + 16))
        var cdLimit = eocd  // the central directory must end before this
        if let zip64 = try zip64EndRecord(r, endRecord: eocd, fileName: f) {
            (count, cdSize, cdOffset, cdLimit) = zip64
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
        return CentralDirectory(count: count, offset: cdOffset, size: cdSize)
    }

    /// Reads the ZIP64 end of central directory record, when a ZIP64 locator (20 bytes, signature PK\6\7, the
    /// record's u64 offset at +8) sits just before the end record at `eocd`; nil when there is no locator.
    /// Returns the record's entry count (u64 at +32), directory size (+40) and directory offset (+48), and the
    /// record's own offset, before which the directory must end.
    /// Bounds: the 56-byte record ends before the locator and starts with PK\6\6; its count, size and offset
    /// each do not exceed the file's size (so they convert to `Int`).
    private static func zip64EndRecord(_ r: ByteReader, endRecord eocd: Int, fileName f: String)
        throws(TorchCheckpointError) -> (count: Int, size: Int, offset: Int, limit: Int)?
    {
        // ZIP64: a locator just before the end record points at the ZIP64 end record (torch always writes them).
        guard eocd >= 20, r.u32(eocd - 20) == 0x0706_4b50 else { return nil }
        let size = r.bytes.count
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
        return (Int(count64), Int(size64), Int(offset64), z)
    }

    /// Reads the central directory entry at `at`: 46 fixed bytes (signature PK\1\2, flags u16 at +8, method
    /// +10, CRC-32 u32 +16, compressed size +20, uncompressed size +24, name/extra/comment lengths u16 at
    /// +28/+30/+32, local header offset u32 +42), then the name, the extra field and the comment.
    /// Bounds: the fixed bytes, and then the whole entry with its name, extra field and comment, end within the
    /// directory (before `cdEnd`); the name is UTF-8.
    private static func centralEntry(_ r: ByteReader, at: Int, directoryEnd cdEnd: Int, fileName f: String)
        throws(TorchCheckpointError) -> CentralEntry
    {
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
                validating: UnsafeRawBufferPointer(rebasing: r.bytes[(at + 46)..<(at + 46 + nameLength)]),
                as: UTF8.self)
        else {
            throw .invalidZip(file: f, offset: at + 46, reason: "entry name is not UTF-8")
        }
        applyZip64Extra(
            r, from: at + 46 + nameLength, length: extraLength,
            uncompressed: &uncompressed, compressed: &compressed, localHeaderOffset: &local)
        return CentralEntry(
            at: at, name: name, nameLength: nameLength, flags: flags, method: method, crc: crc,
            compressed: compressed, uncompressed: uncompressed, local: local, next: next)
    }

    /// Walks the central entry's extra field (`length` bytes from `start`: blocks of id u16, length u16, data)
    /// and, in its ZIP64 extended information (id 1), replaces each of the uncompressed size, compressed size
    /// and local header offset that is saturated at 0xFFFFFFFF by the next 8-byte value, in that order.
    /// Bounds: stops at the first block that runs past the extra field; takes a value only while 8 bytes remain
    /// in the block. Never throws: a malformed extra field leaves the values as they are.
    private static func applyZip64Extra(
        _ r: ByteReader, from start: Int, length extraLength: Int,
        uncompressed: inout UInt64, compressed: inout UInt64, localHeaderOffset local: inout UInt64
    ) {
        // ZIP64 extended information (id 1): the 8-byte values of the fields saturated at 0xFFFFFFFF, in order.
        var e = start
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
    }

    /// The entry a central entry describes, once its flags, method, local header and sizes are checked.
    /// Refuses encrypted entries (flags 0x41) and methods other than 0 and 8 by name; resolves the local header
    /// and data range (see `localDataOffset`); then checks that a stored entry's two sizes agree and that a
    /// deflated entry declares at most `maxDeflateRatio` bytes per compressed byte.
    private static func resolvedEntry(
        _ c: CentralEntry, _ r: ByteReader, entriesEnd cdOffset: Int, fileName f: String
    ) throws(TorchCheckpointError) -> ZipEntry {
        if c.flags & 0x41 != 0 {
            throw .unsupportedEntry(
                file: f, entry: c.name,
                reason: "is encrypted (flags 0x\(String(c.flags, radix: 16))); encrypted archives are not supported")
        }
        guard c.method == 0 || c.method == 8 else {
            throw .unsupportedEntry(
                file: f, entry: c.name,
                reason: "compression method \(c.method) is not supported, expected 0 (stored) or 8 (deflate)")
        }
        let dataOffset = try localDataOffset(c, r, entriesEnd: cdOffset, fileName: f)
        if c.method == 0, c.compressed != c.uncompressed {
            throw .invalidZip(
                file: f, offset: c.at,
                reason:
                    "stored entry \"\(c.name)\" declares \(c.compressed) bytes in the file but \(c.uncompressed) uncompressed"
            )
        }
        if c.method == 8, c.uncompressed > UInt64(Self.maxDeflateRatio) * max(c.compressed, 1) {
            throw .invalidZip(
                file: f, offset: c.at,
                reason:
                    "deflated entry \"\(c.name)\" declares \(c.uncompressed) bytes from \(c.compressed) (more than deflate's 1032:1 allows)"
            )
        }
        return ZipEntry(
            name: c.name, method: c.method, crc32: c.crc, compressedSize: Int(c.compressed),
            uncompressedSize: Int(c.uncompressed), localHeaderOffset: Int(c.local), dataOffset: dataOffset)
    }

    /// Reads the local header of central entry `c` (30 fixed bytes, signature PK\3\4, flags u16 at +6, method
    /// +8, compressed size u32 +18, uncompressed size +22, name/extra lengths u16 at +26/+28, then the name and
    /// the extra field) and returns the offset of the entry's data, just after it.
    /// Bounds, all against `cdOffset`, where the entries' area ends: the fixed bytes, then the name and extra
    /// field, then the declared compressed data, each end within it. The name, the method and the encryption
    /// flags agree with the central entry, and so do the sizes unless a data descriptor follows (flag 0x08) or
    /// the local size is saturated at 0xFFFFFFFF.
    private static func localDataOffset(
        _ c: CentralEntry, _ r: ByteReader, entriesEnd cdOffset: Int, fileName f: String
    ) throws(TorchCheckpointError) -> Int {
        let (name, local, nameLength) = (c.name, c.local, c.nameLength)
        // Local header: inside the file, before the central directory, agreeing with the central entry.
        guard local <= UInt64(cdOffset), Int(local) + 30 <= cdOffset, r.u32(Int(local)) == 0x0403_4b50 else {
            throw .invalidZip(
                file: f, offset: c.at,
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
            r.bytes[(l + 30)..<(l + 30 + nameLength)].elementsEqual(r.bytes[(c.at + 46)..<(c.at + 46 + nameLength)])
        else {
            throw .invalidZip(
                file: f, offset: l,
                reason: "entry \"\(name)\": local header names a different entry than the central directory")
        }
        let localFlags = r.u16(l + 6)
        let localMethod = r.u16(l + 8)
        guard localMethod == c.method, localFlags & 0x41 == c.flags & 0x41 else {
            throw .invalidZip(
                file: f, offset: l,
                reason:
                    "entry \"\(name)\": local header says method \(localMethod), the central directory \(c.method)")
        }
        if c.flags & 0x08 == 0 {  // no data descriptor: the local header carries the real sizes
            let lc = r.u32(l + 18)
            let lu = r.u32(l + 22)
            let agree =
                (lc == 0xFFFF_FFFF || UInt64(lc) == c.compressed) && (lu == 0xFFFF_FFFF || UInt64(lu) == c.uncompressed)
            guard agree else {
                throw .invalidZip(
                    file: f, offset: l,
                    reason:
                        "entry \"\(name)\": local header declares \(lc) / \(lu) bytes, the central directory \(c.compressed) / \(c.uncompressed)"
                )
            }
        }
        guard c.compressed <= UInt64(cdOffset - dataOffset) else {
            throw .invalidZip(
                file: f, offset: dataOffset,
                reason:
                    "entry \"\(name)\": \(c.compressed) bytes of data run beyond the entries' area (ends at \(cdOffset))"
            )
        }
        return dataOffset
    }

    /// Checks that no two entries share bytes: sorted by local header offset, each entry's local header starts
    /// at or after the end of the previous entry's data (`dataOffset + compressedSize`).
    private static func checkNoOverlap(_ entries: [String: ZipEntry], fileName f: String)
        throws(TorchCheckpointError)
    {
        // No two entries share bytes: sort by local header and compare neighbours.
        let sorted = entries.values.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.localHeaderOffset < a.dataOffset + a.compressedSize {
            throw .invalidZip(
                file: f, offset: b.localHeaderOffset,
                reason:
                    "entry \"\(b.name)\" overlaps entry \"\(a.name)\" (its local header lies inside the other's bytes)")
        }
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

/// The two checksums of the zlib family: CRC-32 (gzip trailers, PNG chunks) and Adler-32 (zlib trailers).
///
/// Both take a running value, so checksumming `a + b` equals checksumming `b` with `initial` set to the
/// checksum of `a` — the same convention as Python's `zlib.crc32(data, value)` / `zlib.adler32(data, value)`.
public enum Checksum {
    /// The CRC-32 (ISO-HDLC polynomial 0xEDB88320, reflected, as zlib/gzip/PNG use it) of `bytes`,
    /// continuing from `initial` (0 for a fresh checksum).
    public static func crc32<S: Sequence>(_ bytes: S, initial: UInt32 = 0) -> UInt32 where S.Element == UInt8 {
        if let r = bytes.withContiguousStorageIfAvailable({ crc32(UnsafeRawBufferPointer($0), initial: initial) }) {
            return r
        }
        var c = ~initial
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    /// The CRC-32 of raw memory, continuing from `initial`.
    public static func crc32(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        // Table-driven, one byte per step: fast enough for PNG chunks and gzip members.
        var c = ~initial
        crcTable.withUnsafeBufferPointer { table in
            for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }

    /// The Adler-32 of `bytes`, continuing from `initial` (1 for a fresh checksum).
    public static func adler32<S: Sequence>(_ bytes: S, initial: UInt32 = 1) -> UInt32 where S.Element == UInt8 {
        if let r = bytes.withContiguousStorageIfAvailable({ adler32(UnsafeRawBufferPointer($0), initial: initial) }) {
            return r
        }
        let copy = Array(bytes)
        return copy.withUnsafeBytes { adler32($0, initial: initial) }
    }

    /// The Adler-32 of raw memory, continuing from `initial`.
    public static func adler32(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 1) -> UInt32 {
        // Sums are reduced modulo 65521 every 5552 bytes, the largest run for which `b` cannot overflow
        // 32 bits (zlib's NMAX).
        let mod: UInt32 = 65521
        var a = initial & 0xFFFF
        var b = initial >> 16
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + 5552)
            while i < end {
                a &+= UInt32(bytes[i])
                b &+= a
                i += 1
            }
            a %= mod
            b %= mod
        }
        return (b << 16) | a
    }

    /// CRC-32 remainders of each byte value.
    private static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
}

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
        for b in bytes { c = crcTables[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    /// The CRC-32 of raw memory, continuing from `initial`.
    public static func crc32(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        // Slicing-by-8: eight table lookups fold 8 bytes per step (tables[k][b] is the CRC of byte b
        // followed by k zero bytes), then one byte per step for the tail.
        var c = ~initial
        let count = bytes.count
        var i = 0
        crcTables.withUnsafeBufferPointer { t in
            while i + 8 <= count {
                let lo = c ^ (UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
                let hi = UInt32(bytes[i + 4]) | UInt32(bytes[i + 5]) << 8 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 24
                c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int(lo >> 8 & 0xFF)]
                    ^ t[5 * 256 + Int(lo >> 16 & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int(hi >> 8 & 0xFF)]
                    ^ t[1 * 256 + Int(hi >> 16 & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < count {
                c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
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

    /// `[8 × 256]`: table k holds the CRC-32 of each byte value followed by k zero bytes (k = 0 is the
    /// classic one-byte table).
    private static let crcTables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[n] = c
        }
        for k in 1..<8 {
            for n in 0..<256 { t[k * 256 + n] = t[(k - 1) * 256 + n] >> 8 ^ t[Int(t[(k - 1) * 256 + n] & 0xFF)] }
        }
        return t
    }()
}

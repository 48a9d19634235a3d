/// Decompression of deflate (RFC 1951) data, raw or inside a zlib (RFC 1950) or gzip (RFC 1952) wrapper.
///
/// Built for untrusted input: every read is bounds-checked, output is capped by `maxOutputBytes`, every
/// loop consumes input or output, and every checksum the format carries is verified.
/// Acceptance follows zlib: a stream zlib rejects is rejected here too.
public enum Inflate {
    /// Decodes a raw deflate stream (no header or trailer). Bytes after the final block are ignored.
    /// - Returns: the decompressed bytes.
    /// - Throws: `InflateError` for corrupt or truncated data, or when the output would exceed `maxOutputBytes`.
    public static func inflate(_ data: [UInt8], maxOutputBytes: Int) throws(InflateError) -> [UInt8] {
        let out = Output(limit: maxOutputBytes, expected: data.count)
        _ = try inflateStream(data, start: 0, into: out)
        return out.array()
    }

    /// Decodes a zlib stream: 2-byte header (CM 8, no preset dictionary), deflate data, big-endian Adler-32
    /// of the output. Bytes after the trailer are ignored (as zlib and Pillow do).
    public static func zlibDecompress(_ data: [UInt8], maxOutputBytes: Int) throws(InflateError) -> [UInt8] {
        guard data.count >= 2 else { throw .truncatedInput(offset: data.count) }
        let cmf = Int(data[0]), flg = Int(data[1])
        guard cmf & 15 == 8 else {
            throw .badHeader(offset: 0, detail: "zlib compression method \(cmf & 15), expected 8 (deflate)")
        }
        guard cmf >> 4 <= 7 else {
            throw .badHeader(offset: 0, detail: "zlib window size code \(cmf >> 4), expected at most 7")
        }
        guard (cmf << 8 | flg) % 31 == 0 else {
            throw .badHeader(offset: 1, detail: "zlib header check bits fail (CMF*256+FLG not a multiple of 31)")
        }
        guard flg & 0x20 == 0 else {
            throw .badHeader(offset: 1, detail: "zlib stream needs a preset dictionary, which is not supported")
        }
        let out = Output(limit: maxOutputBytes, expected: data.count)
        let end = try inflateStream(data, start: 2, into: out)
        guard end + 4 <= data.count else { throw .truncatedInput(offset: data.count) }
        let stored = readUInt32(data, end, bigEndian: true)
        let computed = Checksum.adler32(out.bytes(from: 0))
        guard stored == computed else {
            throw .checksumMismatch(kind: "Adler-32", offset: end, stored: stored, computed: computed)
        }
        return out.array()
    }

    /// Decodes a gzip file: one or more members, each with its CRC-32 and ISIZE verified and the optional
    /// header CRC-16 checked. Zero bytes between or after members are skipped (as Python's `gzip` does);
    /// any other trailing byte must start another member.
    public static func gzipDecompress(_ data: [UInt8], maxOutputBytes: Int) throws(InflateError) -> [UInt8] {
        let out = Output(limit: maxOutputBytes, expected: data.count)
        var pos = 0
        repeat {
            let bodyStart = try parseGzipHeader(data, at: pos)
            let memberStart = out.count
            let end = try inflateStream(data, start: bodyStart, into: out)
            guard end + 8 <= data.count else { throw .truncatedInput(offset: data.count) }
            let storedCRC = readUInt32(data, end, bigEndian: false)
            let crc = Checksum.crc32(out.bytes(from: memberStart))
            guard storedCRC == crc else {
                throw .checksumMismatch(kind: "CRC-32", offset: end, stored: storedCRC, computed: crc)
            }
            let storedSize = readUInt32(data, end + 4, bigEndian: false)
            let size = UInt32(truncatingIfNeeded: out.count - memberStart)
            guard storedSize == size else {
                throw .checksumMismatch(kind: "ISIZE", offset: end + 4, stored: storedSize, computed: size)
            }
            pos = end + 8
            while pos < data.count && data[pos] == 0 { pos += 1 }
        } while pos < data.count
        return out.array()
    }

    // MARK: - gzip header

    /// Validates the gzip member header at `start` and returns the offset of its deflate data.
    private static func parseGzipHeader(_ data: [UInt8], at start: Int) throws(InflateError) -> Int {
        let magic: [UInt8] = [0x1F, 0x8B]
        for i in 0..<2 where start + i < data.count && data[start + i] != magic[i] {
            throw .badHeader(offset: start, detail: "not a gzip member (expected magic bytes 1f 8b)")
        }
        guard start + 10 <= data.count else { throw .truncatedInput(offset: data.count) }
        guard data[start + 2] == 8 else {
            throw .badHeader(offset: start + 2, detail: "gzip compression method \(data[start + 2]), expected 8 (deflate)")
        }
        let flags = data[start + 3]
        guard flags & 0xE0 == 0 else {
            throw .badHeader(offset: start + 3, detail: "gzip reserved flag bits set (flags 0x\(String(flags, radix: 16)))")
        }
        var pos = start + 10
        if flags & 0x04 != 0 {  // FEXTRA: 2-byte length, then that many bytes
            guard pos + 2 <= data.count else { throw .truncatedInput(offset: data.count) }
            let xlen = Int(data[pos]) | Int(data[pos + 1]) << 8
            pos += 2
            guard pos + xlen <= data.count else { throw .truncatedInput(offset: data.count) }
            pos += xlen
        }
        for flag in [UInt8(0x08), 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT: zero-terminated
            while pos < data.count && data[pos] != 0 { pos += 1 }
            guard pos < data.count else { throw .truncatedInput(offset: data.count) }
            pos += 1
        }
        if flags & 0x02 != 0 {  // FHCRC: low 16 bits of the CRC-32 of the header so far
            guard pos + 2 <= data.count else { throw .truncatedInput(offset: data.count) }
            let stored = UInt32(data[pos]) | UInt32(data[pos + 1]) << 8
            let computed = Checksum.crc32(data[start..<pos]) & 0xFFFF
            guard stored == computed else {
                throw .checksumMismatch(kind: "gzip header CRC-16", offset: pos, stored: stored, computed: computed)
            }
            pos += 2
        }
        return pos
    }

    /// Reads 4 bytes at `offset` (the caller checked they exist).
    private static func readUInt32(_ data: [UInt8], _ offset: Int, bigEndian: Bool) -> UInt32 {
        let b = (0..<4).map { UInt32(data[offset + $0]) }
        return bigEndian ? b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3] : b[3] << 24 | b[2] << 16 | b[1] << 8 | b[0]
    }

    // MARK: - deflate

    /// The decompressed bytes so far, in memory managed here so the hot loop can write through a pointer;
    /// never more than `limit` bytes are allocated.
    final class Output {
        /// Start of the allocation; bytes `0..<count` are valid.
        private(set) var base: UnsafeMutablePointer<UInt8>
        private(set) var capacity: Int
        var count = 0
        let limit: Int

        init(limit: Int, expected: Int) {
            self.limit = max(0, limit)
            capacity = min(self.limit, max(4096, expected.multipliedReportingOverflow(by: 4).partialValue))
            base = .allocate(capacity: max(1, capacity))
        }

        deinit { base.deallocate() }

        /// Makes room for `n` more bytes, doubling the allocation as needed; throws past the limit.
        func reserve(_ n: Int) throws(InflateError) {
            guard n > capacity - count else { return }
            guard n <= limit - count else { throw .outputTooLarge(limit: limit) }
            let newCapacity = min(limit, max(count + n, capacity.multipliedReportingOverflow(by: 2).partialValue))
            let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, newCapacity))
            newBase.update(from: base, count: count)
            base.deallocate()
            base = newBase
            capacity = newCapacity
        }

        /// The valid bytes from `start` on, for checksumming.
        func bytes(from start: Int) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: base + start, count: count - start)
        }

        /// A copy of the valid bytes.
        func array() -> [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }
    }

    /// The order in which a dynamic block lists code-length code lengths.
    private static let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// Decodes the deflate blocks starting at byte `start` into `out`, through the final block.
    /// - Returns: the offset of the first byte after the final block (rounded up to a whole byte).
    static func inflateStream(_ data: [UInt8], start: Int, into out: Output) throws(InflateError) -> Int {
        var reader = BitReader(data, start: start)
        var isFinal = false
        while !isFinal {
            let blockStart = reader.byteOffset
            isFinal = try reader.bits(1) == 1
            switch try reader.bits(2) {
            case 0: try copyStoredBlock(&reader, into: out)
            case 1: try decodeBlock(&reader, .fixedLiteralLength, .fixedDistance, into: out)
            case 2:
                let (lit, dist) = try readDynamicTables(&reader)
                try decodeBlock(&reader, lit, dist, into: out)
            default: throw .badBlockType(offset: blockStart)
            }
        }
        reader.alignToByte()
        return reader.position
    }

    /// Copies a stored block (type 0): byte-aligned LEN, NLEN, then LEN literal bytes.
    private static func copyStoredBlock(_ reader: inout BitReader, into out: Output) throws(InflateError) {
        reader.alignToByte()
        let p = reader.position
        let data = reader.data
        guard p + 4 <= data.count else { throw .truncatedInput(offset: data.count) }
        let len = Int(data[p]) | Int(data[p + 1]) << 8
        let nlen = Int(data[p + 2]) | Int(data[p + 3]) << 8
        guard len == nlen ^ 0xFFFF else { throw .badStoredLength(offset: p, length: len, complement: nlen) }
        guard p + 4 + len <= data.count else { throw .truncatedInput(offset: data.count) }
        try out.reserve(len)
        data.withUnsafeBufferPointer { src in
            for k in 0..<len { out.base[out.count + k] = src[p + 4 + k] }
        }
        out.count += len
        reader.skipBytes(4 + len)
    }

    /// Reads a dynamic block's code-length code and the literal/length and distance code lengths it
    /// encodes (RFC 1951 §3.2.7), validating them as zlib does.
    private static func readDynamicTables(_ reader: inout BitReader) throws(InflateError) -> (Huffman, Huffman) {
        let headerOffset = reader.byteOffset
        let literalCount = try reader.bits(5) + 257
        let distanceCount = try reader.bits(5) + 1
        let codeLengthCount = try reader.bits(4) + 4
        guard literalCount <= 286 && distanceCount <= 30 else {
            throw .badCodeLengths(offset: headerOffset,
                                  detail: "\(literalCount) literal/length and \(distanceCount) distance codes, at most 286 and 30 allowed")
        }
        var codeLengthLengths = [UInt8](repeating: 0, count: 19)
        for i in 0..<codeLengthCount { codeLengthLengths[codeLengthOrder[i]] = UInt8(try reader.bits(3)) }
        guard Huffman.shape(of: codeLengthLengths[...]).shape == .complete else {
            throw .badCodeLengths(offset: headerOffset, detail: "the code-length code is incomplete or over-subscribed")
        }
        let codeLengthCode = Huffman(lengths: codeLengthLengths[...])

        let total = literalCount + distanceCount
        var lengths = [UInt8](repeating: 0, count: total)
        var i = 0
        while i < total {
            let at = reader.byteOffset
            let symbol = try codeLengthCode.decode(&reader)
            if symbol < 16 {
                lengths[i] = UInt8(symbol)
                i += 1
                continue
            }
            let value: UInt8
            let repeatCount: Int
            switch symbol {
            case 16:
                guard i > 0 else { throw .badCodeLengths(offset: at, detail: "repeat code 16 with no previous length") }
                value = lengths[i - 1]
                repeatCount = 3 + (try reader.bits(2))
            case 17:
                value = 0
                repeatCount = 3 + (try reader.bits(3))
            default:
                value = 0
                repeatCount = 11 + (try reader.bits(7))
            }
            guard i + repeatCount <= total else {
                throw .badCodeLengths(offset: at, detail: "a repeat code runs past the \(total) code lengths")
            }
            for j in i..<(i + repeatCount) { lengths[j] = value }
            i += repeatCount
        }
        guard lengths[256] != 0 else {
            throw .badCodeLengths(offset: headerOffset, detail: "the end-of-block code has no length")
        }
        let lit = lengths[0..<literalCount]
        let dist = lengths[literalCount...]
        for (name, set) in [("literal/length", lit), ("distance", dist)] {
            let (shape, longest) = Huffman.shape(of: set)
            // zlib accepts an incomplete code only when it is a single one-bit code.
            if shape == .oversubscribed || (shape == .incomplete && longest != 1) {
                throw .badCodeLengths(offset: headerOffset, detail: "the \(name) code is over-subscribed or incomplete")
            }
        }
        return (Huffman(lengths: lit), Huffman(lengths: dist))
    }

    /// Decodes one Huffman-coded block until its end-of-block symbol.
    ///
    /// The hot loop of decompression: one table lookup per literal, two plus extra bits per match, bytes
    /// written through a pointer (`out.reserve` bounds every write). Matches may overlap their own output
    /// (distance < length), so they are copied forward byte by byte.
    private static func decodeBlock(_ reader: inout BitReader, _ lit: Huffman, _ dist: Huffman,
                                    into out: Output) throws(InflateError) {
        // The output cursor lives in locals; it is written back before every `reserve` and on return.
        var n = out.count
        var capacity = out.capacity
        var p = out.base
        while true {
            let atBit = reader.position &* 8 &- reader.bitCount  // for error messages only
            let symbol = try lit.decode(&reader)
            if symbol < 256 {
                if n == capacity {
                    out.count = n
                    try out.reserve(1)
                    (p, capacity) = (out.base, out.capacity)
                }
                p[n] = UInt8(truncatingIfNeeded: symbol)
                n += 1
                continue
            }
            if symbol == 256 {
                out.count = n
                return
            }
            let lengthSymbol = symbol - 257
            guard lengthSymbol < 29 else { throw .badHuffmanCode(offset: atBit / 8) }
            let length =
                DeflateTables.lengthBase[lengthSymbol] + (try reader.bits(DeflateTables.lengthExtra[lengthSymbol]))
            let distanceSymbol = try dist.decode(&reader)
            guard distanceSymbol < 30 else { throw .badHuffmanCode(offset: atBit / 8) }
            let distance =
                DeflateTables.distanceBase[distanceSymbol]
                + (try reader.bits(DeflateTables.distanceExtra[distanceSymbol]))
            guard distance <= n else {
                throw .distanceTooFarBack(offset: atBit / 8, distance: distance, available: n)
            }
            if length > capacity - n {
                out.count = n
                try out.reserve(length)
                (p, capacity) = (out.base, out.capacity)
            }
            // Forward byte copy: when distance < length the source overlaps bytes written by this loop,
            // which is how LZ77 repeats a short pattern. Indices are in bounds: distance ≤ n and
            // n + length ≤ capacity were checked above.
            let dst = p + n, src = p + (n - distance)
            var k = 0
            while k < length {
                dst[k] = src[k]
                k &+= 1
            }
            n += length
        }
    }
}

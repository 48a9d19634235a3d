/// A canonical Huffman table from a DHT segment, prepared for fast decoding.
///
/// Codes of up to `lookupBits` bits are decoded with one table look-up; longer codes (rare) walk the
/// canonical `maxCode` list, as ITU T.81 Annex F.2.2.3 describes.
struct JPEGHuffmanTable: Sendable {
    /// Bits resolved by the single look-up.
    static let lookupBits = 9
    /// `[1 << lookupBits]`: `(codeLength << 8) | symbol`, or 0 when the code is longer than `lookupBits`.
    var lookup: [UInt16]
    /// `[18]`: the largest code of each length 1…16 (−1 when there is none); index 17 is a sentinel.
    var maxCode: [Int32]
    /// `[17]`: `symbolIndex = code + valueOffset[length]` for codes of that length.
    var valueOffset: [Int32]
    /// The symbols in code order.
    var values: [UInt8]
    /// `[1 << lookupBits]`, for AC tables: when a code and its magnitude bits together fit in
    /// `lookupBits`, the decoded coefficient `(value << 16) | (run << 8) | totalBits`; else 0.
    var fastAC: [Int32] = []

    /// Builds the table from the 16 code-length counts and the symbols of a DHT segment.
    /// Returns nil when the counts do not describe a valid prefix code (libjpeg's `JERR_BAD_HUFF_TABLE`).
    init?(counts: [Int], values: [UInt8]) {
        guard counts.count == 16, counts.reduce(0, +) == values.count, values.count <= 256 else {
            return nil
        }
        self.values = values
        lookup = [UInt16](repeating: 0, count: 1 << Self.lookupBits)
        maxCode = [Int32](repeating: -1, count: 18)
        valueOffset = [Int32](repeating: 0, count: 17)
        maxCode[17] = Int32.max
        var code = 0
        var index = 0
        for length in 1...16 {
            let n = counts[length - 1]
            if n > 0 {
                valueOffset[length] = Int32(index - code)
                for _ in 0..<n {
                    guard code < (1 << length) else { return nil }
                    if length <= Self.lookupBits {
                        // Every 9-bit prefix starting with this code maps to it.
                        let shift = Self.lookupBits - length
                        let first = code << shift
                        for p in first..<(first + (1 << shift)) {
                            lookup[p] = UInt16(length << 8) | UInt16(values[index])
                        }
                    }
                    code += 1
                    index += 1
                }
                maxCode[length] = Int32(code - 1)
            }
            // One past the last code must still fit in `length` bits: no code may be all ones
            // (libjpeg's JERR_BAD_HUFF_TABLE check).
            if code >= (1 << length) { return nil }
            code <<= 1
        }
        fastAC = [Int32](repeating: 0, count: 1 << Self.lookupBits)
        for peek in 0..<(1 << Self.lookupBits) {
            let entry = Int(lookup[peek])
            let length = entry >> 8
            let run = (entry & 0xFF) >> 4
            let size = entry & 15
            guard entry != 0, size != 0, length + size <= Self.lookupBits else { continue }
            let raw = (peek >> (Self.lookupBits - length - size)) & ((1 << size) - 1)
            let value = raw < (1 << (size - 1)) ? raw - (1 << size) + 1 : raw
            fastAC[peek] = Int32(value) << 16 | Int32(run << 8) | Int32(length + size)
        }
    }
}

/// Reads the entropy-coded segment of a scan bit by bit, MSB first.
///
/// Follows libjpeg-turbo's rules: `FF 00` is a data byte `FF`; any run of `FF` fill bytes is skipped;
/// on reaching a marker the reader stops consuming input and supplies zero bits (libjpeg warns and
/// does the same); reaching the end of the file instead is a `truncated` error (Pillow, which feeds
/// libjpeg from its own buffer, raises "image file is truncated" there).
struct JPEGBitReader {
    /// The whole file.
    let data: UnsafeBufferPointer<UInt8>
    /// The next byte to read.
    var position: Int
    /// Up to 64 buffered bits; the valid ones are the low `bitCount` bits.
    var buffer: UInt64 = 0
    var bitCount = 0
    /// The marker byte met inside the data (its `FF` is at `markerOffset`), or −1.
    var marker = -1
    var markerOffset = 0
    /// How many of the low buffered bits are zero padding supplied after a marker; once `bitCount`
    /// drops below it, the decoder has used bits the file does not have.
    var paddingBits = 0

    init(data: UnsafeBufferPointer<UInt8>, position: Int) {
        self.data = data
        self.position = position
    }

    /// Tops the buffer up to at least 56 bits.
    @inline(never)
    mutating func fill() throws {
        // Fast path: 8 bytes without any 0xFF (no stuffing, no marker) are appended as a whole.
        if marker < 0, position + 8 <= data.count, let base = data.baseAddress {
            let word = UInt64(bigEndian: UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
            let inverted = ~word
            let hasFF = (inverted &- 0x0101_0101_0101_0101) & ~inverted & 0x8080_8080_8080_8080
            if hasFF == 0 {
                let take = (63 - bitCount) >> 3
                if take > 0 {
                    buffer = (buffer << UInt64(take * 8)) | (word >> UInt64(64 - take * 8))
                    bitCount += take * 8
                    position += take
                }
                return
            }
        }
        while bitCount <= 56 {
            if marker >= 0 {
                // Past a marker: zero bits, as libjpeg-turbo supplies.
                buffer <<= 8
                bitCount += 8
                paddingBits += 8
                continue
            }
            guard position < data.count else {
                throw JPEGError.truncated(offset: data.count, context: "entropy-coded scan data")
            }
            let byte = data[position]
            if byte != 0xFF {
                position += 1
                buffer = (buffer << 8) | UInt64(byte)
                bitCount += 8
                continue
            }
            var next = position + 1
            while next < data.count && data[next] == 0xFF { next += 1 }
            guard next < data.count else {
                throw JPEGError.truncated(offset: data.count, context: "entropy-coded scan data")
            }
            if data[next] == 0 {
                position = next + 1
                buffer = (buffer << 8) | 0xFF
                bitCount += 8
            } else {
                marker = Int(data[next])
                markerOffset = next - 1
                position = next + 1
            }
        }
    }

    /// The next `n` bits (0…16) as an unsigned number.
    @inline(__always)
    mutating func bits(_ n: Int) throws -> Int {
        if bitCount < n { try fill() }
        bitCount -= n
        return Int(truncatingIfNeeded: buffer >> UInt64(bitCount)) & ((1 << n) - 1)
    }

    /// One bit.
    @inline(__always)
    mutating func bit() throws -> Int {
        if bitCount < 1 { try fill() }
        bitCount -= 1
        return Int(truncatingIfNeeded: buffer >> UInt64(bitCount)) & 1
    }

    /// The `n`-bit magnitude category value of T.81 F.2.2.1 (`EXTEND`): `n` raw bits (0…16) as a signed
    /// number. The caller guarantees `n` bits are buffered.
    @inline(__always)
    mutating func extendBuffered(_ n: Int) -> Int32 {
        if n == 0 { return 0 }
        bitCount &-= n
        let v = Int(truncatingIfNeeded: buffer &>> UInt64(truncatingIfNeeded: bitCount)) & ((1 << n) &- 1)
        return Int32(truncatingIfNeeded: v < (1 << (n - 1)) ? v - (1 << n) + 1 : v)
    }

    /// The next `lookupBits` bits, not consumed. The caller guarantees they are buffered.
    @inline(__always)
    func peek9() -> Int {
        Int(truncatingIfNeeded: buffer &>> UInt64(truncatingIfNeeded: bitCount &- JPEGHuffmanTable.lookupBits))
            & ((1 << JPEGHuffmanTable.lookupBits) - 1)
    }

    /// Decodes one Huffman symbol with `table`. The caller guarantees at least 16 bits are buffered.
    @inline(__always)
    mutating func decode(_ table: JPEGHuffmanView) throws -> Int {
        let peek =
            Int(truncatingIfNeeded: buffer &>> UInt64(truncatingIfNeeded: bitCount &- JPEGHuffmanTable.lookupBits))
            & ((1 << JPEGHuffmanTable.lookupBits) - 1)
        let entry = table.lookup[peek]
        if entry != 0 {
            bitCount &-= Int(entry >> 8)
            return Int(entry & 0xFF)
        }
        return try decodeLong(table)
    }

    /// Codes longer than the look-up: compare against the largest code of each length (T.81 F.2.2.3).
    @inline(never)
    mutating func decodeLong(_ table: JPEGHuffmanView) throws -> Int {
        var length = JPEGHuffmanTable.lookupBits + 1
        while length <= 16 {
            let code =
                Int32(truncatingIfNeeded: buffer >> UInt64(bitCount - length)) & ((1 << Int32(length)) - 1)
            if code <= table.maxCode[length] {
                let index = Int(code + table.valueOffset[length])
                guard index >= 0 && index < table.valueCount else { break }
                bitCount -= length
                return Int(table.values[index])
            }
            length += 1
        }
        throw JPEGError.corruptData(offset: position, reason: "bit pattern matches no Huffman code")
    }

    /// Drops buffered bits and finds the next marker (at a restart or the end of a scan), skipping
    /// any stray bytes as libjpeg's `next_marker` does. Returns the marker byte and its offset.
    mutating func nextMarker() throws -> (marker: UInt8, offset: Int) {
        buffer = 0
        bitCount = 0
        paddingBits = 0
        if marker >= 0 {
            let m = UInt8(marker)
            marker = -1
            return (m, markerOffset)
        }
        while true {
            while position < data.count && data[position] != 0xFF { position += 1 }
            let ffOffset = position
            while position < data.count && data[position] == 0xFF { position += 1 }
            guard position < data.count else {
                throw JPEGError.truncated(offset: data.count, context: "the marker after scan data")
            }
            let m = data[position]
            position += 1
            if m != 0 { return (m, ffOffset) }
        }
    }
}

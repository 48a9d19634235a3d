/// A canonical Huffman decoding table (RFC 1951 §3.2.2) for one alphabet of a deflate block.
///
/// Codes of up to `fastBits` bits are resolved by a single lookup of the next `fastBits` input bits;
/// longer codes (rare: only in skewed dynamic tables) fall back to walking the canonical code one bit at
/// a time using the per-length counts.
struct Huffman: Sendable {
    /// Codes no longer than this decode with one table lookup.
    static let fastBits = 10

    /// `[1 << fastBits]`, indexed by the next `fastBits` stream bits: `symbol << 4 | codeLength`,
    /// or 0 when the bits start a longer code (or no code at all).
    private var fast: [UInt16]
    /// `[16]`: how many symbols have each code length (index 0 unused).
    private var counts: [Int]
    /// The coded symbols sorted by (code length, symbol): canonical code order.
    private var symbols: [UInt16]

    /// How a set of code lengths fills the code space.
    enum Shape { case complete, incomplete, oversubscribed, empty }

    /// Classifies `lengths` (each 0…15, 0 = symbol unused) without building a table.
    static func shape(of lengths: ArraySlice<UInt8>) -> (shape: Shape, longest: Int) {
        var counts = [Int](repeating: 0, count: 16)
        var longest = 0
        for l in lengths where l != 0 {
            counts[Int(l)] += 1
            longest = max(longest, Int(l))
        }
        if longest == 0 { return (.empty, 0) }
        var left = 1
        for len in 1...15 {
            left = left << 1 - counts[len]
            if left < 0 { return (.oversubscribed, longest) }
        }
        return (left == 0 ? .complete : .incomplete, longest)
    }

    /// Builds the table for `lengths` (each 0…15). The caller has rejected over-subscribed sets;
    /// an incomplete set decodes its unassigned codes as errors.
    init(lengths: ArraySlice<UInt8>) {
        var counts = [Int](repeating: 0, count: 16)
        for l in lengths { counts[Int(l & 15)] += 1 }
        counts[0] = 0
        var offsets = [Int](repeating: 0, count: 16)
        for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
        var symbols = [UInt16](repeating: 0, count: offsets[15] + counts[15])
        for (i, l) in lengths.enumerated() where l != 0 {
            symbols[offsets[Int(l)]] = UInt16(i)
            offsets[Int(l)] += 1
        }
        // Walk codes in canonical order; each code of length ≤ fastBits fills every table slot whose
        // low `len` bits are the code read in stream order (bit-reversed).
        var fast = [UInt16](repeating: 0, count: 1 << Huffman.fastBits)
        var code = 0
        var index = 0
        for len in 1...15 {
            for _ in 0..<counts[len] {
                if len <= Huffman.fastBits, code < 1 << len {
                    var reversed = 0
                    for b in 0..<len where code & (1 << b) != 0 { reversed |= 1 << (len - 1 - b) }
                    let entry = symbols[index] << 4 | UInt16(len)
                    var slot = reversed
                    while slot < fast.count {
                        fast[slot] = entry
                        slot += 1 << len
                    }
                }
                code += 1
                index += 1
            }
            code <<= 1
        }
        self.fast = fast
        self.counts = counts
        self.symbols = symbols
    }

    /// Decodes one symbol from `reader`.
    @inline(__always)
    func decode(_ reader: inout BitReader) throws(InflateError) -> Int {
        if reader.bitCount < 15 { reader.refill() }
        let entry = fast[Int(truncatingIfNeeded: reader.buffer) & (1 << Huffman.fastBits - 1)]
        if entry != 0 {
            let len = Int(entry & 15)
            if len > reader.bitCount { throw .truncatedInput(offset: reader.data.count) }
            reader.consume(len)
            return Int(entry >> 4)
        }
        return try decodeSlow(&reader)
    }

    /// Walks the canonical code bit by bit: at each length, codes `first ..< first + counts[len]` are
    /// assigned, in order, to the next `counts[len]` entries of `symbols`.
    private func decodeSlow(_ reader: inout BitReader) throws(InflateError) -> Int {
        var code = 0
        var first = 0
        var index = 0
        let bits = reader.buffer
        for len in 1...15 {
            if len > reader.bitCount { throw .truncatedInput(offset: reader.data.count) }
            code |= Int((bits >> UInt64(len - 1)) & 1)
            let count = counts[len]
            if code - first < count {
                reader.consume(len)
                return Int(symbols[index + code - first])
            }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw .badHuffmanCode(offset: reader.byteOffset)
    }

    /// The fixed literal/length table of block type 1 (RFC 1951 §3.2.6).
    static let fixedLiteralLength: Huffman = {
        var lengths = [UInt8](repeating: 8, count: 288)
        for i in 144..<256 { lengths[i] = 9 }
        for i in 256..<280 { lengths[i] = 7 }
        return Huffman(lengths: lengths[...])
    }()

    /// The fixed distance table of block type 1: 32 five-bit codes (30 and 31 are invalid if used).
    static let fixedDistance = Huffman(lengths: [UInt8](repeating: 5, count: 32)[...])
}

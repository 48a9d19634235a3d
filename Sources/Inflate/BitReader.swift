/// Reads a deflate bit stream (RFC 1951 §3.1.1: bits are packed least-significant first within bytes).
///
/// Up to 64 bits are buffered in `buffer`; `refill` tops it up to at least 57 bits while input remains,
/// which covers one whole length/distance pair (at most 15 + 5 + 15 + 13 = 48 bits). Reading past the
/// end throws `truncatedInput`; zero bits shifted in past the end are never consumed.
struct BitReader {
    /// The whole input; offsets in errors are indices into it.
    let data: [UInt8]
    /// The next byte of `data` to load into `buffer`.
    private(set) var position: Int
    /// Buffered bits, the next one in bit 0.
    private(set) var buffer: UInt64 = 0
    /// How many bits of `buffer` are valid.
    private(set) var bitCount: Int = 0

    /// A reader starting at byte `start` of `data`.
    init(_ data: [UInt8], start: Int) {
        self.data = data
        self.position = max(0, min(start, data.count))
    }

    /// The offset of the byte holding the next unread bit, for error messages.
    var byteOffset: Int { (position * 8 - bitCount) / 8 }

    /// Loads whole bytes until at least 57 bits are buffered or the input is exhausted.
    @inline(__always)
    mutating func refill() {
        if bitCount <= 56 && position + 8 <= data.count {
            // Fast path: load 8 bytes at once and keep the whole bytes that fit.
            let word = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: UInt64.self)) }
            buffer |= word << UInt64(bitCount)
            let added = (63 - bitCount) >> 3
            position += added
            bitCount += added << 3
            return
        }
        while bitCount <= 56 && position < data.count {
            buffer |= UInt64(data[position]) << UInt64(bitCount)
            position += 1
            bitCount += 8
        }
    }

    /// The next `n` bits (0 ≤ n ≤ 32) as an integer, first bit in bit 0.
    @inline(__always)
    mutating func bits(_ n: Int) throws(InflateError) -> Int {
        if bitCount < n {
            refill()
            if bitCount < n { throw .truncatedInput(offset: data.count) }
        }
        let v = Int(truncatingIfNeeded: buffer & ((1 << UInt64(n)) &- 1))
        consume(n)
        return v
    }

    /// Drops `n` buffered bits (the caller checked `n <= bitCount`).
    @inline(__always)
    mutating func consume(_ n: Int) {
        buffer >>= UInt64(n)
        bitCount -= n
    }

    /// Discards bits up to the next byte boundary and hands buffered whole bytes back to the input,
    /// so `position` is the next unread byte (for stored blocks and stream trailers).
    mutating func alignToByte() {
        let partial = bitCount & 7
        consume(partial)
        position -= bitCount / 8
        buffer = 0
        bitCount = 0
    }

    /// After `alignToByte`, skips `n` bytes that the caller has read directly from `data`.
    mutating func skipBytes(_ n: Int) {
        position += n
    }
}

/// A small deflate compressor for writing PNG files: greedy LZ77 matching coded with the fixed Huffman
/// table (RFC 1951 block type 1), or stored blocks when that would be smaller (incompressible data).
///
/// It favours simplicity over ratio: typically within 10–40% of zlib level 6 on images and text.
public enum Deflate {
    /// `bytes` as a zlib stream (RFC 1950): header `78 01`, deflate data, big-endian Adler-32.
    public static func zlibCompress(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        out += deflate(bytes)
        let adler = Checksum.adler32(bytes)
        out += [UInt8(adler >> 24), UInt8(adler >> 16 & 0xFF), UInt8(adler >> 8 & 0xFF), UInt8(adler & 0xFF)]
        return out
    }

    /// `bytes` as a raw deflate stream (RFC 1951), ending with a final block.
    public static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        let fixed = fixedHuffmanBlock(bytes)
        let storedSize = max(1, (bytes.count + 65534) / 65535) * 5 + bytes.count
        return fixed.count <= storedSize ? fixed : storedBlocks(bytes)
    }

    /// Stored blocks (type 0) of at most 65,535 bytes each; the last one is final.
    static func storedBlocks(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 65535 * 5 + 5)
        var start = 0
        repeat {
            let n = min(65535, bytes.count - start)
            let final: UInt8 = start + n == bytes.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += bytes[start..<(start + n)]
            start += n
        } while start < bytes.count
        return out
    }

    /// Accumulates bits least-significant first, as deflate packs them.
    private struct BitWriter {
        var bytes: [UInt8] = []
        var buffer: UInt64 = 0
        var count = 0

        /// Appends the low `n` bits of `value` (n ≤ 32), first bit first.
        mutating func write(_ value: Int, _ n: Int) {
            buffer |= UInt64(truncatingIfNeeded: value) << UInt64(count)
            count += n
            while count >= 8 {
                bytes.append(UInt8(truncatingIfNeeded: buffer))
                buffer >>= 8
                count -= 8
            }
        }

        /// Appends a Huffman code, which deflate stores most-significant bit first.
        mutating func writeCode(_ code: Int, _ n: Int) {
            var reversed = 0
            for b in 0..<n where code & (1 << b) != 0 { reversed |= 1 << (n - 1 - b) }
            write(reversed, n)
        }

        /// Pads the last partial byte with zeros.
        mutating func flush() {
            if count > 0 { bytes.append(UInt8(truncatingIfNeeded: buffer)) }
            buffer = 0
            count = 0
        }
    }

    /// The fixed-table code and length of a literal/length symbol 0…287 (RFC 1951 §3.2.6).
    private static func fixedCode(_ symbol: Int) -> (code: Int, length: Int) {
        switch symbol {
        case 0..<144: return (0x30 + symbol, 8)
        case 144..<256: return (0x190 + symbol - 144, 9)
        case 256..<280: return (symbol - 256, 7)
        default: return (0xC0 + symbol - 280, 8)
        }
    }

    /// One final fixed-Huffman block. Matches are found greedily through hash chains of 3-byte prefixes
    /// (window 32 KiB, at most 32 candidates per position).
    static func fixedHuffmanBlock(_ bytes: [UInt8]) -> [UInt8] {
        let n = bytes.count
        let hashBits = 15, window = 32768, maxChain = 32
        var head = [Int](repeating: -1, count: 1 << hashBits)  // last position with this hash
        var previous = [Int](repeating: -1, count: window)  // earlier position with the same hash, by pos % window
        @inline(__always) func hash(_ p: Int) -> Int {
            let v = UInt32(bytes[p]) << 16 | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2])
            return Int((v &* 2_654_435_761) >> UInt32(32 - hashBits))
        }
        // `head` and `previous` go in as inout rather than captured: a nested function that mutates
        // captured arrays gets a dynamic exclusivity check (`swift_beginAccess`) on every call.
        @inline(__always) func insert(_ p: Int, _ head: inout [Int], _ previous: inout [Int]) {
            guard p + 2 < n else { return }
            let h = hash(p)
            previous[p & (window - 1)] = head[h]
            head[h] = p
        }

        var w = BitWriter()
        w.bytes.reserveCapacity(n / 2 + 16)
        w.write(1, 1)  // BFINAL
        w.write(1, 2)  // BTYPE = 01, fixed Huffman
        var p = 0
        while p < n {
            var bestLength = 0, bestDistance = 0
            if p + 2 < n {
                var candidate = head[hash(p)]
                var chain = 0
                let maxLength = min(258, n - p)
                while candidate >= 0 && p - candidate <= window && chain < maxChain {
                    var l = 0
                    while l < maxLength && bytes[candidate + l] == bytes[p + l] { l += 1 }
                    if l > bestLength {
                        bestLength = l
                        bestDistance = p - candidate
                        if l == maxLength { break }
                    }
                    let next = previous[candidate & (window - 1)]
                    guard next < candidate else { break }  // slot overwritten by a newer position
                    candidate = next
                    chain += 1
                }
            }
            if bestLength >= 3 {
                var ls = 28
                while DeflateTables.lengthBase[ls] > bestLength { ls -= 1 }
                let (code, len) = fixedCode(257 + ls)
                w.writeCode(code, len)
                w.write(bestLength - DeflateTables.lengthBase[ls], DeflateTables.lengthExtra[ls])
                var ds = 29
                while DeflateTables.distanceBase[ds] > bestDistance { ds -= 1 }
                w.writeCode(ds, 5)
                w.write(bestDistance - DeflateTables.distanceBase[ds], DeflateTables.distanceExtra[ds])
                for q in p..<(p + bestLength) { insert(q, &head, &previous) }
                p += bestLength
            } else {
                let (code, len) = fixedCode(Int(bytes[p]))
                w.writeCode(code, len)
                insert(p, &head, &previous)
                p += 1
            }
        }
        let (code, len) = fixedCode(256)
        w.writeCode(code, len)
        w.flush()
        return w.bytes
    }
}

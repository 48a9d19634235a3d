import Foundation
import Inflate
import TRIMResources

/// Why a bundled bitmap font file could not be read; one line each.
public enum UnifontError: Error, CustomStringConvertible, Equatable {
    /// The file is missing or unreadable.
    case unreadable(path: String)
    /// The gzip wrapper is damaged (`reason` is the decompressor's message).
    case badCompression(reason: String)
    /// The decompressed data does not start with `TUF1`.
    case badMagic
    /// A version or glyph height this reader does not know.
    case unsupported(field: String, value: Int)
    /// The data ends before `need` bytes (it has `have`).
    case truncated(need: Int, have: Int)
    /// Range `index` of the table is invalid (`reason` says why).
    case badRange(index: Int, reason: String)
    /// Bytes are left over after the last glyph.
    case trailingBytes(count: Int)

    public var description: String {
        switch self {
        case .unreadable(let path): return "cannot read bitmap font \(path)"
        case .badCompression(let reason): return "bitmap font is not a valid gzip file (\(reason))"
        case .badMagic: return "bitmap font does not start with \"TUF1\""
        case .unsupported(let field, let value): return "bitmap font has unsupported \(field) \(value)"
        case .truncated(let need, let have): return "bitmap font truncated: needs \(need) bytes, has \(have)"
        case .badRange(let index, let reason): return "bitmap font range \(index) is invalid: \(reason)"
        case .trailingBytes(let count): return "bitmap font has \(count) bytes after the last glyph"
        }
    }
}

/// One 16-pixel-high glyph of the bundled font: `rows[r]` bit 15 is the leftmost pixel of row `r`
/// (top first), and only the leftmost `width` bits (8 or 16) are used.
struct UnifontGlyph: Equatable, Sendable {
    /// 8 (Latin, Greek, Cyrillic, …) or 16 (CJK, Hangul, fullwidth forms).
    var width: Int
    /// 16 rows, top first.
    var rows: [UInt16]
}

/// A subset of GNU Unifont (Weights/fonts/unifont-subset.bin.gz; OFL-1.1, see Weights/fonts/README.md),
/// the font heat-map titles use for characters the 5 × 7 font lacks.
///
/// File format (made by Tests/Fonts/make_font.py; integers little-endian), gzip-compressed:
/// `"TUF1"`, u8 version 1, u8 height 16, u16 range count R (1…4096); R ranges of 8 bytes
/// (u32 first code point, u16 count ≥ 1, u8 width 8 or 16, u8 reserved 0) in ascending, non-overlapping
/// order; then each range's glyphs, `16 × width / 8` bytes each (rows top first, most significant bit
/// leftmost, two big-endian bytes a row for width 16); nothing after the last glyph. The reader
/// checks every count and bound and throws `UnifontError` rather than trapping.
struct Unifont: Sendable {
    /// Glyph height in pixels.
    static let height = 16
    /// Most ranges a file may declare.
    static let maximumRanges = 4096
    /// Largest decompressed size accepted.
    static let maximumBytes = 16 << 20
    /// Where the bundled file lives under `Weights/`.
    static let bundledPath = "fonts/unifont-subset.bin.gz"

    struct Range: Sendable {
        var first: UInt32
        var count: Int
        var width: Int
        /// Offset of the range's first glyph in `data`.
        var offset: Int
    }

    /// The ranges, ascending.
    let ranges: [Range]
    /// The whole decompressed file.
    let data: [UInt8]

    /// Number of glyphs.
    var glyphCount: Int { ranges.reduce(0) { $0 + $1.count } }

    /// The bundled font, read on first use (once, thread-safely: a static `let`); nil when the file is
    /// missing or damaged, in which case characters outside the 5 × 7 font are drawn as `?`.
    static let bundled: Unifont? = {
        guard let url = BundledResources.url(for: bundledPath) else { return nil }
        return try? load(contentsOf: url)
    }()

    /// Reads a gzip-compressed font file.
    static func load(contentsOf url: URL) throws(UnifontError) -> Unifont {
        guard let bytes = try? Data(contentsOf: url) else { throw .unreadable(path: url.path) }
        return try Unifont(gzip: [UInt8](bytes))
    }

    /// Parses a gzip-compressed font.
    init(gzip: [UInt8]) throws(UnifontError) {
        let raw: [UInt8]
        do {
            raw = try Inflate.gzipDecompress(gzip, maxOutputBytes: Self.maximumBytes)
        } catch {
            throw .badCompression(reason: error.description)
        }
        try self.init(bytes: raw)
    }

    /// Parses an uncompressed font.
    init(bytes: [UInt8]) throws(UnifontError) {
        func need(_ n: Int) throws(UnifontError) {
            if bytes.count < n { throw .truncated(need: n, have: bytes.count) }
        }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }

        try need(8)
        guard bytes[0..<4].elementsEqual("TUF1".utf8) else { throw .badMagic }
        guard bytes[4] == 1 else { throw .unsupported(field: "version", value: Int(bytes[4])) }
        guard Int(bytes[5]) == Self.height else { throw .unsupported(field: "glyph height", value: Int(bytes[5])) }
        let rangeCount = u16(6)
        guard rangeCount >= 1, rangeCount <= Self.maximumRanges else {
            throw .unsupported(field: "range count", value: rangeCount)
        }
        let tableEnd = 8 + 8 * rangeCount
        try need(tableEnd)

        var ranges: [Range] = []
        ranges.reserveCapacity(rangeCount)
        var offset = tableEnd
        var nextFree: UInt32 = 0
        for index in 0..<rangeCount {
            let at = 8 + 8 * index
            let first = u32(at)
            let count = u16(at + 4)
            let width = Int(bytes[at + 6])
            guard count >= 1 else { throw .badRange(index: index, reason: "no glyphs") }
            guard width == 8 || width == 16 else { throw .badRange(index: index, reason: "width \(width)") }
            guard bytes[at + 7] == 0 else { throw .badRange(index: index, reason: "reserved byte set") }
            guard first >= nextFree else {
                throw .badRange(index: index, reason: "starts at U+\(String(first, radix: 16, uppercase: true)), out of order")
            }
            let end = UInt64(first) + UInt64(count)
            guard end <= 0x11_0000 else { throw .badRange(index: index, reason: "runs past U+10FFFF") }
            nextFree = UInt32(end)
            ranges.append(Range(first: first, count: count, width: width, offset: offset))
            offset += count * Self.height * width / 8  // ≤ 4096 × 65535 × 32: no overflow
        }
        try need(offset)
        guard bytes.count == offset else { throw .trailingBytes(count: bytes.count - offset) }
        self.ranges = ranges
        self.data = bytes
    }

    /// The glyph of `scalar`, or nil when the font has none.
    func glyph(for scalar: Unicode.Scalar) -> UnifontGlyph? {
        let code = scalar.value
        var low = 0
        var high = ranges.count
        while low < high {  // first range whose end is past `code`
            let mid = (low + high) / 2
            if ranges[mid].first + UInt32(ranges[mid].count) <= code { low = mid + 1 } else { high = mid }
        }
        guard low < ranges.count, ranges[low].first <= code else { return nil }
        let range = ranges[low]
        let bytesPerRow = range.width / 8
        let start = range.offset + Int(code - range.first) * Self.height * bytesPerRow
        var rows = [UInt16](repeating: 0, count: Self.height)
        for r in 0..<Self.height {
            let at = start + r * bytesPerRow
            rows[r] = bytesPerRow == 2 ? UInt16(data[at]) << 8 | UInt16(data[at + 1]) : UInt16(data[at]) << 8
        }
        return UnifontGlyph(width: range.width, rows: rows)
    }
}

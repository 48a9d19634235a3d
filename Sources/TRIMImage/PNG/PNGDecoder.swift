import Inflate

/// A PNG decoder (ISO/IEC 15948) whose output equals Pillow's `Image.open(f).convert("RGB")`.
///
/// Supports every colour type and bit depth (grey 1/2/4/8/16, RGB 8/16, palette 1/2/4/8,
/// grey+alpha 8/16, RGBA 8/16), Adam7 interlacing, all five filters, and IDAT split over any number of
/// chunks. Conversion to RGB follows Pillow 13:
/// - alpha is dropped, never composited (`"LA"`/`"RGBA"` → `"RGB"`), and `tRNS` has no effect on pixels;
/// - 16-bit samples keep their high byte (Pillow's `RGB;16B`, `RGBA;16B`, `LA;16B` unpackers), except
///   16-bit grey, which Pillow opens as mode `"I;16"` and converts by clipping: `v < 256 ? v : 255`;
/// - 1-bit grey maps 0/1 to 0/255, 2-bit to `v·85`, 4-bit to `v·17`;
/// - palette indices without a `PLTE` entry (or without any `PLTE`) become black.
///
/// Every chunk's CRC-32 is checked (Pillow checks those before the first IDAT and skips the rest; this
/// decoder is stricter there). Ancillary and unknown chunks are skipped; only the first run of
/// consecutive IDAT chunks holds the image, as in Pillow. A missing IEND after complete image data is
/// accepted, as Pillow does. The pixel count is checked against `ImageLimits.maxPixels` before any
/// allocation, and the decompressor is bounded by the exact size the header implies.
public enum PNGDecoder {
    /// The 8-byte PNG signature.
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Decompressed bytes tolerated after the last scanline (ignored, as Pillow does).
    static let extraDataSlack = 1 << 16

    /// Whether `data` starts with the PNG signature.
    public static func hasSignature(_ data: [UInt8]) -> Bool {
        data.count >= 8 && Array(data[0..<8]) == signature
    }

    /// Decodes a whole PNG file to 8-bit RGB. `[height, width, 3]`
    public static func decode(_ data: [UInt8]) throws(PNGError) -> RGBImage {
        guard hasSignature(data) else { throw .notPNG }
        var chunks = ChunkReader(data: data)

        guard let first = try chunks.next(), first.type == "IHDR" else { throw .missingHeader }
        let header = try PNGHeader(Array(first.data))

        var palette = [UInt8](repeating: 0, count: 256 * 3)  // absent entries are black, as in Pillow
        var compressed = [UInt8]()
        compressed.reserveCapacity(data.count)
        var inImageData = false
        var sawImageData = false
        while let chunk = try chunks.next() {
            if chunk.type == "IEND" { break }
            if chunk.type == "IDAT" {
                if sawImageData && !inImageData { continue }  // a second IDAT run: ignored, like Pillow
                inImageData = true
                sawImageData = true
                compressed.append(contentsOf: chunk.data)
                continue
            }
            inImageData = false
            if sawImageData { continue }  // chunks after the image data carry nothing for pixels
            switch chunk.type {
            case "PLTE" where header.colorType == 3:
                let entries = min(chunk.data.count / 3, 256)
                for i in 0..<(entries * 3) { palette[i] = chunk.data[chunk.data.startIndex + i] }
            case "tRNS" where [0, 2].contains(header.colorType):
                // Pillow rejects a grey/RGB tRNS shorter than one colour; its value never changes RGB pixels.
                let needed = header.colorType == 2 ? 6 : 2
                guard chunk.data.count >= needed else {
                    throw .badChunk(type: "tRNS", offset: chunk.offset, detail: "\(chunk.data.count) bytes, expected at least \(needed)")
                }
            default:
                break
            }
        }
        guard sawImageData else { throw .missingImageData }

        let passes = header.passes
        let expected = passes.reduce(0) { $0 + $1.height * (1 + header.rowBytes(width: $1.width)) }
        // Like Pillow, data beyond the last scanline is ignored; a small slack lets such streams decode
        // while still bounding the work to the size the header implies.
        let raw: [UInt8]
        do {
            raw = try Inflate.zlibDecompress(compressed, maxOutputBytes: expected + extraDataSlack)
        } catch {
            throw .badImageData(detail: error.description)
        }
        guard raw.count >= expected else { throw .truncatedImageData(expected: expected, got: raw.count) }

        var out = [UInt8](repeating: 0, count: header.width * header.height * 3)
        var offset = 0
        for pass in passes {
            try decodePass(pass, header: header, palette: palette, raw: raw, offset: &offset, into: &out)
        }
        return RGBImage(width: header.width, height: header.height, pixels: out)
    }

    /// Unfilters one (sub)image stored at `raw[offset...]` and writes its pixels, converted to RGB, at
    /// their places in `out`. Advances `offset` past the pass.
    static func decodePass(
        _ pass: PNGHeader.Pass, header: PNGHeader, palette: [UInt8], raw: [UInt8], offset: inout Int,
        into out: inout [UInt8]
    ) throws(PNGError) {
        let rowBytes = header.rowBytes(width: pass.width)
        let bpp = max(1, header.bitsPerPixel / 8)
        var previous = [UInt8](repeating: 0, count: rowBytes)
        var current = [UInt8](repeating: 0, count: rowBytes)
        var rgb = [UInt8](repeating: 0, count: pass.width * 3)
        for r in 0..<pass.height {
            let filter = raw[offset]
            guard filter <= 4 else { throw .badFilter(type: Int(filter), row: r, pass: pass.index) }
            raw.withUnsafeBufferPointer { src in
                unfilter(
                    filter, source: UnsafeBufferPointer(rebasing: src[(offset + 1)..<(offset + 1 + rowBytes)]),
                    previous: previous, into: &current, bpp: bpp)
            }
            offset += 1 + rowBytes
            convertRow(current, width: pass.width, header: header, palette: palette, into: &rgb)
            let y = pass.y0 + r * pass.dy
            if pass.dx == 1 {
                let start = y * header.width * 3
                out.replaceSubrange(start..<(start + rgb.count), with: rgb)
            } else {
                for c in 0..<pass.width {
                    let o = (y * header.width + pass.x0 + c * pass.dx) * 3
                    out[o] = rgb[c * 3]
                    out[o + 1] = rgb[c * 3 + 1]
                    out[o + 2] = rgb[c * 3 + 2]
                }
            }
            swap(&previous, &current)
        }
    }

    /// Reverses one scanline's filter (PNG §9): `current = source + predictor(left, up, upper-left)`,
    /// bytewise mod 256, where "left" is `bpp` bytes back (0 before the row start) and "up" is `previous`.
    static func unfilter(
        _ filter: UInt8, source: UnsafeBufferPointer<UInt8>, previous: [UInt8], into current: inout [UInt8], bpp: Int
    ) {
        let n = source.count
        previous.withUnsafeBufferPointer { up in
            current.withUnsafeMutableBufferPointer { cur in
                switch filter {
                case 1:  // Sub
                    for i in 0..<n { cur[i] = source[i] &+ (i >= bpp ? cur[i - bpp] : 0) }
                case 2:  // Up
                    for i in 0..<n { cur[i] = source[i] &+ up[i] }
                case 3:  // Average: floor((left + up) / 2) in 9 bits
                    for i in 0..<n {
                        let left = i >= bpp ? Int(cur[i - bpp]) : 0
                        cur[i] = source[i] &+ UInt8((left + Int(up[i])) >> 1)
                    }
                case 4:  // Paeth: whichever of left, up, upper-left is closest to left + up - upper-left
                    for i in 0..<n {
                        let a = i >= bpp ? Int(cur[i - bpp]) : 0
                        let b = Int(up[i])
                        let c = i >= bpp ? Int(up[i - bpp]) : 0
                        let pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c)
                        let predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                        cur[i] = source[i] &+ UInt8(predictor)
                    }
                default:  // None
                    for i in 0..<n { cur[i] = source[i] }
                }
            }
        }
    }

    /// Converts one unfiltered scanline of `width` pixels to RGB bytes as Pillow's `convert("RGB")` would.
    static func convertRow(_ row: [UInt8], width: Int, header: PNGHeader, palette: [UInt8], into rgb: inout [UInt8]) {
        let depth = header.bitDepth
        row.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { dst in
                switch (header.colorType, depth) {
                case (0, 16):  // Pillow "I;16" → "RGB" clips to 255
                    for x in 0..<width {
                        let v: UInt8 = src[2 * x] == 0 ? src[2 * x + 1] : 255
                        dst[3 * x] = v; dst[3 * x + 1] = v; dst[3 * x + 2] = v
                    }
                case (0, _), (3, _):
                    // Grey or palette index: unpack `depth`-bit samples, then map through a level or palette table.
                    let mask = (1 << depth) - 1
                    for x in 0..<width {
                        let bit = x * depth
                        let v = depth == 8 ? Int(src[x]) : Int(src[bit >> 3]) >> (8 - depth - (bit & 7)) & mask
                        if header.colorType == 3 {
                            dst[3 * x] = palette[3 * v]; dst[3 * x + 1] = palette[3 * v + 1]; dst[3 * x + 2] = palette[3 * v + 2]
                        } else {
                            let level = UInt8(truncatingIfNeeded: v * (255 / mask))
                            dst[3 * x] = level; dst[3 * x + 1] = level; dst[3 * x + 2] = level
                        }
                    }
                case (4, _):  // grey + alpha: grey (its high byte at 16 bits) replicated, alpha dropped
                    let stride = depth == 16 ? 4 : 2
                    for x in 0..<width {
                        let v = src[stride * x]
                        dst[3 * x] = v; dst[3 * x + 1] = v; dst[3 * x + 2] = v
                    }
                default:  // 2 (RGB) and 6 (RGBA): each channel's high byte, alpha dropped
                    let bytesPerSample = depth / 8
                    let stride = (header.colorType == 6 ? 4 : 3) * bytesPerSample
                    for x in 0..<width {
                        dst[3 * x] = src[stride * x]
                        dst[3 * x + 1] = src[stride * x + bytesPerSample]
                        dst[3 * x + 2] = src[stride * x + 2 * bytesPerSample]
                    }
                }
            }
        }
    }
}

/// The validated IHDR fields and the sizes derived from them.
struct PNGHeader {
    let width: Int
    let height: Int
    let bitDepth: Int
    let colorType: Int
    let interlaced: Bool

    /// Samples per pixel for the colour type.
    var channels: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType] ?? 1 }
    /// Bits per pixel (1…64).
    var bitsPerPixel: Int { channels * bitDepth }
    /// Bytes of one unfiltered scanline of `width` pixels (without the filter-type byte).
    func rowBytes(width: Int) -> Int { (width * bitsPerPixel + 7) / 8 }

    /// One of the subimages pixels are stored in: pixel `(c, r)` of the pass is image pixel
    /// `(x0 + c·dx, y0 + r·dy)`.
    struct Pass {
        let index: Int
        let x0: Int, y0: Int, dx: Int, dy: Int
        let width: Int, height: Int
    }

    /// The whole image, or the seven Adam7 passes that are non-empty.
    var passes: [Pass] {
        guard interlaced else { return [Pass(index: 0, x0: 0, y0: 0, dx: 1, dy: 1, width: width, height: height)] }
        let adam7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        return adam7.enumerated().compactMap { i, p in
            let (x0, y0, dx, dy) = p
            let w = (width - x0 + dx - 1) / dx
            let h = (height - y0 + dy - 1) / dy
            return w > 0 && h > 0 ? Pass(index: i + 1, x0: x0, y0: y0, dx: dx, dy: dy, width: w, height: h) : nil
        }
    }

    /// Parses and validates the 13 bytes of IHDR.
    init(_ d: [UInt8]) throws(PNGError) {
        guard d.count >= 13 else { throw .badHeader(detail: "IHDR has \(d.count) bytes, expected 13") }
        func u32(_ i: Int) -> Int { Int(d[i]) << 24 | Int(d[i + 1]) << 16 | Int(d[i + 2]) << 8 | Int(d[i + 3]) }
        width = u32(0)
        height = u32(4)
        bitDepth = Int(d[8])
        colorType = Int(d[9])
        interlaced = d[12] == 1
        guard width >= 1 && height >= 1 && width <= 0x7FFF_FFFF && height <= 0x7FFF_FFFF else {
            throw .badHeader(detail: "size \(width)×\(height); both must be in 1...2147483647")
        }
        let allowed: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
        guard let depths = allowed[colorType], depths.contains(bitDepth) else {
            throw .badHeader(detail: "colour type \(colorType) with bit depth \(bitDepth) is not a valid PNG combination")
        }
        guard d[10] == 0 else { throw .badHeader(detail: "compression method \(d[10]); only 0 (deflate) exists") }
        guard d[11] == 0 else { throw .badHeader(detail: "filter method \(d[11]); only 0 exists") }
        guard d[12] <= 1 else { throw .badHeader(detail: "interlace method \(d[12]); expected 0 or 1") }
        guard width * height <= ImageLimits.maxPixels else {
            throw .tooLarge(width: width, height: height, limit: ImageLimits.maxPixels)
        }
    }
}

/// Walks the chunks of a PNG file after the signature, checking bounds and CRCs.
struct ChunkReader {
    struct Chunk {
        /// The four-letter type, e.g. "IHDR".
        let type: String
        /// Offset of the chunk's length field in the file.
        let offset: Int
        /// The chunk's data, a view into the file (not a copy).
        let data: ArraySlice<UInt8>
    }

    let data: [UInt8]
    var position = 8

    /// The next chunk, or nil at the end of the file.
    mutating func next() throws(PNGError) -> Chunk? {
        guard position < data.count else { return nil }
        let start = position
        guard data.count - start >= 12 else {
            throw .truncated(offset: start, detail: "\(data.count - start) bytes left, a chunk needs at least 12")
        }
        let length = Int(data[start]) << 24 | Int(data[start + 1]) << 16 | Int(data[start + 2]) << 8 | Int(data[start + 3])
        let typeBytes = Array(data[(start + 4)..<(start + 8)])
        guard typeBytes.allSatisfy({ (65...90).contains($0) || (97...122).contains($0) }) else {
            throw .badChunkType(offset: start + 4)
        }
        let type = String(decoding: typeBytes, as: UTF8.self)
        guard length <= 0x7FFF_FFFF, length <= data.count - start - 12 else {
            throw .truncated(offset: start, detail: "chunk \(type) declares \(length) bytes but only \(data.count - start - 12) remain")
        }
        let body = data[(start + 8)..<(start + 8 + length)]
        let crcAt = start + 8 + length
        let stored = UInt32(data[crcAt]) << 24 | UInt32(data[crcAt + 1]) << 16 | UInt32(data[crcAt + 2]) << 8 | UInt32(data[crcAt + 3])
        let computed = Checksum.crc32(body, initial: Checksum.crc32(typeBytes))
        guard stored == computed else { throw .badCRC(type: type, offset: start, stored: stored, computed: computed) }
        position = crcAt + 4
        return Chunk(type: type, offset: start, data: body)
    }
}

/// Why a PNG file could not be decoded. Offsets are byte offsets into the file.
public enum PNGError: Error, CustomStringConvertible, Equatable {
    /// The file does not start with the PNG signature.
    case notPNG
    /// The first chunk is not IHDR.
    case missingHeader
    /// IHDR holds an invalid value.
    case badHeader(detail: String)
    /// The image has more pixels than `ImageLimits.maxPixels`.
    case tooLarge(width: Int, height: Int, limit: Int)
    /// The file ends inside a chunk.
    case truncated(offset: Int, detail: String)
    /// A chunk type is not four ASCII letters.
    case badChunkType(offset: Int)
    /// A chunk's stored CRC-32 does not match its type and data.
    case badCRC(type: String, offset: Int, stored: UInt32, computed: UInt32)
    /// A chunk's contents are invalid.
    case badChunk(type: String, offset: Int, detail: String)
    /// There is no IDAT chunk.
    case missingImageData
    /// The zlib stream in IDAT is corrupt (the decompressor's message).
    case badImageData(detail: String)
    /// The decompressed image data is shorter than the header implies.
    case truncatedImageData(expected: Int, got: Int)
    /// A scanline names a filter type other than 0…4.
    case badFilter(type: Int, row: Int, pass: Int)

    /// One line saying what was wrong, where, and what was expected.
    public var description: String {
        switch self {
        case .notPNG:
            return "not a PNG file: the first 8 bytes are not the PNG signature 89 50 4E 47 0D 0A 1A 0A"
        case .missingHeader:
            return "broken PNG file: the first chunk (byte 8) must be IHDR"
        case .badHeader(let detail):
            return "broken PNG file: bad IHDR chunk: \(detail)"
        case .tooLarge(let width, let height, let limit):
            return "PNG image is \(width)×\(height) pixels, more than the limit of \(limit) (a possible decompression bomb)"
        case .truncated(let offset, let detail):
            return "truncated PNG file at byte \(offset): \(detail)"
        case .badChunkType(let offset):
            return "broken PNG file: chunk type at byte \(offset) is not four ASCII letters"
        case .badCRC(let type, let offset, let stored, let computed):
            return "broken PNG file: bad CRC in chunk \(type) at byte \(offset) "
                + "(stored \(hex(stored)), computed \(hex(computed))); the file is corrupt"
        case .badChunk(let type, let offset, let detail):
            return "broken PNG file: chunk \(type) at byte \(offset): \(detail)"
        case .missingImageData:
            return "broken PNG file: no IDAT chunk (no image data) before IEND"
        case .badImageData(let detail):
            return "broken PNG file: corrupt image data in IDAT: \(detail)"
        case .truncatedImageData(let expected, let got):
            return "truncated PNG image data: \(got) bytes decompressed, the header implies \(expected)"
        case .badFilter(let type, let row, let pass):
            return "broken PNG file: scanline \(row)\(pass > 0 ? " of Adam7 pass \(pass)" : "") has filter type \(type); expected 0…4"
        }
    }
}

/// `0x` followed by 8 hex digits.
private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}

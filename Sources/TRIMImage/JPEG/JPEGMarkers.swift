/// One image component declared by the frame header (SOF), with the geometry of its storage.
struct JPEGComponent {
    /// Component identifier Cᵢ.
    let id: UInt8
    /// Horizontal and vertical sampling factors Hᵢ, Vᵢ (1…4).
    let h: Int
    let v: Int
    /// Quantisation table selector Tqᵢ (0…3).
    let quantSelector: Int
    /// Samples per line and lines: ⌈width·Hᵢ/Hmax⌉ × ⌈height·Vᵢ/Vmax⌉ (libjpeg's `downsampled_width/height`).
    var sampleWidth = 0
    var sampleHeight = 0
    /// The block grid stored for this component, padded to whole MCUs: `[blockRows, blocksPerRow]`.
    var blocksPerRow = 0
    var blockRows = 0
    /// Where this component's `[blockRows, blocksPerRow, 64]` coefficients start in the frame's array.
    var coefficientOffset = 0
    /// The dequantisation table in natural (row-major) order, latched at the first scan that codes this
    /// component as libjpeg does; all zeros when no scan ever does.
    var quant = [Int32](repeating: 0, count: 64)
    var quantLatched = false
}

/// The frame header (SOF0/1/2) and the MCU geometry derived from it.
struct JPEGFrame {
    let width: Int
    let height: Int
    let progressive: Bool
    var components: [JPEGComponent]
    /// Largest sampling factors; an MCU of an interleaved scan covers `8·maxH × 8·maxV` pixels.
    let maxH: Int
    let maxV: Int
    /// MCUs per row and MCU rows of an interleaved scan.
    let mcusPerRow: Int
    let mcuRows: Int
    /// Total coefficients of all components.
    let coefficientCount: Int
}

/// Cheap header facts (see `JPEGDecoder.readHeader`).
struct JPEGHeaderSummary {
    let width: Int
    let height: Int
    let components: Int
    let progressive: Bool
}

/// Zig-zag position → natural (row-major) position, plus 16 trailing 63s so a corrupt run-length that
/// overshoots position 63 lands harmlessly on 63 (the same guard libjpeg's `jpeg_natural_order` has).
let jpegNaturalOrder: [Int] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
    63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
]

/// Reads marker segments: bounds-checked big-endian access to the file.
struct JPEGSegmentReader {
    let data: [UInt8]

    /// The body of the segment whose marker byte `marker` (its `FF` at `markerOffset`) is followed by the
    /// 2-byte length at `lengthAt`: `(start, end)`, the bytes after the length up to the segment's end.
    func segment(lengthAt: Int, marker: UInt8, markerOffset: Int) throws -> (start: Int, end: Int) {
        guard lengthAt + 2 <= data.count else {
            throw JPEGError.truncated(
                offset: data.count, context: "the length of \(jpegMarkerName(marker))")
        }
        let length = Int(data[lengthAt]) << 8 | Int(data[lengthAt + 1])
        guard length >= 2 else {
            throw JPEGError.badSegment(
                marker: jpegMarkerName(marker), offset: markerOffset, reason: "length \(length) is below 2")
        }
        let end = lengthAt + length
        guard end <= data.count else {
            throw JPEGError.truncated(
                offset: data.count, context: "\(jpegMarkerName(marker)) segment of \(length) bytes")
        }
        return (lengthAt + 2, end)
    }

    /// Finds the next marker at or after `position`, skipping stray bytes and `FF` fill bytes as libjpeg's
    /// `next_marker` does. Returns the marker byte, the offset of its `FF`, and the position after it.
    func nextMarker(from position: Int) throws -> (marker: UInt8, offset: Int, next: Int) {
        var p = position
        while true {
            while p < data.count && data[p] != 0xFF { p += 1 }
            let ff = p
            while p < data.count && data[p] == 0xFF { p += 1 }
            guard p < data.count else {
                throw JPEGError.truncated(
                    offset: data.count, context: "the next marker (no end-of-image marker FF D9)")
            }
            let m = data[p]
            p += 1
            if m != 0 { return (m, ff, p) }
        }
    }
}

extension JPEGFrame {
    /// Parses an SOF0/SOF1/SOF2 body and derives the component geometry. Refuses what Pillow refuses
    /// (precision ≠ 8: "cannot handle N-bit layers"; 2 or more than 4 components) and what libjpeg-turbo
    /// refuses (zero or > 65500 dimensions, fractional sampling ratios, sampling factors outside 1…4),
    /// and images above `ImageLimits.maxPixels`, all before allocating.
    init(data: [UInt8], marker: UInt8, offset: Int, body: (start: Int, end: Int)) throws {
        let name = jpegMarkerName(marker)
        func bad(_ reason: String) -> JPEGError {
            .badSegment(marker: name, offset: offset, reason: reason)
        }
        let (s, e) = body
        guard e - s >= 6 else { throw bad("\(e - s) bytes, expected at least 6") }
        let precision = Int(data[s])
        let height = Int(data[s + 1]) << 8 | Int(data[s + 2])
        let width = Int(data[s + 3]) << 8 | Int(data[s + 4])
        let count = Int(data[s + 5])
        guard precision == 8 else {
            throw JPEGError.unsupported(
                marker: name, offset: offset,
                feature: "\(precision)-bit samples (only 8-bit; Pillow refuses them too)")
        }
        guard height > 0 else {
            throw JPEGError.unsupported(
                marker: name, offset: offset, feature: "image height 0 (height given by a DNL marker)")
        }
        guard width > 0 else { throw bad("image width is 0") }
        guard width <= 65500 && height <= 65500 else {
            throw bad("\(width)×\(height) exceeds libjpeg's largest dimension, 65500")
        }
        guard width * height <= ImageLimits.maxPixels else {
            throw JPEGError.tooLarge(width: width, height: height, limit: ImageLimits.maxPixels)
        }
        guard count == 1 || count == 3 || count == 4 else {
            throw JPEGError.unsupported(
                marker: name, offset: offset,
                feature: "\(count) components (1 grey, 3 colour or 4 CMYK/YCCK)")
        }
        guard e - s == 6 + 3 * count else {
            throw bad("\(e - s) bytes, expected \(6 + 3 * count) for \(count) components")
        }
        var components: [JPEGComponent] = []
        for i in 0..<count {
            let p = s + 6 + 3 * i
            let id = data[p]
            let h = Int(data[p + 1] >> 4)
            let v = Int(data[p + 1] & 15)
            let tq = Int(data[p + 2])
            guard (1...4).contains(h) && (1...4).contains(v) else {
                throw bad("component \(id) has sampling factors \(h)×\(v), expected 1…4 each")
            }
            guard tq <= 3 else {
                throw bad("component \(id) selects quantisation table \(tq), expected 0…3")
            }
            guard !components.contains(where: { $0.id == id }) else {
                throw bad("component id \(id) appears twice")
            }
            components.append(JPEGComponent(id: id, h: h, v: v, quantSelector: tq))
        }
        let maxH = components.map(\.h).max() ?? 1
        let maxV = components.map(\.v).max() ?? 1
        for c in components where maxH % c.h != 0 || maxV % c.v != 0 {
            throw JPEGError.unsupported(
                marker: name, offset: offset,
                feature:
                    "component \(c.id) sampled \(c.h)×\(c.v) against \(maxH)×\(maxV) is a fractional ratio")
        }
        let mcusPerRow = (width + 8 * maxH - 1) / (8 * maxH)
        let mcuRows = (height + 8 * maxV - 1) / (8 * maxV)
        var total = 0
        for i in components.indices {
            components[i].sampleWidth = (width * components[i].h + maxH - 1) / maxH
            components[i].sampleHeight = (height * components[i].v + maxV - 1) / maxV
            components[i].blocksPerRow = mcusPerRow * components[i].h
            components[i].blockRows = mcuRows * components[i].v
            components[i].coefficientOffset = total
            total += components[i].blocksPerRow * components[i].blockRows * 64
        }
        self.width = width
        self.height = height
        self.progressive = marker == 0xC2
        self.components = components
        self.maxH = maxH
        self.maxV = maxV
        self.mcusPerRow = mcusPerRow
        self.mcuRows = mcuRows
        self.coefficientCount = total
    }
}

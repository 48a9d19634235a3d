/// A pure-Swift JPEG decoder whose pixels are bit-exact with Pillow's
/// `Image.open(f).convert("RGB")` (Pillow 13 with its bundled libjpeg-turbo 3.2 at default settings:
/// accurate integer IDCT, fancy upsampling, fixed-point YCbCr→RGB).
///
/// Supported: baseline, extended sequential (Huffman) and progressive JPEG (spectral selection,
/// successive approximation, end-of-band runs), multi-scan sequential files, 8-bit samples,
/// 1 (grey), 3 (YCbCr or RGB) and 4 (CMYK or YCCK, converted as Pillow does) components, every
/// integral sampling ratio libjpeg accepts, restart intervals, and any APPn/COM segments (skipped;
/// EXIF orientation is not applied, as Pillow's `open` does not).
///
/// Refused with `JPEGError.unsupported`: arithmetic coding (SOF9–11; Pillow's libjpeg-turbo does decode
/// it), lossless (SOF3), hierarchical (SOF5–7, SOF13–15;
/// libjpeg refuses them as well), 12/16-bit samples (Pillow raises "cannot handle N-bit layers"),
/// 2 or more than 4 components (Pillow raises "cannot handle N-layer images"), DNL-defined height.
///
/// Progressive files that end early (an end-of-image marker before the last scan) or never fully refine
/// some low-frequency coefficients get libjpeg-turbo's inter-block smoothing, as in Pillow
/// (`JPEGSmoothing`). A restart interval or scan that runs into a marker is finished with zero bits
/// and the rest of the interval left grey, as libjpeg-turbo does.
public enum JPEGDecoder {
    /// Width, height, component count and whether the frame is progressive, read from the markers up to
    /// the frame header (SOF) without decoding anything.
    public static func readHeader(_ data: [UInt8]) throws -> (
        width: Int, height: Int, components: Int, progressive: Bool
    ) {
        var parser = JPEGParser(data: data)
        let s = try parser.parseHeaderOnly()
        return (s.width, s.height, s.components, s.progressive)
    }

    /// Decodes a JPEG file to interleaved 8-bit RGB `[height, width, 3]`, the pixels Pillow's
    /// `Image.open(f).convert("RGB")` gives. Throws `JPEGError` for malformed, truncated (Pillow:
    /// "image file is truncated") or unsupported files and for images above `ImageLimits.maxPixels`.
    public static func decode(_ data: [UInt8]) throws -> RGBImage {
        var parser = JPEGParser(data: data)
        try parser.parseAll()
        guard let frame = parser.frame else {
            throw JPEGError.badSegment(
                marker: jpegMarkerName(0xD9), offset: data.count, reason: "no frame header (SOF) before it")
        }
        let space = JPEGColorSpace(
            componentIDs: frame.components.map(\.id), sawJFIF: parser.sawJFIF,
            adobeTransform: parser.adobeTransform)
        var planes = parser.planes
        if planes.isEmpty {
            // Multi-scan (progressive or non-interleaved) file: all coefficients are known only now.
            let smoothing = JPEGSmoothing(
                frame: frame, coefBits: parser.coefBits, previousCoefBits: parser.previousCoefBits,
                scanCount: parser.scanCount, lastGoodIMCURow: parser.lastGoodIMCURow)
            planes = frame.components.map { [UInt8](repeating: 0, count: $0.blocksPerRow * $0.blockRows * 64) }
            parser.coefficients.withUnsafeBufferPointer { coefs in
                guard let base = coefs.baseAddress else { return }
                for (ci, c) in frame.components.enumerated() {
                    inverseTransform(
                        rows: 0..<((c.sampleHeight + 7) / 8), component: ci, frame: frame,
                        blocks: base + c.coefficientOffset, firstStoredRow: 0, plane: &planes[ci],
                        smoothing: smoothing.map { ($0, base) })
                }
            }
        }
        return render(frame: frame, planes: planes, space: space)
    }

    /// Inverse DCT (after block smoothing when it applies) of block rows `rows` of component `ci` into
    /// its plane `[blockRows·8, blocksPerRow·8]`, skipping blocks that hold no real samples.
    ///
    /// - `blocks`: the component's stored coefficients `[storedRows, blocksPerRow, 64]`, whose first row
    ///   is block row `firstStoredRow` (0 for the whole frame, the MCU row's first block row when
    ///   streaming a single-scan file).
    /// - `smoothing`: the smoothing rule and the whole frame's coefficient array it reads neighbours from.
    static func inverseTransform(
        rows: Range<Int>, component ci: Int, frame: JPEGFrame, blocks: UnsafePointer<Int16>, firstStoredRow: Int,
        plane: inout [UInt8], smoothing: (JPEGSmoothing, UnsafePointer<Int16>)?
    ) {
        let c = frame.components[ci]
        let stride = c.blocksPerRow * 8
        let usedCols = (c.sampleWidth + 7) / 8
        var smoothed = [Int16](repeating: 0, count: 64)
        plane.withUnsafeMutableBufferPointer { out in
            c.quant.withUnsafeBufferPointer { q in
                JPEGIDCT.rangeLimit.withUnsafeBufferPointer { range in
                    smoothed.withUnsafeMutableBufferPointer { sm in
                        guard let outBase = out.baseAddress, let qBase = q.baseAddress,
                            let rBase = range.baseAddress, let smBase = sm.baseAddress
                        else { return }
                        // Hot loop: one 8×8 integer IDCT per block that covers real samples.
                        for by in rows {
                            for bx in 0..<usedCols {
                                var block = blocks + ((by - firstStoredRow) * c.blocksPerRow + bx) * 64
                                if let (rule, frameCoefficients) = smoothing {
                                    rule.smoothedBlock(
                                        frame: frame, component: ci, row: by, col: bx,
                                        coefficients: frameCoefficients, into: smBase)
                                    block = UnsafePointer(smBase)
                                }
                                JPEGIDCT.islowSIMD(
                                    block, qBase, outBase + by * 8 * stride + bx * 8, stride: stride,
                                    rangeLimit: rBase)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Upsampling and colour conversion of the component planes, one output row at a time.
    static func render(frame: JPEGFrame, planes: [[UInt8]], space: JPEGColorSpace) -> RGBImage {
        let width = frame.width
        let height = frame.height
        // Upsample and convert, one output row at a time.
        let methods = frame.components.map {
            JPEGUpsampling(component: $0, maxH: frame.maxH, maxV: frame.maxV)
        }
        let rowCapacity = max(width, 2 * (frame.components.map(\.sampleWidth).max() ?? width)) + 16
        var scratch = [UInt8](repeating: 0, count: rowCapacity * frame.components.count)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeMutableBufferPointer { outBuf in
            scratch.withUnsafeMutableBufferPointer { scratchBuf in
                guard let out = outBuf.baseAddress, let tmp = scratchBuf.baseAddress else { return }
                withPlanePointers(planes) { planePointers in
                    var rows = [UnsafePointer<UInt8>](
                        repeating: UnsafePointer(tmp), count: frame.components.count)
                    for y in 0..<height {
                        for (i, c) in frame.components.enumerated() {
                            rows[i] = JPEGColorConverter.upsampledRow(
                                y, method: methods[i], component: c, plane: planePointers[i],
                                stride: c.blocksPerRow * 8, width: width, out: tmp + i * rowCapacity)
                        }
                        JPEGColorConverter.convertRow(space, rows: rows, width: width, out: out + y * width * 3)
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Calls `body` with stable base pointers of up to four planes.
    private static func withPlanePointers(
        _ planes: [[UInt8]], _ body: ([UnsafePointer<UInt8>]) -> Void
    ) {
        func step(_ i: Int, _ acc: [UnsafePointer<UInt8>]) {
            if i == planes.count {
                body(acc)
                return
            }
            planes[i].withUnsafeBufferPointer { p in
                guard let base = p.baseAddress else { return }
                step(i + 1, acc + [base])
            }
        }
        step(0, [])
    }
}

/// Walks the marker segments of a JPEG file, keeps the tables, and decodes every scan into the
/// frame's coefficient array.
struct JPEGParser {
    let data: [UInt8]
    let segments: JPEGSegmentReader
    var frame: JPEGFrame?
    /// `[4]` dequantisation tables in natural order (DQT).
    var quantTables: [[Int32]?] = [nil, nil, nil, nil]
    var dcTables: [JPEGHuffmanTable?] = [nil, nil, nil, nil]
    var acTables: [JPEGHuffmanTable?] = [nil, nil, nil, nil]
    var restartInterval = 0
    var sawJFIF = false
    var adobeTransform: Int?
    var scanCount = 0
    /// Progression status per component for block smoothing (see `JPEGSmoothing`): `[components, 64]`
    /// Al of the last scan per zig-zag position or −1, and the state before the last scan touching it.
    var coefBits: [[Int]] = []
    var previousCoefBits: [[Int]] = []
    var lastGoodIMCURow = 0
    /// All components' `[blockRows, blocksPerRow, 64]` quantised coefficients, back to back (multi-scan
    /// files only).
    var coefficients: [Int16] = []
    /// libjpeg's single-pass case, decided at the first scan: a sequential scan holding every component.
    /// Such a file is decoded MCU row by MCU row straight into `planes`, and a second scan is an error.
    var singlePass = false
    /// The IDCT output per component, `[blockRows·8, blocksPerRow·8]`, filled while streaming.
    var planes: [[UInt8]] = []

    init(data: [UInt8]) {
        self.data = data
        self.segments = JPEGSegmentReader(data: data)
    }

    /// Reads markers up to and including the frame header.
    mutating func parseHeaderOnly() throws -> JPEGHeaderSummary {
        try walk(stopAtFrame: true)
        guard let f = frame else {
            throw JPEGError.truncated(offset: data.count, context: "the markers before a frame header")
        }
        return JPEGHeaderSummary(
            width: f.width, height: f.height, components: f.components.count, progressive: f.progressive)
    }

    /// Reads every segment and scan up to the end-of-image marker.
    mutating func parseAll() throws {
        try walk(stopAtFrame: false)
    }

    private mutating func walk(stopAtFrame: Bool) throws {
        guard data.count >= 2, data[0] == 0xFF, data[1] == 0xD8 else { throw JPEGError.notJPEG }
        var position = 2
        // A marker already read by the scan decoder: (marker byte, offset of its FF, position after it).
        var pending: (UInt8, Int, Int)?
        while true {
            let (m, offset, after): (UInt8, Int, Int)
            if let p = pending {
                (m, offset, after) = p
                pending = nil
            } else {
                (m, offset, after) = try segments.nextMarker(from: position)
            }
            let name = jpegMarkerName(m)
            switch m {
            case 0xD9:  // EOI
                guard frame != nil, scanCount > 0 else {
                    throw JPEGError.badSegment(
                        marker: name, offset: offset, reason: "end of image before any scan (SOS)")
                }
                return
            case 0xD0...0xD7, 0x01:  // parameterless markers outside a scan: ignored, as libjpeg does
                position = after
                continue
            default:
                break
            }
            let body = try segments.segment(lengthAt: after, marker: m, markerOffset: offset)
            position = body.end
            switch m {
            case 0xC0, 0xC1, 0xC2:
                guard frame == nil else {
                    throw JPEGError.badSegment(marker: name, offset: offset, reason: "a second frame header")
                }
                frame = try JPEGFrame(data: data, marker: m, offset: offset, body: body)
                if stopAtFrame { return }
            case 0xC3:
                throw JPEGError.unsupported(marker: name, offset: offset, feature: "lossless JPEG")
            case 0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF:
                throw JPEGError.unsupported(
                    marker: name, offset: offset, feature: "hierarchical (differential) JPEG")
            case 0xC9, 0xCA, 0xCB:
                throw JPEGError.unsupported(marker: name, offset: offset, feature: "arithmetic coding")
            case 0xC4:
                try readHuffmanTables(body, offset: offset)
            case 0xCC:
                break  // DAC: arithmetic-coding conditioning, irrelevant without an arithmetic frame
            case 0xDB:
                try readQuantTables(body, offset: offset)
            case 0xDD:
                guard body.end - body.start == 2 else {
                    throw JPEGError.badSegment(
                        marker: name, offset: offset, reason: "\(body.end - body.start) bytes, expected 2")
                }
                restartInterval = Int(data[body.start]) << 8 | Int(data[body.start + 1])
            case 0xDA:
                guard !stopAtFrame else {
                    throw JPEGError.badSegment(
                        marker: name, offset: offset, reason: "scan before any frame header (SOF)")
                }
                let (next, nextOffset, nextAfter) = try decodeScan(body, offset: offset)
                pending = (next, nextOffset, nextAfter)
            case 0xE0:
                let b = body.start
                if body.end - b >= 14 && Array(data[b..<b + 5]) == [0x4A, 0x46, 0x49, 0x46, 0] {
                    sawJFIF = true
                }
            case 0xEE:
                let b = body.start
                if body.end - b >= 12 && Array(data[b..<b + 5]) == [0x41, 0x64, 0x6F, 0x62, 0x65] {
                    adobeTransform = Int(data[b + 11])
                }
            case 0xE1...0xEF, 0xFE, 0xDC:
                break  // other APPn, COM, DNL: skipped
            default:
                throw JPEGError.badSegment(marker: name, offset: offset, reason: "unknown marker")
            }
        }
    }

    /// DQT: one or more tables of 64 8- or 16-bit values in zig-zag order.
    private mutating func readQuantTables(_ body: (start: Int, end: Int), offset: Int) throws {
        var p = body.start
        while p < body.end {
            let precision = Int(data[p] >> 4)
            let index = Int(data[p] & 15)
            guard index <= 3, precision <= 1 else {
                throw JPEGError.badSegment(
                    marker: jpegMarkerName(0xDB), offset: offset,
                    reason: "table \(index) precision \(precision), expected 0…3 and 0/1")
            }
            let size = precision == 0 ? 64 : 128
            guard p + 1 + size <= body.end else {
                throw JPEGError.badSegment(
                    marker: jpegMarkerName(0xDB), offset: offset,
                    reason: "table \(index) runs past the segment end")
            }
            var table = [Int32](repeating: 0, count: 64)
            for k in 0..<64 {
                let v =
                    precision == 0
                    ? Int32(data[p + 1 + k]) : Int32(data[p + 1 + 2 * k]) << 8 | Int32(data[p + 2 + 2 * k])
                table[jpegNaturalOrder[k]] = v
            }
            quantTables[index] = table
            p += 1 + size
        }
    }

    /// DHT: one or more Huffman tables (class, index, 16 counts, symbols).
    private mutating func readHuffmanTables(_ body: (start: Int, end: Int), offset: Int) throws {
        let name = jpegMarkerName(0xC4)
        var p = body.start
        while p < body.end {
            let tableClass = Int(data[p] >> 4)
            let index = Int(data[p] & 15)
            guard tableClass <= 1, index <= 3 else {
                throw JPEGError.badSegment(
                    marker: name, offset: offset,
                    reason: "table class \(tableClass) index \(index), expected 0/1 and 0…3")
            }
            guard p + 17 <= body.end else {
                throw JPEGError.badSegment(
                    marker: name, offset: offset, reason: "code counts run past the segment end")
            }
            let counts = (0..<16).map { Int(data[p + 1 + $0]) }
            let total = counts.reduce(0, +)
            guard total <= 256, p + 17 + total <= body.end else {
                throw JPEGError.badSegment(
                    marker: name, offset: offset,
                    reason: "\(total) symbols do not fit the segment (at most 256)")
            }
            let values = Array(data[(p + 17)..<(p + 17 + total)])
            if tableClass == 0, let big = values.first(where: { $0 > 15 }) {
                throw JPEGError.badSegment(
                    marker: name, offset: offset, reason: "DC table \(index) has symbol \(big), expected 0…15"
                )
            }
            guard let table = JPEGHuffmanTable(counts: counts, values: values) else {
                throw JPEGError.badSegment(
                    marker: name, offset: offset,
                    reason: "table \(index) code lengths do not form a prefix code")
            }
            if tableClass == 0 { dcTables[index] = table } else { acTables[index] = table }
            p += 17 + total
        }
    }

    /// SOS: validates the scan, latches quantisation tables, decodes the entropy-coded data.
    /// Returns the marker that follows the scan data.
    private mutating func decodeScan(_ body: (start: Int, end: Int), offset: Int) throws -> (
        UInt8, Int, Int
    ) {
        let name = jpegMarkerName(0xDA)
        guard var f = frame else {
            throw JPEGError.badSegment(
                marker: name, offset: offset, reason: "scan before any frame header (SOF)")
        }
        let scan = try JPEGScanHeader(data: data, offset: offset, body: body, frame: f)
        var dc: [JPEGHuffmanTable?] = []
        var ac: [JPEGHuffmanTable?] = []
        for (i, ci) in scan.components.enumerated() {
            let needsDC = !f.progressive || (scan.ss == 0 && scan.ah == 0)
            let needsAC = !f.progressive || scan.ss > 0
            if needsDC && dcTables[scan.dcTables[i]] == nil {
                throw JPEGError.badSegment(
                    marker: name, offset: offset,
                    reason: "DC Huffman table \(scan.dcTables[i]) was never defined (DHT)")
            }
            if needsAC && acTables[scan.acTables[i]] == nil {
                throw JPEGError.badSegment(
                    marker: name, offset: offset,
                    reason: "AC Huffman table \(scan.acTables[i]) was never defined (DHT)")
            }
            dc.append(needsDC ? dcTables[scan.dcTables[i]] : nil)
            ac.append(needsAC ? acTables[scan.acTables[i]] : nil)
            if !f.components[ci].quantLatched {
                guard let q = quantTables[f.components[ci].quantSelector] else {
                    throw JPEGError.badSegment(
                        marker: name, offset: offset,
                        reason:
                            "component \(f.components[ci].id) uses quantisation table \(f.components[ci].quantSelector), never defined (DQT)"
                    )
                }
                f.components[ci].quant = q
                f.components[ci].quantLatched = true
            }
        }
        frame = f
        if f.progressive {
            // Progression status, as libjpeg-turbo's start_pass_phuff_decoder keeps it.
            if coefBits.isEmpty {
                coefBits = [[Int]](repeating: [Int](repeating: -1, count: 64), count: f.components.count)
                previousCoefBits = coefBits
            }
            for ci in scan.components {
                for k in min(scan.ss, 1)...max(scan.se, 9) {
                    previousCoefBits[ci][k] = scanCount > 0 ? coefBits[ci][k] : 0
                }
                for k in scan.ss...scan.se { coefBits[ci][k] = scan.al }
            }
        }
        if scanCount == 0 {
            singlePass = !f.progressive && scan.components.count == f.components.count
        } else if singlePass {
            throw JPEGError.badSegment(
                marker: name, offset: offset,
                reason: "a second scan after a scan that held every component (libjpeg-turbo refuses it too)")
        }
        let result =
            singlePass
            ? try decodeStreaming(scan, frame: f, dc: dc, ac: ac, body: body)
            : try decodeBuffered(scan, frame: f, dc: dc, ac: ac, body: body)
        scanCount += 1
        return result
    }

    /// Decodes a scan of a multi-scan file into the frame's coefficient array.
    private mutating func decodeBuffered(
        _ scan: JPEGScanHeader, frame f: JPEGFrame, dc: [JPEGHuffmanTable?], ac: [JPEGHuffmanTable?],
        body: (start: Int, end: Int)
    ) throws -> (UInt8, Int, Int) {
        if coefficients.isEmpty { coefficients = [Int16](repeating: 0, count: f.coefficientCount) }
        let interval = restartInterval
        var lastGood = lastGoodIMCURow
        var coefficients = self.coefficients
        self.coefficients = []
        defer { self.coefficients = coefficients }
        let result: (UInt8, Int, Int) = try data.withUnsafeBufferPointer { bytes in
            try coefficients.withUnsafeMutableBufferPointer { coefs in
                guard let base = coefs.baseAddress else { return (0xD9, body.end, body.end) }
                var decoder = JPEGScanDecoder(
                    frame: f, scan: scan, restartInterval: interval, dc: dc, ac: ac,
                    reader: JPEGBitReader(data: bytes, position: body.end))
                decoder.lastGoodIMCURow = lastGood
                let (m, o) = try decoder.run(coefficients: base)
                lastGood = decoder.lastGoodIMCURow
                return (m, o, decoder.reader.position)
            }
        }
        lastGoodIMCURow = lastGood
        return result
    }

    /// Decodes the only scan of a single-scan file one MCU row at a time: the coefficients of an MCU
    /// row go through the IDCT into `planes` at once, so memory holds samples, not coefficients.
    private mutating func decodeStreaming(
        _ scan: JPEGScanHeader, frame f: JPEGFrame, dc: [JPEGHuffmanTable?], ac: [JPEGHuffmanTable?],
        body: (start: Int, end: Int)
    ) throws -> (UInt8, Int, Int) {
        var planes = f.components.map { [UInt8](repeating: 0, count: $0.blocksPerRow * $0.blockRows * 64) }
        // One MCU row of coefficients per component: [V, blocksPerRow, 64].
        var offsets: [Int] = []
        var total = 0
        for c in f.components {
            offsets.append(total)
            total += c.v * c.blocksPerRow * 64
        }
        var buffer = [Int16](repeating: 0, count: total)
        let interleaved = scan.components.count > 1
        let interval = restartInterval
        let result: (UInt8, Int, Int) = try data.withUnsafeBufferPointer { bytes in
            try buffer.withUnsafeMutableBufferPointer { coefs in
                guard let base = coefs.baseAddress else { return (0xD9, body.end, body.end) }
                var decoder = JPEGScanDecoder(
                    frame: f, scan: scan, restartInterval: interval, dc: dc, ac: ac,
                    reader: JPEGBitReader(data: bytes, position: body.end), mcuRowOffsets: offsets)
                let (m, o) = try decoder.run(coefficients: base) { mcuRow in
                    for (ci, c) in f.components.enumerated() {
                        // An interleaved MCU row spans V block rows; a one-component scan's, one.
                        let first = interleaved ? mcuRow * c.v : mcuRow
                        let rows = first..<max(first, min(first + (interleaved ? c.v : 1), (c.sampleHeight + 7) / 8))
                        JPEGDecoder.inverseTransform(
                            rows: rows, component: ci, frame: f, blocks: base + offsets[ci], firstStoredRow: first,
                            plane: &planes[ci], smoothing: nil)
                    }
                    base.update(repeating: 0, count: total)
                }
                return (m, o, decoder.reader.position)
            }
        }
        self.planes = planes
        return result
    }
}

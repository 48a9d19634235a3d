/// The parameters of one scan (SOS): which components, which Huffman tables, which coefficients.
struct JPEGScanHeader {
    /// Frame component index of each scan component, in scan order.
    var components: [Int] = []
    var dcTables: [Int] = []
    var acTables: [Int] = []
    /// Spectral selection start/end (zig-zag positions) and successive-approximation bit positions.
    var ss = 0
    var se = 63
    var ah = 0
    var al = 0

    /// Parses and validates an SOS body against the frame, following libjpeg-turbo's checks
    /// (`get_sos`, `start_pass_phuff_decoder`; `JERR_BAD_PROGRESSION` is fatal there too).
    init(data: [UInt8], offset: Int, body: (start: Int, end: Int), frame: JPEGFrame) throws {
        let name = jpegMarkerName(0xDA)
        func bad(_ reason: String) -> JPEGError {
            .badSegment(marker: name, offset: offset, reason: reason)
        }
        let (s, e) = body
        guard e > s else { throw bad("empty segment") }
        let n = Int(data[s])
        guard (1...4).contains(n), e - s == 4 + 2 * n else {
            throw bad(
                "\(e - s) bytes for \(n) components, expected 1…4 components and \(4 + 2 * n) bytes")
        }
        for i in 0..<n {
            let id = data[s + 1 + 2 * i]
            let tables = data[s + 2 + 2 * i]
            guard let ci = frame.components.firstIndex(where: { $0.id == id }) else {
                throw bad("component id \(id) is not in the frame header")
            }
            guard !components.contains(ci) else { throw bad("component id \(id) appears twice") }
            let td = Int(tables >> 4)
            let ta = Int(tables & 15)
            guard td <= 3 && ta <= 3 else {
                throw bad("Huffman table selectors \(td)/\(ta), expected 0…3")
            }
            components.append(ci)
            dcTables.append(td)
            acTables.append(ta)
        }
        let p = s + 1 + 2 * n
        ss = Int(data[p])
        se = Int(data[p + 1])
        ah = Int(data[p + 2] >> 4)
        al = Int(data[p + 2] & 15)
        if n > 1 {
            let blocks = components.reduce(0) { $0 + frame.components[$1].h * frame.components[$1].v }
            guard blocks <= 10 else { throw bad("an MCU of \(blocks) blocks, at most 10 allowed") }
        }
        if frame.progressive {
            var ok = true
            if ss == 0 {
                ok = se == 0
            } else {
                ok = ss <= se && se <= 63 && n == 1
            }
            if ah != 0 && al != ah - 1 { ok = false }
            if al > 13 { ok = false }
            guard ok else {
                throw bad("invalid progression parameters Ss=\(ss) Se=\(se) Ah=\(ah) Al=\(al)")
            }
        } else {
            // Sequential: libjpeg only warns about Ss/Se/Ah/Al and always codes all 64 coefficients.
            ss = 0
            se = 63
            ah = 0
            al = 0
        }
    }
}

/// A Huffman table seen through raw pointers, so the decoding loop does no reference counting.
/// Valid while the `JPEGScanDecoder.run` call that made it is running.
struct JPEGHuffmanView {
    let lookup: UnsafeMutablePointer<UInt16>
    let fastAC: UnsafeMutablePointer<Int32>
    let maxCode: UnsafeMutablePointer<Int32>
    let valueOffset: UnsafeMutablePointer<Int32>
    let values: UnsafeMutablePointer<UInt8>
    let valueCount: Int

    /// Copies `table` into fresh allocations (released by `deallocate`).
    init(_ table: JPEGHuffmanTable) {
        lookup = .allocate(capacity: table.lookup.count)
        lookup.initialize(from: table.lookup, count: table.lookup.count)
        fastAC = .allocate(capacity: table.fastAC.count)
        fastAC.initialize(from: table.fastAC, count: table.fastAC.count)
        maxCode = .allocate(capacity: table.maxCode.count)
        maxCode.initialize(from: table.maxCode, count: table.maxCode.count)
        valueOffset = .allocate(capacity: table.valueOffset.count)
        valueOffset.initialize(from: table.valueOffset, count: table.valueOffset.count)
        values = .allocate(capacity: max(table.values.count, 1))
        values.initialize(from: table.values, count: table.values.count)
        valueCount = table.values.count
    }

    func deallocate() {
        lookup.deallocate()
        fastAC.deallocate()
        maxCode.deallocate()
        valueOffset.deallocate()
        values.deallocate()
    }
}

/// Decodes the entropy-coded data of one scan into the frame's quantised coefficients.
///
/// Coefficients are stored per component as `[blockRows, blocksPerRow, 64]` Int16 in natural order,
/// exactly what libjpeg's coefficient buffer holds before dequantisation and the IDCT.
struct JPEGScanDecoder {
    /// What the MCU loop needs of one scan component (plain integers: nothing reference-counted).
    struct Part {
        let coefficientOffset: Int
        let blocksPerRow: Int
        let h: Int
        let v: Int
        /// Index into the scan's table views.
        let dc: Int
        let ac: Int
    }

    enum Kind { case sequential, dcFirst, dcRefine, acFirst, acRefine }

    let kind: Kind
    let parts: [Part]
    let tables: [JPEGHuffmanTable]
    let mcuColumns: Int
    let mcuRows: Int
    let interleaved: Bool
    let ss: Int
    let se: Int
    let al: Int
    let restartInterval: Int
    var reader: JPEGBitReader
    /// DC predictions per scan component.
    var dcPred: (Int32, Int32, Int32, Int32) = (0, 0, 0, 0)
    /// Remaining blocks of the current end-of-band run (progressive AC scans).
    var eobRun = 0
    /// libjpeg-turbo's `insufficient_data`: once a scan used bits past a marker, the rest of the
    /// restart interval is left as zeros (uniform grey), exactly as libjpeg-turbo does.
    var insufficient = false
    /// libjpeg-turbo's `last_good_iMCU_row`: the iMCU row of the last MCU begun with data left.
    var lastGoodIMCURow = 0
    /// Block rows per iMCU row of this scan's MCU rows (1 when interleaved, else the component's V).
    let mcuRowsPerIMCURow: Int
    /// Whether the coefficient buffer holds one MCU row only (`[V, blocksPerRow, 64]` per component),
    /// handed to `afterMCURow` and cleared after each row.
    let streaming: Bool

    /// Prepares a scan. `dc`/`ac` hold each scan component's tables; nil where the scan kind does not
    /// use one (the caller has checked that the needed ones exist).
    init(
        frame: JPEGFrame, scan: JPEGScanHeader, restartInterval: Int,
        dc: [JPEGHuffmanTable?], ac: [JPEGHuffmanTable?], reader: JPEGBitReader, mcuRowOffsets: [Int]? = nil
    ) {
        if !frame.progressive {
            kind = .sequential
        } else if scan.ss == 0 {
            kind = scan.ah == 0 ? .dcFirst : .dcRefine
        } else {
            kind = scan.ah == 0 ? .acFirst : .acRefine
        }
        var tables: [JPEGHuffmanTable] = []
        func index(_ t: JPEGHuffmanTable?) -> Int {
            guard let t else { return -1 }
            tables.append(t)
            return tables.count - 1
        }
        var parts: [Part] = []
        for (i, ci) in scan.components.enumerated() {
            let c = frame.components[ci]
            parts.append(
                Part(
                    coefficientOffset: mcuRowOffsets?[ci] ?? c.coefficientOffset, blocksPerRow: c.blocksPerRow,
                    h: c.h, v: c.v, dc: index(dc[i]), ac: index(ac[i])))
        }
        self.tables = tables
        self.parts = parts
        interleaved = scan.components.count > 1
        // A single-component scan codes the component's own block grid, one block per MCU.
        let c0 = frame.components[scan.components[0]]
        mcuColumns = interleaved ? frame.mcusPerRow : (c0.sampleWidth + 7) / 8
        mcuRows = interleaved ? frame.mcuRows : (c0.sampleHeight + 7) / 8
        mcuRowsPerIMCURow = interleaved ? 1 : c0.v
        streaming = mcuRowOffsets != nil
        ss = scan.ss
        se = scan.se
        al = scan.al
        self.restartInterval = restartInterval
        self.reader = reader
    }

    /// Runs the scan. On return the reader is positioned after the marker that ends the scan, which
    /// is returned.
    mutating func run(
        coefficients: UnsafeMutablePointer<Int16>, afterMCURow: (Int) -> Void = { _ in }
    ) throws -> (marker: UInt8, offset: Int) {
        let views = tables.map(JPEGHuffmanView.init)
        defer { views.forEach { $0.deallocate() } }
        let natural = UnsafeMutablePointer<Int>.allocate(capacity: jpegNaturalOrder.count)
        natural.initialize(from: jpegNaturalOrder, count: jpegNaturalOrder.count)
        defer { natural.deallocate() }
        let dummy = views.first
        var nextRestart = 0
        var mcu = 0
        try parts.withUnsafeBufferPointer { parts in
            try views.withUnsafeBufferPointer { views in
                for my in 0..<mcuRows {
                    for mx in 0..<mcuColumns {
                        if !insufficient { lastGoodIMCURow = my / mcuRowsPerIMCURow }
                        if restartInterval > 0 && mcu > 0 && mcu % restartInterval == 0 {
                            try processRestart(expected: &nextRestart)
                        }
                        mcu += 1
                        if insufficient { continue }
                        for si in 0..<parts.count {
                            let p = parts[si]
                            let dcView = p.dc >= 0 ? views[p.dc] : dummy
                            let acView = p.ac >= 0 ? views[p.ac] : dummy
                            let (bh, bw) = interleaved ? (p.v, p.h) : (1, 1)
                            for by in 0..<bh {
                                for bx in 0..<bw {
                                    let row = streaming ? by : (interleaved ? my * p.v + by : my)
                                    let col = interleaved ? mx * p.h + bx : mx
                                    let block = coefficients + p.coefficientOffset + (row * p.blocksPerRow + col) * 64
                                    switch kind {
                                    case .sequential:
                                        guard let dcView, let acView else { return }
                                        try decodeSequential(block, dcView, acView, si, natural)
                                    case .dcFirst:
                                        guard let dcView else { return }
                                        try decodeDCFirst(block, dcView, si)
                                    case .dcRefine:
                                        try decodeDCRefine(block)
                                    case .acFirst:
                                        guard let acView else { return }
                                        try decodeACFirst(block, acView, natural)
                                    case .acRefine:
                                        guard let acView else { return }
                                        try decodeACRefine(block, acView, natural)
                                    }
                                }
                            }
                        }
                        if reader.bitCount < reader.paddingBits { insufficient = true }
                    }
                    if streaming { afterMCURow(my) }
                }
            }
        }
        return try reader.nextMarker()
    }

    /// Adds `diff` to scan component `si`'s DC prediction and returns the new value.
    @inline(__always)
    mutating func predict(_ si: Int, _ diff: Int32) -> Int32 {
        switch si {
        case 0:
            dcPred.0 = dcPred.0 &+ diff
            return dcPred.0
        case 1:
            dcPred.1 = dcPred.1 &+ diff
            return dcPred.1
        case 2:
            dcPred.2 = dcPred.2 &+ diff
            return dcPred.2
        default:
            dcPred.3 = dcPred.3 &+ diff
            return dcPred.3
        }
    }

    /// Baseline / extended sequential: DC difference, then run-length coded AC coefficients (T.81 F.2.2).
    ///
    /// Hot loop. One refill check per coefficient: 32 buffered bits cover a code (≤ 16 bits) and its
    /// magnitude bits (≤ 16).
    @inline(__always)
    mutating func decodeSequential(
        _ block: UnsafeMutablePointer<Int16>, _ dc: JPEGHuffmanView, _ ac: JPEGHuffmanView, _ si: Int,
        _ natural: UnsafeMutablePointer<Int>
    ) throws {
        // The reader lives in a local copy here so its bit buffer stays in registers.
        var bits = reader
        defer { reader = bits }
        if bits.bitCount < 32 { try bits.fill() }
        let t = try bits.decode(dc)
        block[0] = Int16(truncatingIfNeeded: predict(si, bits.extendBuffered(t)))
        var k = 1
        while k < 64 {
            if bits.bitCount < 32 { try bits.fill() }
            // Most coefficients: code and magnitude in one 9-bit look-up.
            let fast = ac.fastAC[bits.peek9()]
            if fast != 0 {
                bits.bitCount &-= Int(fast & 0xFF)
                k += Int((fast >> 8) & 0xFF)
                block[natural[k]] = Int16(truncatingIfNeeded: fast >> 16)
                k += 1
                continue
            }
            let rs = try bits.decode(ac)
            let r = rs >> 4
            let s = rs & 15
            if s != 0 {
                k += r
                block[natural[k]] = Int16(truncatingIfNeeded: bits.extendBuffered(s))
            } else {
                if r != 15 { break }
                k += 15
            }
            k += 1
        }
    }

    /// Progressive DC first scan: the DC difference, scaled by 2^Al (T.81 G.1.2.1).
    mutating func decodeDCFirst(_ block: UnsafeMutablePointer<Int16>, _ dc: JPEGHuffmanView, _ si: Int) throws {
        if reader.bitCount < 32 { try reader.fill() }
        let t = try reader.decode(dc)
        let value = predict(si, reader.extendBuffered(t))
        block[0] = Int16(truncatingIfNeeded: value &<< Int32(al))
    }

    /// Progressive DC refinement: one more bit of the DC coefficient.
    mutating func decodeDCRefine(_ block: UnsafeMutablePointer<Int16>) throws {
        if try reader.bit() != 0 {
            block[0] |= Int16(truncatingIfNeeded: 1 << al)
        }
    }

    /// Progressive AC first scan over the band Ss…Se, with end-of-band runs (T.81 G.1.2.2).
    mutating func decodeACFirst(
        _ block: UnsafeMutablePointer<Int16>, _ ac: JPEGHuffmanView, _ natural: UnsafeMutablePointer<Int>
    ) throws {
        if eobRun > 0 {
            eobRun -= 1
            return
        }
        var bits = reader  // local copy: the bit buffer stays in registers
        defer { reader = bits }
        let al = Int32(self.al)
        var k = ss
        while k <= se {
            if bits.bitCount < 32 { try bits.fill() }
            let fast = ac.fastAC[bits.peek9()]
            if fast != 0 {
                bits.bitCount &-= Int(fast & 0xFF)
                k += Int((fast >> 8) & 0xFF)
                block[natural[k]] = Int16(truncatingIfNeeded: (fast >> 16) &<< al)
                k += 1
                continue
            }
            let rs = try bits.decode(ac)
            let r = rs >> 4
            let s = rs & 15
            if s != 0 {
                k += r
                block[natural[k]] = Int16(truncatingIfNeeded: bits.extendBuffered(s) &<< al)
            } else if r == 15 {
                k += 15
            } else {
                eobRun = 1 << r
                if r > 0 { eobRun += try bits.bits(r) }
                eobRun -= 1
                break
            }
            k += 1
        }
    }

    /// Progressive AC refinement (T.81 G.1.2.3): correction bits for already-nonzero coefficients and
    /// newly nonzero ±2^Al coefficients, mirroring libjpeg's `decode_mcu_AC_refine` step for step.
    mutating func decodeACRefine(
        _ block: UnsafeMutablePointer<Int16>, _ ac: JPEGHuffmanView, _ natural: UnsafeMutablePointer<Int>
    ) throws {
        var reader = self.reader  // local copy: the bit buffer stays in registers
        defer { self.reader = reader }
        let p1 = Int16(truncatingIfNeeded: 1 << al)
        let m1 = Int16(truncatingIfNeeded: -1 << al)
        var k = ss
        if eobRun == 0 {
            while k <= se {
                if reader.bitCount < 32 { try reader.fill() }
                let rs = try reader.decode(ac)
                var r = rs >> 4
                var s: Int16 = 0
                if rs & 15 != 0 {
                    // The size of a new coefficient is always 1 (libjpeg only warns otherwise).
                    s = try reader.bit() != 0 ? p1 : m1
                } else if r != 15 {
                    eobRun = 1 << r
                    if r > 0 { eobRun += try reader.bits(r) }
                    break
                }
                // Skip r still-zero coefficients, refining the nonzero ones passed on the way.
                repeat {
                    let pos = natural[k]
                    let coef = block[pos]
                    if coef != 0 {
                        if try reader.bit() != 0 && (coef & p1) == 0 {
                            block[pos] = coef >= 0 ? coef &+ p1 : coef &+ m1
                        }
                    } else {
                        r -= 1
                        if r < 0 { break }
                    }
                    k += 1
                } while k <= se
                if s != 0 {
                    block[natural[k]] = s
                }
                k += 1
            }
        }
        if eobRun > 0 {
            // Inside an end-of-band run: only correction bits for the nonzero coefficients.
            while k <= se {
                let pos = natural[k]
                let coef = block[pos]
                if coef != 0 {
                    if try reader.bit() != 0 && (coef & p1) == 0 {
                        block[pos] = coef >= 0 ? coef &+ p1 : coef &+ m1
                    }
                }
                k += 1
            }
            eobRun -= 1
        }
    }

    /// At a restart interval boundary: find the RSTn marker, resynchronise like libjpeg's
    /// `jpeg_resync_to_restart` when it is not the expected one, and reset the predictions.
    mutating func processRestart(expected: inout Int) throws {
        var (m, offset) = try reader.nextMarker()
        var accepted = false
        resync: while true {
            let action: Int
            if m < 0xC0 {
                action = 2  // not a valid marker: keep scanning
            } else if m < 0xD0 || m > 0xD7 {
                action = 3  // a real marker: leave it for the scan loop, which sees zero bits
            } else {
                let n = Int(m) - 0xD0
                if n == (expected + 1) & 7 || n == (expected + 2) & 7 {
                    action = 3
                } else if n == (expected + 7) & 7 || n == (expected + 6) & 7 {
                    action = 2
                } else {
                    action = 1
                }
            }
            switch action {
            case 1:
                accepted = true
                break resync
            case 2:
                (m, offset) = try reader.nextMarker()
            default:
                reader.marker = Int(m)
                reader.markerOffset = offset
                break resync
            }
        }
        expected = (expected + 1) & 7
        dcPred = (0, 0, 0, 0)
        eobRun = 0
        if accepted { insufficient = false }
    }
}

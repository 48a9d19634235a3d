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

/// Decodes the entropy-coded data of one scan into the frame's quantised coefficients.
///
/// Coefficients are stored per component as `[blockRows, blocksPerRow, 64]` Int16 in natural order,
/// exactly what libjpeg's coefficient buffer holds before dequantisation and the IDCT.
struct JPEGScanDecoder {
    let frame: JPEGFrame
    let scan: JPEGScanHeader
    let restartInterval: Int
    /// Tables per scan component (nil when the scan kind does not use them).
    let dc: [JPEGHuffmanTable?]
    let ac: [JPEGHuffmanTable?]
    var reader: JPEGBitReader
    /// DC predictions per scan component.
    var dcPred = [Int32](repeating: 0, count: 4)
    /// Remaining blocks of the current end-of-band run (progressive AC scans).
    var eobRun = 0
    /// libjpeg-turbo's `insufficient_data`: once a scan used bits past a marker, the rest of the
    /// restart interval is left as zeros (uniform grey), exactly as libjpeg-turbo does.
    var insufficient = false

    /// Runs the scan. On return the reader is positioned after the marker that ends the scan, which
    /// is returned.
    mutating func run(coefficients: UnsafeMutablePointer<Int16>) throws -> (
        marker: UInt8, offset: Int
    ) {
        let single = scan.components.count == 1
        let c0 = frame.components[scan.components[0]]
        // A single-component scan codes the component's own block grid, one block per MCU.
        let mcuCols = single ? (c0.sampleWidth + 7) / 8 : frame.mcusPerRow
        let mcuRowsCount = single ? (c0.sampleHeight + 7) / 8 : frame.mcuRows
        var nextRestart = 0
        var mcu = 0
        for my in 0..<mcuRowsCount {
            for mx in 0..<mcuCols {
                if restartInterval > 0 && mcu > 0 && mcu % restartInterval == 0 {
                    try processRestart(expected: &nextRestart)
                }
                mcu += 1
                if insufficient { continue }
                for (si, ci) in scan.components.enumerated() {
                    let comp = frame.components[ci]
                    let (bh, bw) = single ? (1, 1) : (comp.v, comp.h)
                    for by in 0..<bh {
                        for bx in 0..<bw {
                            let row = single ? my : my * comp.v + by
                            let col = single ? mx : mx * comp.h + bx
                            let block =
                                coefficients + comp.coefficientOffset + (row * comp.blocksPerRow + col) * 64
                            try decodeBlock(block, scanComponent: si)
                        }
                    }
                }
                if reader.bitCount < reader.paddingBits { insufficient = true }
            }
        }
        return try reader.nextMarker()
    }

    /// Decodes one block according to the scan kind.
    @inline(__always)
    mutating func decodeBlock(_ block: UnsafeMutablePointer<Int16>, scanComponent si: Int) throws {
        if !frame.progressive {
            try decodeSequential(block, si)
        } else if scan.ss == 0 {
            if scan.ah == 0 { try decodeDCFirst(block, si) } else { try decodeDCRefine(block) }
        } else {
            if scan.ah == 0 { try decodeACFirst(block, si) } else { try decodeACRefine(block, si) }
        }
    }

    /// Baseline / extended sequential: DC difference, then run-length coded AC coefficients (T.81 F.2.2).
    mutating func decodeSequential(_ block: UnsafeMutablePointer<Int16>, _ si: Int) throws {
        // Tables were checked to exist before the scan started.
        guard let dcTable = dc[si], let acTable = ac[si] else { return }
        let t = try reader.decode(dcTable)
        let diff = try reader.receiveExtend(t)
        dcPred[si] = dcPred[si] &+ diff
        block[0] = Int16(truncatingIfNeeded: dcPred[si])
        var k = 1
        while k < 64 {
            let rs = try reader.decode(acTable)
            let r = rs >> 4
            let s = rs & 15
            if s != 0 {
                k += r
                block[jpegNaturalOrder[k]] = Int16(truncatingIfNeeded: try reader.receiveExtend(s))
            } else {
                if r != 15 { break }
                k += 15
            }
            k += 1
        }
    }

    /// Progressive DC first scan: the DC difference, scaled by 2^Al (T.81 G.1.2.1).
    mutating func decodeDCFirst(_ block: UnsafeMutablePointer<Int16>, _ si: Int) throws {
        guard let dcTable = dc[si] else { return }
        let t = try reader.decode(dcTable)
        let diff = try reader.receiveExtend(t)
        dcPred[si] = dcPred[si] &+ diff
        block[0] = Int16(truncatingIfNeeded: dcPred[si] &<< Int32(scan.al))
    }

    /// Progressive DC refinement: one more bit of the DC coefficient.
    mutating func decodeDCRefine(_ block: UnsafeMutablePointer<Int16>) throws {
        if try reader.bit() != 0 {
            block[0] |= Int16(truncatingIfNeeded: 1 << scan.al)
        }
    }

    /// Progressive AC first scan over the band Ss…Se, with end-of-band runs (T.81 G.1.2.2).
    mutating func decodeACFirst(_ block: UnsafeMutablePointer<Int16>, _ si: Int) throws {
        if eobRun > 0 {
            eobRun -= 1
            return
        }
        guard let acTable = ac[si] else { return }
        var k = scan.ss
        while k <= scan.se {
            let rs = try reader.decode(acTable)
            let r = rs >> 4
            let s = rs & 15
            if s != 0 {
                k += r
                let v = try reader.receiveExtend(s)
                block[jpegNaturalOrder[k]] = Int16(truncatingIfNeeded: v &<< Int32(scan.al))
            } else if r == 15 {
                k += 15
            } else {
                eobRun = 1 << r
                if r > 0 { eobRun += try reader.bits(r) }
                eobRun -= 1
                break
            }
            k += 1
        }
    }

    /// Progressive AC refinement (T.81 G.1.2.3): correction bits for already-nonzero coefficients and
    /// newly nonzero ±2^Al coefficients, mirroring libjpeg's `decode_mcu_AC_refine` step for step.
    mutating func decodeACRefine(_ block: UnsafeMutablePointer<Int16>, _ si: Int) throws {
        let p1 = Int16(truncatingIfNeeded: 1 << scan.al)
        let m1 = Int16(truncatingIfNeeded: -1 << scan.al)
        var k = scan.ss
        let se = scan.se
        if eobRun == 0 {
            guard let acTable = ac[si] else { return }
            while k <= se {
                let rs = try reader.decode(acTable)
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
                    let pos = jpegNaturalOrder[k]
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
                    block[jpegNaturalOrder[k]] = s
                }
                k += 1
            }
        }
        if eobRun > 0 {
            // Inside an end-of-band run: only correction bits for the nonzero coefficients.
            while k <= se {
                let pos = jpegNaturalOrder[k]
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
        for i in dcPred.indices { dcPred[i] = 0 }
        eobRun = 0
        if accepted { insufficient = false }
    }
}

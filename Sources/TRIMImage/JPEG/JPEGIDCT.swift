/// libjpeg's accurate integer inverse DCT (`JDCT_ISLOW`, jidctint.c: the Loeffler–Ligtenberg–Moschytz
/// algorithm in 13-bit fixed point with 2 extra bits kept between the passes), the one Pillow's
/// libjpeg-turbo uses by default. Its SIMD versions give the same numbers for every valid JPEG.
enum JPEGIDCT {
    /// Fixed-point constants `round(x · 2^13)`.
    static let fix_0_298631336: Int32 = 2446
    static let fix_0_390180644: Int32 = 3196
    static let fix_0_541196100: Int32 = 4433
    static let fix_0_765366865: Int32 = 6270
    static let fix_0_899976223: Int32 = 7373
    static let fix_1_175875602: Int32 = 9633
    static let fix_1_501321110: Int32 = 12299
    static let fix_1_847759065: Int32 = 15137
    static let fix_1_961570560: Int32 = 16069
    static let fix_2_053119869: Int32 = 16819
    static let fix_2_562915447: Int32 = 20995
    static let fix_3_072711026: Int32 = 25172

    /// libjpeg's post-IDCT range limit, indexed by `value & 1023`: the value is read as a signed
    /// 10-bit number, shifted by +128 and clamped to 0…255 (`IDCT_range_limit` with `RANGE_MASK`).
    static let rangeLimit: [UInt8] = (0..<1024).map { i in
        UInt8(clamping: (i < 512 ? i : i - 1024) + 128)
    }

    typealias Lanes = SIMD8<Int32>

    /// Sign-extends eight Int16 to Int32, element by element (the generic SIMD conversion initialiser
    /// is not specialised by the compiler and costs a call per vector).
    @inline(__always)
    static func widen(_ v: SIMD8<Int16>) -> Lanes {
        Lanes(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]), Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]))
    }

    /// Zero-extends eight UInt8 to Int32 (see `widen`).
    @inline(__always)
    static func widen(_ v: SIMD8<UInt8>) -> Lanes {
        Lanes(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]), Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]))
    }

    /// The 8-point 1-D inverse transform (jidctint.c's even part per figure 8 of Loeffler et al., odd
    /// part per figure 8 transposed) on eight independent inputs at once, one per lane. Inputs are the 8
    /// frequency terms; outputs are the 8 spatial values scaled by 2^13, still to be descaled.
    @inline(__always)
    static func kernel8(
        _ x0: Lanes, _ x1: Lanes, _ x2: Lanes, _ x3: Lanes, _ x4: Lanes, _ x5: Lanes, _ x6: Lanes, _ x7: Lanes
    ) -> (Lanes, Lanes, Lanes, Lanes, Lanes, Lanes, Lanes, Lanes) {
        let z1 = (x2 &+ x6) &* fix_0_541196100
        let e2 = z1 &+ x6 &* -fix_1_847759065
        let e3 = z1 &+ x2 &* fix_0_765366865
        let e0 = (x0 &+ x4) &<< 13
        let e1 = (x0 &- x4) &<< 13
        let tmp10 = e0 &+ e3
        let tmp13 = e0 &- e3
        let tmp11 = e1 &+ e2
        let tmp12 = e1 &- e2
        let z5 = (x7 &+ x3 &+ x5 &+ x1) &* fix_1_175875602
        let o1 = (x7 &+ x1) &* -fix_0_899976223
        let o2 = (x5 &+ x3) &* -fix_2_562915447
        let o3 = (x7 &+ x3) &* -fix_1_961570560 &+ z5
        let o4 = (x5 &+ x1) &* -fix_0_390180644 &+ z5
        let tmp0 = x7 &* fix_0_298631336 &+ o1 &+ o3
        let tmp1 = x5 &* fix_2_053119869 &+ o2 &+ o4
        let tmp2 = x3 &* fix_3_072711026 &+ o2 &+ o3
        let tmp3 = x1 &* fix_1_501321110 &+ o1 &+ o4
        return (
            tmp10 &+ tmp3, tmp11 &+ tmp2, tmp12 &+ tmp1, tmp13 &+ tmp0,
            tmp13 &- tmp0, tmp12 &- tmp1, tmp11 &- tmp2, tmp10 &- tmp3
        )
    }

    /// `islow` with the eight columns (pass 1) and then the eight rows (pass 2) transformed as SIMD
    /// lanes. Gives exactly `islow`'s samples: the all-zero-AC shortcuts there equal the full formula.
    ///
    /// Same arguments as `islow` (no workspace: the intermediate block stays in eight vectors).
    @inline(__always)
    static func islowSIMD(
        _ coefficients: UnsafePointer<Int16>, _ quant: UnsafePointer<Int32>,
        _ output: UnsafeMutablePointer<UInt8>, stride: Int, rangeLimit range: UnsafePointer<UInt8>
    ) {
        let raw = UnsafeRawPointer(coefficients)
        @inline(__always) func coefRow(_ r: Int) -> SIMD8<Int16> {
            raw.loadUnaligned(fromByteOffset: r * 16, as: SIMD8<Int16>.self)
        }
        // A block whose 63 AC coefficients are all zero is one flat value.
        var acBits = coefRow(0) & SIMD8<Int16>(0, -1, -1, -1, -1, -1, -1, -1)
        for r in 1..<8 { acBits |= coefRow(r) }
        if acBits == .zero {
            let dc = Int32(coefficients[0]) &* quant[0]
            let v = range[Int(((dc &<< 2) &+ 16) >> 5) & 1023]
            for r in 0..<8 {
                (output + r * stride).initialize(repeating: v, count: 8)
            }
            return
        }
        let q = UnsafeRawPointer(quant)
        @inline(__always) func dq(_ r: Int) -> Lanes {
            widen(coefRow(r)) &* q.loadUnaligned(fromByteOffset: r * 32, as: Lanes.self)
        }
        // Pass 1: lane c of row vector r is coefficient (r, c); transforming along r treats the
        // eight columns at once. Descale by 2^11, keeping 2 extra bits.
        let c = kernel8(dq(0), dq(1), dq(2), dq(3), dq(4), dq(5), dq(6), dq(7))
        let round1 = Lanes(repeating: 1 << 10)
        let w0 = (c.0 &+ round1) &>> 11
        let w1 = (c.1 &+ round1) &>> 11
        let w2 = (c.2 &+ round1) &>> 11
        let w3 = (c.3 &+ round1) &>> 11
        let w4 = (c.4 &+ round1) &>> 11
        let w5 = (c.5 &+ round1) &>> 11
        let w6 = (c.6 &+ round1) &>> 11
        let w7 = (c.7 &+ round1) &>> 11
        // Transpose: lane r of column(k) is the workspace value (row r, column k).
        @inline(__always) func column(_ k: Int) -> Lanes {
            Lanes(w0[k], w1[k], w2[k], w3[k], w4[k], w5[k], w6[k], w7[k])
        }
        // Pass 2: the eight rows at once; output k of lane r is the sample at (r, k).
        let o = kernel8(column(0), column(1), column(2), column(3), column(4), column(5), column(6), column(7))
        let round2 = Lanes(repeating: 1 << 17)
        let mask = Lanes(repeating: 1023)
        @inline(__always) func store(_ k: Int, _ v: Lanes) {
            let index = ((v &+ round2) &>> 18) & mask
            for r in 0..<8 { output[r * stride + k] = range[Int(index[r])] }
        }
        store(0, o.0)
        store(1, o.1)
        store(2, o.2)
        store(3, o.3)
        store(4, o.4)
        store(5, o.5)
        store(6, o.6)
        store(7, o.7)
    }
}

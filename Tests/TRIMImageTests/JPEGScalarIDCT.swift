@testable import TRIMImage

/// The reference for the vectorised IDCT: libjpeg's jidctint.c `jpeg_idct_islow` transcribed one
/// column and one row at a time, with its zero-AC shortcuts.
enum ScalarIDCT {
    /// The 8-point 1-D inverse transform used by both passes (jidctint.c's even part per figure 8 of
    /// Loeffler et al., odd part per figure 8 transposed). Inputs are the 8 frequency terms; outputs are
    /// the 8 spatial values scaled by 2^13, still to be descaled by the caller.
    @inline(__always)
    static func kernel(
        _ x0: Int32, _ x1: Int32, _ x2: Int32, _ x3: Int32, _ x4: Int32, _ x5: Int32, _ x6: Int32, _ x7: Int32
    ) -> (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) {
        // Even part.
        let z1 = (x2 &+ x6) &* JPEGIDCT.fix_0_541196100
        let e2 = z1 &+ x6 &* -JPEGIDCT.fix_1_847759065
        let e3 = z1 &+ x2 &* JPEGIDCT.fix_0_765366865
        let e0 = (x0 &+ x4) &<< 13
        let e1 = (x0 &- x4) &<< 13
        let tmp10 = e0 &+ e3
        let tmp13 = e0 &- e3
        let tmp11 = e1 &+ e2
        let tmp12 = e1 &- e2
        // Odd part: i0…i3 are x7, x5, x3, x1.
        let z5 = (x7 &+ x3 &+ x5 &+ x1) &* JPEGIDCT.fix_1_175875602
        let o1 = (x7 &+ x1) &* -JPEGIDCT.fix_0_899976223
        let o2 = (x5 &+ x3) &* -JPEGIDCT.fix_2_562915447
        let o3 = (x7 &+ x3) &* -JPEGIDCT.fix_1_961570560 &+ z5
        let o4 = (x5 &+ x1) &* -JPEGIDCT.fix_0_390180644 &+ z5
        let tmp0 = x7 &* JPEGIDCT.fix_0_298631336 &+ o1 &+ o3
        let tmp1 = x5 &* JPEGIDCT.fix_2_053119869 &+ o2 &+ o4
        let tmp2 = x3 &* JPEGIDCT.fix_3_072711026 &+ o2 &+ o3
        let tmp3 = x1 &* JPEGIDCT.fix_1_501321110 &+ o1 &+ o4
        return (
            tmp10 &+ tmp3, tmp11 &+ tmp2, tmp12 &+ tmp1, tmp13 &+ tmp0,
            tmp13 &- tmp0, tmp12 &- tmp1, tmp11 &- tmp2, tmp10 &- tmp3
        )
    }

    /// Dequantises and inverse-transforms one block.
    ///
    /// - `coefficients`: `[64]` quantised coefficients in natural order.
    /// - `quant`: `[64]` dequantisation multipliers in natural order.
    /// - `output`: receives `[8, 8]` samples at `stride` bytes per row.
    /// - `workspace`: `[64]` scratch between the column and the row pass.
    /// All arithmetic wraps (never traps) so corrupt coefficients give garbage pixels, not a crash.
    @inline(__always)
    static func islow(
        _ coefficients: UnsafePointer<Int16>, _ quant: UnsafePointer<Int32>,
        _ output: UnsafeMutablePointer<UInt8>, stride: Int,
        workspace ws: UnsafeMutablePointer<Int32>, rangeLimit range: UnsafePointer<UInt8>
    ) {
        // Pass 1: columns, from coefficients to the workspace, descaled to keep 2 extra bits (PASS1_BITS).
        for c in 0..<8 {
            @inline(__always) func dq(_ r: Int) -> Int32 {
                Int32(coefficients[r * 8 + c]) &* quant[r * 8 + c]
            }
            if coefficients[8 + c] == 0 && coefficients[16 + c] == 0 && coefficients[24 + c] == 0
                && coefficients[32 + c] == 0 && coefficients[40 + c] == 0 && coefficients[48 + c] == 0
                && coefficients[56 + c] == 0
            {
                // AC-free column: every output is the DC term (the full formula gives the same).
                let dc = dq(0) &<< 2
                for r in 0..<8 { ws[r * 8 + c] = dc }
                continue
            }
            let v = kernel(dq(0), dq(1), dq(2), dq(3), dq(4), dq(5), dq(6), dq(7))
            let round: Int32 = 1 << 10  // descale by 2^(13−2), rounding
            ws[0 * 8 + c] = (v.0 &+ round) >> 11
            ws[1 * 8 + c] = (v.1 &+ round) >> 11
            ws[2 * 8 + c] = (v.2 &+ round) >> 11
            ws[3 * 8 + c] = (v.3 &+ round) >> 11
            ws[4 * 8 + c] = (v.4 &+ round) >> 11
            ws[5 * 8 + c] = (v.5 &+ round) >> 11
            ws[6 * 8 + c] = (v.6 &+ round) >> 11
            ws[7 * 8 + c] = (v.7 &+ round) >> 11
        }
        // Pass 2: rows, from the workspace to samples, descaled by 2^(13+2+3) and range-limited.
        for r in 0..<8 {
            let w = ws + r * 8
            let out = output + r * stride
            if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
                // AC-free row: one value (identical to what the full formula gives).
                let dc = range[Int((w[0] &+ 16) >> 5) & 1023]
                for i in 0..<8 { out[i] = dc }
                continue
            }
            let v = kernel(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7])
            let round: Int32 = 1 << 17
            out[0] = range[Int((v.0 &+ round) >> 18) & 1023]
            out[1] = range[Int((v.1 &+ round) >> 18) & 1023]
            out[2] = range[Int((v.2 &+ round) >> 18) & 1023]
            out[3] = range[Int((v.3 &+ round) >> 18) & 1023]
            out[4] = range[Int((v.4 &+ round) >> 18) & 1023]
            out[5] = range[Int((v.5 &+ round) >> 18) & 1023]
            out[6] = range[Int((v.6 &+ round) >> 18) & 1023]
            out[7] = range[Int((v.7 &+ round) >> 18) & 1023]
        }
    }
}

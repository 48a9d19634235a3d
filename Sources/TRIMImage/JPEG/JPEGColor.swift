/// The colour space of the coded components, decided as libjpeg-turbo's `default_decompress_parms` does.
enum JPEGColorSpace: Equatable {
    case grey, yCbCr, rgb, cmyk, ycck

    /// 1 component: grey. 3: YCbCr if a JFIF APP0 was seen; else by the Adobe APP14 transform
    /// (0 → RGB, otherwise YCbCr); else RGB only for component ids 'R','G','B'. 4: CMYK unless an
    /// Adobe APP14 says transform ≠ 0 (then YCCK).
    init(componentIDs ids: [UInt8], sawJFIF: Bool, adobeTransform: Int?) {
        switch ids.count {
        case 1:
            self = .grey
        case 3:
            if sawJFIF {
                self = .yCbCr
            } else if let t = adobeTransform {
                self = t == 0 ? .rgb : .yCbCr
            } else {
                self = ids == [82, 71, 66] ? .rgb : .yCbCr
            }
        default:
            if let t = adobeTransform { self = t == 0 ? .cmyk : .ycck } else { self = .cmyk }
        }
    }
}

/// How one component is brought to full resolution: libjpeg-turbo's `jinit_upsampler` choice with its
/// defaults (`do_fancy_upsampling` on, which also rules out the merged upsampler).
enum JPEGUpsampling: Equatable {
    /// Already full size.
    case full
    /// 2:1 horizontally, triangle filter (3/4 nearer + 1/4 further sample), `h2v1_fancy_upsample`.
    case h2v1Fancy
    /// 1:2 vertically, triangle filter, `h1v2_fancy_upsample`.
    case h1v2Fancy
    /// 2:2, separable triangle filter (9/16, 3/16, 3/16, 1/16), `h2v2_fancy_upsample`.
    case h2v2Fancy
    /// Any other integral ratio, or 2:1 / 2:2 when the component is at most 2 samples wide:
    /// each sample repeated `x × y` times (`int_upsample`, `h2v1_upsample`, `h2v2_upsample`).
    case replicate(x: Int, y: Int)

    init(component c: JPEGComponent, maxH: Int, maxV: Int) {
        let rx = maxH / c.h
        let ry = maxV / c.v
        switch (rx, ry) {
        case (1, 1): self = .full
        case (2, 1): self = c.sampleWidth > 2 ? .h2v1Fancy : .replicate(x: 2, y: 1)
        case (1, 2): self = .h1v2Fancy
        case (2, 2): self = c.sampleWidth > 2 ? .h2v2Fancy : .replicate(x: 2, y: 2)
        default: self = .replicate(x: rx, y: ry)
        }
    }
}

/// Upsampling and colour conversion of the decoded component planes, one output row at a time.
enum JPEGColorConverter {
    /// libjpeg's YCbCr→RGB tables (jdcolor.c `build_ycc_rgb_table`, 16-bit fixed point):
    /// `crToR[cr] = round(1.402·(cr−128))`, `cbToB[cb] = round(1.772·(cb−128))`,
    /// `crToG[cr] = −0.71414·(cr−128)·2^16`, `cbToG[cb] = −0.34414·(cb−128)·2^16 + 2^15`.
    static let crToR: [Int32] = (0..<256).map { i in (91881 * Int32(i - 128) + 32768) >> 16 }
    static let cbToB: [Int32] = (0..<256).map { i in (116130 * Int32(i - 128) + 32768) >> 16 }
    static let crToG: [Int32] = (0..<256).map { i in -46802 * Int32(i - 128) }
    static let cbToG: [Int32] = (0..<256).map { i in -22554 * Int32(i - 128) + 32768 }

    /// Writes full-resolution row `y` of component `c` (`width` samples) into `out` and returns a pointer
    /// to it (for `.full`, a pointer straight into the plane).
    ///
    /// - `plane`: the component's IDCT output, `[blockRows·8, stride]`; only its first
    ///   `sampleHeight` rows and `sampleWidth` columns are real. Rows past the last real one repeat it,
    ///   and the row above row 0 is row 0, as libjpeg's main controller arranges the context rows.
    @inline(__always)
    static func upsampledRow(
        _ y: Int, method: JPEGUpsampling, component c: JPEGComponent,
        plane: UnsafePointer<UInt8>, stride: Int, width: Int, out: UnsafeMutablePointer<UInt8>
    ) -> UnsafePointer<UInt8> {
        let sw = c.sampleWidth
        switch method {
        case .full:
            return plane + y * stride
        case .h2v1Fancy:
            // Hot loop: 2 outputs per input sample, 3/4 of the nearer + 1/4 of the further neighbour,
            // biased +1 (left output) / +2 (right output) as libjpeg-turbo rounds.
            let src = plane + y * stride
            out[0] = src[0]
            out[1] = UInt8(truncatingIfNeeded: (Int(src[0]) * 3 + Int(src[1]) + 2) >> 2)
            var i = 1
            while i < sw - 1 {
                let v = Int(src[i]) * 3
                out[2 * i] = UInt8(truncatingIfNeeded: (v + Int(src[i - 1]) + 1) >> 2)
                out[2 * i + 1] = UInt8(truncatingIfNeeded: (v + Int(src[i + 1]) + 2) >> 2)
                i += 1
            }
            let last = sw - 1
            out[2 * last] = UInt8(truncatingIfNeeded: (Int(src[last]) * 3 + Int(src[last - 1]) + 1) >> 2)
            out[2 * last + 1] = src[last]
            return UnsafePointer(out)
        case .h1v2Fancy:
            // Hot loop: vertical triangle filter; bias +1 for the upper output row, +2 for the lower.
            let i = y >> 1
            let upper = y & 1 == 0
            let n = upper ? max(i - 1, 0) : min(i + 1, c.sampleHeight - 1)
            let near = plane + i * stride
            let far = plane + n * stride
            let bias = upper ? 1 : 2
            for x in 0..<sw {
                out[x] = UInt8(truncatingIfNeeded: (Int(near[x]) * 3 + Int(far[x]) + bias) >> 2)
            }
            return UnsafePointer(out)
        case .h2v2Fancy:
            // Hot loop: vertical 3:1 column sums, then horizontal 3:1 with biases +8 / +7, /16.
            let i = y >> 1
            let n = y & 1 == 0 ? max(i - 1, 0) : min(i + 1, c.sampleHeight - 1)
            let near = plane + i * stride
            let far = plane + n * stride
            @inline(__always) func colsum(_ x: Int) -> Int { Int(near[x]) * 3 + Int(far[x]) }
            var this = colsum(0)
            var next = colsum(1)
            out[0] = UInt8(truncatingIfNeeded: (this * 4 + 8) >> 4)
            out[1] = UInt8(truncatingIfNeeded: (this * 3 + next + 7) >> 4)
            var last = this
            this = next
            var x = 1
            while x < sw - 1 {
                next = colsum(x + 1)
                out[2 * x] = UInt8(truncatingIfNeeded: (this * 3 + last + 8) >> 4)
                out[2 * x + 1] = UInt8(truncatingIfNeeded: (this * 3 + next + 7) >> 4)
                last = this
                this = next
                x += 1
            }
            out[2 * x] = UInt8(truncatingIfNeeded: (this * 3 + last + 8) >> 4)
            out[2 * x + 1] = UInt8(truncatingIfNeeded: (this * 4 + 7) >> 4)
            return UnsafePointer(out)
        case .replicate(let rx, let ry):
            let src = plane + (y / ry) * stride
            for x in 0..<width { out[x] = src[x / rx] }
            return UnsafePointer(out)
        }
    }

    /// Converts one row of full-resolution component samples to interleaved RGB, giving what Pillow's
    /// `Image.open(f).convert("RGB")` gives.
    ///
    /// - grey: R = G = B = Y (Pillow's "L" → "RGB").
    /// - YCbCr: libjpeg's fixed-point tables above, clamped to 0…255.
    /// - RGB: copied.
    /// - CMYK / YCCK: libjpeg outputs CMYK (YCCK first converted with the YCbCr tables, `255 − value`);
    ///   Pillow reads it as Adobe-inverted "CMYK;I" (each value 255 − v) and its `cmyk2rgb` gives
    ///   `R = clip(nk − nk·c/255)` with `nk = 255 − k`, the division done as `MULDIV255`:
    ///   `t = a·b + 128; (t + (t >> 8)) >> 8`.
    @inline(__always)
    static func convertRow(
        _ space: JPEGColorSpace, rows: [UnsafePointer<UInt8>], width: Int,
        out: UnsafeMutablePointer<UInt8>
    ) {
        switch space {
        case .grey:
            let g = rows[0]
            for x in 0..<width {
                let v = g[x]
                out[3 * x] = v
                out[3 * x + 1] = v
                out[3 * x + 2] = v
            }
        case .rgb:
            let r = rows[0]
            let g = rows[1]
            let b = rows[2]
            for x in 0..<width {
                out[3 * x] = r[x]
                out[3 * x + 1] = g[x]
                out[3 * x + 2] = b[x]
            }
        case .yCbCr:
            // Hot loop, 8 pixels per step: the table entries above are affine in (Cb, Cr) − 128, so
            // they are computed in Int32 lanes instead of looked up (same integers), then clamped.
            let yr = UnsafeRawPointer(rows[0])
            let cbr = UnsafeRawPointer(rows[1])
            let crr = UnsafeRawPointer(rows[2])
            typealias L = SIMD8<Int32>
            let half = L(repeating: 32768)
            var x = 0
            while x + 8 <= width {
                let y = JPEGIDCT.widen(yr.loadUnaligned(fromByteOffset: x, as: SIMD8<UInt8>.self))
                let cb = JPEGIDCT.widen(cbr.loadUnaligned(fromByteOffset: x, as: SIMD8<UInt8>.self)) &- 128
                let cr = JPEGIDCT.widen(crr.loadUnaligned(fromByteOffset: x, as: SIMD8<UInt8>.self)) &- 128
                let r = y &+ ((cr &* 91881 &+ half) &>> 16)
                let g = y &+ ((cb &* -22554 &+ half &+ cr &* -46802) &>> 16)
                let b = y &+ ((cb &* 116130 &+ half) &>> 16)
                let zero = L(repeating: 0)
                let top = L(repeating: 255)
                let r8 = r.clamped(lowerBound: zero, upperBound: top)
                let g8 = g.clamped(lowerBound: zero, upperBound: top)
                let b8 = b.clamped(lowerBound: zero, upperBound: top)
                let o = out + 3 * x
                for l in 0..<8 {
                    o[3 * l] = UInt8(truncatingIfNeeded: r8[l])
                    o[3 * l + 1] = UInt8(truncatingIfNeeded: g8[l])
                    o[3 * l + 2] = UInt8(truncatingIfNeeded: b8[l])
                }
                x += 8
            }
            // The last < 8 pixels through the tables.
            let yp = rows[0]
            let cbp = rows[1]
            let crp = rows[2]
            while x < width {
                let y = Int32(yp[x])
                let cb = Int(cbp[x])
                let cr = Int(crp[x])
                out[3 * x] = clamp8(y + crToR[cr])
                out[3 * x + 1] = clamp8(y + ((cbToG[cb] + crToG[cr]) >> 16))
                out[3 * x + 2] = clamp8(y + cbToB[cb])
                x += 1
            }
        case .cmyk, .ycck:
            let c0 = rows[0]
            let c1 = rows[1]
            let c2 = rows[2]
            let c3 = rows[3]
            for x in 0..<width {
                var c = Int32(c0[x])
                var m = Int32(c1[x])
                var yy = Int32(c2[x])
                if space == .ycck {
                    let y = c
                    let cb = Int(c1[x])
                    let cr = Int(c2[x])
                    c = Int32(clamp8(255 - (y + crToR[cr])))
                    m = Int32(clamp8(255 - (y + ((cbToG[cb] + crToG[cr]) >> 16))))
                    yy = Int32(clamp8(255 - (y + cbToB[cb])))
                }
                // libjpeg's CMYK, inverted by Pillow's "CMYK;I" unpacker, then Pillow's cmyk2rgb.
                let nk = Int32(c3[x])  // 255 − (255 − K)
                out[3 * x] = clamp8(nk - muldiv255(255 - c, nk))
                out[3 * x + 1] = clamp8(nk - muldiv255(255 - m, nk))
                out[3 * x + 2] = clamp8(nk - muldiv255(255 - yy, nk))
            }
        }
    }

    @inline(__always)
    static func clamp8(_ v: Int32) -> UInt8 {
        UInt8(truncatingIfNeeded: v < 0 ? 0 : (v > 255 ? 255 : v))
    }

    /// Pillow's `MULDIV255(a, b)`: a·b/255 rounded, for 0 ≤ a, b ≤ 255.
    @inline(__always)
    static func muldiv255(_ a: Int32, _ b: Int32) -> Int32 {
        let t = a * b + 128
        return ((t >> 8) + t) >> 8
    }
}

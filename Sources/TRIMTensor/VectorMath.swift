// Vectorised transcendental functions for the element-wise kernels: exp (softmax, quick_gelu), erf
// (exact GELU: the LLaVA projector, CLIP variants with `gelu`) and sigmoid.
//
// A ViT-L/14-336 forward pass evaluates exp about 200 million times (softmax over 16 × 577 × 577 scores
// and quick_gelu over 577 × 4096 activations, per layer). One scalar libm call per element costs more
// than all the layer's matrix products' overhead together, so exp is computed here 16 lanes at a time
// with plain arithmetic the compiler maps onto the vector unit (AVX-512: one zmm per SIMD16).

/// Vector versions of the few transcendental functions the kernels need.
public enum VectorMath {
    /// `e^x` in every lane, within 2 ulp of `Foundation.exp` for all finite `x` whose result is a normal
    /// float (tested on a dense sweep of [-87, 88]); `x < -87.33` gives 0 (the true result is
    /// subnormal or 0), `x > 88.72` gives `+infinity`, `-infinity` gives 0.
    ///
    /// Method (Cephes `expf`): `x = n·ln 2 + r` with `n = round(x / ln 2)` and |r| ≤ ln 2 / 2, where `n·ln 2`
    /// is subtracted in two parts (a short `ln 2` whose products with `n` are exact, then the remainder)
    /// to keep `r` accurate; `e^r` by a degree-6 minimax polynomial; `2^n` built directly in the exponent
    /// bits. Rounding uses the 1.5·2²³ trick so that `n` is available both as a float and as integer bits.
    /// The first three steps are `reducedExp`, shared with `expNonPositive`.
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let hi: Float = 88.72283, lo: Float = -87.33654
        // Clamp with compare-and-blend (`clamped(lowerBound:upperBound:)` compiles to a per-lane loop).
        let xc = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
        let (er, t) = reducedExp(xc)
        let magic = SIMD16<Float>(repeating: 12_582_912)
        // 2^n: the integer n (−126 … 128) sits in t's low mantissa bits. It is applied as 2^h · 2^(n−h)
        // with h = n >> 1, each factor built by moving its exponent + 127 into the exponent field, so
        // that both n = 128 (results near Float.greatestFiniteMagnitude) and n = −126 stay representable.
        let nBits = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let h = nBits &>> 1
        let s1 = unsafeBitCast((h &+ 127) &<< 23, to: SIMD16<Float>.self)
        let s2 = unsafeBitCast((nBits &- h &+ 127) &<< 23, to: SIMD16<Float>.self)
        var y = er * s1 * s2
        y.replace(with: 0, where: x .< lo)
        y.replace(with: .infinity, where: x .> hi)
        return y
    }

    /// `e^x` for `x ≤ 0`, the softmax's case (`x = s − max s`): bit-identical to `exp` for `x` in
    /// [−87.33654, 0], and at most 1.2 · 10⁻³⁸ below that (where `exp` gives 0 or a subnormal — against a
    /// softmax row's largest term, 1, an absolute error no float sum can see). Not for `x > 0`.
    ///
    /// Same reduction and polynomial as `exp`, minus what `x ≤ 0` makes unnecessary: no upper clamp,
    /// `2^n` (n ≥ −126) built in one step from the rounding sum's bits (`t = 1.5·2²³ + n`, whose low 9 bits
    /// are n's; shifted by 23 they are n's exponent bits, to which 127's are added), and no final blends.
    /// In the softmax loop (x86-64, AVX-512) that is 22 vector instructions per 16 lanes instead of 32.
    @inlinable @inline(__always)
    public static func expNonPositive(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let lo: Float = -87.33654
        let (er, t) = reducedExp(x.replacing(with: lo, where: x .< lo))
        let twoToN = unsafeBitCast(
            (unsafeBitCast(t, to: SIMD16<Int32>.self) &<< 23) &+ 0x3F80_0000, to: SIMD16<Float>.self)
        return er * twoToN
    }

    /// The shared core of `exp` and `expNonPositive`, for an already clamped `xc`: `n = round(xc / ln 2)` by
    /// the 1.5·2²³ rounding sum `t = 1.5·2²³ + n` (returned: n sits in its low mantissa bits), the reduced
    /// argument `r = xc − n·ln 2` (|r| ≤ ln 2 / 2, `n·ln 2` subtracted in two exact-then-remainder parts) and
    /// `e^r ≈ 1 + r + r²·P(r)` (P with six minimax coefficients, Horner). Then `e^xc = e^r · 2^n`.
    @usableFromInline @inline(__always)
    static func reducedExp(_ xc: SIMD16<Float>) -> (er: SIMD16<Float>, t: SIMD16<Float>) {
        // n = round(x · log2 e): adding 1.5·2²³ pushes the fraction out of the mantissa (round to nearest).
        let magic = SIMD16<Float>(repeating: 12_582_912)
        let t = magic.addingProduct(xc, 1.442_695_04)
        let n = t - magic
        var r = xc.addingProduct(n, -0.693_359_375)  // ln 2's first 12 bits: n · this is exact
        r = r.addingProduct(n, 2.121_944_4e-4)  // the rest of ln 2
        // e^r ≈ 1 + r + r²·P(r) on |r| ≤ 0.3466 (Horner, one fused multiply-add per step).
        var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
        p = SIMD16(repeating: 1.398_199_950_7e-3).addingProduct(p, r)
        p = SIMD16(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
        p = SIMD16(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
        p = SIMD16(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
        p = SIMD16(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
        return ((r + 1).addingProduct(p, r * r), t)
    }

    /// `erf(x)` in every lane, within 3 ulp of `Foundation.erf` (2.39 ulp measured on a dense sweep of
    /// [−5, 5]; see VectorMathTests), `erf(±∞) = ±1`, NaN in, NaN out.
    ///
    /// Method: odd in x, so it works on |x| and restores the sign. For |x| < 1, `erf(x) = x · P(x²)` with P of
    /// degree 7; for 1 ≤ |x| < 4, `erf(x) = 1 − e^(−x²) · R(|x| − 2.5)`, where `R ≈ erfc(x) · e^(x²)` (smooth and
    /// slowly varying there) has degree 12 and `e^(−x²)` comes from `exp`; beyond 4, erf rounds to ±1 in
    /// float32. Both polynomials were fitted by least squares on Chebyshev nodes in float64 (numpy) and
    /// their float32 evaluation checked against math.erf; both branches are computed and blended.
    @inlinable @inline(__always)
    public static func erf(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let a = x.replacing(with: -x, where: x .< 0)
        let z = a * a
        var p = SIMD16<Float>(repeating: -9.67359392234357e-6)
        p = SIMD16(repeating: 0.00011268258094787598).addingProduct(p, z)
        p = SIMD16(repeating: -0.0008484397549182177).addingProduct(p, z)
        p = SIMD16(repeating: 0.005221053492277861).addingProduct(p, z)
        p = SIMD16(repeating: -0.026865437626838684).addingProduct(p, z)
        p = SIMD16(repeating: 0.11283782869577408).addingProduct(p, z)
        p = SIMD16(repeating: -0.37612637877464294).addingProduct(p, z)
        p = SIMD16(repeating: 1.128379225730896).addingProduct(p, z)
        let small = a * p
        let t = a - 2.5
        var q = SIMD16<Float>(repeating: 1.0651030635244751e-7)
        q = SIMD16(repeating: -4.2694122726061323e-7).addingProduct(q, t)
        q = SIMD16(repeating: 9.528582154416654e-7).addingProduct(q, t)
        q = SIMD16(repeating: -3.7443910514411982e-6).addingProduct(q, t)
        q = SIMD16(repeating: 1.617348607396707e-5).addingProduct(q, t)
        q = SIMD16(repeating: -5.952961146249436e-5).addingProduct(q, t)
        q = SIMD16(repeating: 0.00021084895706735551).addingProduct(q, t)
        q = SIMD16(repeating: -0.0007331466185860336).addingProduct(q, t)
        q = SIMD16(repeating: 0.0024671019054949284).addingProduct(q, t)
        q = SIMD16(repeating: -0.008001696318387985).addingProduct(q, t)
        q = SIMD16(repeating: 0.024937987327575684).addingProduct(q, t)
        q = SIMD16(repeating: -0.07434733957052231).addingProduct(q, t)
        q = SIMD16(repeating: 0.21080636978149414).addingProduct(q, t)
        var large = 1 - exp(-z) * q
        large.replace(with: 1, where: a .>= 4)
        let y = small.replacing(with: large, where: a .>= 1)
        return y.replacing(with: -y, where: x .< 0)
    }

    /// The logistic function `1 / (1 + e^(−x))` in every lane, from `exp`: within 3.5 ulp of the same
    /// formula in Double on [−80, 80] (3.01 measured, VectorMathTests).
    @inlinable @inline(__always)
    public static func sigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> {
        1 / (1 + exp(-x))
    }
}

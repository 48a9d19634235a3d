import Foundation

// Row-wise and element-wise kernels: layer norm, softmax, the GELU family, residual adds.
// Each works on a tensor viewed as [rows, columns] (the last dimension contiguous).

/// Layer normalisation over the last dimension, as `torch.nn.LayerNorm`:
/// `y = (x - mean) / sqrt(var + eps) * weight + bias`, with the biased variance.
///
/// - Parameters:
///   - x: `[..., C]`.
///   - weight, bias: `[C]`.
///   - eps: added to the variance (CLIP: 1e-5).
/// - Returns: `[..., C]`.
public func layerNorm(_ x: Tensor, weight: [Float], bias: [Float], eps: Float) -> Tensor {
    Tensor(shape: x.shape, scalars: layerNormRows(x, weight: weight, bias: bias, eps: eps, outStride: x.columns))
}

/// The body of `layerNorm` and `layerNormStrided`: every row of `x` normalised into rows `outStride`
/// (≥ columns) floats apart, the floats after each row zero; split across threads for large inputs.
func layerNormRows(_ x: Tensor, weight: [Float], bias: [Float], eps: Float, outStride s: Int) -> [Float] {
    let c = x.columns, rows = x.rows
    precondition(weight.count == c && bias.count == c, "layerNorm: weight/bias length ≠ \(c)")
    var out = [Float](repeating: 0, count: rows * s)
    if rows == 0 || c == 0 { return out }
    x.scalars.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            weight.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    let (xp, yp, wp, bp) = (src.baseAddress!, dst.baseAddress!, w.baseAddress!, b.baseAddress!)
                    let parts = Parallelism.split(rows, parts: rows * c < 1 << 16 ? 1 : Parallelism.threads)
                    Parallelism.parallelFor(parts.count) { t in
                        for r in parts[t] { layerNormRow(xp + r * c, yp + r * s, c, wp, bp, eps) }
                    }
                }
            }
        }
    }
    return out
}

/// One row of `layerNorm`: two passes (mean, then centred sum of squares) for accuracy, each summed in
/// 16 independent lanes (vectorised; also shortens the floating-point dependency chain 16-fold), then
/// the normalise-scale-shift pass 16 lanes at a time.
@inline(__always)
private func layerNormRow(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ c: Int,
    _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ eps: Float
) {
    let vecEnd = c & ~15
    var acc = SIMD16<Float>()
    for j in stride(from: 0, to: vecEnd, by: 16) { acc += load16(x + j) }
    var sum = acc.sum()
    for j in vecEnd..<c { sum += x[j] }
    let mean = sum / Float(c)
    acc = SIMD16<Float>()
    for j in stride(from: 0, to: vecEnd, by: 16) { let d = load16(x + j) - mean; acc = acc.addingProduct(d, d) }
    var sq = acc.sum()
    for j in vecEnd..<c { let d = x[j] - mean; sq += d * d }
    let inv = 1 / (sq / Float(c) + eps).squareRoot()
    for j in stride(from: 0, to: vecEnd, by: 16) {
        store16(y + j, (load16(x + j) - mean) * inv * load16(w + j) + load16(b + j))
    }
    for j in vecEnd..<c { y[j] = (x[j] - mean) * inv * w[j] + b[j] }
}

@inline(__always)
private func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
private func store16(_ p: UnsafeMutablePointer<Float>, _ v: SIMD16<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// The first `count` (< 16) elements of `p` in the low lanes, `fill` in the others.
@inline(__always)
private func loadPartial16(_ p: UnsafePointer<Float>, _ count: Int, fill: Float) -> SIMD16<Float> {
    var v = SIMD16<Float>(repeating: fill)
    for j in 0..<count { v[j] = p[j] }
    return v
}

/// Softmax over the last dimension, in place: `x_j ← exp(x_j − max) / Σ exp(x − max)`.
/// `-infinity` entries (masked positions) become 0.
public func softmaxRowsInPlace(_ x: inout Tensor) {
    let c = x.columns
    let rows = x.rows
    x.scalars.withUnsafeMutableBufferPointer { p in
        for r in 0..<rows { softmaxRow(p.baseAddress! + r * c, c) }
    }
}

/// Softmax over the last dimension: `[..., C]` → `[..., C]`.
public func softmaxRows(_ x: Tensor) -> Tensor {
    var y = x
    softmaxRowsInPlace(&y)
    return y
}

/// One row of softmax, in place, over `count` elements.
@inline(__always)
public func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
    softmaxRow(p, count, scale: 1)
}

/// One row of `softmax(scale · x)` in place, over `count` elements (`scale` > 0; attention passes
/// `headDim^-0.5` here instead of scaling the scores in a separate pass): `unnormalizedSoftmaxRow`, then
/// one multiply by `1 / Σe`.
@inline(__always)
public func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ count: Int, scale: Float) {
    guard count > 0 else { return }
    let inv = 1 / unnormalizedSoftmaxRow(p, count, scale: scale)
    let vecEnd = count & ~15
    for j in stride(from: 0, to: vecEnd, by: 16) { store16(p + j, load16(p + j) * inv) }
    for j in vecEnd..<count { p[j] *= inv }
}

/// `x_j ← exp(scale · (x_j − max x))` in place over `count` (> 0) elements, returning Σ of the results
/// (≥ 1): the softmax without its final division, which attention applies to its much smaller output
/// instead. A vector max, then the exponentials 16 lanes at a time with `VectorMath.exp` (summed in 16
/// lanes); the ragged tail is padded with −∞, whose exp is exactly 0. Not inlined on purpose: as its own
/// small function it gets `VectorMath.exp` inlined, which large callers (attention's per-head closure)
/// did not (measured: exp as a call was 23% of attention's time).
@inline(never)
func unnormalizedSoftmaxRow(_ p: UnsafeMutablePointer<Float>, _ count: Int, scale: Float) -> Float {
    let vecEnd = count & ~15, tail = count - vecEnd
    // Max by compare-and-blend (`pointwiseMax` compiles to a per-lane loop with NaN handling).
    var mv = SIMD16<Float>(repeating: -.infinity)
    for j in stride(from: 0, to: vecEnd, by: 16) { let v = load16(p + j); mv.replace(with: v, where: v .> mv) }
    var m = mv.max()
    for j in vecEnd..<count { m = max(m, p[j]) }
    let sm = scale * m
    var acc = SIMD16<Float>()
    for j in stride(from: 0, to: vecEnd, by: 16) {
        let e = VectorMath.expNonPositive(load16(p + j) * scale - sm)
        store16(p + j, e)
        acc += e
    }
    if tail > 0 {
        let e = VectorMath.exp(loadPartial16(p + vecEnd, tail, fill: -.infinity) * scale - sm)
        for j in 0..<tail { p[vecEnd + j] = e[j] }
        acc += e
    }
    return acc.sum()
}

/// Exact GELU, `x · Φ(x) = 0.5 · x · (1 + erf(x / √2))` (PyTorch `nn.GELU()`, LLaVA's projector), 16
/// lanes at a time with `VectorMath.erf`, split across threads for large activations.
public func geluErf(_ x: Tensor) -> Tensor {
    var y = x
    mapInPlace(&y, geluErf16)
    return y
}

/// Exact GELU on 16 lanes (an own function so that `VectorMath.erf` is inlined into it).
@inline(never)
func geluErf16(_ v: SIMD16<Float>) -> SIMD16<Float> {
    0.5 * v * (1 + VectorMath.erf(v * 0.70710678118654752))
}

/// CLIP's `quick_gelu`, `x · sigmoid(1.702 · x)`.
public func quickGELU(_ x: Tensor) -> Tensor {
    var y = x
    quickGELUInPlace(&y)
    return y
}

/// `quickGELU` in place (no copy of a large activation): `x ← x / (1 + exp(−1.702 · x))`, 16 lanes at a
/// time with `VectorMath.exp` (for x < −51 the exp overflows to +∞ and the result is −0, as in PyTorch).
public func quickGELUInPlace(_ x: inout Tensor) {
    mapInPlace(&x, quickGELU16)
}

/// `x_i ← f(x_i)` for every element, 16 lanes at a time: whole vectors in chunks of 16-lane groups split
/// across threads for large tensors, then the ragged tail as one zero-padded vector (its padding lanes
/// are computed and dropped). The element-wise activations are all this loop around a 16-lane function.
@inline(__always)
private func mapInPlace(_ x: inout Tensor, _ f: (SIMD16<Float>) -> SIMD16<Float>) {
    x.scalars.withUnsafeMutableBufferPointer { buf in
        guard let p = buf.baseAddress else { return }
        let n = buf.count, vecEnd = n & ~15
        let parts = Parallelism.split(vecEnd / 16, parts: n < 1 << 16 ? 1 : Parallelism.threads)
        Parallelism.parallelFor(parts.count) { t in
            for g in parts[t] { store16(p + 16 * g, f(load16(p + 16 * g))) }
        }
        if vecEnd < n {
            let y = f(loadPartial16(p + vecEnd, n - vecEnd, fill: 0))
            for j in 0..<(n - vecEnd) { p[vecEnd + j] = y[j] }
        }
    }
}

/// `quick_gelu` on 16 lanes: `x / (1 + exp(−1.702 · x))`. The GEMM's fused epilogue (`finishTile`) writes
/// the same expression out (the optimiser would not inline this call there); KernelTests checks that both
/// give bit-identical results.
@inline(__always)
func quickGELU16(_ v: SIMD16<Float>) -> SIMD16<Float> {
    v / (1 + VectorMath.exp(-1.702 * v))
}

/// `a + b` element-wise (the residual connection). Shapes must match.
public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
    var y = a
    y.scalars.withUnsafeMutableBufferPointer { p in
        b.scalars.withUnsafeBufferPointer { q in for i in p.indices { p[i] += q[i] } }
    }
    return y
}

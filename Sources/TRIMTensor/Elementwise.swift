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
    let c = x.columns
    precondition(weight.count == c && bias.count == c, "layerNorm: weight/bias length ≠ \(c)")
    var out = [Float](repeating: 0, count: x.count)
    let rows = x.rows
    if out.isEmpty { return Tensor(shape: x.shape, scalars: out) }
    x.scalars.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            weight.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    let (xp, yp, wp, bp) = (src.baseAddress!, dst.baseAddress!, w.baseAddress!, b.baseAddress!)
                    let parts = Parallelism.split(rows, parts: rows * c < 1 << 16 ? 1 : Parallelism.threads)
                    Parallelism.parallelFor(parts.count) { t in
                        for r in parts[t] { layerNormRow(xp + r * c, yp + r * c, c, wp, bp, eps) }
                    }
                }
            }
        }
    }
    return Tensor(shape: x.shape, scalars: out)
}

/// One row of `layerNorm`: two passes (mean, then centred sum of squares) for accuracy.
@inline(__always)
private func layerNormRow(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ c: Int,
    _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ eps: Float
) {
    var sum: Float = 0
    for j in 0..<c { sum += x[j] }
    let mean = sum / Float(c)
    var sq: Float = 0
    for j in 0..<c { let d = x[j] - mean; sq += d * d }
    let inv = 1 / (sq / Float(c) + eps).squareRoot()
    for j in 0..<c { y[j] = (x[j] - mean) * inv * w[j] + b[j] }
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
    guard count > 0 else { return }
    var m = -Float.infinity
    for j in 0..<count { m = max(m, p[j]) }
    var s: Float = 0
    for j in 0..<count { let e = Foundation.exp(p[j] - m); p[j] = e; s += e }
    let inv = 1 / s
    for j in 0..<count { p[j] *= inv }
}

/// Exact GELU, `x · Φ(x) = 0.5 · x · (1 + erf(x / √2))` (PyTorch `nn.GELU()`, LLaVA's projector).
public func geluErf(_ x: Tensor) -> Tensor {
    var y = x
    y.scalars.withUnsafeMutableBufferPointer { p in
        for i in p.indices { let v = p[i]; p[i] = 0.5 * v * (1 + Foundation.erf(v * 0.70710678118654752)) }
    }
    return y
}

/// CLIP's `quick_gelu`, `x · sigmoid(1.702 · x)`.
public func quickGELU(_ x: Tensor) -> Tensor {
    var y = x
    y.scalars.withUnsafeMutableBufferPointer { p in
        for i in p.indices { let v = p[i]; p[i] = v / (1 + Foundation.exp(-1.702 * v)) }
    }
    return y
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

// Matrix multiplication: the one kernel that dominates every transformer forward pass.
//
// Everything here computes C[M, N] (+)= A[M, K] · B[K, N] with A row-major (rows of length K, stride lda)
// and B handed over *packed*: cut into column panels of `GEMM.nr` (= 32) columns, each panel stored
// k-major ([K][32], the last panel zero-padded). Packing happens once per weight matrix (at model load,
// see `PackedMatrix`) or once per attention head for activations.
//
// The micro-kernel keeps a 6 × 32 block of C in 12 SIMD16<Float> accumulators (AVX-512: 12 of 32 zmm
// registers; AVX2 / NEON split each into 2 / 4 narrower registers) and, for every k, loads one 32-wide
// row of the B panel (2 vector loads) and broadcasts 6 scalars of A: 12 fused multiply-adds per 8 loads.
// K is walked in blocks of `GEMM.kc` (= 256) so that a panel's slice (256 × 32 floats = 32 KiB) stays in
// L1 while all row blocks of A stream past it. Threads take disjoint ranges of panels (or of rows when
// there are too few panels), so no two threads write the same C element.

/// Blocking constants of the packed GEMM (see the file comment).
public enum GEMM {
    /// Columns per packed panel: two 16-lane vectors.
    public static let nr = 32
    /// Rows of C per micro-kernel call.
    public static let mr = 6
    /// Depth of one K block (a panel slice of kc × nr floats fits in L1).
    public static let kc = 256

    /// Number of packed floats for a `[k, n]` right-hand side.
    @inlinable public static func packedCount(n: Int, k: Int) -> Int { ((n + nr - 1) / nr) * k * nr }

    /// Packs B given as `[n, k]` rows (the `nn.Linear` weight layout, i.e. we multiply by its transpose)
    /// with row stride `ldb` into panels: `dst[(p*k + kk)*nr + j] = b[(p*nr + j)*ldb + kk]`, zero-padded.
    public static func packTransposed(
        _ b: UnsafePointer<Float>, ldb: Int, n: Int, k: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        let panels = (n + nr - 1) / nr
        for p in 0..<panels {
            let base = dst + p * k * nr
            for j in 0..<nr {
                let col = p * nr + j
                if col < n {
                    let src = b + col * ldb
                    for kk in 0..<k { base[kk * nr + j] = src[kk] }
                } else {
                    for kk in 0..<k { base[kk * nr + j] = 0 }
                }
            }
        }
    }

    /// Packs B given as `[k, n]` rows with row stride `ldb` into panels:
    /// `dst[(p*k + kk)*nr + j] = b[kk*ldb + p*nr + j]`, zero-padded.
    public static func pack(
        _ b: UnsafePointer<Float>, ldb: Int, k: Int, n: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        let panels = (n + nr - 1) / nr
        for p in 0..<panels {
            let base = dst + p * k * nr
            let c0 = p * nr
            let width = min(nr, n - c0)
            for kk in 0..<k {
                let src = b + kk * ldb + c0
                let row = base + kk * nr
                for j in 0..<width { row[j] = src[j] }
                for j in width..<nr { row[j] = 0 }
            }
        }
    }

    /// C[m, n] += A[m, k] · B for the packed panels `panels` of B, single-threaded.
    ///
    /// - Parameters:
    ///   - a: A's first element, rows `lda` apart.
    ///   - packed: B packed by `pack` / `packTransposed` for the full `n`.
    ///   - c: C's first element, rows `ldc` apart; only columns `< n` are written.
    public static func multiplyAdd(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        packed: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        panels: Range<Int>, rows: Range<Int>
    ) {
        var k0 = 0
        while k0 < k {
            let kb = min(kc, k - k0)
            for p in panels {
                let bPanel = packed + p * k * nr + k0 * nr
                let n0 = p * nr
                let width = min(nr, n - n0)
                var i = rows.lowerBound
                while i + mr <= rows.upperBound {
                    kernel6x32(kb, a + i * lda + k0, lda, bPanel, c + i * ldc + n0, ldc, width)
                    i += mr
                }
                while i < rows.upperBound {
                    kernel1x32(kb, a + i * lda + k0, bPanel, c + i * ldc + n0, width)
                    i += 1
                }
            }
            k0 += kb
        }
    }

    /// C[m, n] += A[m, k] · B over all panels, split across `Parallelism.threads` threads
    /// (by panels when there are enough of them, otherwise by blocks of rows).
    public static func multiplyAddParallel(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        packed: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let panelCount = (n + nr - 1) / nr
        let threads = Parallelism.threads
        // Below ~1 MFLOP the dispatch costs more than it saves.
        if threads == 1 || m * n * k < 1 << 20 {
            multiplyAdd(m: m, n: n, k: k, a: a, lda: lda, packed: packed, c: c, ldc: ldc,
                        panels: 0..<panelCount, rows: 0..<m)
            return
        }
        if panelCount >= 2 * threads {
            let parts = Parallelism.split(panelCount)
            Parallelism.parallelFor(parts.count) { t in
                multiplyAdd(m: m, n: n, k: k, a: a, lda: lda, packed: packed, c: c, ldc: ldc,
                            panels: parts[t], rows: 0..<m)
            }
        } else {
            // Split rows in multiples of mr so every thread but the last runs full micro-kernels.
            let blocks = (m + mr - 1) / mr
            let parts = Parallelism.split(blocks)
            Parallelism.parallelFor(parts.count) { t in
                let r = (parts[t].lowerBound * mr)..<min(m, parts[t].upperBound * mr)
                multiplyAdd(m: m, n: n, k: k, a: a, lda: lda, packed: packed, c: c, ldc: ldc,
                            panels: 0..<panelCount, rows: r)
            }
        }
    }
}

// MARK: - Micro-kernels

@inline(__always)
private func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
private func addStore16(_ p: UnsafeMutablePointer<Float>, _ v: SIMD16<Float>) {
    let raw = UnsafeMutableRawPointer(p)
    raw.storeBytes(of: raw.loadUnaligned(as: SIMD16<Float>.self) + v, as: SIMD16<Float>.self)
}

/// C[6, width] += A[6, kb] · Bpanel[kb, 32] (columns ≥ width are computed but not stored).
@inline(__always)
private func kernel6x32(
    _ kb: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ width: Int
) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
    var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
    var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
    var bp = b
    for kk in 0..<kb {
        let b0 = load16(bp), b1 = load16(bp + 16)
        var s = SIMD16<Float>(repeating: a0[kk])
        c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a1[kk])
        c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a2[kk])
        c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a3[kk])
        c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a4[kk])
        c40 = c40.addingProduct(s, b0); c41 = c41.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a5[kk])
        c50 = c50.addingProduct(s, b0); c51 = c51.addingProduct(s, b1)
        bp += GEMM.nr
    }
    if width == GEMM.nr {
        addStore16(c, c00); addStore16(c + 16, c01)
        addStore16(c + ldc, c10); addStore16(c + ldc + 16, c11)
        addStore16(c + 2 * ldc, c20); addStore16(c + 2 * ldc + 16, c21)
        addStore16(c + 3 * ldc, c30); addStore16(c + 3 * ldc + 16, c31)
        addStore16(c + 4 * ldc, c40); addStore16(c + 4 * ldc + 16, c41)
        addStore16(c + 5 * ldc, c50); addStore16(c + 5 * ldc + 16, c51)
    } else {
        let rows = [(c00, c01), (c10, c11), (c20, c21), (c30, c31), (c40, c41), (c50, c51)]
        for (r, (lo, hi)) in rows.enumerated() { addPartial(c + r * ldc, lo, hi, width) }
    }
}

/// C[1, width] += A[1, kb] · Bpanel[kb, 32].
@inline(__always)
private func kernel1x32(
    _ kb: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ width: Int
) {
    var c0 = SIMD16<Float>(), c1 = SIMD16<Float>()
    var bp = b
    for kk in 0..<kb {
        let s = SIMD16<Float>(repeating: a[kk])
        c0 = c0.addingProduct(s, load16(bp)); c1 = c1.addingProduct(s, load16(bp + 16))
        bp += GEMM.nr
    }
    if width == GEMM.nr {
        addStore16(c, c0); addStore16(c + 16, c1)
    } else {
        addPartial(c, c0, c1, width)
    }
}

/// c[0..<width] += (lo ++ hi)[0..<width], for the ragged last panel.
@inline(__always)
private func addPartial(_ c: UnsafeMutablePointer<Float>, _ lo: SIMD16<Float>, _ hi: SIMD16<Float>, _ width: Int) {
    for j in 0..<min(width, 16) { c[j] += lo[j] }
    if width > 16 { for j in 16..<width { c[j] += hi[j - 16] } }
}

// MARK: - Tensor-level entry points

/// A weight matrix `W[n, k]` (the `nn.Linear` layout: one row per output feature) packed once for
/// fast `x · Wᵀ`. Packing costs one pass over the weights; keep the value and reuse it.
public struct PackedMatrix: Sendable {
    /// Output features `n` (rows of the original weight).
    public let outputs: Int
    /// Input features `k` (columns of the original weight).
    public let inputs: Int
    /// Panels of 32 output features, each `[inputs][32]`.
    @usableFromInline let panels: [Float]

    /// Packs `weight` of shape `[outputs, inputs]`.
    public init(weight: Tensor) {
        precondition(weight.rank == 2, "PackedMatrix: weight must be [outputs, inputs], got \(weight.shape)")
        let (n, k) = (weight.shape[0], weight.shape[1])
        outputs = n
        inputs = k
        var buf = [Float](repeating: 0, count: GEMM.packedCount(n: n, k: k))
        if buf.isEmpty {
            panels = buf
            return
        }
        weight.scalars.withUnsafeBufferPointer { w in
            buf.withUnsafeMutableBufferPointer { d in
                GEMM.packTransposed(w.baseAddress!, ldb: k, n: n, k: k, into: d.baseAddress!)
            }
        }
        panels = buf
    }
}

/// `x · Wᵀ + bias` — PyTorch's `nn.Linear` on every row of `x`.
///
/// - Parameters:
///   - x: `[..., inputs]` (any rank ≥ 1; leading dimensions are treated as rows).
///   - weight: the packed `[outputs, inputs]` weight.
///   - bias: `[outputs]` or `nil`.
/// - Returns: `[..., outputs]`.
public func linear(_ x: Tensor, _ weight: PackedMatrix, bias: [Float]? = nil) -> Tensor {
    precondition(x.columns == weight.inputs, "linear: input width \(x.columns) ≠ weight inputs \(weight.inputs)")
    precondition(bias == nil || bias!.count == weight.outputs, "linear: bias length ≠ \(weight.outputs)")
    let m = x.rows, n = weight.outputs, k = weight.inputs
    var out = [Float](repeating: 0, count: m * n)
    if let bias {
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<m { for j in 0..<n { o[r * n + j] = bias[j] } }
        }
    }
    if k > 0 && m > 0 && n > 0 {
        x.scalars.withUnsafeBufferPointer { a in
            weight.panels.withUnsafeBufferPointer { p in
                out.withUnsafeMutableBufferPointer { c in
                    GEMM.multiplyAddParallel(m: m, n: n, k: k, a: a.baseAddress!, lda: k,
                                             packed: p.baseAddress!, c: c.baseAddress!, ldc: n)
                }
            }
        }
    }
    return Tensor(shape: Array(x.shape.dropLast()) + [n], scalars: out)
}

/// `x · Wᵀ + bias` with an unpacked `[outputs, inputs]` weight (packs it first; prefer `PackedMatrix`
/// for weights used more than once).
public func linear(_ x: Tensor, weight: Tensor, bias: [Float]? = nil) -> Tensor {
    linear(x, PackedMatrix(weight: weight), bias: bias)
}

/// The matrix product `a · b` of `a [m, k]` and `b [k, n]`: `[m, n]`.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[0],
                 "matmul: shapes \(a.shape) and \(b.shape) do not chain")
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    var out = [Float](repeating: 0, count: m * n)
    if k > 0 && n > 0 && m > 0 {
        var packed = [Float](repeating: 0, count: GEMM.packedCount(n: n, k: k))
        a.scalars.withUnsafeBufferPointer { ap in
            b.scalars.withUnsafeBufferPointer { bp in
                packed.withUnsafeMutableBufferPointer { pp in
                    GEMM.pack(bp.baseAddress!, ldb: n, k: k, n: n, into: pp.baseAddress!)
                    out.withUnsafeMutableBufferPointer { c in
                        GEMM.multiplyAddParallel(m: m, n: n, k: k, a: ap.baseAddress!, lda: k,
                                                 packed: pp.baseAddress!, c: c.baseAddress!, ldc: n)
                    }
                }
            }
        }
    }
    return Tensor(shape: [m, n], scalars: out)
}

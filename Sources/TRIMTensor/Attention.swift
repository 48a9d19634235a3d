// Scaled dot-product attention over fused multi-head projections.
//
// q, k, v are the outputs of the q/k/v projections, `[tokens, heads * headDim]`; head h owns columns
// h*headDim ..< (h+1)*headDim. Heads are independent, so they run in parallel, one at a time per thread
// (fused per head: scores, softmax and the product with V before the next head starts). Within a head,
// the query rows go 12 at a time through all three steps, so the scores are never materialised beyond a
// `[12, tokens]` strip per thread (27 KiB at ViT-L/14-336, 577 tokens). Both products go through the
// GEMM, which reads Q and the scores in place and needs only Kᵀ and V packed. q, k and v may be three
// tensors or the column blocks of one fused `[tokens, 3 · width]` projection.

/// Multi-head attention `softmax(Q Kᵀ · scale + mask) V` per head, heads concatenated.
///
/// - Parameters:
///   - q, k, v: `[tokens, heads * headDim]`.
///   - heads: number of heads; `q.columns` must be divisible by it.
///   - scale: multiplies the scores (CLIP: `headDim^-0.5`).
///   - causal: when true, token i attends only to tokens 0...i (CLIP's text tower).
/// - Returns: `[tokens, heads * headDim]`, ready for the output projection.
public func multiHeadAttention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float, causal: Bool) -> Tensor {
    precondition(q.shape == k.shape && k.shape == v.shape && q.rank == 2, "attention: q/k/v shapes differ or rank ≠ 2")
    let t = q.shape[0], width = q.shape[1]
    precondition(heads > 0 && width % heads == 0, "attention: width \(width) not divisible by \(heads) heads")
    return q.scalars.withUnsafeBufferPointer { qp in
        k.scalars.withUnsafeBufferPointer { kp in
            v.scalars.withUnsafeBufferPointer { vp in
                Tensor(shape: [t, width], scalars: attention(
                    q: qp.baseAddress, k: kp.baseAddress, v: vp.baseAddress, ld: width, tokens: t, width: width,
                    heads: heads, scale: scale, causal: causal, outStride: width))
            }
        }
    }
}

/// `multiHeadAttention` on the output of one fused q/k/v projection: `qkv` is `[tokens, 3 · width]`
/// with q in columns `0 ..< width`, k in `width ..< 2·width` and v in `2·width ..< 3·width` (as
/// `PackedMatrix(stacking:)` of the three projections produces it).
/// - Returns: `[tokens, width]`.
public func multiHeadAttention(qkv: Tensor, heads: Int, scale: Float, causal: Bool) -> Tensor {
    precondition(qkv.rank == 2 && qkv.shape[1] % 3 == 0, "attention: qkv must be [tokens, 3 · width], got \(qkv.shape)")
    let t = qkv.shape[0], width = qkv.shape[1] / 3
    precondition(heads > 0 && width % heads == 0, "attention: width \(width) not divisible by \(heads) heads")
    return qkv.scalars.withUnsafeBufferPointer { p in
        let base = p.baseAddress
        return Tensor(shape: [t, width], scalars: attention(
            q: base, k: base.map { $0 + width }, v: base.map { $0 + 2 * width }, ld: 3 * width,
            tokens: t, width: width, heads: heads, scale: scale, causal: causal, outStride: width))
    }
}

/// The shared body: q, k, v rows `ld` apart (nil only when there are no elements); the output's rows are
/// `outStride` (≥ width) floats apart, with columns width ..< outStride set to zero. Returns the
/// `t · outStride` floats.
///
/// `sequences` > 1 treats the `t` rows as that many equal sequences stacked (a batch of views), each
/// attending only within itself: every sequence's rows come out exactly as if it were run alone.
func attention(
    q: UnsafePointer<Float>?, k: UnsafePointer<Float>?, v: UnsafePointer<Float>?, ld: Int, tokens t: Int, width: Int,
    heads: Int, scale: Float, causal: Bool, outStride: Int, sequences: Int = 1
) -> [Float] {
    let d = width / heads
    if t == 0 || d == 0 { return [Float](repeating: 0, count: t * outStride) }
    precondition(sequences >= 1 && t % sequences == 0, "attention: \(t) rows are not \(sequences) equal sequences")
    let length = t / sequences
    let qb = q!, kb = k!, vb = v!
    // Every element is written by its head's S·V product (which overwrites), so `out` starts uninitialised.
    return [Float](unsafeUninitializedCapacity: t * outStride) { op, initialized in
        let ob = op.baseAddress!
        // One (sequence, head) pair per chunk, handed out dynamically; each allocates its own scratch (a
        // [12, tokens] strip of scores, packed Kᵀ and V, Q's head slice, the strip's row sums), freed before
        // the next.
        Parallelism.parallelFor(sequences * heads) { job in
            let h = job % heads, first = job / heads * length  // the sequence's first row
            // On cache-line boundaries: a B vector of the packed Kᵀ / V, or a scores vector, that straddles
            // two lines costs two L1 accesses (malloc aligns to 16 bytes). Measured at 577 tokens: one
            // attention 8.10 → 7.81 ms on 2 threads, 18.0 → 16.5 ms on one.
            let scores = allocateFloats(GEMM.mr * length)
            let packedK = allocateFloats(GEMM.packedCount(n: length, k: d))
            let packedV = allocateFloats(GEMM.packedCount(n: d, k: length))
            let qHead = allocateFloats(length * d)
            let inverseSums = UnsafeMutablePointer<Float>.allocate(capacity: GEMM.mr)
            defer {
                scores.deallocate(); packedK.deallocate(); packedV.deallocate(); qHead.deallocate()
                inverseSums.deallocate()
            }
            attendOneHead(
                q: qb + first * ld + h * d, k: kb + first * ld + h * d, v: vb + first * ld + h * d,
                out: ob + first * outStride + h * d,
                ld: ld, ldo: outStride, tokens: length, headDim: d, scale: scale, causal: causal,
                scores: scores, packedK: packedK, packedV: packedV, qHead: qHead, inverseSums: inverseSums)
        }
        if outStride > width {
            for i in 0..<t { (ob + i * outStride + width).initialize(repeating: 0, count: outStride - width) }
        }
        initialized = t * outStride
    }
}

/// One head: S = Q Kᵀ · scale (+ causal mask), softmax rows, out = S V. q, k, v rows `ld` apart, out's `ldo`.
///
/// Kᵀ and V are packed once per head; then each block of `GEMM.mr` (12) query rows goes through all
/// three steps before the next block starts, so the live scores are a `[12, tokens]` strip (27 KiB at
/// 577 tokens: L1-resident while the softmax and S·V read them) rather than the whole `[tokens, tokens]`
/// matrix. Every row's arithmetic is the same as unblocked, so the results are bit-identical.
///
/// Two more details keep this close to the GEMM's speed. Q's head slice is first copied into `qHead`
/// (`[t][d]`, contiguous): read in place, its rows are `ld` floats apart — 12 KiB for a fused ViT-L
/// projection, a multiple of 4 KiB — so the 12 rows a micro-kernel reads would all fall into the same L1
/// sets. And the softmax is left unnormalised (`e = exp(scale·(s − max))`, one pass fewer over the
/// scores): each output row is divided by its sum Σe after S·V, on d values instead of t.
///
/// Never inlined, on purpose. With one thread `Parallelism.parallelFor` runs the per-head closure inline,
/// and once this body (with the GEMM and its micro-kernel) was inlined into that closure, the compiler
/// guarded the micro-kernel's 24 accumulators with dynamic exclusivity checks: about 200
/// `swift_beginAccess` calls in the closure, 29 % of a single-threaded attention's samples in `perf`.
/// As a function of its own it compiles like the GEMM's loop nest, without them: one ViT-L attention
/// (577 tokens, 16 heads) went from 23.0 to 15.2 ms on one thread (median of 40 alternated pairs),
/// unchanged on two.
@inline(never)
private func attendOneHead(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
    ld: Int, ldo: Int, tokens t: Int, headDim d: Int, scale: Float, causal: Bool,
    scores: UnsafeMutablePointer<Float>, packedK: UnsafeMutablePointer<Float>, packedV: UnsafeMutablePointer<Float>,
    qHead: UnsafeMutablePointer<Float>, inverseSums: UnsafeMutablePointer<Float>
) {
    for i in 0..<t { (qHead + i * d).update(from: q + i * ld, count: d) }
    GEMM.packTransposed(k, ldb: ld, n: t, k: d, into: packedK)
    GEMM.pack(v, ldb: ld, k: t, n: d, into: packedV)
    var i0 = 0
    while i0 < t {
        let rows = min(GEMM.mr, t - i0)
        // S[rows, t] = Q[i0 ..< i0 + rows] · Kᵀ
        GEMM.multiplyAdd(m: rows, n: t, k: d, a: qHead + i0 * d, lda: d, packed: packedK, c: scores, ldc: t,
                         panels: 0..<((t + GEMM.nr - 1) / GEMM.nr), rows: 0..<rows, overwrite: true)
        for r in 0..<rows {
            let row = scores + r * t
            let visible = causal ? i0 + r + 1 : t
            inverseSums[r] = 1 / unnormalizedSoftmaxRow(row, visible, scale: scale)
            for j in visible..<t { row[j] = 0 }
        }
        // out[i0 ..< i0 + rows] = S · V, then each row / Σe
        GEMM.multiplyAdd(m: rows, n: d, k: t, a: scores, lda: t, packed: packedV, c: out + i0 * ldo, ldc: ldo,
                         panels: 0..<((d + GEMM.nr - 1) / GEMM.nr), rows: 0..<rows, overwrite: true)
        for r in 0..<rows {
            let row = out + (i0 + r) * ldo, inv = inverseSums[r]
            for j in 0..<d { row[j] *= inv }
        }
        i0 += rows
    }
}

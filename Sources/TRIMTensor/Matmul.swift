// Matrix multiplication: the one kernel that dominates every transformer forward pass.
//
// Everything here computes C[M, N] (+)= A[M, K] · B[K, N] with A row-major (rows of length K, stride lda)
// and B handed over *packed*: cut into column panels of `GEMM.nr` (= 32) columns, each panel stored
// k-major ([K][32], the last panel zero-padded). Packing B happens once per weight matrix (at model load,
// see `PackedMatrix`) or once per attention head for activations.
//
// The loop nest follows the BLIS / GotoBLAS layering, transposed to our row-major view:
//
//   for each block of `GEMM.nc` panels (nc·32 columns)          — the B block [kc, nc·32] stays in L2 (1 MiB)
//     for each K block of `GEMM.kc` (= 256)
//       for each block of `GEMM.mr` rows of A
//         A's micro-panel [kc][mr] (packed once per call)     — 12 KiB, stays in L1
//         for each panel in the block: micro-kernel mr × 32    — streams one 32 KiB panel slice from L2
//
// The micro-kernel keeps an mr × 32 block of C in registers. On x86-64 (mr = 12) that is 24 SIMD16<Float>
// accumulators — with AVX-512, 24 of the 32 zmm registers, leaving room for the two B vectors and a
// broadcast — and every k costs 2 vector loads of B, 12 broadcasts of packed A and 24 fused multiply-adds,
// enough independent chains to cover the FMA latency on both FMA ports. Elsewhere (NEON's 32 × 128-bit
// registers) mr = 4 keeps the 8 accumulators in registers. A is packed once per call into row blocks of
// [K][mr], so the broadcasts read one sequential stream instead of mr strided ones; the pass costs about
// 1% of the product at ViT shapes and is itself split across threads.
// Threads take disjoint ranges of panels (or of rows when there are too few panels), so no two threads
// write the same C element; each thread then keeps its own B block in its own core's L2.

/// Blocking constants of the packed GEMM (see the file comment).
public enum GEMM {
    /// Columns per packed panel: two 16-lane vectors.
    public static let nr = 32
    #if arch(x86_64)
    /// Rows of C per micro-kernel call (24 accumulators: sized for AVX-512's 32 vector registers).
    public static let mr = 12
    #else
    /// Rows of C per micro-kernel call (8 accumulators: sized for NEON's 32 × 128-bit registers).
    public static let mr = 4
    #endif
    /// Depth of one K block (an A micro-panel of kc × mr floats fits in L1 next to the streamed B).
    public static let kc = 256
    /// Panels per column block (a B block of kc × nc·32 floats = 1 MiB fits in L2).
    public static let nc = 32

    /// Number of packed floats for a `[k, n]` right-hand side.
    @inlinable public static func packedCount(n: Int, k: Int) -> Int { ((n + nr - 1) / nr) * k * nr }

    /// Packs B given as `[n, k]` rows (the `nn.Linear` weight layout, i.e. we multiply by its transpose)
    /// with row stride `ldb` into panels: `dst[(p*k + kk)*nr + j] = b[(p*nr + j)*ldb + kk]`, zero-padded.
    /// Each panel is written sequentially while its 32 source rows are read as 32 forward streams (one
    /// cache line each serves 16 values of kk); large matrices are split by panels across threads.
    public static func packTransposed(
        _ b: UnsafePointer<Float>, ldb: Int, n: Int, k: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        let panels = (n + nr - 1) / nr
        let parts = Parallelism.split(panels, parts: n * k < 1 << 18 ? 1 : Parallelism.threads)
        Parallelism.parallelFor(parts.count) { t in
            for p in parts[t] {
                let base = dst + p * k * nr
                let width = min(nr, n - p * nr)
                let src = b + p * nr * ldb
                if width < nr { base.initialize(repeating: 0, count: k * nr) }
                for kk in 0..<k {
                    let row = base + kk * nr
                    for j in 0..<width { row[j] = src[j * ldb + kk] }
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

    /// C[m, n] += A[m, k] · B for the packed panels `panels` of B and the rows `rows` of A and C,
    /// single-threaded (packs those rows of A first). With `overwrite` (requires k > 0), C = A · B:
    /// C's previous contents in those rows and panels' columns are neither read nor kept.
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
        panels: Range<Int>, rows: Range<Int>, overwrite: Bool = false
    ) {
        if panels.isEmpty || rows.isEmpty { return }
        precondition(k > 0 || !overwrite, "GEMM: overwrite needs k > 0")
        if k == 0 { return }
        let blocks = (rows.count + mr - 1) / mr
        let aPacked = UnsafeMutablePointer<Float>.allocate(capacity: blocks * k * mr)
        defer { aPacked.deallocate() }
        packA(a + rows.lowerBound * lda, lda: lda, rows: rows.count, k: k, into: aPacked, blocks: 0..<blocks)
        multiplyAddPacked(n: n, k: k, aPacked: aPacked, packed: packed, c: c + rows.lowerBound * ldc, ldc: ldc,
                          rows: rows.count, panels: panels, rowBlocks: 0..<blocks, overwrite: overwrite)
    }

    /// Packs the row blocks `blocks` of A `[rows, k]`: block `ib` (rows ib·mr ..< ib·mr + mr) goes to
    /// `dst + ib·k·mr` as `[k][mr]`, so the micro-panel for K block k0 starts at `dst + ib·k·mr + k0·mr`.
    static func packA(
        _ a: UnsafePointer<Float>, lda: Int, rows: Int, k: Int, into dst: UnsafeMutablePointer<Float>, blocks: Range<Int>
    ) {
        for ib in blocks {
            let r0 = ib * mr
            packRows(a + r0 * lda, lda: lda, rows: min(mr, rows - r0), depth: k, into: dst + ib * k * mr)
        }
    }

    /// The blocked loop nest of the file comment over A packed by `packA`: C[rows, n] += A · B for the
    /// row blocks `rowBlocks` and the panels `panels`. With `overwrite`, C's previous contents are
    /// ignored: the first K block stores `bias + A·B` (`bias` `[n]`, or zeros when nil) instead of adding,
    /// which saves `linear` a zero-fill, a bias pass and one read of C.
    static func multiplyAddPacked(
        n: Int, k: Int, aPacked: UnsafePointer<Float>, packed: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, panels: Range<Int>, rowBlocks: Range<Int>,
        overwrite: Bool = false, bias: UnsafePointer<Float>? = nil
    ) {
        var j0 = panels.lowerBound
        while j0 < panels.upperBound {
            let j1 = min(j0 + nc, panels.upperBound)
            var k0 = 0
            while k0 < k {
                let kb = min(kc, k - k0)
                for ib in rowBlocks {
                    let i = ib * mr
                    let ap = aPacked + ib * k * mr + k0 * mr  // [kb][mr], L1-resident across the panels
                    for p in j0..<j1 {
                        let n0 = p * nr
                        microKernel(kb, ap, packed + p * k * nr + k0 * nr, c + i * ldc + n0, ldc,
                                    rows: min(mr, rows - i), width: min(nr, n - n0),
                                    store: overwrite && k0 == 0 ? .overwrite(bias.map { $0 + n0 }) : .add)
                    }
                }
                k0 += kb
            }
            j0 = j1
        }
    }

    /// Packs `rows` (≤ mr) rows of A, `depth` columns each, k-major: `dst[kk*mr + r] = a[r*lda + kk]`,
    /// rows `rows..<mr` zero-filled so the micro-kernel can always compute all mr rows.
    @inline(__always)
    static func packRows(
        _ a: UnsafePointer<Float>, lda: Int, rows: Int, depth: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        if rows < mr { dst.initialize(repeating: 0, count: depth * mr) }
        for r in 0..<rows {
            // Pointer steps rather than indices: no overflow checks in the copy loop.
            var s = a + r * lda, d = dst + r
            for _ in 0..<depth {
                d.pointee = s.pointee
                s += 1
                d += mr
            }
        }
    }

    /// C[m, n] += A[m, k] · B over all panels, split across `Parallelism.threads` threads: A is packed
    /// once (row blocks split across threads), then the products are split into about 4 chunks per
    /// thread, by panels when there are enough of them, otherwise by row blocks.
    public static func multiplyAddParallel(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        packed: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        overwrite: Bool = false, bias: UnsafePointer<Float>? = nil
    ) {
        if m == 0 || n == 0 { return }
        precondition(k > 0 || !overwrite, "GEMM: overwrite needs k > 0")
        if k == 0 { return }
        let panelCount = (n + nr - 1) / nr
        let blocks = (m + mr - 1) / mr
        // Below ~1 MFLOP the dispatch costs more than it saves.
        let threads = m * n * k < 1 << 20 ? 1 : Parallelism.threads
        let aPacked = UnsafeMutablePointer<Float>.allocate(capacity: blocks * k * mr)
        defer { aPacked.deallocate() }
        let packParts = Parallelism.split(blocks, parts: threads)
        Parallelism.parallelFor(packParts.count) { t in
            packA(a, lda: lda, rows: m, k: k, into: aPacked, blocks: packParts[t])
        }
        if threads == 1 {
            multiplyAddPacked(n: n, k: k, aPacked: aPacked, packed: packed, c: c, ldc: ldc, rows: m,
                              panels: 0..<panelCount, rowBlocks: 0..<blocks, overwrite: overwrite, bias: bias)
        } else if panelCount >= 2 * threads {
            // About 4 chunks per thread (of at most nc panels each), handed out dynamically: a thread
            // that loses time slices to another process simply takes fewer chunks.
            let parts = Parallelism.split(panelCount, parts: max(4 * threads, (panelCount + nc - 1) / nc))
            Parallelism.parallelFor(parts.count) { t in
                multiplyAddPacked(n: n, k: k, aPacked: aPacked, packed: packed, c: c, ldc: ldc, rows: m,
                                  panels: parts[t], rowBlocks: 0..<blocks, overwrite: overwrite, bias: bias)
            }
        } else {
            let parts = Parallelism.split(blocks, parts: 4 * threads)
            Parallelism.parallelFor(parts.count) { t in
                multiplyAddPacked(n: n, k: k, aPacked: aPacked, packed: packed, c: c, ldc: ldc, rows: m,
                                  panels: 0..<panelCount, rowBlocks: parts[t], overwrite: overwrite, bias: bias)
            }
        }
    }
}

// MARK: - Micro-kernels

/// How a micro-kernel writes its tile: add into C, or overwrite C with `bias + tile` (bias: the tile's
/// first column's entry of a `[n]` bias vector, nil for zeros).
enum TileStore {
    case add
    case overwrite(UnsafePointer<Float>?)
}

@inline(__always)
private func store16(_ p: UnsafeMutablePointer<Float>, _ v: SIMD16<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

@inline(__always)
private func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
private func addStore16(_ p: UnsafeMutablePointer<Float>, _ v: SIMD16<Float>) {
    let raw = UnsafeMutableRawPointer(p)
    raw.storeBytes(of: raw.loadUnaligned(as: SIMD16<Float>.self) + v, as: SIMD16<Float>.self)
}

#if arch(x86_64)
/// C[rows, width] += Apacked[kb][12] · Bpanel[kb, 32]: the register-blocked micro-kernel (see the file
/// comment). All 12 rows are computed (packed A is zero-padded); only `rows` rows and `width` columns
/// are stored.
@inline(__always)
private func microKernel(
    _ kb: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, width: Int, store: TileStore
) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>(), c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
    var c80 = SIMD16<Float>(), c81 = SIMD16<Float>(), c90 = SIMD16<Float>(), c91 = SIMD16<Float>()
    var ca0 = SIMD16<Float>(), ca1 = SIMD16<Float>(), cb0 = SIMD16<Float>(), cb1 = SIMD16<Float>()
    var ap = a, bp = b
    for _ in 0..<kb {
        let b0 = load16(bp), b1 = load16(bp + 16)
        var s = SIMD16<Float>(repeating: ap[0])
        c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[1])
        c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[2])
        c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[3])
        c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[4])
        c40 = c40.addingProduct(s, b0); c41 = c41.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[5])
        c50 = c50.addingProduct(s, b0); c51 = c51.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[6])
        c60 = c60.addingProduct(s, b0); c61 = c61.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[7])
        c70 = c70.addingProduct(s, b0); c71 = c71.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[8])
        c80 = c80.addingProduct(s, b0); c81 = c81.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[9])
        c90 = c90.addingProduct(s, b0); c91 = c91.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[10])
        ca0 = ca0.addingProduct(s, b0); ca1 = ca1.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[11])
        cb0 = cb0.addingProduct(s, b0); cb1 = cb1.addingProduct(s, b1)
        ap += 12
        bp += GEMM.nr
    }
    if rows == 12 && width == GEMM.nr, case .overwrite(let bias) = store {
        // First K block of `linear`: C = bias + tile, C is not read.
        let b0 = bias.map { load16($0) } ?? SIMD16<Float>(), b1 = bias.map { load16($0 + 16) } ?? SIMD16<Float>()
        store16(c, c00 + b0); store16(c + 16, c01 + b1)
        store16(c + ldc, c10 + b0); store16(c + ldc + 16, c11 + b1)
        store16(c + 2 * ldc, c20 + b0); store16(c + 2 * ldc + 16, c21 + b1)
        store16(c + 3 * ldc, c30 + b0); store16(c + 3 * ldc + 16, c31 + b1)
        store16(c + 4 * ldc, c40 + b0); store16(c + 4 * ldc + 16, c41 + b1)
        store16(c + 5 * ldc, c50 + b0); store16(c + 5 * ldc + 16, c51 + b1)
        store16(c + 6 * ldc, c60 + b0); store16(c + 6 * ldc + 16, c61 + b1)
        store16(c + 7 * ldc, c70 + b0); store16(c + 7 * ldc + 16, c71 + b1)
        store16(c + 8 * ldc, c80 + b0); store16(c + 8 * ldc + 16, c81 + b1)
        store16(c + 9 * ldc, c90 + b0); store16(c + 9 * ldc + 16, c91 + b1)
        store16(c + 10 * ldc, ca0 + b0); store16(c + 10 * ldc + 16, ca1 + b1)
        store16(c + 11 * ldc, cb0 + b0); store16(c + 11 * ldc + 16, cb1 + b1)
    } else if rows == 12 && width == GEMM.nr {
        // The common full tile: 24 read-add-writes, no bookkeeping.
        addStore16(c, c00); addStore16(c + 16, c01)
        addStore16(c + ldc, c10); addStore16(c + ldc + 16, c11)
        addStore16(c + 2 * ldc, c20); addStore16(c + 2 * ldc + 16, c21)
        addStore16(c + 3 * ldc, c30); addStore16(c + 3 * ldc + 16, c31)
        addStore16(c + 4 * ldc, c40); addStore16(c + 4 * ldc + 16, c41)
        addStore16(c + 5 * ldc, c50); addStore16(c + 5 * ldc + 16, c51)
        addStore16(c + 6 * ldc, c60); addStore16(c + 6 * ldc + 16, c61)
        addStore16(c + 7 * ldc, c70); addStore16(c + 7 * ldc + 16, c71)
        addStore16(c + 8 * ldc, c80); addStore16(c + 8 * ldc + 16, c81)
        addStore16(c + 9 * ldc, c90); addStore16(c + 9 * ldc + 16, c91)
        addStore16(c + 10 * ldc, ca0); addStore16(c + 10 * ldc + 16, ca1)
        addStore16(c + 11 * ldc, cb0); addStore16(c + 11 * ldc + 16, cb1)
    } else {
        let acc = [(c00, c01), (c10, c11), (c20, c21), (c30, c31), (c40, c41), (c50, c51),
                   (c60, c61), (c70, c71), (c80, c81), (c90, c91), (ca0, ca1), (cb0, cb1)]
        storeRows(acc, c, ldc, rows: rows, width: width, store: store)
    }
}
#else
/// C[rows, width] += Apacked[kb][4] · Bpanel[kb, 32] (see the file comment); rows ≥ `rows` and
/// columns ≥ `width` are computed but not stored.
@inline(__always)
private func microKernel(
    _ kb: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, width: Int, store: TileStore
) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var ap = a, bp = b
    for _ in 0..<kb {
        let b0 = load16(bp), b1 = load16(bp + 16)
        var s = SIMD16<Float>(repeating: ap[0])
        c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[1])
        c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[2])
        c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: ap[3])
        c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
        ap += 4
        bp += GEMM.nr
    }
    storeRows([(c00, c01), (c10, c11), (c20, c21), (c30, c31)], c, ldc, rows: rows, width: width, store: store)
}
#endif

/// Writes the accumulator rows `acc[0..<rows]` to C (`width` ≤ 32 columns each, rows `ldc` apart) as
/// `store` says: added into C, or `bias + acc` overwriting C.
@inline(__always)
private func storeRows(
    _ acc: [(SIMD16<Float>, SIMD16<Float>)], _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, width: Int,
    store: TileStore
) {
    switch store {
    case .add:
        if width == GEMM.nr {
            for r in 0..<rows {
                addStore16(c + r * ldc, acc[r].0)
                addStore16(c + r * ldc + 16, acc[r].1)
            }
        } else {
            for r in 0..<rows { addPartial(c + r * ldc, acc[r].0, acc[r].1, width) }
        }
    case .overwrite(let bias):
        for r in 0..<rows {
            let row = c + r * ldc
            for j in 0..<width { row[j] = (bias?[j] ?? 0) + (j < 16 ? acc[r].0[j] : acc[r].1[j - 16]) }
        }
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
        self = weight.scalars.withUnsafeBufferPointer { w in
            PackedMatrix(outputs: weight.shape[0], inputs: weight.shape[1], weights: w.baseAddress)
        }
    }

    /// Packs `outputs × inputs` row-major floats read straight from `weights` (e.g. a memory-mapped
    /// checkpoint, avoiding an intermediate copy). `weights` may be nil only when the matrix is empty.
    public init(outputs n: Int, inputs k: Int, weights: UnsafePointer<Float>?) {
        precondition(n >= 0 && k >= 0, "PackedMatrix: negative shape [\(n), \(k)]")
        outputs = n
        inputs = k
        let count = GEMM.packedCount(n: n, k: k)
        guard count > 0, let weights else {
            precondition(count == 0, "PackedMatrix: no weights for a [\(n), \(k)] matrix")
            panels = []
            return
        }
        panels = [Float](unsafeUninitializedCapacity: count) { d, initialized in
            GEMM.packTransposed(weights, ldb: k, n: n, k: k, into: d.baseAddress!)
            initialized = count
        }
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
    if k == 0 || m == 0 || n == 0 {
        // No products: every row is the bias (or zeros).
        let row = bias ?? [Float](repeating: 0, count: n)
        return Tensor(shape: Array(x.shape.dropLast()) + [n], scalars: (0..<m).flatMap { _ in row })
    }
    // The GEMM's first K block overwrites every element of C with bias + A·B, so C starts uninitialised.
    let out = [Float](unsafeUninitializedCapacity: m * n) { c, initialized in
        let cp = c.baseAddress!
        x.scalars.withUnsafeBufferPointer { a in
            weight.panels.withUnsafeBufferPointer { p in
                func run(_ b: UnsafePointer<Float>?) {
                    GEMM.multiplyAddParallel(m: m, n: n, k: k, a: a.baseAddress!, lda: k,
                                             packed: p.baseAddress!, c: cp, ldc: n, overwrite: true, bias: b)
                }
                if let bias { bias.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
            }
        }
        initialized = m * n
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

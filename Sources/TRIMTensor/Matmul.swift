import Foundation

// Matrix multiplication: the one kernel that dominates every transformer forward pass.
//
// Everything here computes C[M, N] (+)= A[M, K] · B[K, N] with A row-major (rows of length K, stride lda)
// and B handed over *packed*: cut into column panels of `GEMM.nr` (= 32) columns, each panel stored
// k-major ([K][32], the last panel zero-padded). Packing B happens once per weight matrix (at model load,
// see `PackedMatrix`) or once per attention head for activations. A is read in place.
//
// The loop nest follows the BLIS / GotoBLAS layering, transposed to our row-major view:
//
//   for each block of `GEMM.nc` panels (nc·32 columns)          — the B block [kc, nc·32] stays in L2 (512 KiB)
//     for each K block of `GEMM.kc` (= 512)
//       for each block of `GEMM.mr` rows of A
//         A's rows [mr][kc], read in place                     — 24 KiB, stays in L1 across the panels
//         for each panel in the block: micro-kernel mr × 32    — streams one 64 KiB panel slice from L2
//
// The micro-kernel keeps an mr × 32 block of C in registers. On x86-64 (mr = 12) that is 24 SIMD16<Float>
// accumulators — with AVX-512, 24 of the 32 zmm registers, leaving room for the two B vectors and a
// broadcast — and every k costs 2 vector loads of B, 12 broadcasts of A (one from each row) and 24 fused
// multiply-adds, enough independent chains to cover the FMA latency on both FMA ports. A row tail of at
// most 4 rows goes through a 4 × 32 kernel instead (577 = 48 · 12 + 1 rows at ViT-L/14-336). Built for
// AVX2 (16 ymm registers), every SIMD16<Float> is two ymm registers and those 24 accumulators would be 48,
// so x86-64 has a second family (`GEMM.Kernel.avx2`) that computes the same 12 × 32 tile as four 6 × 16
// blocks of 6 accumulators (12 ymm); which family runs is measured once per process (`GEMM.kernel`).
// Elsewhere (arm64) mr = 4 with the 4 × 32 kernel (not measured: this project has no arm64 machine).
//
// A used to be packed into [kc][mr] micro-panels first, as BLIS does; measured on the ViT shapes (best of
// 30, one thread), reading the mr rows in place is as fast or faster — 577×4096×1024 went from 134–138 to
// 149–152 GFLOP/s, because packing a 577 × 4096 activation took 3.4 ms of a 35 ms product — and it frees
// the threads from a packing pass and its barrier. kc = 512 with nc = 8 beat kc = 256 with nc = 32 by 3–5%.
//
// The first K block *overwrites* C with `bias + residual + A·B` (so C may start uninitialised and the
// transformer's residual add and bias cost no extra pass), and the last one can apply quick_gelu before
// storing (the MLP's activation, likewise fused): see `GEMM.Epilogue`. With more than one K block, the sums
// between blocks do not go back into C but into a buffer of partial sums, one mr × 32 slot per tile in the
// order the loop visits the tiles (`PartialSums`): at 2,885 rows (five LLaVA-NeXT views) a thread's C block
// is 2.9 MB, far beyond L2, and re-reading it row by row every K block stalled on each tile's lines, while
// the slots are one sequential stream the hardware prefetcher follows; C is written once, by the last
// block. The additions are the same, in the same order: the results are bit for bit those of summing in C.
// Threads take disjoint ranges of panels (or of rows when there are too few panels), so no two threads
// write the same C element; each thread then keeps its own B block in its own core's L2.
//
// Weights from an F16 or BF16 checkpoint can stay 16-bit in memory (`WeightStorage`): their panels are
// packed as 16-bit values, and each thread widens one B block [kb, nc·32] at a time into a float buffer
// before the row loop — exactly (every F16 and BF16 value is a Float), so the products are bit for bit
// those of the F32-packed weights. The widened block is reused by every row block (49 at 577 rows), so
// the widening costs one conversion per 577 multiply-adds.

/// How a packed weight keeps its values in memory (see `PackedMatrix`).
public enum WeightStorage: String, Sendable, CaseIterable {
    /// IEEE binary32, as the GEMM multiplies them.
    case float32
    /// IEEE binary16 (an F16 checkpoint's values), widened exactly to Float inside the GEMM.
    case float16
    /// bfloat16 (a BF16 checkpoint's values), widened exactly to Float inside the GEMM.
    case bfloat16

    /// Bytes per stored value.
    public var byteSize: Int { self == .float32 ? 4 : 2 }
}

/// The packed right-hand side as the GEMM reads it: panels of Floats, or of 16-bit values in `storage`.
struct PackedOperand {
    let raw: UnsafeRawPointer
    let storage: WeightStorage

    init(_ floats: UnsafePointer<Float>) {
        raw = UnsafeRawPointer(floats)
        storage = .float32
    }

    init(raw: UnsafeRawPointer, storage: WeightStorage) {
        self.raw = raw
        self.storage = storage
    }
}

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
    /// Depth of one K block (mr rows of A, kc floats each, stay in L1 next to the streamed B).
    public static let kc = 512
    /// Panels per column block (a B block of kc × nc·32 floats = 512 KiB stays in L2).
    public static let nc = 8

    /// What the GEMM does besides accumulating A·B into C (all optional; see the file comment).
    public struct Epilogue {
        /// When true (requires k > 0), C's previous contents are ignored: the first K block stores
        /// `bias + residual + A·B`. When false, A·B is added into C and `bias` / `residual` are unused.
        public var overwrite: Bool
        /// `[n]`, added once (with `overwrite`).
        public var bias: UnsafePointer<Float>?
        /// A matrix laid out like C (same `ldc`), added once (with `overwrite`): the residual connection.
        public var residual: UnsafePointer<Float>?
        /// Apply `quick_gelu` to every finished element of C.
        public var quickGELU: Bool

        public init(overwrite: Bool, bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil,
                    quickGELU: Bool = false) {
            self.overwrite = overwrite
            self.bias = bias
            self.residual = residual
            self.quickGELU = quickGELU
        }
    }

    /// The micro-kernel family of an x86-64 build, chosen once per process (see `kernel`).
    public enum Kernel: String, Sendable, CaseIterable {
        /// 12 × 32 tiles in 24 `SIMD16<Float>` accumulators: sized for AVX-512's 32 zmm registers.
        case avx512
        /// 6 × 16 tiles in 6 `SIMD16<Float>` accumulators (12 ymm registers), four per 12 × 32 tile: sized
        /// for AVX2's 16 ymm registers, where the 12 × 32 kernel's 48 ymm accumulators would spill.
        case avx2
    }

    /// The micro-kernel this process uses on x86-64: `TRIM_GEMM_KERNEL=avx512|avx2` if set (other values are
    /// ignored); the 6 × 16 family when the CPU reports no AVX-512 (`avx512f` missing from Linux's
    /// `/proc/cpuinfo`: no build can give the 12 × 32 kernel its 24 vector registers there); otherwise the
    /// faster of the two on an L1-resident 12 × 256 × 32 product, timed once at first use (under 1 ms).
    ///
    /// Swift has no compile-time test for the target's vector extensions, and the right kernel depends on
    /// what the code was compiled for (`-target-cpu native` on an AVX2 machine makes every `SIMD16<Float>` two
    /// ymm registers), so the build is measured instead of guessed: an AVX-512 build runs the 12 × 32 kernel
    /// about 1.5× as fast as the 6 × 16 one, an AVX2 build (`-target-cpu haswell`) the 6 × 16 one about twice
    /// as fast as the spilling 12 × 32 one (PERFORMANCE.md, item 24). Both compute every element of C with
    /// the same multiply-adds in the same order, so the choice never changes a result, only the speed.
    /// Elsewhere (arm64) the 4-row kernel is used and this value is not consulted.
    public static let kernel: Kernel = {
        if let s = ProcessInfo.processInfo.environment["TRIM_GEMM_KERNEL"], let k = Kernel(rawValue: s) { return k }
        #if arch(x86_64)
        return cpuReportsAVX512() == false ? .avx2 : fasterKernel()
        #else
        return .avx512
        #endif
    }()

    /// Tests force one kernel to compare the two bit for bit (not thread-safe; tests only).
    nonisolated(unsafe) static var kernelOverride: Kernel?

    /// Number of packed floats for a `[k, n]` right-hand side.
    @inlinable public static func packedCount(n: Int, k: Int) -> Int { ((n + nr - 1) / nr) * k * nr }

    /// Packs B given as `[n, k]` rows (the `nn.Linear` weight layout, i.e. we multiply by its transpose)
    /// with row stride `ldb` into panels: `dst[(p*k + kk)*nr + j] = b[(p*nr + j)*ldb + kk]`, zero-padded.
    public static func packTransposed(
        _ b: UnsafePointer<Float>, ldb: Int, n: Int, k: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        packTransposed(parts: [(b, n)], ldb: ldb, k: k, into: dst)
    }

    /// Packs the rows of several `[rows, k]` matrices stacked on top of each other (e.g. the q, k and v
    /// projections of one attention layer, multiplied as one `[3·hidden, k]` weight), each with row stride
    /// `ldb`, as `packTransposed` packs one. Each panel is written sequentially while its 32 source rows
    /// are read as 32 forward streams (one cache line each serves 16 values of kk), 16 values of kk at a
    /// time; large matrices are split by panels across threads.
    public static func packTransposed(
        parts: [(pointer: UnsafePointer<Float>, rows: Int)], ldb: Int, k: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        packPanels(parts: parts, ldb: ldb, k: k, into: dst)
    }

    /// `packTransposed(parts:)` for 16-bit values (F16 or BF16 bit patterns, moved unchanged): the panels
    /// of a weight kept in `WeightStorage.float16` / `.bfloat16`.
    public static func packTransposed(
        parts: [(pointer: UnsafePointer<UInt16>, rows: Int)], ldb: Int, k: Int, into dst: UnsafeMutablePointer<UInt16>
    ) {
        packPanels(parts: parts, ldb: ldb, k: k, into: dst)
    }

    /// The packing loop of both `packTransposed(parts:)`, for 32- or 16-bit elements.
    static func packPanels<T: SIMDScalar & ExpressibleByIntegerLiteral>(
        parts: [(pointer: UnsafePointer<T>, rows: Int)], ldb: Int, k: Int, into dst: UnsafeMutablePointer<T>
    ) {
        var starts = [0]
        for part in parts { starts.append(starts.last! + part.rows) }
        let n = starts.last!
        let panels = (n + nr - 1) / nr
        let parallel = n * k >= 1 << 18
        let parts2 = Parallelism.split(panels, parts: parallel ? 4 * Parallelism.threads : 1)
        Parallelism.parallelFor(parts2.count) { t in
            var rowPointers = [UnsafePointer<T>](repeating: parts.first?.pointer ?? UnsafePointer(dst), count: nr)
            let scratch = UnsafeMutablePointer<SIMD16<T>>.allocate(capacity: 32)
            defer { scratch.deallocate() }
            for p in parts2[t] {
                let base = dst + p * k * nr
                let width = min(nr, n - p * nr)
                for j in 0..<width {
                    let row = p * nr + j
                    var q = 0
                    while starts[q + 1] <= row { q += 1 }
                    rowPointers[j] = parts[q].pointer + (row - starts[q]) * ldb
                }
                if width < nr { base.initialize(repeating: 0, count: k * nr) }
                rowPointers.withUnsafeBufferPointer { src in
                    var k0 = 0
                    if width == nr {
                        // Full panels: 16 × 16 blocks transposed in registers (two per 16 values of kk).
                        while k0 + 16 <= k {
                            transpose16(src.baseAddress!, k0, into: base + k0 * nr, scratch: scratch)
                            transpose16(src.baseAddress! + 16, k0, into: base + k0 * nr + 16, scratch: scratch)
                            k0 += 16
                        }
                    }
                    while k0 < k {
                        let k1 = min(k0 + 16, k)
                        for j in 0..<width {
                            let s = src[j]
                            var d = base + k0 * nr + j
                            for kk in k0..<k1 {
                                d.pointee = s[kk]
                                d += nr
                            }
                        }
                        k0 = k1
                    }
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
            if width == nr {
                for kk in 0..<k {
                    let src = b + kk * ldb + c0, row = base + kk * nr
                    store16(row, load16(src))
                    store16(row + 16, load16(src + 16))
                }
            } else {
                for kk in 0..<k {
                    let src = b + kk * ldb + c0
                    let row = base + kk * nr
                    for j in 0..<width { row[j] = src[j] }
                    for j in width..<nr { row[j] = 0 }
                }
            }
        }
    }

    /// C[m, n] += A[m, k] · B for the packed panels `panels` of B and the rows `rows` of A and C,
    /// single-threaded. With `overwrite` (requires k > 0), C = A · B: C's previous contents in those rows
    /// and panels' columns are neither read nor kept.
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
        blocked(n: n, k: k, a: a + rows.lowerBound * lda, lda: lda, packed: PackedOperand(packed), c: c + rows.lowerBound * ldc,
                ldc: ldc, rows: 0..<rows.count, panels: panels, epilogue: Epilogue(overwrite: overwrite))
    }

    /// The blocked loop nest of the file comment: C[rows, n] (+)= A · B for the row range `rows` and the
    /// panels `panels`, with `epilogue` applied (its `residual` is offset like C).
    ///
    /// Never inlined: inlined into a closure (as a single-threaded `Parallelism.parallelFor` runs its body),
    /// the micro-kernel's accumulators came out guarded by dynamic exclusivity checks, which cost a third of
    /// the time (see `attendOneHead`). One call per GEMM chunk costs nothing; `.ci/run` checks the release
    /// binary for `swift_beginAccess` calls in TRIMTensor.
    @inline(never)
    static func blocked(
        n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, packed operand: PackedOperand,
        c: UnsafeMutablePointer<Float>, ldc: Int, rows: Range<Int>, panels: Range<Int>, epilogue e: Epilogue
    ) {
        // Where the micro-kernels spill their accumulators for `finishTile` (one per call, reused).
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: mr * nr)
        defer { tile.deallocate() }
        // 16-bit weights: the current B block, widened to Floats ([j1 - j0][kb][32]), on cache-line
        // boundaries like the packed panels (a misaligned B vector costs two L1 accesses).
        let packed = operand.raw.assumingMemoryBound(to: Float.self)
        let halves = operand.storage == .float32 ? nil : operand.raw.assumingMemoryBound(to: UInt16.self)
        let widened = halves.map { _ in allocateFloats(min(kc, k) * min(nc, panels.count) * nr) }
        defer { widened?.deallocate() }
        #if arch(x86_64)
        let narrow = (kernelOverride ?? kernel) == .avx2
        #endif
        // More than one K block: each tile's sums between blocks go to its own mr × 32 slot of `partials`,
        // the slots in the order the loop visits the tiles, instead of back into C (see the file comment).
        let slotsPerRowBlock = min(nc, panels.count), rowBlocks = (rows.count + mr - 1) / mr
        let partials = k > kc ? PartialSums.take(rowBlocks * slotsPerRowBlock * mr * nr) : nil
        defer { if let partials { PartialSums.give(partials) } }
        var j0 = panels.lowerBound
        while j0 < panels.upperBound {
            let j1 = min(j0 + nc, panels.upperBound)
            var k0 = 0
            while k0 < k {
                let kb = min(kc, k - k0)
                let first = e.overwrite && k0 == 0, last = k0 + kb == k
                if let halves, let widened {
                    for p in j0..<j1 {
                        widen16(halves + p * k * nr + k0 * nr, into: widened + (p - j0) * kb * nr, count: kb * nr,
                                operand.storage)
                    }
                }
                var i = rows.lowerBound
                while i < rows.upperBound {
                    let height = min(mr, rows.upperBound - i)
                    let ap = a + i * lda + k0  // [height][kb], L1-resident across the panels
                    for p in j0..<j1 {
                        let n0 = p * nr
                        // Where this K block's sums go (C, or the tile's slot until the last block).
                        var cp = c + i * ldc + n0, cpStride = ldc
                        var store = TileStore(
                            first: first, activate: last && e.quickGELU,
                            bias: first ? e.bias.map { $0 + n0 } : nil,
                            residual: first ? e.residual.map { $0 + i * ldc + n0 } : nil, residualStride: ldc,
                            source: cp, sourceStride: ldc)
                        if let partials {
                            let slot = partials.buffer + (((i - rows.lowerBound) / mr) * slotsPerRowBlock + p - j0) * mr * nr
                            if k0 > 0 { store.source = UnsafePointer(slot); store.sourceStride = nr }
                            if !last { cp = slot; cpStride = nr }
                        }
                        let bp: UnsafePointer<Float>
                        if let widened { bp = UnsafePointer(widened + (p - j0) * kb * nr) } else { bp = packed + (p * k + k0) * nr }
                        let width = min(nr, n - n0)
                        #if arch(x86_64)
                        if narrow {
                            narrowTile(kb, ap, lda, height, bp, cp, cpStride, width: width, store: store, tile: tile)
                        } else if height <= 4 {
                            microKernel4(kb, ap, lda, height, bp, cp, cpStride, width: width, store: store, tile: tile)
                        } else {
                            microKernel12(kb, ap, lda, height, bp, cp, cpStride, width: width, store: store, tile: tile)
                        }
                        #else
                        microKernel4(kb, ap, lda, height, bp, cp, cpStride, width: width, store: store, tile: tile)
                        #endif
                    }
                    i += height
                }
                k0 += kb
            }
            j0 = j1
        }
    }

    /// C[m, n] (+)= A[m, k] · B over all panels, split across `Parallelism.threads` threads into about 4
    /// chunks per thread, by panels when there are enough of them, otherwise by blocks of rows.
    public static func multiplyAddParallel(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        packed: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        overwrite: Bool = false, bias: UnsafePointer<Float>? = nil
    ) {
        multiplyAddParallel(m: m, n: n, k: k, a: a, lda: lda, packed: packed, c: c, ldc: ldc,
                            epilogue: Epilogue(overwrite: overwrite, bias: bias))
    }

    /// `multiplyAddParallel` with a full `Epilogue` (bias, residual, quick_gelu).
    public static func multiplyAddParallel(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        packed: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        epilogue: Epilogue
    ) {
        multiplyAddParallel(m: m, n: n, k: k, a: a, lda: lda, operand: PackedOperand(packed), c: c, ldc: ldc,
                            epilogue: epilogue)
    }

    /// `multiplyAddParallel` on panels of any `WeightStorage`.
    static func multiplyAddParallel(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int,
        operand packed: PackedOperand,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        epilogue: Epilogue
    ) {
        if m == 0 || n == 0 { return }
        precondition(k > 0 || !epilogue.overwrite, "GEMM: overwrite needs k > 0")
        if k == 0 { return }
        let panelCount = (n + nr - 1) / nr
        // Below ~1 MFLOP the dispatch costs more than it saves.
        let threads = m * n * k < 1 << 20 ? 1 : Parallelism.threads
        if threads == 1 {
            blocked(n: n, k: k, a: a, lda: lda, packed: packed, c: c, ldc: ldc, rows: 0..<m,
                    panels: 0..<panelCount, epilogue: epilogue)
        } else if panelCount >= 2 * threads {
            // Chunks of panels handed out dynamically: a thread that loses time slices to another process
            // simply takes fewer chunks. Chunks of about a column block (nc panels) when there are at least
            // two per thread — each row block's A strip then serves up to nc panels from L1 before the next
            // is loaded — their count rounded up to a multiple of the threads; otherwise 4 smaller chunks per
            // thread, for balance. At n = 1024 (out_proj and fc2 of a ViT-L) that is 4 chunks of 8 panels
            // instead of 8 of 4: +2.0–2.8 % on both shapes with two threads (12 alternated rounds;
            // bit-identical, since every panel is computed as before).
            let blocks = (panelCount + nc - 1) / nc
            let parts = Parallelism.split(
                panelCount, parts: panelCount >= 2 * threads * nc ? (blocks + threads - 1) / threads * threads : 4 * threads)
            Parallelism.parallelFor(parts.count) { t in
                blocked(n: n, k: k, a: a, lda: lda, packed: packed, c: c, ldc: ldc, rows: 0..<m,
                        panels: parts[t], epilogue: epilogue)
            }
        } else {
            let blocks = (m + mr - 1) / mr
            let parts = Parallelism.split(blocks, parts: 4 * threads)
            Parallelism.parallelFor(parts.count) { t in
                let rows = parts[t].lowerBound * mr..<min(m, parts[t].upperBound * mr)
                blocked(n: n, k: k, a: a, lda: lda, packed: packed, c: c, ldc: ldc, rows: rows,
                        panels: 0..<panelCount, epilogue: epilogue)
            }
        }
    }
}

// MARK: - Micro-kernels

/// How a micro-kernel finishes its tile into its destination (the kernel's `c`, rows `ldc` apart): with
/// `first`, destination = bias + residual + tile (`bias` points at the tile's first column's entry of the
/// `[n]` bias, `residual` at the tile's first element, rows `residualStride` apart; either may be nil);
/// otherwise destination = source + tile, where `source` holds the sums so far, rows `sourceStride` apart
/// (C itself, or the tile's slot of partial sums between K blocks: see `GEMM.blocked`). With `activate`,
/// quick_gelu is applied before the store.
struct TileStore {
    var first: Bool
    var activate: Bool
    var bias: UnsafePointer<Float>?
    var residual: UnsafePointer<Float>?
    var residualStride = 0
    var source: UnsafePointer<Float>
    var sourceStride: Int
}

/// The buffers `GEMM.blocked` keeps its partial sums in between K blocks, kept for reuse: a product with
/// more than one K block takes one per call and gives it back, so after the first layer no call allocates
/// (or faults in) fresh pages. At most `2 · Parallelism.threads` buffers are kept.
enum PartialSums {
    struct Buffer {
        let buffer: UnsafeMutablePointer<Float>
        let capacity: Int
    }
    /// The kept buffers, behind `lock`. Reached through a pointer rather than as a static variable, whose
    /// every access would carry a dynamic exclusivity check (`.ci/run` keeps TRIMTensor free of them).
    nonisolated(unsafe) private static let kept: UnsafeMutablePointer<[Buffer]> = {
        let p = UnsafeMutablePointer<[Buffer]>.allocate(capacity: 1)
        p.initialize(to: [])
        return p
    }()
    private static let lock = NSLock()

    /// A buffer of at least `count` Floats (contents undefined).
    static func take(_ count: Int) -> Buffer {
        lock.lock()
        let found = kept.pointee.lastIndex { $0.capacity >= count }.map { kept.pointee.remove(at: $0) }
        lock.unlock()
        return found ?? Buffer(buffer: allocateFloats(count), capacity: count)
    }

    /// Returns a buffer from `take` for reuse (or frees it when enough are kept).
    static func give(_ b: Buffer) {
        lock.lock()
        defer { lock.unlock() }
        if kept.pointee.count < 2 * Parallelism.threads {
            kept.pointee.append(b)
        } else if let smallest = kept.pointee.indices.min(by: { kept.pointee[$0].capacity < kept.pointee[$1].capacity }),
                  kept.pointee[smallest].capacity < b.capacity {
            kept.pointee[smallest].buffer.deallocate()
            kept.pointee[smallest] = b
        } else {
            b.buffer.deallocate()
        }
    }
}

/// `count` uninitialised Floats starting on a 64-byte (cache-line) boundary; free with `deallocate()`.
func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        .bindMemory(to: Float.self, capacity: max(count, 1))
}

@inline(__always)
private func store16(_ p: UnsafeMutablePointer<Float>, _ v: SIMD16<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

@inline(__always)
private func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

/// Transposes the 16 × 16 block `rows[r][k0 + c]` (r, c < 16) into `dst[c · nr + r]` with vector permutes
/// (AVX-512: `vpermt2ps`, or `vpermt2w` for 16-bit values) instead of 256 scalar moves. One `unshuffle` round moves the element at vector
/// r, lane c to vector (c₀ r₃ r₂ r₁), lane (r₀ c₃ c₂ c₁) in binary: the 8 index bits rotate right by one,
/// so after four rounds lane r of vector c holds row r's value c. `scratch` holds 32 vectors. On a
/// 16 MB weight, one thread: 7.5–8.5 GB/s against 4.9–5.7 for the scalar copy; at load −50 to −85 ms.
@inline(__always)
private func transpose16<T: SIMDScalar>(
    _ rows: UnsafePointer<UnsafePointer<T>>, _ k0: Int, into dst: UnsafeMutablePointer<T>,
    scratch a: UnsafeMutablePointer<SIMD16<T>>
) {
    let b = a + 16
    for r in 0..<16 { a[r] = UnsafeRawPointer(rows[r] + k0).loadUnaligned(as: SIMD16<T>.self) }
    unshuffle(a, into: b); unshuffle(b, into: a); unshuffle(a, into: b); unshuffle(b, into: a)
    for c in 0..<16 { UnsafeMutableRawPointer(dst + c * GEMM.nr).storeBytes(of: a[c], as: SIMD16<T>.self) }
}

/// One transposition round: `w[i]` = the even lanes of `v[2i]` then of `v[2i+1]`, `w[8+i]` the odd ones.
@inline(__always)
private func unshuffle<T: SIMDScalar>(_ v: UnsafeMutablePointer<SIMD16<T>>, into w: UnsafeMutablePointer<SIMD16<T>>) {
    for i in 0..<8 {
        w[i] = SIMD16(lowHalf: v[2 * i].evenHalf, highHalf: v[2 * i + 1].evenHalf)
        w[8 + i] = SIMD16(lowHalf: v[2 * i].oddHalf, highHalf: v[2 * i + 1].oddHalf)
    }
}

/// Widens `count` (a multiple of 16) packed 16-bit values in `storage` to Floats, exactly: one
/// `vcvtph2ps` per 16 halves with F16C / AVX-512 (`-target-cpu native`), a zero-extend and shift per 16
/// bfloat16s.
@inline(__always)
private func widen16(
    _ src: UnsafePointer<UInt16>, into dst: UnsafeMutablePointer<Float>, count: Int, _ storage: WeightStorage
) {
    var i = 0
    if storage == .bfloat16 {
        while i < count {
            let h = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<UInt16>.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: SIMD16<UInt32>(truncatingIfNeeded: h) &<< 16,
                                                        as: SIMD16<UInt32>.self)
            i += 16
        }
        return
    }
    #if (os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64)
    // No Float16 on Intel Macs: the same exact conversion, by hand, one value at a time.
    while i < count {
        dst[i] = HalfPrecision.float(fromHalfBits: src[i])
        i += 1
    }
    #else
    while i < count {
        let h = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float16>.self)
        store16(dst + i, SIMD16<Float>(h))
        i += 16
    }
    #endif
}

/// `p = q + v` for 16 lanes (`q` may be `p`: the in-place add of a finished K block).
@inline(__always)
private func addStore16(_ p: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>, _ v: SIMD16<Float>) {
    store16(p, load16(q) + v)
}

/// Finishes a tile: `tile` holds the accumulators, `rows` × 32 floats (rows 32 apart), of which `rows`
/// rows and `width` columns are written to C as `s` says. Deliberately not inlined: the micro-kernels
/// only spill their accumulators here (24 stores per 512 × 24 FMAs), which keeps them small enough for
/// the compiler to inline everything they call — inlining a branchy epilogue into every row made the
/// callers so large that the optimiser stopped inlining `VectorMath.exp` and the epilogue itself.
@inline(never)
private func finishTile(
    _ tile: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, width: Int, _ s: TileStore
) {
    for r in 0..<rows {
        let acc = tile + r * GEMM.nr, row = c + r * ldc, src = s.source + r * s.sourceStride
        var x0 = load16(acc), x1 = load16(acc + 16)
        if width == GEMM.nr {
            if s.first {
                if let b = s.bias { x0 += load16(b); x1 += load16(b + 16) }
                if let res = s.residual {
                    x0 += load16(res + r * s.residualStride); x1 += load16(res + r * s.residualStride + 16)
                }
            } else {
                x0 += load16(src); x1 += load16(src + 16)
            }
        } else {
            // The ragged last panel: the same arithmetic, lane for lane, on the first `width` columns.
            for j in 0..<width {
                var v = j < 16 ? x0[j] : x1[j - 16]
                if s.first {
                    if let b = s.bias { v += b[j] }
                    if let res = s.residual { v += res[r * s.residualStride + j] }
                } else {
                    v += src[j]
                }
                if j < 16 { x0[j] = v } else { x1[j - 16] = v }
            }
        }
        if s.activate {
            // quick_gelu (`quickGELU16`, written out: the optimiser would not inline the call here).
            x0 = x0 / (1 + VectorMath.exp(-1.702 * x0))
            x1 = x1 / (1 + VectorMath.exp(-1.702 * x1))
        }
        if width == GEMM.nr {
            store16(row, x0)
            store16(row + 16, x1)
        } else {
            for j in 0..<width { row[j] = j < 16 ? x0[j] : x1[j - 16] }
        }
    }
}

#if arch(x86_64)
extension GEMM {
    /// Whether the CPU reports AVX-512 Foundation (`avx512f` among the `flags` of Linux's `/proc/cpuinfo`);
    /// `nil` where that cannot be read.
    static func cpuReportsAVX512() -> Bool? {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        return flags.split(whereSeparator: { $0 == " " || $0 == "\t" }).contains("avx512f")
        #else
        return nil
        #endif
    }

    /// `kernel`'s measurement: both kernels on the same L1-resident product (A 12 × 256, one 256 × 32 panel),
    /// alternated, best of 5 rounds of 20 calls each; the faster one is chosen. On L1-resident data the
    /// spilling 12 × 32 kernel of an AVX2 build is only 1.35–1.65× slower (whole passes 2.3×: PERFORMANCE.md,
    /// item 26) and an AVX-512 build's 6 × 16 kernel about 1.5×, so no margin in between is safe: an earlier
    /// one (6 × 16 only when faster by a quarter) picked the spilling kernel in about one process in five on
    /// an AVX2 host.
    static func fasterKernel() -> Kernel {
        let kb = 256, lda = kb + 16
        let a = allocateFloats(12 * lda + 1), b = allocateFloats(kb * nr), c = allocateFloats(mr * nr)
        let tile = allocateFloats(mr * nr)
        defer { a.deallocate(); b.deallocate(); c.deallocate(); tile.deallocate() }
        for i in 0..<(12 * lda + 1) { a[i] = Float(i % 7) * 0.25 - 0.75 }
        for i in 0..<(kb * nr) { b[i] = Float(i % 5) * 0.125 - 0.25 }
        let store = TileStore(first: true, activate: false, bias: nil, residual: nil, source: c, sourceStride: nr)
        var best = [UInt64.max, UInt64.max]
        for _ in 0..<5 {
            for v in 0..<2 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                for call in 0..<20 {
                    // A shifted by one float on odd calls, so no two consecutive calls are the same work.
                    let ap = UnsafePointer(a + (call & 1))
                    if v == 0 {
                        microKernel12(kb, ap, lda, 12, b, c, nr, width: nr, store: store, tile: tile)
                    } else {
                        narrowTile(kb, ap, lda, 12, b, c, nr, width: nr, store: store, tile: tile)
                    }
                }
                best[v] = min(best[v], DispatchTime.now().uptimeNanoseconds - t0)
            }
        }
        return best[1] < best[0] ? .avx2 : .avx512
    }
}

/// C[rows, width] (+)= A[rows, kb] · Bpanel[kb, 32] with the AVX2-sized kernel (`GEMM.Kernel.avx2`): the
/// 12 × 32 tile as (up to) four 6 × 16 blocks, each accumulated into `tile` (rows 32 apart), then finished
/// by `finishTile` as `microKernel12` finishes its spilled tiles. Every element gets the same multiply-adds in the same order as
/// in `microKernel12`, so the results are bit-identical.
@inline(__always)
private func narrowTile(
    _ kb: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ rows: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, width: Int, store: TileStore, tile: UnsafeMutablePointer<Float>
) {
    var r0 = 0
    while r0 < rows {
        let h = min(6, rows - r0)
        microKernel6x16(kb, a + r0 * lda, lda, h, b, tile + r0 * GEMM.nr)
        if width > 16 { microKernel6x16(kb, a + r0 * lda, lda, h, b + 16, tile + r0 * GEMM.nr + 16) }
        r0 += 6
    }
    // The accumulators are already spilled, so every tile — plain or not — is finished by `finishTile`.
    finishTile(tile, c, ldc, rows: rows, width: width, store)
}

/// tile[rows, 16] (rows 32 apart) = A[rows, kb] · the 16 panel columns starting at `b` (rows ≤ 6; rows ≥ `rows`
/// read row `rows − 1` again and are written to `tile` but never stored to C). Six `SIMD16<Float>`
/// accumulators: with AVX2 each is two ymm registers, 12 in all, plus B's two and a broadcast — 15 of 16.
/// Written with 16-lane values rather than two 8-lane halves on purpose: with separate halves LLVM grouped
/// the multiply-adds by B half, kept all six broadcasts live and spilled three accumulators per k
/// (65 against 113 GFLOP/s for this form, `-target-cpu haswell`, one thread).
@inline(__always)
private func microKernel6x16(
    _ kb: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ rows: Int, _ b: UnsafePointer<Float>, _ t: UnsafeMutablePointer<Float>
) {
    var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>()
    var c3 = SIMD16<Float>(), c4 = SIMD16<Float>(), c5 = SIMD16<Float>()
    let l = rows - 1
    let a0 = a, a1 = a + min(1, l) * lda, a2 = a + min(2, l) * lda, a3 = a + min(3, l) * lda
    let a4 = a + min(4, l) * lda, a5 = a + min(5, l) * lda
    var k = 0, bp = b
    while k < kb {
        let bv = load16(bp)
        c0 = c0.addingProduct(SIMD16<Float>(repeating: a0[k]), bv)
        c1 = c1.addingProduct(SIMD16<Float>(repeating: a1[k]), bv)
        c2 = c2.addingProduct(SIMD16<Float>(repeating: a2[k]), bv)
        c3 = c3.addingProduct(SIMD16<Float>(repeating: a3[k]), bv)
        c4 = c4.addingProduct(SIMD16<Float>(repeating: a4[k]), bv)
        c5 = c5.addingProduct(SIMD16<Float>(repeating: a5[k]), bv)
        k += 1
        bp += GEMM.nr
    }
    let n = GEMM.nr
    store16(t, c0); store16(t + n, c1); store16(t + 2 * n, c2); store16(t + 3 * n, c3); store16(t + 4 * n, c4)
    store16(t + 5 * n, c5)
}

/// C[rows, width] (+)= A[rows, kb] · Bpanel[kb, 32]: the 12-row register-blocked micro-kernel (see the file
/// comment). A's rows are `lda` apart; rows ≥ `rows` (≤ 12) read row `rows - 1` again and are not stored.
@inline(__always)
private func microKernel12(
    _ kb: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ rows: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, width: Int, store: TileStore, tile: UnsafeMutablePointer<Float>
) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>(), c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
    var c80 = SIMD16<Float>(), c81 = SIMD16<Float>(), c90 = SIMD16<Float>(), c91 = SIMD16<Float>()
    var ca0 = SIMD16<Float>(), ca1 = SIMD16<Float>(), cb0 = SIMD16<Float>(), cb1 = SIMD16<Float>()
    let l = rows - 1
    let a0 = a, a1 = a + min(1, l) * lda, a2 = a + min(2, l) * lda, a3 = a + min(3, l) * lda
    let a4 = a + min(4, l) * lda, a5 = a + min(5, l) * lda, a6 = a + min(6, l) * lda, a7 = a + min(7, l) * lda
    let a8 = a + min(8, l) * lda, a9 = a + min(9, l) * lda, a10 = a + min(10, l) * lda, a11 = a + min(11, l) * lda
    /// One k: 2 loads of B, 12 broadcasts of A (row r, column k), 24 FMAs.
    @inline(__always) func step(_ k: Int, _ bp: UnsafePointer<Float>) {
        let b0 = load16(bp), b1 = load16(bp + 16)
        var s = SIMD16<Float>(repeating: a0[k])
        c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a1[k])
        c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a2[k])
        c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a3[k])
        c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a4[k])
        c40 = c40.addingProduct(s, b0); c41 = c41.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a5[k])
        c50 = c50.addingProduct(s, b0); c51 = c51.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a6[k])
        c60 = c60.addingProduct(s, b0); c61 = c61.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a7[k])
        c70 = c70.addingProduct(s, b0); c71 = c71.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a8[k])
        c80 = c80.addingProduct(s, b0); c81 = c81.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a9[k])
        c90 = c90.addingProduct(s, b0); c91 = c91.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a10[k])
        ca0 = ca0.addingProduct(s, b0); ca1 = ca1.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a11[k])
        cb0 = cb0.addingProduct(s, b0); cb1 = cb1.addingProduct(s, b1)
    }
    // Unrolled by four k: one index for all twelve rows of A (addresses base + 4k, the next three k as
    // displacements) and one loop branch per 96 FMAs. Measured against the rolled loop with one pointer
    // per row (300 alternated rounds, one thread, the four ViT shapes): +1.0–3.0 % in the machine's fast
    // mode, ±1 % in its slow mode. The order of the FMAs on each accumulator is unchanged.
    var k = 0, bp = b
    while k + 4 <= kb {
        step(k, bp); step(k + 1, bp + 32); step(k + 2, bp + 64); step(k + 3, bp + 96)
        k += 4
        bp += 4 * GEMM.nr
    }
    while k < kb {
        step(k, bp)
        k += 1
        bp += GEMM.nr
    }
    if rows == 12 && width == GEMM.nr && !store.activate && store.bias == nil && store.residual == nil {
        // The plain full tile (attention's products, and every K block after the first but the last
        // of an activated one): stored, or added to its partial sums, with no spill.
        let src = store.source, sld = store.sourceStride
        if store.first {
            store16(c, c00); store16(c + 16, c01); store16(c + ldc, c10); store16(c + ldc + 16, c11)
            store16(c + 2 * ldc, c20); store16(c + 2 * ldc + 16, c21); store16(c + 3 * ldc, c30); store16(c + 3 * ldc + 16, c31)
            store16(c + 4 * ldc, c40); store16(c + 4 * ldc + 16, c41); store16(c + 5 * ldc, c50); store16(c + 5 * ldc + 16, c51)
            store16(c + 6 * ldc, c60); store16(c + 6 * ldc + 16, c61); store16(c + 7 * ldc, c70); store16(c + 7 * ldc + 16, c71)
            store16(c + 8 * ldc, c80); store16(c + 8 * ldc + 16, c81); store16(c + 9 * ldc, c90); store16(c + 9 * ldc + 16, c91)
            store16(c + 10 * ldc, ca0); store16(c + 10 * ldc + 16, ca1); store16(c + 11 * ldc, cb0); store16(c + 11 * ldc + 16, cb1)
        } else {
            addStore16(c, src, c00); addStore16(c + 16, src + 16, c01); addStore16(c + ldc, src + sld, c10); addStore16(c + ldc + 16, src + sld + 16, c11)
            addStore16(c + 2 * ldc, src + 2 * sld, c20); addStore16(c + 2 * ldc + 16, src + 2 * sld + 16, c21)
            addStore16(c + 3 * ldc, src + 3 * sld, c30); addStore16(c + 3 * ldc + 16, src + 3 * sld + 16, c31)
            addStore16(c + 4 * ldc, src + 4 * sld, c40); addStore16(c + 4 * ldc + 16, src + 4 * sld + 16, c41)
            addStore16(c + 5 * ldc, src + 5 * sld, c50); addStore16(c + 5 * ldc + 16, src + 5 * sld + 16, c51)
            addStore16(c + 6 * ldc, src + 6 * sld, c60); addStore16(c + 6 * ldc + 16, src + 6 * sld + 16, c61)
            addStore16(c + 7 * ldc, src + 7 * sld, c70); addStore16(c + 7 * ldc + 16, src + 7 * sld + 16, c71)
            addStore16(c + 8 * ldc, src + 8 * sld, c80); addStore16(c + 8 * ldc + 16, src + 8 * sld + 16, c81)
            addStore16(c + 9 * ldc, src + 9 * sld, c90); addStore16(c + 9 * ldc + 16, src + 9 * sld + 16, c91)
            addStore16(c + 10 * ldc, src + 10 * sld, ca0); addStore16(c + 10 * ldc + 16, src + 10 * sld + 16, ca1)
            addStore16(c + 11 * ldc, src + 11 * sld, cb0); addStore16(c + 11 * ldc + 16, src + 11 * sld + 16, cb1)
        }
        return
    }
    do {
        let t = tile
        store16(t, c00); store16(t + 16, c01); store16(t + 32, c10); store16(t + 48, c11)
        store16(t + 64, c20); store16(t + 80, c21); store16(t + 96, c30); store16(t + 112, c31)
        store16(t + 128, c40); store16(t + 144, c41); store16(t + 160, c50); store16(t + 176, c51)
        store16(t + 192, c60); store16(t + 208, c61); store16(t + 224, c70); store16(t + 240, c71)
        store16(t + 256, c80); store16(t + 272, c81); store16(t + 288, c90); store16(t + 304, c91)
        store16(t + 320, ca0); store16(t + 336, ca1); store16(t + 352, cb0); store16(t + 368, cb1)
        finishTile(t, c, ldc, rows: rows, width: width, store)
    }
}
#endif

/// C[rows, width] (+)= A[rows, kb] · Bpanel[kb, 32] for at most 4 rows (the row tail on x86-64, every
/// block elsewhere); rows ≥ `rows` read row `rows - 1` again and are not stored.
@inline(__always)
private func microKernel4(
    _ kb: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ rows: Int, _ b: UnsafePointer<Float>,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, width: Int, store: TileStore, tile: UnsafeMutablePointer<Float>
) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    let l = rows - 1
    var a0 = a, a1 = a + min(1, l) * lda, a2 = a + min(2, l) * lda, a3 = a + min(3, l) * lda
    var bp = b
    for _ in 0..<kb {
        let b0 = load16(bp), b1 = load16(bp + 16)
        var s = SIMD16<Float>(repeating: a0.pointee)
        c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a1.pointee)
        c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a2.pointee)
        c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
        s = SIMD16<Float>(repeating: a3.pointee)
        c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
        a0 += 1; a1 += 1; a2 += 1; a3 += 1
        bp += GEMM.nr
    }
    do {
        let t = tile
        store16(t, c00); store16(t + 16, c01); store16(t + 32, c10); store16(t + 48, c11)
        store16(t + 64, c20); store16(t + 80, c21); store16(t + 96, c30); store16(t + 112, c31)
        finishTile(t, c, ldc, rows: rows, width: width, store)
    }
}

// MARK: - Tensor-level entry points

/// A weight matrix `W[n, k]` (the `nn.Linear` layout: one row per output feature) packed once for
/// fast `x · Wᵀ`. Packing costs one pass over the weights; keep the value and reuse it.
///
/// The values are kept as Floats, or — for weights that come as F16 or BF16 — as those 16-bit values
/// (`storage`), at half the memory; the GEMM widens them exactly, so the products are the same bit for bit.
public struct PackedMatrix: Sendable {
    /// Output features `n` (rows of the original weight).
    public let outputs: Int
    /// Input features `k` (columns of the original weight).
    public let inputs: Int
    /// How the values are kept in memory.
    public let storage: WeightStorage
    /// Panels of 32 output features, each `[inputs][32]`, in `storage`.
    let panels: PanelStorage

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
        self.init(stacking: weights.map { [($0, n)] } ?? [], outputs: n, inputs: k, storage: .float32)
    }

    /// Packs several `[rows, inputs]` row-major weights stacked into one `[Σ rows, inputs]` matrix, read
    /// straight from their pointers: e.g. an attention layer's q, k and v projections, so that all
    /// three come out of one GEMM (one pass over the input, one dispatch) as `[tokens, 3·hidden]`.
    public init(stacking parts: [(pointer: UnsafePointer<Float>, rows: Int)], inputs k: Int) {
        self.init(stacking: parts, outputs: parts.reduce(0) { $0 + $1.rows }, inputs: k, storage: .float32)
    }

    /// `init(stacking:inputs:)` for 16-bit weights kept as they are: the bit patterns of F16
    /// (`storage: .float16`) or BF16 (`.bfloat16`) values, e.g. straight from an F16 checkpoint's mapping.
    public init(stacking parts: [(pointer: UnsafePointer<UInt16>, rows: Int)], inputs k: Int, storage: WeightStorage) {
        precondition(storage != .float32, "PackedMatrix: 16-bit values need storage .float16 or .bfloat16")
        self.init(stacking: parts, outputs: parts.reduce(0) { $0 + $1.rows }, inputs: k, storage: storage)
    }

    private init<T: SIMDScalar & ExpressibleByIntegerLiteral>(
        stacking parts: [(pointer: UnsafePointer<T>, rows: Int)], outputs n: Int, inputs k: Int, storage: WeightStorage
    ) {
        precondition(MemoryLayout<T>.size == storage.byteSize, "PackedMatrix: \(T.self) values for \(storage) storage")
        precondition(n >= 0 && k >= 0 && parts.allSatisfy { $0.rows >= 0 }, "PackedMatrix: negative shape [\(n), \(k)]")
        outputs = n
        inputs = k
        self.storage = storage
        let count = GEMM.packedCount(n: n, k: k)
        panels = PanelStorage(bytes: count * storage.byteSize)
        guard count > 0 else { return }
        precondition(!parts.isEmpty, "PackedMatrix: no weights for a [\(n), \(k)] matrix")
        GEMM.packPanels(parts: parts, ldb: k, k: k, into: panels.raw.bindMemory(to: T.self, capacity: count))
    }

    /// Bytes the packed values occupy (the zero-padded last panel included).
    public var byteCount: Int { panels.bytes }

    /// The panels as the GEMM reads them.
    var operand: PackedOperand { PackedOperand(raw: UnsafeRawPointer(panels.raw), storage: storage) }
}

/// The packed values of one weight matrix: an anonymous mapping of their own, asking Linux for 2 MiB
/// pages (transparent huge pages in `madvise` mode) when the matrix spans at least one. Packing a
/// ViT-L/14 writes 1.7 GB of these; with 4 KiB pages that is 420,000 page faults at load.
final class PanelStorage: @unchecked Sendable {
    /// `bytes` bytes, 64-byte aligned (never written after packing; shared read-only by all threads).
    let raw: UnsafeMutableRawPointer
    let bytes: Int
    private let mapping: (base: UnsafeMutableRawPointer, length: Int)?

    init(bytes: Int) {
        self.bytes = bytes
        let huge = 2 << 20
        #if os(Linux)
        if bytes >= huge {
            // Over-allocate by one huge page so that the values can start on a 2 MiB boundary.
            let length = bytes + huge
            let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let base, base != MAP_FAILED {
                let aligned = (Int(bitPattern: base) + huge - 1) / huge * huge
                let start = UnsafeMutableRawPointer(bitPattern: aligned)!
                _ = madvise(start, bytes / huge * huge, Int32(MADV_HUGEPAGE))
                raw = start
                mapping = (base, length)
                return
            }
        }
        #endif
        raw = .allocate(byteCount: max(bytes, 64), alignment: 64)
        mapping = nil
    }

    deinit {
        if let mapping {
            #if os(Linux)
            munmap(mapping.base, mapping.length)
            #endif
        } else {
            raw.deallocate()
        }
    }
}

/// `x · Wᵀ + bias` — PyTorch's `nn.Linear` on every row of `x` — optionally followed by a residual add
/// and `quick_gelu`, fused into the product (one pass over the output instead of three):
/// `act(x · Wᵀ + bias + residual)`.
///
/// - Parameters:
///   - x: `[..., inputs]` (any rank ≥ 1; leading dimensions are treated as rows).
///   - weight: the packed `[outputs, inputs]` weight.
///   - bias: `[outputs]` or `nil`.
///   - residual: `[..., outputs]` (the same rows as `x`) added to the product, or `nil`.
///   - quickGELU: apply `x · sigmoid(1.702 · x)` to the result (CLIP's MLP activation).
/// - Returns: `[..., outputs]`.
public func linear(
    _ x: Tensor, _ weight: PackedMatrix, bias: [Float]? = nil, residual: Tensor? = nil, quickGELU: Bool = false
) -> Tensor {
    precondition(x.columns == weight.inputs, "linear: input width \(x.columns) ≠ weight inputs \(weight.inputs)")
    precondition(bias == nil || bias!.count == weight.outputs, "linear: bias length ≠ \(weight.outputs)")
    let m = x.rows, n = weight.outputs, k = weight.inputs
    let shape = Array(x.shape.dropLast()) + [n]
    precondition(residual == nil || residual!.shape == shape, "linear: residual shape ≠ \(shape)")
    if k == 0 || m == 0 || n == 0 {
        // No products: every row is the bias (or zeros), plus the residual.
        let row = bias ?? [Float](repeating: 0, count: n)
        var y = Tensor(shape: shape, scalars: (0..<m).flatMap { _ in row })
        if let residual { y = add(y, residual) }
        if quickGELU { quickGELUInPlace(&y) }
        return y
    }
    let out = x.scalars.withUnsafeBufferPointer { a in
        linearRows(a.baseAddress!, lda: k, rows: m, weight, bias: bias, residual: residual, quickGELU: quickGELU, ldc: n)
    }
    return Tensor(shape: shape, scalars: out)
}

/// The body of `linear`: `rows` rows of A `lda` floats apart (k = `weight.inputs` of them used) times Wᵀ,
/// into `rows · ldc` floats whose columns n ..< ldc are zero — a spare buffer of that size from
/// `scratch` when it has one, otherwise a new one. `residual`, when given, is contiguous `[rows, n]`.
/// Requires rows, k, n > 0.
func linearRows(
    _ a: UnsafePointer<Float>, lda: Int, rows m: Int, _ weight: PackedMatrix, bias: [Float]?, residual: Tensor?,
    quickGELU: Bool, ldc: Int, scratch: ScratchBuffers? = nil
) -> [Float] {
    let n = weight.outputs, k = weight.inputs
    precondition(residual == nil || ldc == n, "linear: a residual needs a contiguous output")
    // The GEMM's first K block overwrites every element of C with bias + residual + A·B, so C may start
    // uninitialised or hold anything.
    func fill(_ cp: UnsafeMutablePointer<Float>) {
        let p = weight.operand
        func run(_ b: UnsafePointer<Float>?, _ r: UnsafePointer<Float>?) {
            GEMM.multiplyAddParallel(
                m: m, n: n, k: k, a: a, lda: lda, operand: p, c: cp, ldc: ldc,
                epilogue: GEMM.Epilogue(overwrite: true, bias: b, residual: r, quickGELU: quickGELU))
        }
        func withResidual(_ b: UnsafePointer<Float>?) {
            if let residual { residual.scalars.withUnsafeBufferPointer { run(b, $0.baseAddress!) } } else { run(b, nil) }
        }
        if let bias { bias.withUnsafeBufferPointer { withResidual($0.baseAddress!) } } else { withResidual(nil) }
        if ldc > n {
            for i in 0..<m { (cp + i * ldc + n).update(repeating: 0, count: ldc - n) }
        }
    }
    if var reused = scratch?.take(count: m * ldc) {
        reused.withUnsafeMutableBufferPointer { fill($0.baseAddress!) }
        return reused
    }
    return [Float](unsafeUninitializedCapacity: m * ldc) { c, initialized in
        fill(c.baseAddress!)
        initialized = m * ldc
    }
}

/// The Gram matrix `x xᵀ` of `x [R, D]` (rank 2): `[R, R]`, bit for bit `linear(x, PackedMatrix(weight: x))`
/// at about half the multiply-adds. Element (i, j) is the same multiply-adds in the same order as (j, i)
/// (a·b = b·a, also inside a fused multiply-add), so each block of columns is multiplied only by the rows
/// above its last column and the rest is mirrored.
public func gram(_ x: Tensor) -> Tensor {
    precondition(x.rank == 2, "gram: rank \(x.rank), expected 2")
    let r = x.rows, d = x.columns
    if r == 0 || d == 0 { return linear(x, PackedMatrix(weight: x)) }
    let packed = PackedMatrix(weight: x)
    // Column blocks of `GEMM.nc` panels, as the full product's threads take them; block b multiplies only
    // the rows above its last column, so the block of rows it shares with the diagonal is the only waste.
    let nr = GEMM.nr, width = GEMM.nc * nr, panels = (r + nr - 1) / nr, blocks = (r + width - 1) / width
    let out = [Float](unsafeUninitializedCapacity: r * r) { c, initialized in
        let cp = c.baseAddress!
        x.scalars.withUnsafeBufferPointer { a in
            Parallelism.parallelFor(blocks) { t in
                let b = blocks - 1 - t  // the tallest blocks first, for balance
                GEMM.blocked(n: r, k: d, a: a.baseAddress!, lda: d, packed: packed.operand, c: cp, ldc: r,
                             rows: 0..<min(r, (b + 1) * width), panels: b * GEMM.nc..<min(panels, (b + 1) * GEMM.nc),
                             epilogue: GEMM.Epilogue(overwrite: true))
            }
        }
        // Left of each block of rows' diagonal block: (i, j) = (j, i), copied in tiles of 32 columns.
        Parallelism.parallelFor(blocks) { b in
            let i0 = b * width, i1 = min(r, i0 + width)
            var j0 = 0
            while j0 < i0 {
                let j1 = min(j0 + nr, i0)
                for i in i0..<i1 { for j in j0..<j1 { cp[i * r + j] = cp[j * r + i] } }
                j0 = j1
            }
        }
        initialized = r * r
    }
    return Tensor(shape: [r, r], scalars: out)
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

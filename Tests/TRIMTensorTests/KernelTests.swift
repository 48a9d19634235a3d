import Foundation
import XCTest

@testable import TRIMTensor

/// Every kernel against a naive scalar version written in Double, on shapes chosen to hit the edges:
/// not multiples of the SIMD width or of the 12 × 32 / 4 × 32 micro-kernels, single rows, K = 1, K
/// spanning several K blocks, and the fused epilogues (residual, quick_gelu) and stacked weights.
final class KernelTests: XCTestCase {
    /// A deterministic pseudo-random tensor in [-1, 1) (xorshift; no Foundation randomness).
    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        let n = shape.reduce(1, *)
        var v = [Float](repeating: 0, count: n)
        for i in 0..<n {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            v[i] = Float(Double(s >> 11) / Double(1 << 53)) * 2 - 1
        }
        return Tensor(shape: shape, scalars: v)
    }

    /// max|a − b| / max(max|b|, tiny).
    static func relativeError(_ a: [Float], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        var num = 0.0, den = 1e-30
        for i in a.indices { num = max(num, abs(Double(a[i]) - b[i])); den = max(den, abs(b[i])) }
        return num / den
    }

    func naiveLinear(_ x: Tensor, _ w: Tensor, _ b: [Float]?) -> [Double] {
        let (m, k, n) = (x.rows, x.columns, w.shape[0])
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = b.map { Double($0[j]) } ?? 0
                for kk in 0..<k { s += Double(x.scalars[i * k + kk]) * Double(w.scalars[j * k + kk]) }
                out[i * n + j] = s
            }
        }
        return out
    }

    func testLinearMatchesNaiveOnOddShapes() {
        // (m, k, n): ragged rows (not a multiple of 6), ragged panels (not a multiple of 32),
        // one row, K = 1, K over one K block (300 > 256), N < 16.
        let shapes = [(1, 1, 1), (7, 5, 33), (13, 300, 65), (6, 32, 32), (1, 17, 100), (20, 1, 3), (5, 513, 17)]
        for (idx, (m, k, n)) in shapes.enumerated() {
            let x = Self.random([m, k], seed: UInt64(idx * 3 + 1))
            let w = Self.random([n, k], seed: UInt64(idx * 3 + 2))
            let b = Self.random([n], seed: UInt64(idx * 3 + 3)).scalars
            let y = linear(x, weight: w, bias: b)
            XCTAssertEqual(y.shape, [m, n])
            XCTAssertLessThan(Self.relativeError(y.scalars, naiveLinear(x, w, b)), 1e-6, "shape \(m)×\(k)×\(n)")
            let y0 = linear(x, weight: w)
            XCTAssertLessThan(Self.relativeError(y0.scalars, naiveLinear(x, w, nil)), 1e-6, "no bias \(m)×\(k)×\(n)")
        }
    }

    func testPackTransposedMatchesItsDefinition() {
        // dst[(p·k + kk)·nr + j] = b[(p·nr + j)·ldb + kk], zero-padded: full panels go through the 16 × 16
        // register transposes (k = 16, 37 and 50 leave 0, 5 and 2 values of kk to the scalar tail), ragged
        // panels (n = 33, 70) through the scalar copy, and ldb > k reads rows out of a wider matrix.
        for (n, k, ldb) in [(32, 16, 16), (64, 37, 37), (33, 50, 53), (70, 15, 15), (96, 48, 64)] {
            let b = Self.random([n, ldb], seed: UInt64(n * 1000 + k)).scalars
            var dst = [Float](repeating: .nan, count: GEMM.packedCount(n: n, k: k))
            b.withUnsafeBufferPointer { bp in
                dst.withUnsafeMutableBufferPointer { GEMM.packTransposed(bp.baseAddress!, ldb: ldb, n: n, k: k, into: $0.baseAddress!) }
            }
            for p in 0..<((n + GEMM.nr - 1) / GEMM.nr) {
                for kk in 0..<k {
                    for j in 0..<GEMM.nr {
                        let row = p * GEMM.nr + j
                        let expected: Float = row < n ? b[row * ldb + kk] : 0
                        XCTAssertEqual(dst[(p * k + kk) * GEMM.nr + j], expected, "n \(n) k \(k): panel \(p), kk \(kk), j \(j)")
                    }
                }
            }
        }
    }

    func testSixteenBitWeightsGiveTheFloatProductsBitForBit() {
        // The same values packed as Floats and as F16 / BF16 bit patterns must give identical products:
        // k = 600 crosses a K block (kc = 512), n = 45 and 300 leave a ragged panel and span several
        // column blocks (nc = 8 panels), 1, 13 and 40 rows take the 4- and 12-row kernels, and the larger
        // shapes run on every thread. Bias, residual and quick_gelu ride along in the epilogue.
        for storage in [WeightStorage.float16, .bfloat16] {
            for (m, n, k) in [(1, 32, 7), (13, 45, 600), (40, 300, 600), (5, 64, 1)] {
                let x = Self.random([m, k], seed: UInt64(m * 7 + k)), res = Self.random([m, n], seed: UInt64(n))
                let b = Self.random([n], seed: UInt64(n + 1)).scalars
                // Random 16-bit patterns of finite values (F16: exponent field ≤ 14, subnormals included;
                // BF16: magnitudes in [2⁻⁷, 1)), and the Floats they stand for.
                var bits = [UInt16](), s: UInt64 = UInt64(m * n * k) | 1
                for _ in 0..<(n * k) {
                    s ^= s << 13; s ^= s >> 7; s ^= s << 17
                    let r = UInt16(truncatingIfNeeded: s >> 20)
                    bits.append(storage == .float16 ? r & 0xBBFF : (r & 0x80FF) | 0x3C00 | (r & 0x0300))
                }
                let floats = bits.map {
                    storage == .float16 ? HalfPrecision.float(fromHalfBits: $0) : HalfPrecision.float(fromBFloat16Bits: $0)
                }
                let wide = PackedMatrix(weight: Tensor(shape: [n, k], scalars: floats))
                let narrow = bits.withUnsafeBufferPointer {
                    PackedMatrix(stacking: [($0.baseAddress!, n)], inputs: k, storage: storage)
                }
                XCTAssertEqual(narrow.storage, storage)
                XCTAssertEqual(wide.storage, .float32)
                XCTAssertEqual(narrow.byteCount * 2, wide.byteCount)
                let label = "\(storage) m \(m) n \(n) k \(k)"
                XCTAssertEqual(linear(x, narrow), linear(x, wide), label)
                XCTAssertEqual(linear(x, narrow, bias: b, residual: res, quickGELU: true),
                               linear(x, wide, bias: b, residual: res, quickGELU: true), label)
            }
        }
    }

    func testStridedPathsAreBitIdenticalToTheContiguousOnes() {
        // 1024 columns get a padded stride (1040), 40 do not; 25 rows = two 12-row blocks and a tail.
        XCTAssertEqual(StridedMatrix.stride(forColumns: 1024), 1040)
        XCTAssertEqual(StridedMatrix.stride(forColumns: 3072), 3088)
        XCTAssertEqual(StridedMatrix.stride(forColumns: 768), 768)
        for (c, n) in [(1024, 1024), (40, 36)] {
            let x = Self.random([25, c], seed: UInt64(c)), res = Self.random([25, n], seed: UInt64(c + 1))
            let w = PackedMatrix(weight: Self.random([n, c], seed: UInt64(c + 2)))
            let b = Self.random([n], seed: UInt64(c + 3)).scalars
            let gamma = Self.random([c], seed: UInt64(c + 4)).scalars, beta = Self.random([c], seed: UInt64(c + 5)).scalars
            let sx = StridedMatrix(x)
            XCTAssertEqual(sx.stride, StridedMatrix.stride(forColumns: c))
            XCTAssertEqual(sx.tensor(), x)
            let ln = layerNormStrided(x, weight: gamma, bias: beta, eps: 1e-5)
            XCTAssertEqual(ln.tensor(), layerNorm(x, weight: gamma, bias: beta, eps: 1e-5), "layer norm, \(c)")
            Self.assertPaddingIsZero(ln)
            XCTAssertEqual(linear(sx, w, bias: b, residual: res), linear(x, w, bias: b, residual: res), "linear, \(c)")
            let y = linearStrided(sx, w, bias: b, quickGELU: true)
            XCTAssertEqual(y.tensor(), linear(x, w, bias: b, quickGELU: true), "strided output, \(c)")
            Self.assertPaddingIsZero(y)
            // Attention: 4 heads over the first c/… columns of a [25, 3c] fused projection.
            let qkv = Self.random([25, 3 * c], seed: UInt64(c + 6))
            for causal in [false, true] {
                let a = multiHeadAttentionStrided(qkv: qkv, heads: 4, scale: 0.2, causal: causal)
                XCTAssertEqual(a.tensor(), multiHeadAttention(qkv: qkv, heads: 4, scale: 0.2, causal: causal), "attention, \(c)")
                Self.assertPaddingIsZero(a)
            }
        }
    }

    func testScratchBuffersAreWrittenIntoAndGiveTheSameBits() {
        // fc1's shape with a padded output stride (1040) and a contiguous one, 25 rows; the spare buffer is
        // filled with NaN, so any element the product failed to overwrite would show.
        let x = StridedMatrix(Self.random([25, 1024], seed: 31))
        let w = PackedMatrix(weight: Self.random([1024, 1024], seed: 32)), b = Self.random([1024], seed: 33).scalars
        let fresh = linearStrided(x, w, bias: b, quickGELU: true)
        let scratch = ScratchBuffers()
        scratch.give([Float](repeating: .nan, count: 3))  // a wrong size is never handed out
        scratch.give([Float](repeating: .nan, count: 25 * 1040))
        let reused = linearStrided(x, w, bias: b, quickGELU: true, scratch: scratch)
        XCTAssertEqual(reused, fresh)
        Self.assertPaddingIsZero(reused)
        // The spare buffer was the one written into: handed back and taken again, its storage comes back.
        let address = reused.scalars.withUnsafeBufferPointer { $0.baseAddress }
        scratch.give((consume reused).scalars)
        let again = linear(x, w, bias: b, scratch: scratch)  // contiguous: 25 × 1024, another size
        XCTAssertEqual(again, linear(x, w, bias: b))
        let third = linearStrided(x, w, bias: b, quickGELU: true, scratch: scratch)
        XCTAssertEqual(third, fresh)
        XCTAssertEqual(third.scalars.withUnsafeBufferPointer { $0.baseAddress }, address)
    }

    static func assertPaddingIsZero(_ m: StridedMatrix, file: StaticString = #filePath, line: UInt = #line) {
        for r in 0..<m.rows {
            for j in m.columns..<m.stride where m.scalars[r * m.stride + j] != 0 {
                XCTFail("padding (\(r), \(j)) = \(m.scalars[r * m.stride + j])", file: file, line: line)
                return
            }
        }
    }

    func testLinearKeepsLeadingDimensionsAndHandlesEmptyInputs() {
        let x = Self.random([2, 3, 4], seed: 9)
        let w = Self.random([5, 4], seed: 10)
        XCTAssertEqual(linear(x, weight: w).shape, [2, 3, 5])
        XCTAssertEqual(linear(Tensor(shape: [0, 4]), weight: w).shape, [0, 5])
        XCTAssertEqual(linear(Tensor(shape: [3, 0]), weight: Tensor(shape: [5, 0]), bias: [1, 2, 3, 4, 5]).scalars,
                       [Float](repeating: 0, count: 15).enumerated().map { Float($0.offset % 5 + 1) })
    }

    func testParallelLinearSplitsByRowsAndByPanelsIdentically() {
        // Large enough to take the threaded path; few panels (n = 40) forces the row split,
        // many panels (n = 300) the panel split in small chunks, and n = 1285 (41 panels, at least two
        // column blocks per thread on two threads) the split into column-block chunks, 6 of them with a
        // ragged last one. Results must equal the naive product.
        for (m, k, n) in [(100, 200, 40), (50, 120, 300), (30, 70, 41 * GEMM.nr - 27)] {
            let x = Self.random([m, k], seed: 77)
            let w = Self.random([n, k], seed: 78)
            let y = linear(x, weight: w)
            XCTAssertLessThan(Self.relativeError(y.scalars, naiveLinear(x, w, nil)), 1e-6)
        }
    }

    func testLinearMatchesNaiveAcrossColumnBlocksKBlocksAndRowTails() {
        // n > GEMM.nc · 32 (two column blocks, ragged last panel), k > 2 · GEMM.kc (three K blocks,
        // ragged last), m = 2 · 12 + 1 (a one-row tail, which goes through the 4-row kernel).
        let (m, k, n) = (25, 2 * GEMM.kc + 7, GEMM.nc * GEMM.nr + 37)
        let x = Self.random([m, k], seed: 41), w = Self.random([n, k], seed: 42)
        let b = Self.random([n], seed: 43).scalars
        XCTAssertLessThan(Self.relativeError(linear(x, weight: w, bias: b).scalars, naiveLinear(x, w, b)), 1e-6)
    }

    func testFusedResidualAndQuickGELUMatchNaiveOnEveryRowTail() {
        // m = 12·b + r for r = 0…11 covers the 12-row kernel, the 4-row tail kernel (r ≤ 4) and the
        // 12-row kernel on a partial block (r ≥ 5); n = 45 adds a ragged panel; k = 2·kc + 3 makes the
        // epilogue's first (overwrite) and last (activation) K blocks different blocks.
        let k = 2 * GEMM.kc + 3, n = 45
        let w = Self.random([n, k], seed: 51), b = Self.random([n], seed: 52).scalars
        for m in [1, 2, 4, 5, 11, 12, 13, 16, 17, 23, 24, 25] {
            let x = Self.random([m, k], seed: UInt64(60 + m)), res = Self.random([m, n], seed: UInt64(90 + m))
            let plain = naiveLinear(x, w, b)
            let withResidual = plain.enumerated().map { $0.element + Double(res.scalars[$0.offset]) }
            let y = linear(x, PackedMatrix(weight: w), bias: b, residual: res)
            XCTAssertLessThan(Self.relativeError(y.scalars, withResidual), 1e-6, "residual, m = \(m)")
            let g = linear(x, PackedMatrix(weight: w), bias: b, residual: res, quickGELU: true)
            let ref = withResidual.map { $0 / (1 + Foundation.exp(-1.702 * $0)) }
            XCTAssertLessThan(Self.relativeError(g.scalars, ref), 1e-6, "quick_gelu, m = \(m)")
            // The fused activation is the same function as the separate pass, to the bit.
            var separate = linear(x, PackedMatrix(weight: w), bias: b, residual: res)
            quickGELUInPlace(&separate)
            XCTAssertEqual(g.scalars, separate.scalars, "m = \(m)")
        }
    }

    #if arch(x86_64)
    func testBothMicroKernelFamiliesGiveTheSameBits() throws {
        // The AVX2-sized 6 × 16 kernels (four per 12 × 32 tile) against the AVX-512-sized 12 × 32 / 4 × 32
        // ones: every row tail (m = 1…25), a ragged panel (n = 45), three K blocks, bias, residual and
        // quick_gelu, one- and multi-threaded, F16 weights, and a whole attention. Same bits, not just close.
        let k = 2 * GEMM.kc + 3, n = 45
        let w = Self.random([n, k], seed: 151), b = Self.random([n], seed: 152).scalars
        let packed = PackedMatrix(weight: w)
        let halves = w.scalars.map { Float16($0).bitPattern }
        let packed16 = halves.withUnsafeBufferPointer { PackedMatrix(stacking: [($0.baseAddress!, n)], inputs: k, storage: .float16) }
        let qkv = Self.random([77, 3 * 64], seed: 153)
        let big = Self.random([40, 300], seed: 154), wBig = PackedMatrix(weight: Self.random([700, 300], seed: 155))
        func run() -> [[Float]] {
            var out: [[Float]] = []
            for m in [1, 2, 4, 5, 6, 7, 11, 12, 13, 17, 23, 25] {
                let x = Self.random([m, k], seed: UInt64(160 + m)), res = Self.random([m, n], seed: UInt64(190 + m))
                out.append(linear(x, packed, bias: b, residual: res, quickGELU: true).scalars)
                out.append(linear(x, packed, bias: b).scalars)
                out.append(linear(x, packed16, bias: b).scalars)
            }
            out.append(linear(big, wBig).scalars)  // threaded: 22 panels in chunks
            out.append(multiHeadAttention(qkv: qkv, heads: 4, scale: 0.125, causal: false).scalars)
            out.append(multiHeadAttention(qkv: qkv, heads: 4, scale: 0.125, causal: true).scalars)
            return out
        }
        defer { GEMM.kernelOverride = nil }
        GEMM.kernelOverride = .avx512
        let wide = run()
        GEMM.kernelOverride = .avx2
        let narrow = run()
        XCTAssertEqual(wide.count, narrow.count)
        for (i, (x, y)) in zip(wide, narrow).enumerated() { XCTAssertEqual(x, y, "case \(i)") }
        // And both against the naive product, so that neither is wrong in the same way.
        let x = Self.random([13, k], seed: 173)
        XCTAssertLessThan(Self.relativeError(linear(x, packed, bias: b).scalars, naiveLinear(x, w, b)), 1e-6)
    }
    #endif

    func testStackedWeightsEqualSeparateProductsAndFusedAttentionEqualsSeparate() {
        // Three [20, 24] weights stacked (20 is not a multiple of 32: panels straddle the parts).
        let x = Self.random([13, 24], seed: 71)
        let ws = (0..<3).map { Self.random([20, 24], seed: UInt64(72 + $0)) }
        let stacked = ws.map { $0.scalars }.withPointers { pointers in
            PackedMatrix(stacking: pointers.map { ($0, 20) }, inputs: 24)
        }
        XCTAssertEqual(stacked.outputs, 60)
        let fused = linear(x, stacked)
        let separate = ws.map { linear(x, weight: $0) }
        for i in 0..<13 {
            for part in 0..<3 {
                XCTAssertEqual(Array(fused.scalars[(i * 60 + part * 20)..<(i * 60 + part * 20 + 20)]),
                               Array(separate[part].scalars[(i * 20)..<(i * 20 + 20)]))
            }
        }
        for causal in [false, true] {
            let a = multiHeadAttention(qkv: fused, heads: 4, scale: 0.3, causal: causal)
            let b = multiHeadAttention(q: separate[0], k: separate[1], v: separate[2], heads: 4, scale: 0.3, causal: causal)
            XCTAssertEqual(a.scalars, b.scalars, "causal: \(causal)")
        }
    }

    func testMatmulMatchesNaive() {
        let a = Self.random([9, 37], seed: 5), b = Self.random([37, 45], seed: 6)
        let y = matmul(a, b)
        var ref = [Double](repeating: 0, count: 9 * 45)
        for i in 0..<9 { for j in 0..<45 { for kk in 0..<37 {
            ref[i * 45 + j] += Double(a.scalars[i * 37 + kk]) * Double(b.scalars[kk * 45 + j])
        } } }
        XCTAssertLessThan(Self.relativeError(y.scalars, ref), 1e-6)
    }

    func testGramIsTheFullProductBitForBit() {
        // Row counts around the 32-column panels and past one 256-column block (300: two blocks, the second
        // mirrored, threaded), widths of one and of two K blocks.
        for (r, d, seed) in [(1, 5, 301), (31, 70, 302), (96, 64, 303), (97, 600, 304), (300, 600, 305)] {
            let x = Self.random([r, d], seed: UInt64(seed))
            let full = linear(x, PackedMatrix(weight: x))
            let g = gram(x)
            XCTAssertEqual(g.shape, [r, r])
            XCTAssertEqual(g.scalars, full.scalars, "\(r) × \(d)")
            for i in 0..<r { for j in 0..<i { XCTAssertEqual(g.scalars[i * r + j], g.scalars[j * r + i]) } }
        }
        XCTAssertEqual(gram(Tensor(shape: [0, 4], scalars: [])).shape, [0, 0])
    }

    func testLayerNormMatchesNaive() {
        let x = Self.random([5, 37], seed: 11)
        let w = Self.random([37], seed: 12).scalars, b = Self.random([37], seed: 13).scalars
        let y = layerNorm(x, weight: w, bias: b, eps: 1e-5)
        var ref = [Double]()
        for r in 0..<5 {
            let row = x.scalars[(r * 37)..<(r * 37 + 37)].map(Double.init)
            let mean = row.reduce(0, +) / 37
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 37
            for j in 0..<37 { ref.append((row[j] - mean) / (variance + 1e-5).squareRoot() * Double(w[j]) + Double(b[j])) }
        }
        XCTAssertLessThan(Self.relativeError(y.scalars, ref), 1e-6)
    }

    func testSoftmaxRowsSumToOneAndMatchNaive() {
        var x = Self.random([3, 19], seed: 21)
        x.scalars[5] = 80  // large logit: must not overflow
        let y = softmaxRows(x)
        for r in 0..<3 {
            let row = x.scalars[(r * 19)..<(r * 19 + 19)].map(Double.init)
            let m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            XCTAssertLessThan(Self.relativeError(Array(y.scalars[(r * 19)..<(r * 19 + 19)]), e.map { $0 / s }), 1e-6)
        }
    }

    func testGELUVariantsMatchTheirDefinitions() {
        let x = Tensor(shape: [7], scalars: [-6, -2.5, -1, 0, 0.3, 1.7, 8])
        let g = geluErf(x), q = quickGELU(x)
        for i in 0..<7 {
            let v = Double(x.scalars[i])
            XCTAssertEqual(Double(g.scalars[i]), 0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot())), accuracy: 1e-6)
            XCTAssertEqual(Double(q.scalars[i]), v / (1 + Foundation.exp(-1.702 * v)), accuracy: 1e-6)
        }
    }

    func naiveAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, heads: Int, scale: Double, causal: Bool) -> [Double] {
        let (t, w) = (q.shape[0], q.shape[1])
        let d = w / heads
        var out = [Double](repeating: 0, count: t * w)
        for h in 0..<heads {
            for i in 0..<t {
                let visible = causal ? i + 1 : t
                var s = [Double](repeating: 0, count: visible)
                for j in 0..<visible {
                    for c in 0..<d { s[j] += Double(q.scalars[i * w + h * d + c]) * Double(k.scalars[j * w + h * d + c]) }
                    s[j] *= scale
                }
                let m = s.max()!
                let e = s.map { Foundation.exp($0 - m) }
                let z = e.reduce(0, +)
                for j in 0..<visible {
                    for c in 0..<d { out[i * w + h * d + c] += e[j] / z * Double(v.scalars[j * w + h * d + c]) }
                }
            }
        }
        return out
    }

    func testAttentionMatchesNaiveWithAndWithoutCausalMask() {
        // 3 heads of width 10 (not a power of two); 11 tokens (one block of query rows), 29 (two blocks of
        // 12 and a ragged 5), 40 (more than one 32-key panel).
        for t in [11, 29, 40] {
            let q = Self.random([t, 30], seed: UInt64(31 + t)), k = Self.random([t, 30], seed: UInt64(32 + t))
            let v = Self.random([t, 30], seed: UInt64(33 + t))
            for causal in [false, true] {
                let y = multiHeadAttention(q: q, k: k, v: v, heads: 3, scale: 1 / Float(10).squareRoot(), causal: causal)
                let ref = naiveAttention(q, k, v, heads: 3, scale: 1 / 10.0.squareRoot(), causal: causal)
                XCTAssertLessThan(Self.relativeError(y.scalars, ref), 1e-6, "tokens \(t), causal: \(causal)")
            }
        }
    }

    func testPatchifyMatchesStridedConvolutionLayout() {
        // [2, 5, 7] image, patch 2: 2×3 patches, trailing row/column dropped.
        let img = Tensor(shape: [2, 5, 7], scalars: (0..<70).map(Float.init))
        let p = patchify(img, patch: 2)
        XCTAssertEqual(p.shape, [6, 8])
        // Patch (row 1, col 2) = index 5: channel 0 rows 2–3, cols 4–5, then channel 1.
        let expected: [Float] = [18, 19, 25, 26, 53, 54, 60, 61]
        XCTAssertEqual(Array(p.scalars[40..<48]), expected)
    }

    func testTensorRowHelpers() {
        let t = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(t.gatherRows([2, 0]).scalars, [5, 6, 1, 2])
        XCTAssertEqual(t.rows(1..<3).scalars, [3, 4, 5, 6])
        XCTAssertEqual(t.transposed().scalars, [1, 3, 5, 2, 4, 6])
        XCTAssertEqual(Tensor.concatenateRows([t.row(0).reshaped([1, 2]), t]).shape, [4, 2])
    }
}

private extension Array where Element == [Float] {
    /// Calls `body` with a base pointer to each inner array (all valid for the duration of the call).
    func withPointers<R>(_ body: ([UnsafePointer<Float>]) -> R) -> R {
        func go(_ i: Int, _ done: [UnsafePointer<Float>]) -> R {
            if i == count { return body(done) }
            return self[i].withUnsafeBufferPointer { go(i + 1, done + [$0.baseAddress!]) }
        }
        return go(0, [])
    }
}

// Activations whose rows are padded apart, for the inputs of the big products.
//
// The GEMM reads its left operand A in place, broadcasting from 12 rows at once. When those rows are a
// multiple of 4 KiB apart (1024, 3072 or 4096 floats: every activation of a ViT-L/14), all 12 fall into
// the same set of the 64-set L1 data cache and evict one another. Rows 16 floats (one cache line)
// further apart land in 12 different sets. The layers that produce a GEMM's input — the layer norms,
// attention, fc1 — therefore write it as a `StridedMatrix` with `StridedMatrix.stride(forColumns:)`,
// and `linear` reads it in place with that stride. The arithmetic is exactly that of the contiguous
// path: results are bit-identical (KernelTests).
//
// Measured (PERFORMANCE.md, item 18), in the test machine's slow mode: the 24-layer ViT-L/14-336 stack
// 4–5 % faster with two threads and about 10 % with one (same process, alternated), whole `trim bench`
// runs about 2 %; in its fast mode (measured 2026-11-21) padding A's rows made no measurable difference.

/// A `[rows, columns]` float matrix whose rows are `stride` (≥ `columns`) floats apart; the `stride −
/// columns` floats after each row are zero.
public struct StridedMatrix: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Floats per row that belong to the matrix.
    public let columns: Int
    /// Distance between the starts of consecutive rows, in floats.
    public let stride: Int
    /// `rows · stride` floats: row r is `scalars[r · stride ..< r · stride + columns]`, then zeros.
    public let scalars: [Float]

    /// The row stride the layers use for `columns`: `columns + 16` when a row is a whole number of 4 KiB
    /// pages (`columns` a multiple of 1024), otherwise `columns` (shorter or odd strides spread the 12
    /// rows a micro-kernel reads over several L1 sets by themselves).
    public static func stride(forColumns columns: Int) -> Int {
        columns > 0 && columns % 1024 == 0 ? columns + 16 : columns
    }

    /// Wraps `scalars` laid out as described above.
    /// - Precondition: `stride ≥ columns ≥ 0`, `rows ≥ 0` and `scalars.count == rows · stride`.
    public init(rows: Int, columns: Int, stride: Int, scalars: [Float]) {
        precondition(rows >= 0 && columns >= 0 && stride >= columns, "StridedMatrix: bad layout \(rows)×\(columns), stride \(stride)")
        precondition(scalars.count == rows * stride, "StridedMatrix: \(scalars.count) floats for \(rows) rows of stride \(stride)")
        self.rows = rows
        self.columns = columns
        self.stride = stride
        self.scalars = scalars
    }

    /// A copy of the `[rows, columns]` matrix `x` (any rank: leading dimensions are rows) with the row
    /// stride `stride(forColumns:)`.
    public init(_ x: Tensor) {
        let (r, c) = (x.rows, x.columns), s = Self.stride(forColumns: x.columns)
        var out = [Float](repeating: 0, count: r * s)
        for i in 0..<r { out[(i * s)..<(i * s + c)] = x.scalars[(i * c)..<(i * c + c)] }
        self.init(rows: r, columns: c, stride: s, scalars: out)
    }

    /// The contiguous `[rows, columns]` tensor.
    public func tensor() -> Tensor {
        if stride == columns { return Tensor(shape: [rows, columns], scalars: scalars) }
        var out = [Float]()
        out.reserveCapacity(rows * columns)
        for i in 0..<rows { out += scalars[(i * stride)..<(i * stride + columns)] }
        return Tensor(shape: [rows, columns], scalars: out)
    }
}

/// `layerNorm` written with the row stride `StridedMatrix.stride(forColumns:)`, for a GEMM to read.
public func layerNormStrided(_ x: Tensor, weight: [Float], bias: [Float], eps: Float) -> StridedMatrix {
    let s = StridedMatrix.stride(forColumns: x.columns)
    return StridedMatrix(rows: x.rows, columns: x.columns, stride: s,
                         scalars: layerNormRows(x, weight: weight, bias: bias, eps: eps, outStride: s))
}

/// `linear` on a strided input, read in place: `act(x · Wᵀ + bias + residual)` as a contiguous
/// `[x.rows, outputs]` tensor (`residual`, when given, has that shape), written into a spare buffer of
/// `scratch` when it has one of that size.
public func linear(
    _ x: StridedMatrix, _ weight: PackedMatrix, bias: [Float]? = nil, residual: Tensor? = nil, quickGELU: Bool = false,
    scratch: ScratchBuffers? = nil
) -> Tensor {
    let n = weight.outputs
    precondition(residual == nil || residual!.shape == [x.rows, n], "linear: residual shape ≠ [\(x.rows), \(n)]")
    if x.rows == 0 || x.columns == 0 || n == 0 {
        return linear(x.tensor(), weight, bias: bias, residual: residual, quickGELU: quickGELU)
    }
    checkLinear(x, weight, bias)
    let out = x.scalars.withUnsafeBufferPointer {
        linearRows($0.baseAddress!, lda: x.stride, rows: x.rows, weight, bias: bias, residual: residual,
                   quickGELU: quickGELU, ldc: n, scratch: scratch)
    }
    return Tensor(shape: [x.rows, n], scalars: out)
}

/// `linear` on a strided input whose output feeds another GEMM: written with the row stride
/// `StridedMatrix.stride(forColumns: outputs)` (e.g. fc1's output, fc2's input); into a spare buffer of
/// `scratch` when it has one of that size.
public func linearStrided(
    _ x: StridedMatrix, _ weight: PackedMatrix, bias: [Float]? = nil, quickGELU: Bool = false,
    scratch: ScratchBuffers? = nil
) -> StridedMatrix {
    let n = weight.outputs
    if x.rows == 0 || x.columns == 0 || n == 0 {
        return StridedMatrix(linear(x.tensor(), weight, bias: bias, quickGELU: quickGELU))
    }
    checkLinear(x, weight, bias)
    let s = StridedMatrix.stride(forColumns: n)
    let out = x.scalars.withUnsafeBufferPointer {
        linearRows($0.baseAddress!, lda: x.stride, rows: x.rows, weight, bias: bias, residual: nil,
                   quickGELU: quickGELU, ldc: s, scratch: scratch)
    }
    return StridedMatrix(rows: x.rows, columns: n, stride: s, scalars: out)
}

private func checkLinear(_ x: StridedMatrix, _ weight: PackedMatrix, _ bias: [Float]?) {
    precondition(x.columns == weight.inputs, "linear: input width \(x.columns) ≠ weight inputs \(weight.inputs)")
    precondition(bias == nil || bias!.count == weight.outputs, "linear: bias length ≠ \(weight.outputs)")
}

/// `multiHeadAttention(qkv:heads:scale:causal:)` written with the row stride
/// `StridedMatrix.stride(forColumns:)` of its `[tokens, width]` output, for the output projection to read.
/// `sequences` > 1: the rows are that many equal sequences stacked, each attending only within itself.
public func multiHeadAttentionStrided(qkv: Tensor, heads: Int, scale: Float, causal: Bool, sequences: Int = 1) -> StridedMatrix {
    precondition(qkv.rank == 2 && qkv.shape[1] % 3 == 0, "attention: qkv must be [tokens, 3 · width], got \(qkv.shape)")
    let t = qkv.shape[0], width = qkv.shape[1] / 3, s = StridedMatrix.stride(forColumns: width)
    precondition(heads > 0 && width % heads == 0, "attention: width \(width) not divisible by \(heads) heads")
    let out = qkv.scalars.withUnsafeBufferPointer { p in
        let base = p.baseAddress
        return attention(q: base, k: base.map { $0 + width }, v: base.map { $0 + 2 * width }, ld: 3 * width,
                         tokens: t, width: width, heads: heads, scale: scale, causal: causal, outStride: s,
                         sequences: sequences)
    }
    return StridedMatrix(rows: t, columns: width, stride: s, scalars: out)
}

/// A dense, row-major Float32 tensor: the one data type every kernel works on.
///
/// Layout convention used everywhere in the project: the **last** dimension is contiguous.
/// A `[rows, cols]` matrix stores element `(r, c)` at `scalars[r * cols + c]`; a `[3, H, W]` image
/// stores channel planes one after another. Shapes in comments are written `// [tokens, hidden]`.
///
/// `Tensor` is a value type backed by a Swift array, so copies are cheap until written (copy-on-write).
public struct Tensor: Sendable, Equatable {
    /// The extent of each dimension, outermost first. A scalar has shape `[]`.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Float]

    /// A tensor with the given shape and row-major elements.
    /// - Precondition: `scalars.count` equals the product of `shape`, and no extent is negative.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        precondition(
            shape.reduce(1, *) == scalars.count,
            "Tensor: \(scalars.count) elements do not fill shape \(shape)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of the given shape filled with `value` (zeros by default).
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        self.shape = shape
        self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// Number of elements.
    @inlinable public var count: Int { scalars.count }

    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// For a matrix `[rows, cols]`: the number of rows. For higher ranks: the product of all but the
    /// last dimension, i.e. the tensor viewed as `[rows, lastDim]`.
    @inlinable public var rows: Int { shape.isEmpty ? 1 : shape.dropLast().reduce(1, *) }

    /// The extent of the last (contiguous) dimension; 1 for a scalar.
    @inlinable public var columns: Int { shape.last ?? 1 }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Row `r` of the tensor viewed as `[rows, columns]`, as a new `[columns]` tensor.
    public func row(_ r: Int) -> Tensor {
        precondition(r >= 0 && r < rows, "Tensor.row: \(r) out of 0..<\(rows)")
        let c = columns
        return Tensor(shape: [c], scalars: Array(scalars[(r * c)..<(r * c + c)]))
    }

    /// Rows `range` of the tensor viewed as `[rows, columns]`, as a new `[range.count, columns]` tensor.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "Tensor.rows: \(range) out of 0..<\(rows)")
        let c = columns
        return Tensor(shape: [range.count, c], scalars: Array(scalars[(range.lowerBound * c)..<(range.upperBound * c)]))
    }

    /// The rows at `indices` (in the given order) of the tensor viewed as `[rows, columns]`:
    /// `[indices.count, columns]`.
    public func gatherRows(_ indices: [Int]) -> Tensor {
        let c = columns
        var out = [Float]()
        out.reserveCapacity(indices.count * c)
        for i in indices {
            precondition(i >= 0 && i < rows, "Tensor.gatherRows: \(i) out of 0..<\(rows)")
            out.append(contentsOf: scalars[(i * c)..<(i * c + c)])
        }
        return Tensor(shape: [indices.count, c], scalars: out)
    }

    /// Columns `range` of every row of a matrix: `[rows, range.count]`.
    public func columnSlice(_ range: Range<Int>) -> Tensor {
        let c = columns
        precondition(range.lowerBound >= 0 && range.upperBound <= c, "Tensor.columnSlice: \(range) out of 0..<\(c)")
        var out = [Float]()
        out.reserveCapacity(rows * range.count)
        for r in 0..<rows { out.append(contentsOf: scalars[(r * c + range.lowerBound)..<(r * c + range.upperBound)]) }
        return Tensor(shape: [rows, range.count], scalars: out)
    }

    /// Stacks equally wide row blocks on top of each other: `[Σ rows, columns]`.
    public static func concatenateRows(_ parts: [Tensor]) -> Tensor {
        guard let first = parts.first else { return Tensor(shape: [0, 0]) }
        let c = first.columns
        var out = [Float]()
        out.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        var total = 0
        for p in parts {
            precondition(p.columns == c, "Tensor.concatenateRows: width \(p.columns) ≠ \(c)")
            out.append(contentsOf: p.scalars)
            total += p.rows
        }
        return Tensor(shape: [total, c], scalars: out)
    }

    /// The transpose of a matrix: `[rows, cols]` → `[cols, rows]`.
    public func transposed() -> Tensor {
        precondition(rank == 2, "Tensor.transposed: rank \(rank), expected 2")
        let (r, c) = (shape[0], shape[1])
        var out = [Float](repeating: 0, count: count)
        scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<r { for j in 0..<c { dst[j * r + i] = src[i * c + j] } }
            }
        }
        return Tensor(shape: [c, r], scalars: out)
    }
}

extension Tensor: CustomStringConvertible {
    /// `Tensor[2, 3]` followed by up to the first 6 elements.
    public var description: String {
        let head = scalars.prefix(6).map { "\($0)" }.joined(separator: ", ")
        return "Tensor\(shape) [\(head)\(count > 6 ? ", …" : "")]"
    }
}

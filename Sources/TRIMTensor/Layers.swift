// The two parameterised building blocks every transformer here is made of, mirroring
// `torch.nn.Linear` and `torch.nn.LayerNorm` (weights under the same names in checkpoints).

/// `torch.nn.Linear`: `y = x · Wᵀ + b`, with `W` packed once at construction.
public struct Linear: Sendable {
    /// The `[outputs, inputs]` weight, packed for the GEMM.
    public let weight: PackedMatrix
    /// `[outputs]`, or `nil` for a bias-free layer.
    public let bias: [Float]?

    /// A layer from a `[outputs, inputs]` weight and optional `[outputs]` bias.
    public init(weight: Tensor, bias: Tensor?) {
        precondition(bias == nil || bias!.count == weight.shape.first ?? 0, "Linear: bias length ≠ outputs")
        self.weight = PackedMatrix(weight: weight)
        self.bias = bias?.scalars
    }

    /// A layer from an already packed weight and an optional `[outputs]` bias.
    public init(weight: PackedMatrix, bias: [Float]?) {
        precondition(bias == nil || bias!.count == weight.outputs, "Linear: bias length ≠ outputs")
        self.weight = weight
        self.bias = bias
    }

    /// Input features.
    public var inputs: Int { weight.inputs }
    /// Output features.
    public var outputs: Int { weight.outputs }

    /// `[..., inputs]` → `[..., outputs]`; optionally `+ residual` (`[..., outputs]`) and then quick_gelu,
    /// both fused into the product (see `linear`).
    public func callAsFunction(_ x: Tensor, residual: Tensor? = nil, quickGELU: Bool = false) -> Tensor {
        linear(x, weight, bias: bias, residual: residual, quickGELU: quickGELU)
    }

    /// The same on a strided input (see `StridedMatrix`), read in place; the output is contiguous (in a
    /// spare buffer of `scratch` when it has one of that size: see `ScratchBuffers`).
    public func callAsFunction(_ x: StridedMatrix, residual: Tensor? = nil, quickGELU: Bool = false,
                               scratch: ScratchBuffers? = nil) -> Tensor {
        linear(x, weight, bias: bias, residual: residual, quickGELU: quickGELU, scratch: scratch)
    }

    /// The same on a strided input, with a strided output for the next GEMM to read (see `StridedMatrix`).
    public func strided(_ x: StridedMatrix, quickGELU: Bool = false, scratch: ScratchBuffers? = nil) -> StridedMatrix {
        linearStrided(x, weight, bias: bias, quickGELU: quickGELU, scratch: scratch)
    }
}

/// `torch.nn.LayerNorm` over the last dimension.
public struct LayerNorm: Sendable {
    /// `[features]` scale (γ).
    public let weight: [Float]
    /// `[features]` shift (β).
    public let bias: [Float]
    /// Added to the variance.
    public let eps: Float

    /// A layer norm from `[features]` weight and bias tensors.
    public init(weight: Tensor, bias: Tensor, eps: Float) {
        precondition(weight.count == bias.count, "LayerNorm: weight and bias lengths differ")
        self.weight = weight.scalars
        self.bias = bias.scalars
        self.eps = eps
    }

    /// `[..., features]` → `[..., features]`.
    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, eps: eps) }

    /// `[rows, features]` → the same values with a padded row stride, for a GEMM to read (see `StridedMatrix`).
    public func strided(_ x: Tensor) -> StridedMatrix { layerNormStrided(x, weight: weight, bias: bias, eps: eps) }
}

import TRIMTensor

/// The feed-forward block of one CLIP encoder layer (`mlp`): `fc2(act(fc1(x)))`.
public struct CLIPMLP: Sendable {
    /// `[intermediate, hidden]` expansion.
    public let fc1: Linear
    /// `[hidden, intermediate]` contraction.
    public let fc2: Linear
    /// `quick_gelu` (OpenAI) or exact `gelu`.
    public let activation: Activation

    init(_ w: WeightLoader, prefix: String, hidden: Int, intermediate: Int, activation: Activation) throws {
        fc1 = try w.linear(prefix + ".fc1", outputs: intermediate, inputs: hidden)
        fc2 = try w.linear(prefix + ".fc2", outputs: hidden, inputs: intermediate)
        self.activation = activation
    }

    /// `[tokens, hidden]` → `[tokens, hidden]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = fc1(x)  // [tokens, intermediate]
        switch activation {
        case .quickGELU: quickGELUInPlace(&h); return fc2(h)
        case .gelu: return fc2(geluErf(h))
        }
    }
}

import TRIMTensor

/// Multi-head self-attention of one CLIP encoder layer (`self_attn`): q/k/v projections with biases,
/// scaled dot-product attention with scale `head_dim^-0.5`, output projection.
public struct CLIPAttention: Sendable {
    /// `[hidden, hidden]` projections, named as in the checkpoint.
    public let q_proj: Linear, k_proj: Linear, v_proj: Linear, out_proj: Linear
    /// Number of heads.
    public let heads: Int

    init(_ w: WeightLoader, prefix: String, hidden: Int, heads: Int) throws {
        q_proj = try w.linear(prefix + ".q_proj", outputs: hidden, inputs: hidden)
        k_proj = try w.linear(prefix + ".k_proj", outputs: hidden, inputs: hidden)
        v_proj = try w.linear(prefix + ".v_proj", outputs: hidden, inputs: hidden)
        out_proj = try w.linear(prefix + ".out_proj", outputs: hidden, inputs: hidden)
        self.heads = heads
    }

    /// `[tokens, hidden]` → `[tokens, hidden]`; `causal` masks future tokens (the text tower).
    public func callAsFunction(_ x: Tensor, causal: Bool) -> Tensor {
        let headDim = x.columns / heads
        let attended = multiHeadAttention(
            q: q_proj(x), k: k_proj(x), v: v_proj(x), heads: heads,
            scale: 1 / Float(headDim).squareRoot(), causal: causal)
        return out_proj(attended)
    }
}

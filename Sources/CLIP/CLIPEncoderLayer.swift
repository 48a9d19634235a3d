import TRIMTensor

/// One pre-LayerNorm transformer layer (`encoder.layers.{i}`):
/// `x = x + self_attn(layer_norm1(x)); x = x + mlp(layer_norm2(x))`.
public struct CLIPEncoderLayer: Sendable {
    /// LayerNorm before attention.
    public let layer_norm1: LayerNorm
    /// Multi-head self-attention.
    public let self_attn: CLIPAttention
    /// LayerNorm before the MLP.
    public let layer_norm2: LayerNorm
    /// Feed-forward block.
    public let mlp: CLIPMLP

    init(_ w: WeightLoader, prefix: String, hidden: Int, intermediate: Int, heads: Int,
         activation: Activation, eps: Float) throws {
        layer_norm1 = try w.layerNorm(prefix + ".layer_norm1", width: hidden, eps: eps)
        self_attn = try CLIPAttention(w, prefix: prefix + ".self_attn", hidden: hidden, heads: heads)
        layer_norm2 = try w.layerNorm(prefix + ".layer_norm2", width: hidden, eps: eps)
        mlp = try CLIPMLP(w, prefix: prefix + ".mlp", hidden: hidden, intermediate: intermediate, activation: activation)
    }

    /// `[tokens, hidden]` → `[tokens, hidden]`. Both residual adds happen inside the GEMMs that end
    /// each half (`out_proj` and `fc2`). The layer norms write their outputs with a padded row stride
    /// (`StridedMatrix`) for the GEMMs that read them; the residual stream stays contiguous.
    /// `observeQKV` sees the attention's stacked q | k | v projection (see `CLIPAttention`); `sequences` > 1
    /// runs a batch of equal sequences stacked in `x`, attention within each. `scratch`, shared by the layers
    /// of one pass, lets each layer write its two largest outputs into the buffers of the layer before
    /// (see `ScratchBuffers`).
    public func callAsFunction(_ x: Tensor, causal: Bool, sequences: Int = 1, observeQKV: ((Tensor) -> Void)? = nil,
                               scratch: ScratchBuffers? = nil) -> Tensor {
        let h = self_attn(layer_norm1.strided(x), causal: causal, residual: x, sequences: sequences, observeQKV: observeQKV,
                          scratch: scratch)
        return mlp(layer_norm2.strided(h), residual: h, scratch: scratch)
    }
}

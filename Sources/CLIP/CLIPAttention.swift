import TRIMTensor

/// Multi-head self-attention of one CLIP encoder layer (`self_attn`): q/k/v projections with biases,
/// scaled dot-product attention with scale `head_dim^-0.5`, output projection.
///
/// The checkpoint's `q_proj`, `k_proj` and `v_proj` are packed at load into one stacked
/// `[3·hidden, hidden]` projection, `qkv_proj`, so that the three products run as one GEMM over the
/// layer-normed input (one pass and one thread dispatch instead of three).
public struct CLIPAttention: Sendable {
    /// `q_proj`, `k_proj` and `v_proj` stacked in that order (weights and biases), `[3·hidden, hidden]`.
    public let qkv_proj: Linear
    /// The output projection, `[hidden, hidden]`.
    public let out_proj: Linear
    /// Number of heads.
    public let heads: Int

    init(_ w: WeightLoader, prefix: String, hidden: Int, heads: Int) throws {
        qkv_proj = try w.stackedLinear(["q_proj", "k_proj", "v_proj"].map { prefix + "." + $0 },
                                       outputs: hidden, inputs: hidden)
        out_proj = try w.linear(prefix + ".out_proj", outputs: hidden, inputs: hidden)
        self.heads = heads
    }

    /// `[tokens, hidden]` → `[tokens, hidden]`; `causal` masks future tokens (the text tower). A
    /// `residual` (`[tokens, hidden]`) is added to the output inside the output projection's GEMM.
    public func callAsFunction(_ x: Tensor, causal: Bool, residual: Tensor? = nil) -> Tensor {
        let y = self(StridedMatrix(x), causal: causal, residual: residual?.reshaped([x.rows, residual!.columns]))
        return y.reshaped(Array(x.shape.dropLast()) + [y.columns])
    }

    /// The same on a strided input (see `StridedMatrix`); the attention output handed to `out_proj` is
    /// strided too.
    ///
    /// `observeQKV`, when given, is handed the stacked `[tokens, 3·hidden]` q | k | v projection (biases
    /// included) before attention: what reducers read from a layer's attention (FasterVLM, VisionZip,
    /// VisPruner) without a second pass and without keeping the attention matrix.
    ///
    /// `sequences` > 1: `x` is that many equal sequences stacked (a batch of views); the projections run
    /// over all rows at once, attention within each sequence.
    ///
    /// `scratch`, when given, lends the q | k | v projection a spare buffer and gets it back after attention
    /// (see `ScratchBuffers`); an observer that keeps the projection only makes the next layer copy it.
    public func callAsFunction(_ x: StridedMatrix, causal: Bool, residual: Tensor? = nil, sequences: Int = 1,
                               observeQKV: ((Tensor) -> Void)? = nil, scratch: ScratchBuffers? = nil) -> Tensor {
        let headDim = x.columns / heads
        let qkv = qkv_proj(x, scratch: scratch)
        observeQKV?(qkv)
        let attended = multiHeadAttentionStrided(
            qkv: qkv, heads: heads, scale: 1 / Float(headDim).squareRoot(), causal: causal, sequences: sequences)
        scratch?.give((consume qkv).scalars)
        return out_proj(attended, residual: residual)
    }
}

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

    /// `[tokens, hidden]` → `[tokens, hidden]`, plus `residual` when given. quick_gelu runs inside fc1's
    /// GEMM and the residual add inside fc2's (no separate passes over the activations).
    public func callAsFunction(_ x: Tensor, residual: Tensor? = nil) -> Tensor {
        let y = self(StridedMatrix(x), residual: residual?.reshaped([x.rows, residual!.columns]))
        return y.reshaped(Array(x.shape.dropLast()) + [y.columns])
    }

    /// The same on a strided input (see `StridedMatrix`); fc1's output is strided too, for fc2 to read.
    /// `scratch`, when given, lends fc1's output a spare buffer and gets it back once fc2 has read it (see
    /// `ScratchBuffers`).
    public func callAsFunction(_ x: StridedMatrix, residual: Tensor? = nil, scratch: ScratchBuffers? = nil) -> Tensor {
        switch activation {
        case .quickGELU:
            let h = fc1.strided(x, quickGELU: true, scratch: scratch)
            let y = fc2(h, residual: residual)
            scratch?.give((consume h).scalars)
            return y
        case .gelu:
            // GELU(0) = 0 keeps the padding zero.
            let h = fc1.strided(x)
            let g = geluErf(Tensor(shape: [h.scalars.count], scalars: h.scalars))
            return fc2(StridedMatrix(rows: h.rows, columns: h.columns, stride: h.stride, scalars: g.scalars),
                       residual: residual)
        }
    }
}

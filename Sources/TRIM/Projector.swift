import Foundation
import SafeTensors
import TorchCheckpoint
import TRIMTensor

/// LLaVA's multimodal projector (SEMANTICS.md §1 step 9): maps vision features into the language model's
/// embedding space.
///
/// - `mlp2x_gelu` (LLaVA-1.5): `linear_2(gelu(linear_1(x)))`, 1024 → 4096 → 4096 for LLaVA-1.5-7B.
/// - `linear` (LLaVA-1.0): one `Linear`.
///
/// Weights are found under any of the names checkpoints use:
/// llava-hf `multi_modal_projector.linear_{1,2}.{weight,bias}`, original LLaVA
/// `model.mm_projector.{0,2}.{weight,bias}` (or `model.mm_projector.{weight,bias}` for `linear`), with or
/// without the `model.` prefix — in a single safetensors or `.bin` file, a checkpoint directory, or a sharded
/// checkpoint, of which only the shard(s) holding the projector are read.
public struct Projector: Sendable {
    /// The projector's architecture.
    public enum Kind: String, Sendable { case mlp2xGELU = "mlp2x_gelu", linear }

    /// Which architecture was found.
    public let kind: Kind
    /// First (or only) layer, `[hidden, visionWidth]`.
    public let linear_1: Linear
    /// Second layer of `mlp2x_gelu`, `[hidden, hidden]`.
    public let linear_2: Linear?

    /// Vision feature width the projector takes (1024 for CLIP ViT-L).
    public var inputWidth: Int { linear_1.inputs }
    /// Language-model embedding width it produces (4096 for LLaVA-1.5-7B).
    public var outputWidth: Int { linear_2?.outputs ?? linear_1.outputs }

    /// Loads a projector from a `.safetensors` or PyTorch `.bin` file (e.g. LLaVA's `mm_projector.bin`), a
    /// checkpoint directory, or a `model.safetensors.index.json` / `pytorch_model.bin.index.json`
    /// (resolved by `Checkpoint.open`).
    ///
    /// `weightPrecision`: whether F16 / BF16 weights (e.g. llava-hf's) stay 16-bit in memory; the results
    /// are the same either way.
    public init(contentsOf url: URL, weightPrecision: WeightPrecision = .checkpoint) throws {
        let source = try Checkpoint.open(url)
        try self.init(source: source, sourceName: url.path, weightPrecision: weightPrecision)
    }

    /// Finds the projector tensors in `source` by name (see the type's documentation).
    public init(source: any TensorSource, sourceName: String, weightPrecision: WeightPrecision = .checkpoint) throws {
        let names = source.tensorNames
        func find(_ suffix: String) -> String? {
            names.first { $0 == suffix || $0.hasSuffix("." + suffix) }
        }
        func layer(_ weight: String, _ bias: String?) throws -> Linear {
            // The shape from the header first: the weight itself is packed straight from the file.
            let shape = try source.info(weight)?.shape ?? source.tensor(weight).shape
            guard shape.count == 2, shape[0] >= 1, shape[1] >= 1 else {
                throw TRIMError.invalidProjector(path: sourceName, reason: "'\(weight)' has shape \(shape), expected [out, in], both ≥ 1")
            }
            let b = try bias.map(source.tensor)
            if let b, b.shape != [shape[0]] {
                throw TRIMError.invalidProjector(path: sourceName, reason: "'\(bias!)' has shape \(b.shape), expected [\(shape[0])]")
            }
            let w = try source.packedMatrix(stacking: [weight], rows: shape[0], inputs: shape[1], precision: weightPrecision)
            return Linear(weight: w, bias: b?.scalars)
        }
        if let w1 = find("multi_modal_projector.linear_1.weight"), let w2 = find("multi_modal_projector.linear_2.weight") {
            kind = .mlp2xGELU
            linear_1 = try layer(w1, find("multi_modal_projector.linear_1.bias"))
            linear_2 = try layer(w2, find("multi_modal_projector.linear_2.bias"))
        } else if let w1 = find("mm_projector.0.weight"), let w2 = find("mm_projector.2.weight") {
            kind = .mlp2xGELU
            linear_1 = try layer(w1, find("mm_projector.0.bias"))
            linear_2 = try layer(w2, find("mm_projector.2.bias"))
        } else if let w = find("mm_projector.weight") {
            kind = .linear
            linear_1 = try layer(w, find("mm_projector.bias"))
            linear_2 = nil
        } else {
            throw TRIMError.invalidProjector(
                path: sourceName,
                reason: "no projector tensors (looked for multi_modal_projector.linear_{1,2}.weight, mm_projector.{0,2}.weight, mm_projector.weight)")
        }
        if let linear_2, linear_2.inputs != linear_1.outputs {
            throw TRIMError.invalidProjector(
                path: sourceName, reason: "second layer takes \(linear_2.inputs) features but the first gives \(linear_1.outputs)")
        }
    }

    /// `[rows, inputWidth]` → `[rows, outputWidth]`. Only the rows given are projected: TRIM passes the
    /// K (+1) real tokens, not LLaVA's 576 zero-padded rows.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = linear_1(x)
        guard let linear_2 else { return h }
        return linear_2(geluErf(h))
    }
}

import SafeTensors
import TRIMTensor

/// Pulls named tensors out of a checkpoint and checks each shape against what the configuration
/// implies, so a mismatched file fails at load with the tensor's name instead of deep in a forward pass.
struct WeightLoader {
    /// Where the tensors come from (a `model.safetensors`, or a sharded index).
    let source: any TensorSource
    /// How the source is named in errors (usually its path).
    let sourceName: String

    /// The tensor `name`, which must exist with exactly `shape`.
    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let info = try source.info(name) else {
            throw CLIPError.missingTensor(name: name, source: sourceName)
        }
        guard info.shape == shape else {
            throw CLIPError.shapeMismatch(name: name, expected: shape, found: info.shape, source: sourceName)
        }
        return try source.tensor(name)
    }

    /// `prefix.weight [outputs, inputs]` and (when `bias`) `prefix.bias [outputs]` as a packed `Linear`.
    func linear(_ prefix: String, outputs: Int, inputs: Int, bias: Bool = true) throws -> Linear {
        let w = try tensor(prefix + ".weight", shape: [outputs, inputs])
        let b = bias ? try tensor(prefix + ".bias", shape: [outputs]) : nil
        return Linear(weight: w, bias: b)
    }

    /// `prefix.weight` and `prefix.bias`, both `[width]`, as a `LayerNorm`.
    func layerNorm(_ prefix: String, width: Int, eps: Float) throws -> LayerNorm {
        LayerNorm(weight: try tensor(prefix + ".weight", shape: [width]),
                  bias: try tensor(prefix + ".bias", shape: [width]), eps: eps)
    }
}

import Foundation
import SafeTensors
import TorchCheckpoint
import TRIMTensor

/// A CLIP model as Hugging Face's `CLIPModel`: both towers and their projections into the joint space.
///
/// Loads a Hugging Face checkpoint directory unchanged (`config.json` + `model.safetensors` or a sharded
/// `model.safetensors.index.json`), e.g. `openai/clip-vit-large-patch14-336`.
public struct CLIPModel: Sendable {
    /// The configuration read from `config.json`.
    public let config: CLIPConfig
    /// The image tower.
    public let vision_model: CLIPVisionTransformer
    /// The text tower (`nil` when loading skipped it).
    public let text_model: CLIPTextTransformer?
    /// `[projection, D_vision]`, no bias.
    public let visual_projection: Linear
    /// `[projection, D_text]`, no bias.
    public let text_projection: Linear?
    /// The learned temperature's log; CLIP logits are `exp(logit_scale) · cos`.
    public let logit_scale: Float

    /// Loads a checkpoint directory.
    /// - Parameters:
    ///   - directory: holds `config.json` and the weights: `model.safetensors`, its index,
    ///     `pytorch_model.bin` or its index (in that order of preference; see `Checkpoint.open`).
    ///   - visionLayers: load only this many vision encoder layers (TRIM needs 23 of ViT-L's 24); `nil` = all.
    ///   - loadText: whether to load the text tower.
    ///   - weightPrecision: whether F16 / BF16 weight matrices stay 16-bit in memory (half the bytes);
    ///     the results are the same bit for bit either way.
    public init(directory: URL, visionLayers: Int? = nil, loadText: Bool = true,
                weightPrecision: WeightPrecision = .checkpoint) throws {
        let config = try CLIPConfig(contentsOf: directory.appendingPathComponent("config.json"))
        let source = try Checkpoint.open(directory)
        try self.init(config: config, weights: source, sourceName: directory.path,
                      visionLayers: visionLayers, loadText: loadText, weightPrecision: weightPrecision)
    }

    /// Builds the model from a configuration and any tensor source with Hugging Face names.
    public init(config: CLIPConfig, weights: any TensorSource, sourceName: String,
                visionLayers: Int? = nil, loadText: Bool = true, weightPrecision: WeightPrecision = .checkpoint) throws {
        try config.validate()
        self.config = config
        // Encoder layers beyond `num_hidden_layers` mean config.json describes a different (shallower) model:
        // refuse rather than silently run a truncated tower. Other unused tensors (e.g. `position_ids`
        // buffers) are ignored, as Hugging Face does.
        for (tower, count) in [("vision_model", config.vision.layers), ("text_model", config.text.layers)] {
            if let extra = Self.firstLayerBeyond(count, prefix: tower + ".encoder.layers.", in: weights.tensorNames) {
                throw CLIPError.unexpectedTensor(
                    name: extra, source: sourceName,
                    reason: "config.json has \(tower == "vision_model" ? "vision" : "text")_config.num_hidden_layers = \(count)")
            }
        }
        let w = WeightLoader(source: weights, sourceName: sourceName, precision: weightPrecision)
        vision_model = try CLIPVisionTransformer(w, config: config.vision, prefix: "vision_model", loadLayers: visionLayers)
        visual_projection = try w.linear("visual_projection", outputs: config.projectionDim,
                                         inputs: config.vision.hiddenSize, bias: false)
        if loadText {
            text_model = try CLIPTextTransformer(w, config: config.text, prefix: "text_model")
            text_projection = try w.linear("text_projection", outputs: config.projectionDim,
                                           inputs: config.text.hiddenSize, bias: false)
        } else {
            text_model = nil
            text_projection = nil
        }
        logit_scale = weights.contains("logit_scale") ? try w.tensor("logit_scale", shape: []).scalars[0] : log(1 / 0.07)
    }

    /// The first tensor named `prefix<N>.…` with `N ≥ count`, if any.
    static func firstLayerBeyond(_ count: Int, prefix: String, in names: [String]) -> String? {
        names.first { name in
            guard name.hasPrefix(prefix) else { return false }
            let index = name.dropFirst(prefix.count).prefix { $0 != "." }
            guard let i = Int(index) else { return false }
            return i >= count
        }
    }

    /// `image_embeds` `[projection]`: `visual_projection(pooled output)` (not normalised).
    public func imageEmbeds(_ pixelValues: Tensor) throws -> Tensor {
        visual_projection(try vision_model.pooledOutput(pixelValues))
    }

    /// `text_embeds` `[projection]`: `text_projection(pooled output)` (not normalised).
    public func textEmbeds(_ ids: [Int]) throws -> Tensor {
        guard let text_model, let text_projection else {
            throw CLIPError.invalidInput("the text tower was not loaded")
        }
        return text_projection(try text_model.pooledOutput(ids))
    }
}

import SafeTensors
import TRIMTensor

/// CLIP's image tower (`vision_model`, Hugging Face `CLIPVisionTransformer`), read top to bottom:
///
///     pixels [3, S, S] ─patch_embedding (conv p×p, stride p, no bias)→ [P, D]
///       prepend class_embedding → [P+1, D] + position_embedding → pre_layrnorm     = hidden_states[0]
///       encoder.layers[0 ..< k]                                                   = hidden_states[k]
///       (pooled output: post_layernorm(hidden_states[L][0]))
///
/// with P = (S/p)² patches (576 for ViT-L/14-336) and D the hidden width (1024).
public struct CLIPVisionTransformer: Sendable {
    /// Tower configuration.
    public let config: CLIPVisionConfig
    /// The patch convolution as a `[D, C·p·p]` linear map over flattened patches (see `patchify`).
    public let patch_embedding: Linear
    /// `[D]` learned class token.
    public let class_embedding: [Float]
    /// `[P+1, D]` learned absolute positions.
    public let position_embedding: Tensor
    /// LayerNorm on the embeddings (the checkpoint's spelling).
    public let pre_layrnorm: LayerNorm
    /// The encoder layers that were loaded (all, unless loading was capped).
    public let layers: [CLIPEncoderLayer]
    /// LayerNorm of the pooled class token (also used by TRIM on patch tokens).
    public let post_layernorm: LayerNorm

    /// Loads the tower stored under `prefix` in any checkpoint (`vision_model` in a CLIP checkpoint,
    /// `vision_tower` or `model.vision_tower.vision_tower.vision_model` in LLaVA-NeXT ones); `loadLayers` caps
    /// how many encoder layers are read. Layers beyond `config.layers` in the source are refused.
    public init(weights: any TensorSource, sourceName: String, config: CLIPVisionConfig, prefix: String,
                loadLayers: Int? = nil, weightPrecision: WeightPrecision = .checkpoint) throws {
        if let extra = CLIPModel.firstLayerBeyond(config.layers, prefix: prefix + ".encoder.layers.", in: weights.tensorNames) {
            throw CLIPError.unexpectedTensor(name: extra, source: sourceName,
                                             reason: "the vision config has num_hidden_layers = \(config.layers)")
        }
        try self.init(WeightLoader(source: weights, sourceName: sourceName, precision: weightPrecision), config: config,
                      prefix: prefix, loadLayers: loadLayers)
    }

    /// Loads `prefix.*` tensors; `loadLayers` caps how many encoder layers are read (TRIM needs only
    /// the layers up to the one it selects).
    init(_ w: WeightLoader, config c: CLIPVisionConfig, prefix: String, loadLayers: Int?) throws {
        config = c
        let d = c.hiddenSize, p = c.patchSize
        let conv = try w.tensor(prefix + ".embeddings.patch_embedding.weight", shape: [d, c.channels, p, p])
        patch_embedding = Linear(weight: conv.reshaped([d, c.channels * p * p]), bias: nil)
        class_embedding = try w.tensor(prefix + ".embeddings.class_embedding", shape: [d]).scalars
        position_embedding = try w.tensor(prefix + ".embeddings.position_embedding.weight", shape: [c.tokenCount, d])
        pre_layrnorm = try w.layerNorm(prefix + ".pre_layrnorm", width: d, eps: c.layerNormEps)
        let n = min(loadLayers ?? c.layers, c.layers)
        layers = try (0..<n).map { i in
            try CLIPEncoderLayer(w, prefix: "\(prefix).encoder.layers.\(i)", hidden: d, intermediate: c.intermediateSize,
                                 heads: c.attentionHeads, activation: c.activation, eps: c.layerNormEps)
        }
        post_layernorm = try w.layerNorm(prefix + ".post_layernorm", width: d, eps: c.layerNormEps)
    }

    /// `hidden_states[0]`: patch + class embeddings, positions added, `pre_layrnorm` applied.
    /// - Parameter pixelValues: `[C, S, S]` normalised pixels.
    /// - Returns: `[P+1, D]`, the class token in row 0.
    public func embeddings(_ pixelValues: Tensor) throws -> Tensor {
        let c = config
        guard pixelValues.shape == [c.channels, c.imageSize, c.imageSize] else {
            throw CLIPError.invalidInput(
                "pixel_values has shape \(pixelValues.shape), the vision tower expects \([c.channels, c.imageSize, c.imageSize])")
        }
        let patches = patch_embedding(patchify(pixelValues, patch: c.patchSize))  // [P, D]
        let tokens = Tensor.concatenateRows([Tensor(shape: [1, c.hiddenSize], scalars: class_embedding), patches])
        return pre_layrnorm(add(tokens, position_embedding))  // [P+1, D]
    }

    /// The hidden state after the first `layers` encoder layers (`hidden_states[layers]`), running only
    /// those layers. `layers` may be 0 … the number of loaded layers.
    /// `observeLastQKV`, when given (and k ≥ 1), is handed layer k's stacked `[P+1, 3·D]` q | k | v
    /// projection — the attention of the layer that produces the returned state, as Hugging Face's
    /// `attentions[k − 1]` is computed from it.
    /// - Returns: `[P+1, D]`.
    public func hiddenState(_ pixelValues: Tensor, afterLayers k: Int,
                            observeLastQKV: ((Tensor) -> Void)? = nil) throws -> Tensor {
        guard k >= 0 && k <= layers.count else {
            throw CLIPError.invalidInput("layer \(k) is outside 0…\(layers.count) (layers loaded: \(layers.count) of \(config.layers))")
        }
        var h = try embeddings(pixelValues)
        let scratch = ScratchBuffers()
        for (i, layer) in layers[0..<k].enumerated() {  // keeps one state, not all k + 1
            h = layer(h, causal: false, observeQKV: i == k - 1 ? observeLastQKV : nil, scratch: scratch)
        }
        return h
    }

    /// `hidden_states[k]` of several images in one pass: the matrix products of every layer see all the
    /// images' rows at once (`[V·(P+1), D]`), attention runs within each image. Each image's result equals
    /// `hiddenState(_:afterLayers:)` on it alone, bit for bit. `observeQKV`, when given, is handed each layer's
    /// index (0-based, `encoder.layers[i]`) and its stacked q | k | v of every image, `[V·(P+1), 3·D]`, images
    /// in order, as the pass goes through it.
    /// - Returns: one `[P+1, D]` state per image.
    public func hiddenStates(batch pixelValues: [Tensor], afterLayers k: Int,
                             observeQKV: ((_ layer: Int, _ qkv: Tensor) -> Void)? = nil) throws -> [Tensor] {
        guard k >= 0 && k <= layers.count else {
            throw CLIPError.invalidInput("layer \(k) is outside 0…\(layers.count) (layers loaded: \(layers.count) of \(config.layers))")
        }
        guard !pixelValues.isEmpty else { return [] }
        var h = Tensor.concatenateRows(try pixelValues.map { try embeddings($0) })  // [V·(P+1), D]
        let scratch = ScratchBuffers()  // the layers' two largest outputs, reused from layer to layer
        for (i, layer) in layers[0..<k].enumerated() {
            h = layer(h, causal: false, sequences: pixelValues.count, observeQKV: observeQKV.map { f in { f(i, $0) } },
                      scratch: scratch)
        }
        let t = config.tokenCount
        return (0..<pixelValues.count).map { h.rows(($0 * t)..<(($0 + 1) * t)) }
    }

    /// All hidden states `hidden_states[0 ... k]`, each `[P+1, D]`.
    public func hiddenStates(_ pixelValues: Tensor, upTo k: Int) throws -> [Tensor] {
        guard k >= 0 && k <= layers.count else {
            throw CLIPError.invalidInput("layer \(k) is outside 0…\(layers.count) (layers loaded: \(layers.count) of \(config.layers))")
        }
        var states = [try embeddings(pixelValues)]
        for layer in layers[0..<k] { states.append(layer(states.last!, causal: false)) }
        return states
    }

    /// The pooled output: `post_layernorm` of the class token after the last layer, `[D]`.
    /// Requires every layer to be loaded.
    public func pooledOutput(_ pixelValues: Tensor) throws -> Tensor {
        guard layers.count == config.layers else {
            throw CLIPError.invalidInput("pooled output needs all \(config.layers) layers; only \(layers.count) are loaded")
        }
        let last = try hiddenState(pixelValues, afterLayers: layers.count)
        return post_layernorm(last.row(0))
    }
}

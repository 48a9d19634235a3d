import CLIP
import Foundation
import TRIMTensor

// What a reducer asks of the towers beyond the selected hidden state (which every reducer gets). A need
// carries how it is computed, so the pipeline runs exactly the union of what the chosen methods declare, in
// one vision pass, without knowing any method: a new need is one `static let` here (or beside its reducer)
// and nothing else (Docs/REDUCERS.md, "Adding a method").

/// Something a reducer needs computed: its name, what it is, and how the pipeline computes it.
public struct Need: Hashable, Sendable, CustomStringConvertible {
    /// A short name (`image_tokens`, `class_attention`, …); needs are equal when their names are.
    public let name: String
    /// What it is, in the words of a missing-input error ("the prompt's text_embeds").
    public let summary: String
    /// How it is computed.
    let source: Source
    /// Whether the vision layer after the selected hidden state must be loaded (PruMerge's q/k).
    let loadsNextLayer: Bool

    /// When and from what a need is computed.
    enum Source: Sendable {
        /// From the prompt, once per prompt: the pipeline's text tower; `stage` names its timing.
        case prompt(stage: String, @Sendable (TRIMPipeline, String) throws -> (ids: [Int], value: Tensor))
        /// During the vision pass, from a layer's stacked `[S, 3·D]` q | k | v (so no attention matrix is ever
        /// stored); timed as "attention capture".
        case duringPass(layer: PassLayer, @Sendable (_ qkv: Tensor, _ heads: Int) -> Tensor)
        /// After the pass, from the selected hidden state; `nil` when it cannot exist (no projector).
        /// `stage` names its timing; `nil` charges its time to the stage of each reducer that uses it.
        case afterPass(stage: String?, @Sendable (VisionPass) throws -> Tensor?)
    }

    /// Which encoder layer's q | k | v a during-pass need reads.
    enum PassLayer: Sendable {
        /// The layer that produces the selected hidden state (LLaVA's "layer L−2").
        case selected
        /// The first encoder layer (`encoder.layers[0]`, on `layer_norm1(hidden_states[0])`).
        case first
    }

    init(_ name: String, _ summary: String, loadsNextLayer: Bool = false, _ source: Source) {
        self.name = name
        self.summary = summary
        self.source = source
        self.loadsNextLayer = loadsNextLayer
    }

    public static func == (a: Need, b: Need) -> Bool { a.name == b.name }
    public func hash(into h: inout Hasher) { h.combine(name) }
    public var description: String { name }

    /// The timing stage it is reported in: its own, "attention capture" for what is read during the pass,
    /// `nil` when it is charged to the stage of each reducer that uses it.
    public var stage: String? {
        switch source {
        case .prompt(let stage, _): stage
        case .duringPass: "attention capture"
        case .afterPass(let stage, _): stage
        }
    }

    /// The value of an after-pass need on `pass`.
    func compute(_ pass: VisionPass) throws -> Tensor? {
        guard case .afterPass(_, let f) = source else { return nil }
        return try f(pass)
    }

    /// Whether it is computed from the prompt rather than the image.
    var isPrompt: Bool { if case .prompt = source { true } else { false } }
}

/// The set of needs a reducer declares.
public typealias ReducerNeeds = Set<Need>

/// What an after-pass need is computed from: one view's selected hidden state and the loaded models.
struct VisionPass {
    /// The selected hidden state with the class token first, `[1+N, D]`.
    var hidden: Tensor
    /// `hidden` without the class token, `[N, D]`.
    var features: Tensor
    /// The hidden-state index (`hidden_states[k]`).
    var layer: Int
    /// The tower that made the state (its `post_layernorm`, its next layer).
    var tower: CLIPVisionTransformer
    /// CLIP (its `visual_projection`).
    var clip: CLIPModel
    /// LLaVA's projector, when loaded.
    var projector: Projector?
}

extension Need {
    /// The prompt's `text_embeds [P]` (ids truncated to the text context): TRIM's text.
    public static let promptEmbedding = Need("prompt_embedding", "the prompt's text_embeds", .prompt(stage: "text") {
        pipeline, prompt in
        let (ids, embeds) = try pipeline.embedPrompt(prompt)
        return (ids, embeds)
    })

    /// The untruncated prompt through the text tower in segments of the text context (77 tokens), `[M, P]`
    /// (CDPruner).
    public static let promptSegments = Need("prompt_segments", "the prompt's segment embeddings", .prompt(stage: "text segments") {
        pipeline, prompt in
        let (ids, embeds) = try pipeline.embedPromptSegments(prompt)
        return (ids, embeds)
    })

    /// The patches in CLIP's joint space, `image_tokens [N, P]` = `post_layernorm(features) · visual_projectionᵀ`.
    /// Its time is counted in the "scores" stage of each reducer that uses it, as TRIM's scoring.
    public static let imageTokens = Need("image_tokens", "image_tokens", .afterPass(stage: nil) { pass in
        pass.clip.visual_projection(pass.tower.post_layernorm(pass.features))
    })

    /// `q_proj` | `k_proj` outputs, full width with biases, of the encoder layer that is fed the selected
    /// hidden state (the last layer for LLaVA's `hidden_states[-2]`), `[N+1, 2·D]` (queries in the first D
    /// columns): PruMerge's signal. Only that layer's `layer_norm1` and projections run.
    public static let nextLayerQueriesKeys = Need(
        "next_layer_qk", "the next layer's q_proj / k_proj outputs", loadsNextLayer: true,
        .afterPass(stage: "next-layer q/k") { pass in
            let vision = pass.tower
            guard pass.layer < vision.layers.count else {
                throw TRIMError.missingInput(reducer: "prumerge", input: "vision layer \(pass.layer + 1) (load the pipeline with .nextLayerQueriesKeys)")
            }
            let layer = vision.layers[pass.layer]
            let qkv = layer.self_attn.qkv_proj(layer.layer_norm1(pass.hidden))  // [N+1, 3D]: q | k | v
            return qkv.columnSlice(0..<(2 * pass.hidden.columns))
        })

    /// The class token's attention probabilities per head in the layer that produces the selected hidden
    /// state (LLaVA's "layer L−2"), `A[h, 0, :]` as `[H, N+1]`: FasterVLM's, VisionZip's and VisPruner's signal.
    public static let classAttention = Need(
        "class_attention", "the class token's attention of the selected layer", .duringPass(layer: .selected, classAttentionRows))

    /// The head mean of the class token's pre-softmax attention logits `(q·hd^-0.5)·kᵀ` to the patches in the
    /// encoder layer fed the selected hidden state (the last layer at LLaVA's −2), `[1, N]` (GlobalCom²'s signal).
    public static let nextLayerClassLogits = Need(
        "next_layer_class_logits", "the next layer's [CLS] attention logits", loadsNextLayer: true,
        .afterPass(stage: "next-layer logits") { pass in
            guard let qk = try nextLayerQueriesKeys.compute(pass) else { return nil }
            return GlobalCom2.logits(qk, heads: pass.tower.config.attentionHeads)
        })

    /// The class token's attention probabilities per head in the first encoder layer (`encoder.layers[0]`,
    /// on `layer_norm1(hidden_states[0])`), `[H, N+1]` (HiRED's allocation signal), read from that layer's
    /// q | k | v as the pass goes through it.
    public static let firstLayerClassAttention = Need(
        "first_layer_class_attention", "the class token's attention of the first layer", .duringPass(layer: .first, classAttentionRows))

    /// That layer's keys averaged over heads, `[N+1, head_dim]` (VisionZip's merge metric).
    public static let headMeanKeys = Need(
        "head_mean_keys", "the head-averaged keys of the selected layer", .duringPass(layer: .selected, headAveragedKeys))

    /// LLaVA's projector on every patch row of the features, `[N, H]` (DivPrune, CDPruner); absent when the
    /// pipeline has no projector (those reducers then work on the features).
    public static let projectedRows = Need("projected_rows", "the projector's rows", .afterPass(stage: "projector (all rows)") {
        pass in pass.projector.map { $0(pass.features) }
    })
}

/// `A[h, 0, :] = softmax(q_h[0] · k_hᵀ · head_dim^-0.5)` for every head, `[H, S]`, from a layer's stacked
/// `[S, 3·D]` q | k | v projection: the class token's row of Hugging Face's eager attention probabilities.
func classAttentionRows(qkv: Tensor, heads: Int) -> Tensor {
    let s = qkv.rows, d = qkv.columns / 3, hd = d / heads
    let scale = 1 / Float(hd).squareRoot()
    var logits = Tensor(shape: [heads, s], repeating: 0)
    qkv.scalars.withUnsafeBufferPointer { x in
        logits.scalars.withUnsafeMutableBufferPointer { out in
            for h in 0..<heads {
                let q = h * hd  // row 0's query for head h
                for j in 0..<s {
                    let kOff = j * 3 * d + d + h * hd
                    var dot: Float = 0
                    for t in 0..<hd { dot += x[q + t] * x[kOff + t] }
                    out[h * s + j] = dot * scale
                }
            }
        }
    }
    softmaxRowsInPlace(&logits)
    return logits
}

/// A layer's keys averaged over heads, `[S, head_dim]` (VisionZip's `raw_key_states.mean(1)`).
func headAveragedKeys(qkv: Tensor, heads: Int) -> Tensor {
    let s = qkv.rows, d = qkv.columns / 3, hd = d / heads
    var out = [Float](repeating: 0, count: s * hd)
    for j in 0..<s {
        for h in 0..<heads {
            let off = j * 3 * d + d + h * hd
            for t in 0..<hd { out[j * hd + t] += qkv.scalars[off + t] }
        }
        for t in 0..<hd { out[j * hd + t] /= Float(heads) }
    }
    return Tensor(shape: [s, hd], scalars: out)
}

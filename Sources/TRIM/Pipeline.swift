import CLIP
import CLIPTokenizer
import Foundation
import SafeTensors
import TorchCheckpoint
import TRIMImage
import TRIMTensor

/// Everything one TRIM run produces, stage by stage, under the names of SPEC §3's dump.
public struct TRIMResult: Sendable {
    /// `pixel_values [3, H, W]`: the preprocessed image.
    public var pixelValues: Tensor
    /// `features [N, D]`: the selected hidden state without the class token (LLaVA's image features).
    public var features: Tensor
    /// `image_tokens [N, P]`: `post_layernorm(features) · visual_projectionᵀ`, the patches in CLIP space.
    public var imageTokens: Tensor
    /// `input_ids [L]`: the tokenized prompt (with start and end tokens, truncated to the context).
    public var inputIDs: [Int]
    /// `text_embeds [P]`: the prompt in CLIP space.
    public var textEmbeds: Tensor
    /// `s` and `scores [N]`.
    public var patchScores: PatchScores
    /// `kept_indices [K]` and the IQR statistics.
    public var selection: PatchSelection
    /// `reduced [K(+1), D]`: kept features in spatial order, then the mean token.
    public var reduced: Tensor
    /// `projected [K(+1), H]` when a projector was given.
    public var projected: Tensor?
    /// Wall-clock seconds per stage, in pipeline order.
    public var timings: [(stage: String, seconds: Double)]

    /// Number of patch tokens before reduction (N).
    public var total: Int { features.rows }
    /// Number of kept patches (K).
    public var kept: Int { selection.keptIndices.count }
    /// Tokens handed to the language model: K, or K + 1 with the mean token.
    public var tokens: Int { reduced.rows }
}

/// The end-to-end TRIM pipeline: image + prompt → the reduced, LLM-ready image tokens.
///
///     image ─pad+resize+crop+normalize→ pixel_values ─vision layers 1…k→ features [N, D]
///     prompt ─tokenize→ input_ids ─text tower (up to eot)→ text_embeds [P]
///     features ─post_layernorm, visual_projection→ image_tokens [N, P] ─score vs text_embeds→ scores [N]
///     scores ─IQR→ kept ─gather + mean token→ reduced [K+1, D] ─projector→ projected [K+1, H]
///
/// Only what TRIM needs is loaded and run: the vision layers up to the selected one (never the
/// unused last layer) and the text tower up to the end-of-text token.
public struct TRIMPipeline: Sendable {
    /// The checkpoint directory.
    public let modelDirectory: URL
    /// CLIP with the vision layers up to `selectLayer` and the text tower.
    public let clip: CLIPModel
    /// The prompt tokenizer (the directory's vocab.json + merges.txt, else the bundled vocabulary).
    public let tokenizer: CLIPTokenizer
    /// Preprocessing (the directory's preprocessor_config.json, else CLIP defaults at the model's size).
    public let preprocessor: PreprocessorConfig
    /// LLaVA's projector, when given.
    public let projector: Projector?
    /// Text embeddings of the prompts seen so far (bounded).
    let promptCache = PromptCache()
    /// CDPruner's segment embeddings of the prompts seen so far (bounded).
    let segmentCache = PromptCache()

    /// Loads a model directory (and optionally a projector) for runs with `selectLayer` (Python-style,
    /// default −2: LLaVA's `hidden_states[-2]`). `weightPrecision` says whether F16 / BF16 weight
    /// matrices stay 16-bit in memory (the default; half the bytes) or become Floats — the results are
    /// the same bit for bit.
    ///
    /// `needs` says what the reducers to be run need from the towers (default: TRIM's); only
    /// `.nextLayerQueriesKeys` changes what is loaded — the vision layer after the selected hidden state.
    public init(modelDirectory: URL, projector projectorURL: URL? = nil, selectLayer: Int = -2,
                weightPrecision: WeightPrecision = .checkpoint,
                needs: ReducerNeeds = [.promptEmbedding, .imageTokens]) throws {
        self.modelDirectory = modelDirectory
        let config = try CLIPConfig(contentsOf: modelDirectory.appendingPathComponent("config.json"))
        var k = try Self.hiddenStateIndex(selectLayer, layers: config.vision.layers)
        if needs.contains(.nextLayerQueriesKeys) {
            guard k < config.vision.layers else {
                throw TRIMError.invalidOption(
                    "select layer \(selectLayer) is the tower's last hidden state; PruMerge needs the q/k of the layer after it")
            }
            k += 1
        }
        // The tokenizer's files (≈ 60 ms to read and index) load on another thread while the weights are
        // packed; errors are still reported in the same order (model first).
        let tokenizerLoad = BackgroundResult { try CLIPTokenizer.forModelDirectory(modelDirectory) }
        let model = Result {
            try CLIPModel(config: config, weights: try Checkpoint.open(modelDirectory),
                          sourceName: modelDirectory.path, visionLayers: k, weightPrecision: weightPrecision)
        }
        let tokenizerResult = tokenizerLoad.wait()
        clip = try model.get()
        tokenizer = try tokenizerResult.get()
        preprocessor = try PreprocessorConfig.forModel(directory: modelDirectory, imageSize: config.vision.imageSize)
        if let projectorURL {
            let p = try Projector(contentsOf: projectorURL, weightPrecision: weightPrecision)
            guard p.inputWidth == config.vision.hiddenSize else {
                throw TRIMError.projectorMismatch(projectorInput: p.inputWidth, visionWidth: config.vision.hiddenSize)
            }
            projector = p
        } else {
            projector = nil
        }
    }

    /// Converts a Python-style layer selector to a `hidden_states` index: −1 → L, −2 → L − 1, k ≥ 0 → k.
    public static func hiddenStateIndex(_ selectLayer: Int, layers: Int) throws -> Int {
        let k = selectLayer < 0 ? layers + 1 + selectLayer : selectLayer
        guard k >= 0 && k <= layers else {
            throw TRIMError.invalidOption("select layer \(selectLayer) is outside −\(layers + 1)…\(layers) for a \(layers)-layer tower")
        }
        return k
    }

    /// Runs TRIM on a decoded image: `encode` then `reduce`.
    /// - Parameters:
    ///   - padToSquare: LLaVA's "pad" aspect mode (default), else plain CLIP preprocessing.
    public func run(image: RGBImage, prompt: String, options: ReductionOptions = ReductionOptions(),
                    padToSquare: Bool = true) throws -> TRIMResult {
        try validate(options)
        let encoded = try encode(image: image, selectLayer: options.selectLayer, padToSquare: padToSquare)
        return try reduce(encoded, prompt: prompt, options: options)
    }

    private func validate(_ options: ReductionOptions) throws {
        let vision = clip.vision_model
        let k = try Self.hiddenStateIndex(options.selectLayer, layers: vision.config.layers)
        guard k <= vision.layers.count else {
            throw TRIMError.invalidOption("select layer \(options.selectLayer) needs \(k) vision layers; this pipeline loaded \(vision.layers.count)")
        }
        if case .keepRatio(let r) = options.selection, !(r >= 0 && r <= 1) {
            throw TRIMError.invalidOption("keep ratio \(r) is outside 0…1")
        }
    }

    /// The prompt-independent half of a run: preprocess, the vision tower up to `selectLayer`, and the
    /// patch tokens in CLIP space. Reduce it against any number of prompts with `reduce(_:prompt:options:)`;
    /// the results are those of `run` bit for bit.
    ///
    /// `needs` adds what reducers other than TRIM ask for: `.nextLayerQueriesKeys` runs the next layer's
    /// `layer_norm1` and its stacked q/k/v product (v is discarded) on the selected hidden state.
    public func encode(image: RGBImage, selectLayer: Int = -2, padToSquare: Bool = true,
                       needs: ReducerNeeds = [.promptEmbedding, .imageTokens]) throws -> EncodedImage {
        let start = DispatchTime.now().uptimeNanoseconds
        let pixelValues = try preprocess(image, padToSquare: padToSquare)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return try encode(pixelValues: pixelValues, preprocessSeconds: seconds, selectLayer: selectLayer,
                          padToSquare: padToSquare, needs: needs)
    }

    /// LLaVA's pad (unless `padToSquare` is false) and CLIP's preprocessing: `pixel_values [3, S, S]`.
    /// Separate from `encode(pixelValues:…)` so a batch can prepare the next image while one is encoded.
    public func preprocess(_ image: RGBImage, padToSquare: Bool = true) throws -> Tensor {
        try TRIMImage.pixelValues(for: image, config: preprocessor, padToSquare: padToSquare)
    }

    /// `encode(image:…)` from pixels already preprocessed (`preprocess`); `preprocessSeconds` is reported
    /// as the "preprocess" stage.
    public func encode(pixelValues: Tensor, preprocessSeconds: Double = 0, selectLayer: Int = -2, padToSquare: Bool = true,
                       needs: ReducerNeeds = [.promptEmbedding, .imageTokens]) throws -> EncodedImage {
        var timings = StageTimer(stages: [("preprocess", preprocessSeconds)])
        let vision = clip.vision_model
        let k = try Self.hiddenStateIndex(selectLayer, layers: vision.config.layers)
        guard k <= vision.layers.count else {
            throw TRIMError.invalidOption("select layer \(selectLayer) needs \(k) vision layers; this pipeline loaded \(vision.layers.count)")
        }
        // What reducers read from the attention of the layer producing the state (FasterVLM, VisionZip,
        // VisPruner): taken from its q/k projection as the pass goes by, only the class token's row kept.
        var classAttention: Tensor?, headMeanKeys: Tensor?
        var captureSeconds = 0.0
        let capture: ((Tensor) -> Void)?
        if needs.contains(.classAttention) || needs.contains(.headMeanKeys) {
            guard k >= 1 else {
                throw TRIMError.invalidOption("select layer \(selectLayer) is the embeddings; no layer's attention produced it")
            }
            let heads = vision.config.attentionHeads
            capture = { qkv in
                let start = DispatchTime.now().uptimeNanoseconds
                if needs.contains(.classAttention) { classAttention = Self.classTokenAttention(qkv: qkv, heads: heads) }
                if needs.contains(.headMeanKeys) { headMeanKeys = Self.headMeanKeys(qkv: qkv, heads: heads) }
                captureSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
        } else {
            capture = nil
        }
        // [N+1, D] → drop the class token → [N, D]
        let hidden = try timings.time("vision") {
            try vision.hiddenState(pixelValues, afterLayers: k, observeLastQKV: capture)
        }
        if capture != nil {
            timings.stages[timings.stages.count - 1].seconds -= captureSeconds
            timings.stages.append(("attention capture", captureSeconds))
        }
        let features = hidden.rows(1..<hidden.rows)
        // The patch tokens in CLIP space: timed apart, and counted in the "scores" stage of each reduction.
        var tokenTimer = StageTimer()
        let imageTokens = needs.contains(.imageTokens)
            ? tokenTimer.time("image tokens") { clip.visual_projection(vision.post_layernorm(features)) }  // [N, P]
            : nil
        var queries: Tensor?, keys: Tensor?
        if needs.contains(.nextLayerQueriesKeys) {
            guard k < vision.layers.count else {
                throw TRIMError.missingInput(reducer: "prumerge", input: "vision layer \(k + 1) (load the pipeline with .nextLayerQueriesKeys)")
            }
            (queries, keys) = timings.time("next-layer q/k") {
                let layer = vision.layers[k]
                let qkv = layer.self_attn.qkv_proj(layer.layer_norm1(hidden))  // [N+1, 3D]: q | k | v
                let d = hidden.columns
                return (qkv.columnSlice(0..<d), qkv.columnSlice(d..<(2 * d)))
            }
        }
        // DivPrune and CDPruner choose among the projector's rows, so every patch is projected first (as
        // their released code does); without a projector they work on the features.
        let projectedRows = needs.contains(.projectedRows)
            ? projector.map { p in timings.time("projector (all rows)") { p(features) } }
            : nil
        return EncodedImage(pixelValues: pixelValues, classToken: Array(hidden.scalars[0..<hidden.columns]),
                            features: features, imageTokens: imageTokens, queries: queries, keys: keys,
                            classAttention: classAttention, headMeanKeys: headMeanKeys, projectedRows: projectedRows,
                            selectLayer: selectLayer, padToSquare: padToSquare, timings: timings.stages,
                            imageTokenSeconds: tokenTimer.stages.first?.seconds ?? 0)
    }

    /// `A[h, 0, :] = softmax(q_h[0] · k_hᵀ · head_dim^-0.5)` for every head, `[H, S]`, from a layer's
    /// stacked `[S, 3·D]` q | k | v projection: the class token's row of Hugging Face's eager attention
    /// probabilities.
    static func classTokenAttention(qkv: Tensor, heads: Int) -> Tensor {
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
    static func headMeanKeys(qkv: Tensor, heads: Int) -> Tensor {
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

    /// Forgets the text embeddings cached so far (benchmarks time the text tower with it, not a cache hit).
    public func clearPromptCaches() {
        promptCache.removeAll()
        segmentCache.removeAll()
    }

    /// The most text segments `embedPromptSegments` runs (64 × 77 = 4,928 tokens, far beyond any benchmark
    /// question), so a huge prompt is refused instead of running the text tower thousands of times.
    public static let maxPromptSegments = 64

    /// CDPruner's text: the prompt's ids with start and end tokens and no truncation, right-padded with 0
    /// to a multiple of the text context (77) and cut into M segments, each through the text tower and
    /// pooled as Hugging Face pools CLIP text (its attention mask hides the padding; attention is causal, so
    /// only the tokens up to the pooled row run) → `[M, P]`. `<image>` becomes a space, as in `embedPrompt`.
    public func embedPromptSegments(_ prompt: String) throws -> (ids: [Int], embeds: Tensor) {
        if let hit = segmentCache[prompt] { return hit }
        let text = prompt.replacingOccurrences(of: "<image>", with: " ")
        let ids = tokenizer.encode(text, truncateTo: nil)
        let context = clip.config.text.maxPositions
        let segments = (ids.count - 1) / context + 1
        guard segments <= Self.maxPromptSegments else {
            throw TRIMError.invalidOption(
                "the prompt has \(ids.count) tokens; CDPruner's text takes at most \(Self.maxPromptSegments) segments of \(context)")
        }
        let padded = ids + [Int](repeating: 0, count: segments * context - ids.count)
        let rows = try (0..<segments).map { m in try clip.textEmbeds(Array(padded[(m * context)..<((m + 1) * context)])) }
        let value = (ids, Tensor.concatenateRows(rows.map { $0.reshaped([1, $0.scalars.count]) }))
        segmentCache[prompt] = value
        return value
    }

    /// The prompt's token ids (with start and end tokens, truncated to the text context) and `text_embeds [P]`.
    ///
    /// LLaVA's image placeholder `<image>` is replaced by a space first, as the released TRIM evaluation
    /// scripts do (`cur_prompt.replace('<image>', ' ')`), so LLaVA question files can be fed as they are.
    /// Results are cached per distinct prompt (at most `PromptCache.capacity`), bit-identical to a fresh run.
    public func embedPrompt(_ prompt: String) throws -> (ids: [Int], embeds: Tensor) {
        if let hit = promptCache[prompt] { return hit }
        let text = prompt.replacingOccurrences(of: "<image>", with: " ")
        let ids = tokenizer.encode(text, truncateTo: min(CLIPTokenizer.contextLength, clip.config.text.maxPositions))
        let value = (ids, try clip.textEmbeds(ids))
        promptCache[prompt] = value
        return value
    }

    /// The prompt-dependent half of a run: text tower, scores, selection, mean token, projector.
    /// `options.selectLayer` must be the one `encoded` was made with.
    public func reduce(_ encoded: EncodedImage, prompt: String, options: ReductionOptions = ReductionOptions())
        throws -> TRIMResult
    {
        try validate(options)
        guard options.selectLayer == encoded.selectLayer else {
            throw TRIMError.invalidOption("the image was encoded at select layer \(encoded.selectLayer), the options ask for \(options.selectLayer)")
        }
        guard let imageTokens = encoded.imageTokens else {
            throw TRIMError.missingInput(reducer: "trim", input: "image_tokens (encode with .imageTokens)")
        }
        var timings = StageTimer(stages: encoded.timings)
        let (ids, textEmbeds) = try timings.time("text") { try embedPrompt(prompt) }
        let (scores, selection, reduced) = timings.time("scores") {
            TRIMReducer(options: options).run(imageTokens: imageTokens, textEmbeds: textEmbeds, features: encoded.features)
        }
        timings.stages[timings.stages.count - 1].seconds += encoded.imageTokenSeconds
        let projected = projector.map { p in timings.time("projector") { p(reduced) } }
        return TRIMResult(
            pixelValues: encoded.pixelValues, features: encoded.features, imageTokens: imageTokens,
            inputIDs: ids, textEmbeds: textEmbeds, patchScores: scores, selection: selection, reduced: reduced,
            projected: projected, timings: timings.stages)
    }
}

extension TRIMPipeline {
    /// Runs any reducer of the family on an encoded image: the text tower when it needs the prompt, the
    /// reducer, then the projector on its rows. `prompt` may be `nil` for reducers that ignore it.
    public func reduce(_ encoded: EncodedImage, prompt: String?, reducer: any TokenReducer) throws -> ReductionResult {
        var timings = StageTimer(stages: encoded.timings)
        var ids: [Int]?, textEmbeds: Tensor?, segments: Tensor?
        if !reducer.needs.isDisjoint(with: [.promptEmbedding, .promptSegments]) {
            guard let prompt else { throw TRIMError.missingInput(reducer: reducer.name, input: "a prompt") }
            if reducer.needs.contains(.promptEmbedding) {
                (ids, textEmbeds) = try timings.time("text") { try embedPrompt(prompt) }
            }
            if reducer.needs.contains(.promptSegments) {
                let s = try timings.time("text segments") { try embedPromptSegments(prompt) }
                segments = s.embeds
                if ids == nil { (ids, textEmbeds) = (s.ids, s.embeds) }
            }
        }
        let input = ReducerInput(
            features: encoded.features, classToken: encoded.classToken, gridSize: clip.config.vision.gridSize,
            imageTokens: encoded.imageTokens, textEmbeds: textEmbeds, queries: encoded.queries, keys: encoded.keys,
            classAttention: encoded.classAttention, headMeanKeys: encoded.headMeanKeys,
            projectedRows: encoded.projectedRows, promptSegments: segments)
        let reduction = try timings.time(reducer.needs.contains(.imageTokens) ? "scores" : "reduce") {
            try reducer.reduce(input)
        }
        if reducer.needs.contains(.imageTokens) { timings.stages[timings.stages.count - 1].seconds += encoded.imageTokenSeconds }
        let projected = reduction.projected ?? projector.map { p in timings.time("projector") { p(reduction.reduced) } }
        return ReductionResult(method: reducer.name, settings: reducer.settings, encoded: encoded, inputIDs: ids,
                               textEmbeds: textEmbeds, reduction: reduction, projected: projected, timings: timings.stages)
    }
}

/// One reducer's run on one image (and prompt): the shared encoding, the reduction, the projected rows.
public struct ReductionResult: Sendable {
    /// The reducer's `--method` name and settings line.
    public var method: String, settings: String
    /// The prompt-independent part (pixels, features, image tokens, …).
    public var encoded: EncodedImage
    /// The prompt's ids and `text_embeds`, when the reducer used the prompt.
    public var inputIDs: [Int]?, textEmbeds: Tensor?
    /// The reducer's rows and choice.
    public var reduction: Reduction
    /// `projected [R, H]` when a projector was given.
    public var projected: Tensor?
    /// Seconds per stage, in pipeline order.
    public var timings: [(stage: String, seconds: Double)]

    /// N, the patches before reduction.
    public var total: Int { encoded.features.rows }
    /// Number of single-patch rows (kept patches).
    public var kept: Int { reduction.keptIndices.count }
    /// Rows handed to the language model.
    public var tokens: Int { reduction.reduced.rows }
    /// The stages this reduction added (text, scores, projector), without the image's shared ones
    /// (preprocess, vision, next-layer q/k), which `timings` starts with.
    public var promptTimings: [(stage: String, seconds: Double)] { Array(timings.dropFirst(encoded.timings.count)) }
}

/// The prompt-independent part of a run (`TRIMPipeline.encode`): what every prompt about one image shares.
public struct EncodedImage: Sendable {
    /// `pixel_values [3, H, W]`.
    public var pixelValues: Tensor
    /// `[D]`: the class token's row of the selected hidden state.
    public var classToken: [Float]
    /// `features [N, D]`: the selected hidden state without the class token.
    public var features: Tensor
    /// `image_tokens [N, P]`: `post_layernorm(features) · visual_projectionᵀ` (when encoded with `.imageTokens`).
    public var imageTokens: Tensor?
    /// The next layer's `q_proj` / `k_proj` outputs `[N+1, D]` (when encoded with `.nextLayerQueriesKeys`).
    public var queries: Tensor?, keys: Tensor?
    /// `A[h, 0, :]` of the layer producing the features, `[H, N+1]` (when encoded with `.classAttention`).
    public var classAttention: Tensor?
    /// That layer's head-averaged keys `[N+1, head_dim]` (when encoded with `.headMeanKeys`).
    public var headMeanKeys: Tensor?
    /// The projector's output for every patch `[N, H]` (when encoded with `.projectedRows` and a projector).
    public var projectedRows: Tensor?
    /// The hidden state it was taken from, Python-style (−2 = LLaVA's).
    public var selectLayer: Int
    /// Whether LLaVA's pad-to-square was applied.
    public var padToSquare: Bool
    /// Seconds per stage (preprocess, vision).
    public var timings: [(stage: String, seconds: Double)]
    /// Seconds spent on `imageTokens` (reported within each reduction's "scores" stage, as TRIM's scoring).
    public var imageTokenSeconds: Double
}

/// Wall-clock seconds per named stage, in order.
struct StageTimer {
    var stages: [(stage: String, seconds: Double)] = []

    mutating func time<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try body()
        stages.append((stage, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        return value
    }
}

extension PreprocessorConfig {
    /// The preprocessing of a model directory: its `preprocessor_config.json` when present, else CLIP's
    /// defaults at the vision tower's image size (`imageSize`, or read from `config.json` when `nil`).
    public static func forModel(directory: URL, imageSize: Int? = nil) throws -> PreprocessorConfig {
        let url = directory.appendingPathComponent("preprocessor_config.json")
        if FileManager.default.fileExists(atPath: url.path) { return try PreprocessorConfig(contentsOf: url) }
        let size = try imageSize ?? CLIPConfig(contentsOf: directory.appendingPathComponent("config.json")).vision.imageSize
        return PreprocessorConfig(size: size)
    }
}

/// A throwing computation started on a global queue at init; `wait()` blocks until it is done.
private final class BackgroundResult<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, Error>?  // written once by the worker, read after `done` is signalled

    init(_ body: @escaping @Sendable () throws -> T) {
        DispatchQueue.global().async {
            self.result = Result { try body() }
            self.done.signal()
        }
    }

    func wait() -> Result<T, Error> {
        done.wait()
        return result!
    }
}

/// A bounded, thread-safe map prompt → (ids, text_embeds); the oldest entry goes first when full.
final class PromptCache: @unchecked Sendable {
    /// Distinct prompts kept (a text embedding of ViT-L's CLIP is 3 KB).
    static let capacity = 4096
    private let lock = NSLock()
    private var entries: [String: (ids: [Int], embeds: Tensor)] = [:]
    private var order: [String] = []
    private var head = 0

    /// Empties the cache.
    func removeAll() {
        lock.withLock {
            entries.removeAll()
            order.removeAll()
            head = 0
        }
    }

    subscript(prompt: String) -> (ids: [Int], embeds: Tensor)? {
        get { lock.withLock { entries[prompt] } }
        set {
            guard let newValue else { return }
            lock.withLock {
                if entries.updateValue(newValue, forKey: prompt) != nil { return }
                order.append(prompt)
                if order.count - head > Self.capacity {
                    entries[order[head]] = nil
                    head += 1
                    if head > Self.capacity { order.removeFirst(head); head = 0 }
                }
            }
        }
    }
}

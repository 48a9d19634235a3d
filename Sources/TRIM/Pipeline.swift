import CLIP
import CLIPTokenizer
import Foundation
import SafeTensors
import TorchCheckpoint
import TRIMImage
import TRIMJSON
import TRIMTensor

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
    /// `needs` says what the reducers to be run need from the towers (default: TRIM's); only a need that
    /// loads the next layer (`.nextLayerQueriesKeys`) changes what is loaded.
    public init(modelDirectory: URL, projector projectorURL: URL? = nil, selectLayer: Int = -2,
                weightPrecision: WeightPrecision = .checkpoint,
                needs: ReducerNeeds = [.promptEmbedding, .imageTokens]) throws {
        self.modelDirectory = modelDirectory
        let config = try CLIPConfig(contentsOf: modelDirectory.appendingPathComponent("config.json"))
        var k = try Self.hiddenStateIndex(selectLayer, layers: config.vision.layers)
        if needs.contains(where: \.loadsNextLayer) {
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

    /// TRIM on a decoded image, in one call: `encode` then `reduce` with `TRIMReducer(options:)`.
    public func run(image: RGBImage, prompt: String, options: ReductionOptions = ReductionOptions(),
                    layout: ImageLayout = .llava15) throws -> ReductionResult {
        try validate(options)
        let reducer = TRIMReducer(options: options)
        let encoded = try encode(image: image, layout: layout, selectLayer: options.selectLayer, needs: reducer.needs)
        return try reduce(encoded, prompt: prompt, reducer: reducer)
    }

    private func validate(_ options: ReductionOptions) throws {
        try loadedHiddenStateIndex(options.selectLayer)
        if case .keepRatio(let r) = options.selection, !(r >= 0 && r <= 1) {
            throw TRIMError.invalidOption("keep ratio \(r) is outside 0…1")
        }
    }

    /// The `hidden_states` index of `selectLayer`, which the loaded vision layers must reach.
    @discardableResult
    private func loadedHiddenStateIndex(_ selectLayer: Int) throws -> Int {
        let vision = clip.vision_model
        let k = try Self.hiddenStateIndex(selectLayer, layers: vision.config.layers)
        guard k <= vision.layers.count else {
            throw TRIMError.invalidOption("select layer \(selectLayer) needs \(k) vision layers; this pipeline loaded \(vision.layers.count)")
        }
        return k
    }

    /// The views of `layout` through CLIP's preprocessing: one `pixel_values [3, S, S]` per view.
    /// Separate from `encode(pixelValues:…)` so a batch can prepare the next image while one is encoded.
    public func preprocess(_ image: RGBImage, layout: ImageLayout = .llava15) throws -> [Tensor] {
        switch layout {
        case .singleView(let pad): [try TRIMImage.pixelValues(for: image, config: preprocessor, padToSquare: pad)]
        }
    }

    /// The prompt-independent half of a run: the layout's views, the vision tower up to `selectLayer` on
    /// each, and what `needs` asks of them. Reduce it against any number of prompts with
    /// `reduce(_:prompt:reducer:)`; the results are those of a fresh run bit for bit.
    public func encode(image: RGBImage, layout: ImageLayout = .llava15, selectLayer: Int = -2,
                       needs: ReducerNeeds = [.promptEmbedding, .imageTokens]) throws -> EncodedImage {
        let start = DispatchTime.now().uptimeNanoseconds
        let pixelValues = try preprocess(image, layout: layout)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return try encode(pixelValues: pixelValues, layout: layout, preprocessSeconds: seconds, selectLayer: selectLayer,
                          needs: needs)
    }

    /// `encode(image:…)` from views already preprocessed (`preprocess`); `preprocessSeconds` is reported as
    /// the "preprocess" stage. Stages: preprocess, vision, attention capture (when a need is read during
    /// the pass), then each after-pass need with a stage of its own, in name order.
    public func encode(pixelValues: [Tensor], layout: ImageLayout = .llava15, preprocessSeconds: Double = 0,
                       selectLayer: Int = -2, needs: ReducerNeeds = [.promptEmbedding, .imageTokens]) throws -> EncodedImage {
        let k = try loadedHiddenStateIndex(selectLayer)
        let imageNeeds = needs.filter { !$0.isPrompt }.sorted { $0.name < $1.name }
        let observed = imageNeeds.compactMap { n -> (Need, @Sendable (Tensor, Int) -> Tensor)? in
            if case .duringPass(let f) = n.source { return (n, f) }
            return nil
        }
        if !observed.isEmpty && k < 1 {
            throw TRIMError.invalidOption("select layer \(selectLayer) is the embeddings; no layer's attention produced it")
        }
        var stages: [(stage: String, seconds: Double)] = [("preprocess", preprocessSeconds)]
        var views: [EncodedView] = []
        var passSeconds = 0.0, captureSeconds = 0.0
        var after: [String: Double] = [:], charged: [Need: Double] = [:]
        for pixels in pixelValues {
            var values: [Need: Tensor] = [:]
            let passStart = DispatchTime.now().uptimeNanoseconds
            let hidden = try clip.vision_model.hiddenState(pixels, afterLayers: k, observeLastQKV: observed.isEmpty ? nil : { qkv in
                let start = DispatchTime.now().uptimeNanoseconds
                for (need, compute) in observed { values[need] = compute(qkv, clip.vision_model.config.attentionHeads) }
                captureSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            })  // [N+1, D]
            passSeconds += Double(DispatchTime.now().uptimeNanoseconds - passStart) / 1e9
            let pass = VisionPass(hidden: hidden, features: hidden.rows(1..<hidden.rows), layer: k, clip: clip, projector: projector)
            for need in imageNeeds {
                guard case .afterPass(let stage, let compute) = need.source else { continue }
                let start = DispatchTime.now().uptimeNanoseconds
                guard let value = try compute(pass) else { continue }  // cannot exist here (no projector): no stage
                values[need] = value
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if let stage { after[stage, default: 0] += seconds } else { charged[need, default: 0] += seconds }
            }
            views.append(EncodedView(pixelValues: pixels, classToken: Array(hidden.scalars[0..<hidden.columns]),
                                     features: pass.features, values: values))
        }
        // The capture runs inside the pass: it is reported apart from the vision layers' own time.
        stages.append(("vision", passSeconds - captureSeconds))
        if !observed.isEmpty { stages.append(("attention capture", captureSeconds)) }
        for need in imageNeeds {
            if case .afterPass(let stage?, _) = need.source, let s = after.removeValue(forKey: stage) { stages.append((stage, s)) }
        }
        return EncodedImage(layout: layout, views: views, selectLayer: selectLayer, needs: needs, timings: stages,
                            chargedSeconds: charged)
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

    /// The prompt-dependent half of a run, for any reducer of the family: the prompt's needs through the
    /// text tower (timed by their stages), the reducer on the input `encoded` builds (stage "scores" when it
    /// uses a need charged to it, such as `image_tokens`, whose time it includes; else "reduce"), then the
    /// projector on its rows. `prompt` may be `nil` for reducers that ignore it.
    public func reduce(_ encoded: EncodedImage, prompt: String?, reducer: any TokenReducer) throws -> ReductionResult {
        guard encoded.views.count == 1 else {
            throw TRIMError.invalidOption("\(reducer.name) reduces one view; this image has \(encoded.views.count)")
        }
        var timings = StageTimer(stages: encoded.timings)
        var promptValues: [Need: Tensor] = [:]
        var ids: [Int]?, textEmbeds: Tensor?
        for need in reducer.needs.filter(\.isPrompt).sorted(by: { $0.name < $1.name }) {
            guard case .prompt(let stage, let compute) = need.source else { continue }
            guard let prompt else { throw TRIMError.missingInput(reducer: reducer.name, input: "a prompt") }
            let (needIDs, value) = try timings.time(stage) { try compute(self, prompt) }
            promptValues[need] = value
            if ids == nil { (ids, textEmbeds) = (needIDs, value) }  // the first prompt need is the dump's text
        }
        let charged = reducer.needs.compactMap { encoded.chargedSeconds[$0] }
        let reduction = try timings.time(charged.isEmpty ? "reduce" : "scores", plus: charged.reduce(0, +)) {
            try reducer.reduce(encoded.input(view: 0, prompt: promptValues))
        }
        let projected = reduction.projected ?? projector.map { p in timings.time("projector") { p(reduction.reduced) } }
        return ReductionResult(method: reducer.name, settings: reducer.settings, settingsFields: reducer.settingsFields, encoded: encoded, inputIDs: ids,
                               textEmbeds: textEmbeds, reduction: reduction, projected: projected, timings: timings.stages)
    }
}

/// One reducer's run on one image (and prompt): the shared encoding, the reduction, the projected rows.
public struct ReductionResult: Sendable {
    /// The reducer's `--method` name and settings line.
    public var method: String, settings: String
    /// The reducer's settings as JSON fields (`TokenReducer.settingsFields`).
    public var settingsFields: [(String, JSONValue)]
    /// The prompt-independent part (layout, views: pixels, features, what the pass computed).
    public var encoded: EncodedImage
    /// The prompt's ids and embedding (`text_embeds [P]`, or CDPruner's segments `[M, P]`), when the reducer
    /// used the prompt.
    public var inputIDs: [Int]?, textEmbeds: Tensor?
    /// The reducer's rows, their sources and its choice.
    public var reduction: Reduction
    /// `projected [R, H]` when a projector was given.
    public var projected: Tensor?
    /// Seconds per stage, in pipeline order.
    public var timings: [(stage: String, seconds: Double)]

    /// N, the patches before reduction.
    public var total: Int { encoded.patchCount }
    /// Number of single-patch rows (kept patches).
    public var kept: Int { reduction.keptIndices.count }
    /// Rows handed to the language model.
    public var tokens: Int { reduction.reduced.rows }
    /// The stages this reduction added (text, scores, projector), without the image's shared ones
    /// (preprocess, vision, …), which `timings` starts with.
    public var promptTimings: [(stage: String, seconds: Double)] { Array(timings.dropFirst(encoded.timings.count)) }
}

extension StageTimer {
    /// `time(stage, body)`, the stage also charged `extra` seconds spent earlier on its behalf.
    mutating func time<T>(_ stage: String, plus extra: Double, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try body()
        stages.append((stage, extra + Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        return value
    }
}

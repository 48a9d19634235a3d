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
    /// LLaVA's projector, when given (a LLaVA-NeXT checkpoint's own, when `next` is loaded).
    public let projector: Projector?
    /// The image side of a LLaVA-NeXT checkpoint given as the projector: its own vision tower (which makes
    /// the features), pinpoints and `image_newline`.
    public let next: LlavaNext?
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
    ///
    /// A LLaVA-NeXT checkpoint as `projector` (`LlavaNext.isNext`) loads its image side: its own vision
    /// tower makes the features (the `--model` CLIP then loads no vision layers: it gives the text tower and
    /// `visual_projection`), and `defaultLayout` is any-resolution with its pinpoints.
    public init(modelDirectory: URL, projector projectorURL: URL? = nil, selectLayer: Int = -2,
                weightPrecision: WeightPrecision = .checkpoint,
                needs: ReducerNeeds = [.promptEmbedding, .imageTokens]) throws {
        self.modelDirectory = modelDirectory
        let config = try CLIPConfig(contentsOf: modelDirectory.appendingPathComponent("config.json"))
        let layers = { (towerLayers: Int) throws -> Int in
            let k = try Self.hiddenStateIndex(selectLayer, layers: towerLayers)
            guard needs.contains(where: \.loadsNextLayer) else { return k }
            guard k < towerLayers else {
                throw TRIMError.invalidOption(
                    "select layer \(selectLayer) is the tower's last hidden state; PruMerge needs the q/k of the layer after it")
            }
            return k + 1
        }
        let isNext = projectorURL.map(LlavaNext.isNext) ?? false
        let k = isNext ? 0 : try layers(config.vision.layers)
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
        if let projectorURL, isNext {
            let n = try LlavaNext(contentsOf: projectorURL, clipVision: config.vision, loadLayers: layers,
                                  weightPrecision: weightPrecision)
            guard n.featureLayer == selectLayer else {
                throw TRIMError.invalidOption("\(projectorURL.path) takes its features from hidden state \(n.featureLayer) "
                                              + "(vision_feature_layer / mm_vision_select_layer); pass --select-layer \(n.featureLayer)")
            }
            (next, projector) = (n, n.projector)
            try Self.checkNextFits(n.tower.config, clip: config, preprocessor: preprocessor, path: projectorURL.path)
        } else if let projectorURL {
            let p = try Projector(contentsOf: projectorURL, weightPrecision: weightPrecision)
            guard p.inputWidth == config.vision.hiddenSize else {
                throw TRIMError.projectorMismatch(projectorInput: p.inputWidth, visionWidth: config.vision.hiddenSize)
            }
            (projector, next) = (p, nil)
        } else {
            (projector, next) = (nil, nil)
        }
    }

    /// A NeXT tower's features go through `--model`'s `visual_projection` and preprocessing: their widths
    /// and view sizes must agree.
    private static func checkNextFits(_ vision: CLIPVisionConfig, clip: CLIPConfig, preprocessor: PreprocessorConfig,
                                      path: String) throws {
        guard vision.hiddenSize == clip.vision.hiddenSize else {
            throw TRIMError.invalidModel(path: path, reason: "its vision tower is \(vision.hiddenSize) wide; --model's visual_projection takes \(clip.vision.hiddenSize)")
        }
        guard vision.imageSize == preprocessor.cropHeight, preprocessor.cropWidth == preprocessor.cropHeight else {
            throw TRIMError.invalidModel(path: path, reason: "its vision tower sees \(vision.imageSize) px views; --model's preprocessing crops \(preprocessor.cropHeight)×\(preprocessor.cropWidth)")
        }
    }

    /// The vision tower that makes the features: a LLaVA-NeXT checkpoint's own when loaded, else `--model`'s.
    public var visionTower: CLIPVisionTransformer { next?.tower ?? clip.vision_model }

    /// The layout runs use by default: any-resolution with the LLaVA-NeXT checkpoint's pinpoints when one is
    /// loaded, else LLaVA-1.5's padded square.
    public var defaultLayout: ImageLayout { next.map { .anyResolution(pinpoints: $0.pinpoints) } ?? .llava15 }

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
        let vision = visionTower
        let k = try Self.hiddenStateIndex(selectLayer, layers: vision.config.layers)
        guard k <= vision.layers.count else {
            throw TRIMError.invalidOption("select layer \(selectLayer) needs \(k) vision layers; this pipeline loaded \(vision.layers.count)")
        }
        return k
    }

    /// The views of `layout` through CLIP's preprocessing: one `pixel_values [3, S, S]` per view.
    /// Separate from `encode(_:preprocessSeconds:…)` so a batch can prepare the next image while one is encoded.
    public func preprocess(_ image: RGBImage, layout: ImageLayout = .llava15) throws -> PreparedImage {
        switch layout {
        case .singleView(let pad):
            return PreparedImage(layout: layout, pixelValues: [try TRIMImage.pixelValues(for: image, config: preprocessor, padToSquare: pad)],
                                 grid: nil, imageHeight: image.height, imageWidth: image.width)
        case .anyResolution(let pinpoints, let geometry):
            let s = preprocessor.cropHeight
            let (grid, views) = try AnyResolution.pixelValues(
                for: image, config: preprocessor, pinpoints: pinpoints.isEmpty ? AnyResolution.defaultPinpoints(viewSize: s) : pinpoints,
                geometry: geometry)
            return PreparedImage(layout: layout, pixelValues: views, grid: grid, imageHeight: image.height, imageWidth: image.width)
        }
    }

    /// The prompt-independent half of a run: the layout's views, the vision tower up to `selectLayer` on
    /// all of them in one pass, and what `needs` asks of each. Reduce it against any number of prompts with
    /// `reduce(_:prompt:reducer:)`; the results are those of a fresh run bit for bit.
    public func encode(image: RGBImage, layout: ImageLayout = .llava15, selectLayer: Int = -2,
                       needs: ReducerNeeds = [.promptEmbedding, .imageTokens]) throws -> EncodedImage {
        let start = DispatchTime.now().uptimeNanoseconds
        let prepared = try preprocess(image, layout: layout)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return try encode(prepared, preprocessSeconds: seconds, selectLayer: selectLayer, needs: needs)
    }

    /// `encode(image:…)` from views already prepared (`preprocess`); `preprocessSeconds` is reported as
    /// the "preprocess" stage. Stages: preprocess, vision, attention capture (when a need is read during
    /// the pass), then each after-pass need with a stage of its own, in name order.
    public func encode(_ prepared: PreparedImage, preprocessSeconds: Double = 0, selectLayer: Int = -2,
                       needs: ReducerNeeds = [.promptEmbedding, .imageTokens]) throws -> EncodedImage {
        let k = try loadedHiddenStateIndex(selectLayer)
        let imageNeeds = needs.filter { !$0.isPrompt }.sorted { $0.name < $1.name }
        let observed = imageNeeds.compactMap { n -> (need: Need, layer: Int, compute: @Sendable (Tensor, Int) -> Tensor)? in
            if case .duringPass(let layer, let f) = n.source { return (n, layer == .first ? 0 : k - 1, f) }
            return nil
        }
        if !observed.isEmpty && k < 1 {
            throw TRIMError.invalidOption("select layer \(selectLayer) is the embeddings; no layer's attention produced it")
        }
        let tower = visionTower, viewCount = prepared.pixelValues.count, t = tower.config.tokenCount
        var values = [[Need: Tensor]](repeating: [:], count: viewCount)
        var captureSeconds = 0.0
        let passStart = DispatchTime.now().uptimeNanoseconds
        // All views in one pass; what a need reads from a layer's q | k | v is taken view by view.
        let observedLayers = Set(observed.map(\.layer))
        let hidden = try tower.hiddenStates(batch: prepared.pixelValues, afterLayers: k, observeQKV: observed.isEmpty ? nil : { layer, qkv in
            guard observedLayers.contains(layer) else { return }
            let start = DispatchTime.now().uptimeNanoseconds
            for v in 0..<viewCount {
                let rows = qkv.rows((v * t)..<((v + 1) * t))
                for o in observed where o.layer == layer { values[v][o.need] = o.compute(rows, tower.config.attentionHeads) }
            }
            captureSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        })  // [N+1, D] per view
        let passSeconds = Double(DispatchTime.now().uptimeNanoseconds - passStart) / 1e9
        // The capture runs inside the pass: it is reported apart from the vision layers' own time.
        var stages: [(stage: String, seconds: Double)] = [("preprocess", preprocessSeconds), ("vision", passSeconds - captureSeconds)]
        if !observed.isEmpty { stages.append(("attention capture", captureSeconds)) }
        var charged: [Need: Double] = [:]
        let passes = hidden.map {
            VisionPass(hidden: $0, features: $0.rows(1..<$0.rows), layer: k, tower: tower, clip: clip, projector: projector)
        }
        for need in imageNeeds {
            guard case .afterPass(let stage, let compute) = need.source else { continue }
            let start = DispatchTime.now().uptimeNanoseconds
            var computed = false
            for (v, pass) in passes.enumerated() {
                guard let value = try compute(pass) else { continue }  // cannot exist here (no projector): no stage
                values[v][need] = value
                computed = true
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if !computed { continue }
            if let stage { stages.append((stage, seconds)) } else { charged[need, default: 0] += seconds }
        }
        let views = passes.enumerated().map { v, pass in
            EncodedView(pixelValues: prepared.pixelValues[v], classToken: Array(pass.hidden.scalars[0..<pass.hidden.columns]),
                        features: pass.features, values: values[v])
        }
        return EncodedImage(layout: prepared.layout, grid: prepared.grid, imageHeight: prepared.imageHeight,
                            imageWidth: prepared.imageWidth, views: views, selectLayer: selectLayer,
                            timings: stages, chargedSeconds: charged)
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
    /// text tower (timed by their stages), then the reducer (stage "scores" when it uses a need charged to
    /// it, such as `image_tokens`, whose time it includes; else "reduce"): on the one view, or on an
    /// any-resolution image's views and packing as `views` says (`reduceImage`; `newlines`: which grid rows
    /// get an `image_newline` under Hugging Face packing), then the projector on the rows. `prompt` may be
    /// `nil` for reducers that ignore it. An any-resolution image must have been cut by the reducer's
    /// `viewGeometry(views)` (`layout.with(geometry:)`).
    public func reduce(_ encoded: EncodedImage, prompt: String?, reducer: any TokenReducer,
                       newlines: NewlinePolicy = .all, views mode: ViewsMode = .released) throws -> ReductionResult {
        if let geometry = encoded.layout.geometry, geometry != reducer.viewGeometry(mode) {
            throw TRIMError.invalidOption("\(reducer.name) with --views \(mode.rawValue) runs on \(reducer.viewGeometry(mode).rawValue) views; this image was cut by the \(geometry.rawValue) rule")
        }
        var timings = StageTimer(stages: encoded.timings)
        let (ids, textEmbeds, promptValues) = try promptNeeds(of: reducer, prompt: prompt, timings: &timings)
        let charged = reducer.needs.compactMap { encoded.chargedSeconds[$0] }
        let inputs = encoded.views.indices.map { encoded.input(view: $0, prompt: promptValues) }
        let image = encoded.grid.map { grid in
            ImageInput(views: inputs, grid: grid, imageHeight: encoded.imageHeight, imageWidth: encoded.imageWidth,
                       side: visionTower.config.gridSize, mode: mode, newlines: newlines, projector: projector,
                       imageNewline: next?.imageNewline)
        }
        let (views, packing, reduction) = try timings.time(charged.isEmpty ? "reduce" : "scores", plus: charged.reduce(0, +)) {
            () throws -> ([Reduction], Packing?, Reduction) in
            guard let image else {
                let one = try reducer.reduce(inputs[0])
                return ([one], nil, one)
            }
            let r = try reducer.reduceImage(image)
            return (r.views, r.packing, r.reduction)
        }
        var result = ReductionResult(
            method: reducer.name, settings: reducer.settings, settingsFields: reducer.settingsFields, encoded: encoded,
            inputIDs: ids, textEmbeds: textEmbeds, reduction: reduction, views: views, packing: packing, projected: nil,
            timings: [])
        result.viewsMode = image == nil ? nil : mode
        result.projected = try project(result, timings: &timings)
        result.timings = timings.stages
        return result
    }

    /// The prompt's needs of `reducer` through the text tower, each timed under its stage; the first one's
    /// ids and value are the result's `input_ids` and `text_embeds`.
    private func promptNeeds(of reducer: any TokenReducer, prompt: String?, timings: inout StageTimer) throws
        -> (ids: [Int]?, text: Tensor?, values: [Need: Tensor])
    {
        var values: [Need: Tensor] = [:]
        var ids: [Int]?, text: Tensor?
        for need in reducer.needs.filter(\.isPrompt).sorted(by: { $0.name < $1.name }) {
            guard case .prompt(let stage, let compute) = need.source else { continue }
            guard let prompt else { throw TRIMError.missingInput(reducer: reducer.name, input: "a prompt") }
            let (needIDs, value) = try timings.time(stage) { try compute(self, prompt) }
            values[need] = value
            if ids == nil { (ids, text) = (needIDs, value) }
        }
        return (ids, text, values)
    }

    /// The projector on the result's rows (or the rows the reducer projected itself), with LLaVA-NeXT's
    /// `image_newline` at each newline row: `[L, H]`; `nil` without a projector.
    private func project(_ r: ReductionResult, timings: inout StageTimer) throws -> Tensor? {
        guard let packing = r.packing else {
            return r.reduction.projected ?? projector.map { p in timings.time("projector") { p(r.reduction.reduced) } }
        }
        guard let projector else { return nil }
        guard packing.newlines == 0 || next != nil else {
            throw TRIMError.invalidOption("newline rows need a LLaVA-NeXT checkpoint's image_newline: give one as --projector, or no newlines")
        }
        return timings.time("projector") {
            let rows = r.reduction.projected ?? projector(r.reduction.reduced)
            var out: [Float] = []
            var i = 0
            for source in packing.rows {
                if source == .newline { out += next!.imageNewline.scalars } else { out += rows.row(i).scalars; i += 1 }
            }
            return Tensor(shape: [packing.rows.count, rows.columns], scalars: out)
        }
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
    /// The rows handed on, their sources and the choice: the one view's reduction, or an any-resolution
    /// image's packed rows without the newlines (the signal then all views' in turn).
    public var reduction: Reduction
    /// Each view's own reduction, in view order.
    public var views: [Reduction]
    /// How an any-resolution image's views were packed (`token_map`), or `nil` for one view.
    public var packing: Packing?
    /// Whose views and packing an any-resolution image ran on (`--views`), or `nil` for one view.
    public var viewsMode: ViewsMode?
    /// `projected [L, H]` when a projector was given (newline rows included).
    public var projected: Tensor?
    /// Seconds per stage, in pipeline order.
    public var timings: [(stage: String, seconds: Double)]

    /// N, the patches before reduction (all views').
    public var total: Int { encoded.patchCount }
    /// Number of single-patch rows (kept patches) handed on.
    public var kept: Int { reduction.keptIndices.count }
    /// Rows handed to the language model (newline rows included).
    public var tokens: Int { packing?.rows.count ?? reduction.reduced.rows }
    /// Where every row handed on came from, newline rows included.
    public var rows: [RowSource] { packing?.rows ?? reduction.rows }
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

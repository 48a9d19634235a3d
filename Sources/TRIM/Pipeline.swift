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

    /// Loads a model directory (and optionally a projector) for runs with `selectLayer` (Python-style,
    /// default −2: LLaVA's `hidden_states[-2]`). `weightPrecision` says whether F16 / BF16 weight
    /// matrices stay 16-bit in memory (the default; half the bytes) or become Floats — the results are
    /// the same bit for bit.
    public init(modelDirectory: URL, projector projectorURL: URL? = nil, selectLayer: Int = -2,
                weightPrecision: WeightPrecision = .checkpoint) throws {
        self.modelDirectory = modelDirectory
        let config = try CLIPConfig(contentsOf: modelDirectory.appendingPathComponent("config.json"))
        let k = try Self.hiddenStateIndex(selectLayer, layers: config.vision.layers)
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

    /// Runs TRIM on a decoded image.
    /// - Parameters:
    ///   - padToSquare: LLaVA's "pad" aspect mode (default), else plain CLIP preprocessing.
    public func run(image: RGBImage, prompt: String, options: ReductionOptions = ReductionOptions(),
                    padToSquare: Bool = true) throws -> TRIMResult {
        var timings: [(String, Double)] = []
        func timed<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
            let start = DispatchTime.now().uptimeNanoseconds
            let value = try body()
            timings.append((stage, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            return value
        }
        let vision = clip.vision_model
        let k = try Self.hiddenStateIndex(options.selectLayer, layers: vision.config.layers)
        guard k <= vision.layers.count else {
            throw TRIMError.invalidOption("select layer \(options.selectLayer) needs \(k) vision layers; this pipeline loaded \(vision.layers.count)")
        }
        if case .keepRatio(let r) = options.selection, !(r >= 0 && r <= 1) {
            throw TRIMError.invalidOption("keep ratio \(r) is outside 0…1")
        }
        let pixelValues = try timed("preprocess") { try TRIMImage.pixelValues(for: image, config: preprocessor, padToSquare: padToSquare) }
        // [N+1, D] → drop the class token → [N, D]
        let features = try timed("vision") {
            let h = try vision.hiddenState(pixelValues, afterLayers: k)
            return h.rows(1..<h.rows)
        }
        let (ids, textEmbeds) = try timed("text") {
            let ids = tokenizer.encode(prompt, truncateTo: min(CLIPTokenizer.contextLength, clip.config.text.maxPositions))
            return (ids, try clip.textEmbeds(ids))
        }
        let (imageTokens, scores, selection, reduced) = timed("scores") {
            let imageTokens = clip.visual_projection(vision.post_layernorm(features))  // [N, P]
            let scores = scorePatches(imageTokens: imageTokens, textEmbeds: textEmbeds, scoring: options.scoring)
            let selection = selectPatches(scores: scores.scores, rule: options.selection)
            let reduced = reduceFeatures(features, kept: selection.keptIndices, meanToken: options.meanToken)
            return (imageTokens, scores, selection, reduced)
        }
        let projected = projector.map { p in timed("projector") { p(reduced) } }
        return TRIMResult(
            pixelValues: pixelValues, features: features, imageTokens: imageTokens, inputIDs: ids,
            textEmbeds: textEmbeds, patchScores: scores, selection: selection, reduced: reduced,
            projected: projected, timings: timings)
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

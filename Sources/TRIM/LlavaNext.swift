import CLIP
import Foundation
import SafeTensors
import TorchCheckpoint
import TRIMImage
import TRIMJSON
import TRIMTensor

/// A LLaVA-NeXT (LLaVA-1.6) checkpoint's image side, as published (Docs/SEMANTICS.md §5.4): its fine-tuned
/// vision tower, its any-resolution pinpoints, the projector and `image_newline`. Reads llava-hf checkpoints
/// (transformers 5: `vision_tower.*`; the Hub's transformers-4 files: `vision_tower.vision_model.*`) and
/// original LLaVA-1.6 ones (`model.vision_tower.vision_tower.vision_model.*`, `model.mm_projector.*`,
/// `model.image_newline`), safetensors or `.bin`, sharded or not; only the shards holding these tensors are
/// opened.
public struct LlavaNext: Sendable {
    /// The checkpoint's own vision tower (up to the selected layer).
    public let tower: CLIPVisionTransformer
    /// `image_newline [H]`: the row LLaVA-NeXT appends after each row of the tiled grid, in LLM space.
    public let imageNewline: Tensor
    /// The projector.
    public let projector: Projector
    /// The any-resolution pinpoints (height, width), in the checkpoint's order.
    public let pinpoints: [Pinpoint]
    /// `vision_feature_layer` (llava-hf) or `mm_vision_select_layer` (original), Python-style.
    public let featureLayer: Int
    /// The checkpoint's layout: `llava-hf` or `original`.
    public let layout: String

    /// Where the tower's tensors live in each known layout, most specific first.
    static let towerPrefixes = ["model.vision_tower.vision_tower.vision_model", "vision_tower.vision_model",
                                "model.vision_tower.vision_model", "model.vision_tower", "vision_tower"]

    /// Whether `url` (a directory, an index or a weights file) is a LLaVA-NeXT checkpoint: its `config.json`
    /// has `image_grid_pinpoints`, or it holds an `image_newline` tensor.
    public static func isNext(_ url: URL) -> Bool {
        if let config = config(near: url), config["image_grid_pinpoints"] != nil { return true }
        guard let source = try? Checkpoint.open(url) else { return false }
        return source.tensorNames.contains { $0 == "image_newline" || $0.hasSuffix(".image_newline") }
    }

    /// The parsed `config.json` beside (or in) `url`, if there is one.
    static func config(near url: URL) -> JSONValue? {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        let dir = isDirectory.boolValue ? url : url.deletingLastPathComponent()
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent("config.json").path),
              data.count < 1 << 22 else { return nil }
        return try? JSON.parse([UInt8](data))
    }

    /// Loads the image side of the checkpoint at `url`. `clipVision` is the `--model` CLIP's vision config,
    /// used for original checkpoints (whose config has no `vision_config`). `loadLayers`, given the tower's
    /// layer count, says how many to load (the selected hidden state's index); all by default.
    public init(contentsOf url: URL, clipVision: CLIPVisionConfig, loadLayers: ((Int) throws -> Int)? = nil,
                weightPrecision: WeightPrecision = .checkpoint) throws {
        let source = try Checkpoint.open(url)
        let name = url.path
        let config = Self.config(near: url) ?? .object(JSONObject())
        func missing(_ what: String) -> TRIMError { .invalidModel(path: name, reason: "LLaVA-NeXT checkpoint has no \(what)") }
        guard let prefix = Self.towerPrefixes.first(where: { source.contains($0 + ".embeddings.patch_embedding.weight") }) else {
            throw missing("vision tower (looked for <prefix>.embeddings.patch_embedding.weight with prefix "
                          + Self.towerPrefixes.joined(separator: ", ") + ")")
        }
        layout = prefix.hasPrefix("model.") ? "original" : "llava-hf"
        let vision = try config["vision_config"].map { try CLIPVisionConfig(json: $0, path: name + "/config.json") } ?? clipVision
        pinpoints = try Self.pinpoints(config["image_grid_pinpoints"], path: name)
        featureLayer = config["vision_feature_layer"]?.intValue ?? config["mm_vision_select_layer"]?.intValue ?? -2
        let k = try loadLayers?(vision.layers) ?? vision.layers
        tower = try CLIPVisionTransformer(weights: source, sourceName: name, config: vision, prefix: prefix, loadLayers: k,
                                          weightPrecision: weightPrecision)
        guard let newline = ["image_newline", "model.image_newline"].first(where: source.contains) else {
            throw missing("image_newline tensor (looked for image_newline, model.image_newline)")
        }
        imageNewline = try source.tensor(newline)
        projector = try Projector(source: source, sourceName: name, weightPrecision: weightPrecision)
        guard imageNewline.shape == [projector.outputWidth] else {
            throw TRIMError.invalidModel(path: name, reason: "image_newline has shape \(imageNewline.shape), the projector gives \(projector.outputWidth)-wide rows")
        }
        guard projector.inputWidth == vision.hiddenSize else {
            throw TRIMError.projectorMismatch(projectorInput: projector.inputWidth, visionWidth: vision.hiddenSize)
        }
    }

    /// The pinpoints of the LLaVA-NeXT checkpoint at `url` (its `config.json`'s `image_grid_pinpoints`; empty
    /// when it lists none).
    public static func pinpoints(of url: URL) throws -> [Pinpoint] {
        try pinpoints(config(near: url)?["image_grid_pinpoints"], path: url.path)
    }

    /// Whether `url` is an original LLaVA-1.6 checkpoint directory: no `vision_config` in its `config.json`
    /// and no `preprocessor_config.json` (its tower's shape and preprocessing come from the CLIP `--model`).
    public static func isOriginal(_ url: URL) -> Bool {
        guard let config = config(near: url) else { return false }
        let dir = url.hasDirectoryPath ? url : url.deletingLastPathComponent()
        return config["vision_config"] == nil
            && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("preprocessor_config.json").path)
    }

    /// `image_grid_pinpoints` as (height, width) pairs; absent → empty (the caller's default applies).
    static func pinpoints(_ value: JSONValue?, path: String) throws -> [Pinpoint] {
        guard let value, !value.isNull else { return [] }
        guard let list = value.arrayValue, list.count <= 1024 else {
            throw TRIMError.invalidModel(path: path, reason: "image_grid_pinpoints must be a list of [height, width] pairs")
        }
        return try list.map { pair in
            guard let hw = pair.arrayValue, hw.count == 2, let h = hw[0].intValue, let w = hw[1].intValue,
                  h >= 1, w >= 1, h <= 1 << 20, w <= 1 << 20 else {
                throw TRIMError.invalidModel(path: path, reason: "image_grid_pinpoints entry \(JSON.serialize(pair)) is not [height, width]")
            }
            return Pinpoint(height: h, width: w)
        }
    }
}

import Foundation
import TRIMJSON

/// Hyper-parameters of CLIP's vision tower (`CLIPVisionConfig` in Hugging Face).
/// Defaults are Hugging Face's (those of ViT-B/32), used for keys a `config.json` leaves out.
public struct CLIPVisionConfig: Sendable, Equatable {
    /// Width of the residual stream (`hidden_size`): 1024 for ViT-L.
    public var hiddenSize = 768
    /// Width of the MLP (`intermediate_size`): 4096 for ViT-L.
    public var intermediateSize = 3072
    /// Attention heads per layer (`num_attention_heads`).
    public var attentionHeads = 12
    /// Encoder layers (`num_hidden_layers`).
    public var layers = 12
    /// Input image side in pixels (`image_size`): 336 for ViT-L/14-336.
    public var imageSize = 224
    /// Patch side in pixels (`patch_size`).
    public var patchSize = 32
    /// Input channels (`num_channels`).
    public var channels = 3
    /// MLP activation (`hidden_act`): `quick_gelu` for OpenAI checkpoints.
    public var activation = Activation.quickGELU
    /// LayerNorm epsilon (`layer_norm_eps`).
    public var layerNormEps: Float = 1e-5

    /// Patches per side: `imageSize / patchSize` (trailing pixels are dropped by the strided conv).
    public var gridSize: Int { imageSize / patchSize }
    /// Patch tokens per image: 576 for ViT-L/14-336.
    public var patchCount: Int { gridSize * gridSize }
    /// Sequence length: patches + the class token.
    public var tokenCount: Int { patchCount + 1 }
    /// Width of one attention head.
    public var headDim: Int { hiddenSize / attentionHeads }

    /// A configuration with Hugging Face's defaults.
    public init() {}
}

/// Hyper-parameters of CLIP's text tower (`CLIPTextConfig` in Hugging Face).
public struct CLIPTextConfig: Sendable, Equatable {
    /// Width of the residual stream (`hidden_size`): 768 for ViT-L/14's text tower.
    public var hiddenSize = 512
    /// Width of the MLP (`intermediate_size`).
    public var intermediateSize = 2048
    /// Attention heads per layer (`num_attention_heads`).
    public var attentionHeads = 8
    /// Encoder layers (`num_hidden_layers`).
    public var layers = 12
    /// Token vocabulary size (`vocab_size`): 49408 for the OpenAI BPE.
    public var vocabSize = 49408
    /// Context length (`max_position_embeddings`): 77.
    public var maxPositions = 77
    /// MLP activation (`hidden_act`).
    public var activation = Activation.quickGELU
    /// LayerNorm epsilon (`layer_norm_eps`).
    public var layerNormEps: Float = 1e-5
    /// `eos_token_id`. The value 2 (old OpenAI configs) means "pool at the largest id", as Hugging Face
    /// does; any other value means "pool at the first occurrence of this id".
    public var eosTokenID = 49407

    /// Width of one attention head.
    public var headDim: Int { hiddenSize / attentionHeads }

    /// A configuration with Hugging Face's defaults.
    public init() {}
}

/// The MLP activations CLIP checkpoints use (`hidden_act`).
public enum Activation: String, Sendable, Equatable {
    /// `x · sigmoid(1.702 x)` — OpenAI CLIP.
    case quickGELU = "quick_gelu"
    /// Exact `x · Φ(x)` with erf.
    case gelu = "gelu"
}

/// A whole CLIP model's configuration (`CLIPConfig`): both towers and the joint embedding width.
public struct CLIPConfig: Sendable, Equatable {
    /// The vision tower.
    public var vision = CLIPVisionConfig()
    /// The text tower.
    public var text = CLIPTextConfig()
    /// Width of the joint image–text space (`projection_dim`): 768 for ViT-L/14.
    public var projectionDim = 512

    /// A configuration with Hugging Face's defaults.
    public init() {}

    /// `openai/clip-vit-large-patch14-336` — the tower LLaVA-1.5 uses.
    public static let vitL14_336: CLIPConfig = .preset(vision: (1024, 4096, 16, 24, 336, 14), text: (768, 3072, 12, 12), projection: 768)
    /// `openai/clip-vit-large-patch14`.
    public static let vitL14: CLIPConfig = .preset(vision: (1024, 4096, 16, 24, 224, 14), text: (768, 3072, 12, 12), projection: 768)
    /// `openai/clip-vit-base-patch32`.
    public static let vitB32: CLIPConfig = .preset(vision: (768, 3072, 12, 12, 224, 32), text: (512, 2048, 8, 12), projection: 512)
    /// `openai/clip-vit-base-patch16`.
    public static let vitB16: CLIPConfig = .preset(vision: (768, 3072, 12, 12, 224, 16), text: (512, 2048, 8, 12), projection: 512)

    /// Presets by name, for `trim` flags and documentation.
    public static let presets: [String: CLIPConfig] = [
        "ViT-L/14-336": vitL14_336, "ViT-L/14": vitL14, "ViT-B/32": vitB32, "ViT-B/16": vitB16,
    ]

    private static func preset(
        vision v: (hidden: Int, mlp: Int, heads: Int, layers: Int, image: Int, patch: Int),
        text t: (hidden: Int, mlp: Int, heads: Int, layers: Int), projection: Int
    ) -> CLIPConfig {
        var c = CLIPConfig()
        c.vision.hiddenSize = v.hidden; c.vision.intermediateSize = v.mlp; c.vision.attentionHeads = v.heads
        c.vision.layers = v.layers; c.vision.imageSize = v.image; c.vision.patchSize = v.patch
        c.text.hiddenSize = t.hidden; c.text.intermediateSize = t.mlp; c.text.attentionHeads = t.heads
        c.text.layers = t.layers; c.text.eosTokenID = 2
        c.projectionDim = projection
        return c
    }

    /// Reads a Hugging Face `config.json` (`CLIPConfig` with `text_config` and `vision_config`; the older
    /// `*_config_dict` spellings are accepted too). Missing keys take Hugging Face's defaults; present
    /// keys must be sane (positive sizes, heads dividing widths, a known activation).
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            // Foundation's message ("The operation could not be completed") names neither cause.
            var isDirectory: ObjCBool = false
            let reason = !FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
                ? "no such file; a model directory must hold the checkpoint's config.json"
                : isDirectory.boolValue ? "it is a directory, expected a JSON file" : error.localizedDescription
            throw CLIPError.unreadableFile(path: url.path, reason: reason)
        }
        let json: JSONValue
        do { json = try JSON.parse([UInt8](data)) } catch {
            throw CLIPError.invalidConfig(path: url.path, reason: "not valid JSON: \(error)")
        }
        try self.init(json: json, path: url.path)
    }

    /// Reads a parsed `config.json`; `path` only names the file in errors.
    public init(json: JSONValue, path: String = "config.json") throws {
        guard json.objectValue != nil else { throw CLIPError.invalidConfig(path: path, reason: "top level is not an object") }
        self.init()
        let reader = ConfigReader(path: path)
        projectionDim = try reader.int(json, "projection_dim", default: projectionDim)
        let v = json["vision_config"] ?? json["vision_config_dict"] ?? .object(JSONObject())
        let t = json["text_config"] ?? json["text_config_dict"] ?? .object(JSONObject())
        // A present but non-object section would otherwise read as "all defaults".
        for (name, section) in [("vision_config", v), ("text_config", t)] where section.objectValue == nil && !section.isNull {
            throw CLIPError.invalidConfig(path: path, reason: "\(name) must be an object, found \(section.kindName)")
        }
        try vision.read(v, reader)
        text.hiddenSize = try reader.int(t, "text_config.hidden_size", default: text.hiddenSize)
        text.intermediateSize = try reader.int(t, "text_config.intermediate_size", default: text.intermediateSize)
        text.attentionHeads = try reader.int(t, "text_config.num_attention_heads", default: text.attentionHeads)
        text.layers = try reader.int(t, "text_config.num_hidden_layers", default: text.layers)
        text.vocabSize = try reader.int(t, "text_config.vocab_size", default: text.vocabSize)
        text.maxPositions = try reader.int(t, "text_config.max_position_embeddings", default: text.maxPositions)
        text.activation = try reader.activation(t, "text_config.hidden_act", default: text.activation)
        text.layerNormEps = try reader.float(t, "text_config.layer_norm_eps", default: text.layerNormEps)
        text.eosTokenID = try reader.int(t, "text_config.eos_token_id", default: text.eosTokenID, minimum: 0)
        try validate(path: path)
    }

    /// Checks the relations between values that the model code relies on.
    public func validate(path: String = "config.json") throws {
        func check(_ ok: Bool, _ reason: String) throws {
            if !ok { throw CLIPError.invalidConfig(path: path, reason: reason) }
        }
        try check(vision.hiddenSize % vision.attentionHeads == 0,
                  "vision_config.hidden_size \(vision.hiddenSize) is not divisible by num_attention_heads \(vision.attentionHeads)")
        try check(text.hiddenSize % text.attentionHeads == 0,
                  "text_config.hidden_size \(text.hiddenSize) is not divisible by num_attention_heads \(text.attentionHeads)")
        try check(vision.patchSize <= vision.imageSize,
                  "vision_config.patch_size \(vision.patchSize) exceeds image_size \(vision.imageSize)")
        try check(vision.layerNormEps > 0 && text.layerNormEps > 0, "layer_norm_eps must be positive")
    }
}

extension CLIPVisionConfig {
    /// Reads a `vision_config` object — a CLIP checkpoint's, or a LLaVA-NeXT checkpoint's (whose tower is a
    /// CLIP vision transformer); absent keys keep ViT-L/14-336's values. `path` names the file in errors.
    public init(json: JSONValue, path: String) throws {
        self.init()
        guard json.objectValue != nil else {
            throw CLIPError.invalidConfig(path: path, reason: "vision_config must be an object, found \(json.kindName)")
        }
        try read(json, ConfigReader(path: path))
        guard hiddenSize % attentionHeads == 0, patchSize <= imageSize else {
            throw CLIPError.invalidConfig(path: path, reason: "vision_config: hidden_size \(hiddenSize) / \(attentionHeads) heads, patch \(patchSize) of \(imageSize) px do not fit")
        }
    }

    fileprivate mutating func read(_ v: JSONValue, _ reader: ConfigReader) throws {
        hiddenSize = try reader.int(v, "vision_config.hidden_size", default: hiddenSize)
        intermediateSize = try reader.int(v, "vision_config.intermediate_size", default: intermediateSize)
        attentionHeads = try reader.int(v, "vision_config.num_attention_heads", default: attentionHeads)
        layers = try reader.int(v, "vision_config.num_hidden_layers", default: layers)
        imageSize = try reader.int(v, "vision_config.image_size", default: imageSize)
        patchSize = try reader.int(v, "vision_config.patch_size", default: patchSize)
        channels = try reader.int(v, "vision_config.num_channels", default: channels)
        activation = try reader.activation(v, "vision_config.hidden_act", default: activation)
        layerNormEps = try reader.float(v, "vision_config.layer_norm_eps", default: layerNormEps)
    }
}

/// Reads typed, range-checked values out of a config object, with errors naming the key.
fileprivate struct ConfigReader {
    let path: String
    /// Sizes above this are absurd for any CLIP (ViT-G is 1664 wide) and would only serve to exhaust memory.
    static let maxSize = 1 << 20

    func value(_ obj: JSONValue, _ dotted: String) -> JSONValue? {
        obj[String(dotted.split(separator: ".").last!)]
    }

    func int(_ obj: JSONValue, _ key: String, default d: Int, minimum: Int = 1) throws -> Int {
        guard let v = value(obj, key), !v.isNull else { return d }
        guard let i = v.intValue else {
            throw CLIPError.invalidConfig(path: path, reason: "\(key) must be an integer, found \(v.kindName)")
        }
        guard i >= minimum && i <= Self.maxSize else {
            throw CLIPError.invalidConfig(path: path, reason: "\(key) = \(i) is outside \(minimum)…\(Self.maxSize)")
        }
        return i
    }

    func float(_ obj: JSONValue, _ key: String, default d: Float) throws -> Float {
        guard let v = value(obj, key), !v.isNull else { return d }
        guard let x = v.doubleValue, x.isFinite, x > 0, x < 1 else {
            throw CLIPError.invalidConfig(path: path, reason: "\(key) must be a number in (0, 1)")
        }
        return Float(x)
    }

    func activation(_ obj: JSONValue, _ key: String, default d: Activation) throws -> Activation {
        guard let v = value(obj, key), !v.isNull else { return d }
        guard let s = v.stringValue, let a = Activation(rawValue: s) else {
            throw CLIPError.invalidConfig(path: path, reason: "\(key) must be \"quick_gelu\" or \"gelu\"")
        }
        return a
    }
}

import SafeTensors
import TRIM
import TRIMImage

/// The options several commands share, each declared once.
enum Common {
    static let model = OptionSpec("model", .text, placeholder: "DIR",
                                  help: "Hugging Face CLIP checkpoint directory (config.json + safetensors or .bin)")
    static let image = OptionSpec("image", .text, placeholder: "FILE", help: "JPEG or PNG")
    static let projector = OptionSpec(
        "projector", .text, placeholder: "PATH",
        help: "LLaVA projector: llava-hf checkpoint directory or index, original LLaVA, or a file. divprune / "
            + "cdpruner choose among its rows (without one: the features, a convention of this project, said in the output)")
    static let selectLayer = OptionSpec("select-layer", .int(-1000...1000), placeholder: "K", default: "-2",
                                        help: "hidden state fed to the LLM, Python-style")
    static let weights = OptionSpec(
        "weights", .choice(["checkpoint", "float32"]), default: "checkpoint",
        help: "keep F16 / BF16 weight matrices 16-bit in memory or convert them to Floats at load; the results are "
            + "the same bit for bit")
    static let noPad = OptionSpec("no-pad", .flag, help: "skip LLaVA's pad-to-square (plain CLIP preprocessing)")
    static let json = OptionSpec("json", .flag, help: "print JSON instead of the report")
    static let quiet = OptionSpec("quiet", .flag, help: "no progress line")
    static let method = OptionSpec(
        "method", .text, placeholder: "M", default: "trim",
        help: ReducerCatalog.names.joined(separator: " | ") + " | all (every method on one vision pass)")
    static let dump = OptionSpec(
        "dump", .text, placeholder: "FILE.safetensors",
        help: "write every intermediate (the dump names of Docs/SEMANTICS.md §3, plus each method's signal: "
            + "cls_attention, relevance, pick_order, …)")
    static let heatmap = OptionSpec("heatmap", .text, placeholder: "FILE.png",
                                    help: "draw the method's ranking signal over the preprocessed image, kept patches outlined")
    static let runs = OptionSpec("runs", .int(1...1000), placeholder: "N", default: "5", help: "timed runs")

    static let anyres = OptionSpec(
        "anyres", .flag,
        help: "LLaVA-NeXT any-resolution input: a base view plus the tiles of the pinpoint canvas that fits the image "
            + "best, packed with image_newline rows (on by itself when --projector is a LLaVA-NeXT checkpoint)")
    static let noAnyres = OptionSpec("no-anyres", .flag, help: "one view, even with a LLaVA-NeXT checkpoint")
    static let pinpoints = OptionSpec(
        "pinpoints", .text, placeholder: "HxW,…",
        help: "any resolution: the canvases, height×width in pixels, multiples of the view size (default: the "
            + "checkpoint's, else S×2S, 2S×S, 2S×2S, 3S×S, S×3S)")
    static let newlines = OptionSpec("newlines", .choice(NewlinePolicy.allCases.map(\.rawValue)), default: "all",
                                     help: "any resolution: which kept grid rows get an image_newline row after them")
    static let views = OptionSpec(
        "views", .choice(ViewsMode.allCases.map(\.rawValue)), default: "released",
        help: "any resolution: each method's released LLaVA-1.6 views and packing, or Hugging Face's for every method "
            + "(like for like)")
    /// The options of the image layout.
    static let layoutOptions = [anyres, noAnyres, pinpoints, newlines, views]

    /// The image layout the options ask for with `pipeline` loaded: any resolution with `--anyres` or a
    /// LLaVA-NeXT checkpoint (unless `--no-anyres`), its pinpoints from `--pinpoints`, the checkpoint or the
    /// default set; else one view, padded unless `--no-pad`.
    /// `checkpointPinpoints`: a LLaVA-NeXT checkpoint's pinpoints when one is read without a pipeline
    /// (`trim preprocess --model NEXT`), which turns any resolution on as a loaded one does.
    static func layout(_ a: Arguments, pipeline: TRIMPipeline?, checkpointPinpoints: [Pinpoint]? = nil) throws -> ImageLayout {
        if a.flag(anyres.name) && a.flag(noAnyres.name) { throw UsageError("--anyres and --no-anyres exclude each other") }
        let checkpoint = pipeline?.next?.pinpoints ?? checkpointPinpoints
        let on = !a.flag(noAnyres.name) && (a.flag(anyres.name) || checkpoint != nil)
        guard on else {
            for o in [pinpoints.name, newlines.name, views.name] where a.value(o) != nil { throw UsageError("--\(o) applies to --anyres input") }
            return .singleView(padToSquare: !a.flag(noPad.name))
        }
        if a.flag(noPad.name) { throw UsageError("--no-pad applies to one view; any-resolution views are never padded to a square") }
        return .anyResolution(pinpoints: try a.value(pinpoints.name).map(parsePinpoints) ?? checkpoint ?? [])
    }

    /// `336x672,672x336` (or `336×672`): height × width pairs.
    static func parsePinpoints(_ s: String) throws -> [Pinpoint] {
        try s.split(separator: ",").map { item in
            let parts = item.split(whereSeparator: { $0 == "x" || $0 == "×" }).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let h = parts[0], let w = parts[1], h >= 1, w >= 1, h <= 1 << 20, w <= 1 << 20 else {
                throw UsageError("--pinpoints takes height×width pairs, comma-separated (e.g. 336x672,672x336), got '\(item)'")
            }
            return Pinpoint(height: h, width: w)
        }
    }

    /// `--newlines` (default all).
    static func newlinePolicy(_ a: Arguments) -> NewlinePolicy {
        a.value(newlines.name).flatMap(NewlinePolicy.init(rawValue:)) ?? .all
    }

    /// Refuses a method built for any-resolution input on one view.
    static func checkLayout(_ layout: ImageLayout, method: String, reducer: (any TokenReducer)?) throws {
        if !layout.isAnyResolution, reducer != nil, (try? ReducerCatalog.entry(method))?.anyResolutionOnly == true {
            throw UsageError("--method \(method) is built for any-resolution input: give --anyres (or a LLaVA-NeXT checkpoint as --projector)")
        }
    }

    /// `--views` (default released).
    static func viewsMode(_ a: Arguments) -> ViewsMode {
        a.value(views.name).flatMap(ViewsMode.init(rawValue:)) ?? .released
    }

    /// The layout `reducer` runs on: `layout` with its views cut as the reducer's released code (or Hugging
    /// Face, `--views hf`) cuts them.
    static func layout(_ layout: ImageLayout, for reducer: any TokenReducer, _ a: Arguments) -> ImageLayout {
        layout.with(geometry: reducer.viewGeometry(viewsMode(a)))
    }

    /// `--weights` (default `checkpoint`).
    static func weightPrecision(_ a: Arguments) -> WeightPrecision {
        a.value(weights.name).flatMap(WeightPrecision.init(rawValue:)) ?? .checkpoint
    }

    /// TRIM's options and the pipeline's `--select-layer`.
    static func reductionOptions(_ a: Arguments) throws -> ReductionOptions {
        var o = try usage { try ReducerCatalog.trimOptions(a.given) }
        if let k = a.int(selectLayer.name) { o.selectLayer = k }
        return o
    }

    /// The `--method` name (default `trim`), checked against the catalog (`all` allowed when `allowAll`).
    static func methodName(_ a: Arguments, allowAll: Bool = true) throws -> String {
        let m = a.value(method.name) ?? "trim"
        if m == "all" {
            if allowAll { return m }
            throw UsageError("--method all does not apply here: give one method")
        }
        if !allowAll && !ReducerCatalog.names.contains(m) {
            throw UsageError("--method must be \(ReducerCatalog.names.joined(separator: ", ")), got '\(m)'")
        }
        _ = try usage { try ReducerCatalog.entry(m) }
        return m
    }
}

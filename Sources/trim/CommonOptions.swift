import SafeTensors
import TRIM

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

    /// The image layout the options ask for (`--no-pad`).
    static func layout(_ a: Arguments) -> ImageLayout { .singleView(padToSquare: !a.flag(noPad.name)) }

    /// `--weights` (default `checkpoint`).
    static func weightPrecision(_ a: Arguments) -> WeightPrecision {
        a.value(weights.name).flatMap(WeightPrecision.init(rawValue:)) ?? .checkpoint
    }

    /// The reducer options of the catalog with `--method`'s list in their help.
    static var reducerOptions: [OptionSpec] { ReducerCatalog.allOptions }

    /// TRIM's options and the pipeline's `--select-layer`.
    static func reductionOptions(_ a: Arguments) throws -> ReductionOptions {
        var o = try usage { try ReducerCatalog.trimOptions(a.given) }
        if let k = a.int(selectLayer.name) { o.selectLayer = k }
        return o
    }

    /// The `--method` name (default `trim`), checked against the catalog (`all` allowed when `allowAll`).
    static func methodName(_ a: Arguments, allowAll: Bool = true) throws -> String {
        let m = a.value(method.name) ?? "trim"
        if m == "all" && allowAll { return m }
        _ = try usage { try ReducerCatalog.entry(m) }
        return m
    }
}

import Foundation

/// One method of the reducer family by name: what it is, the options it takes, and how it is built.
public struct ReducerEntry: Sendable {
    /// The `--method` name.
    public let name: String
    /// One line: what it ranks patches by and what it keeps.
    public let summary: String
    /// The options it takes (each declared once in `ReducerCatalog`).
    public let options: [OptionSpec]
    /// Whether it hands on a fixed number of rows (`--keep N`): `trim eval` compares these at matched budgets.
    public let fixedBudget: Bool
    /// Whether `--method all` runs it (every reducer does; `none`, which keeps everything, does not).
    public var compared = true
    /// Whether it runs on any-resolution input only (HiRED, GlobalCom²: built for it).
    public var anyResolutionOnly = false
    /// Whether its `--keep` counts the whole packed sequence at any resolution (DivPrune) rather than each view.
    public var globalBudget = false
    /// Builds it from option values; `budget`, when given, is the row count to use where `--keep` is absent
    /// (`--method all` passes TRIM's own count) and relaxes the check that every option applies.
    let build: @Sendable (OptionValues, _ budget: Int?) throws -> any TokenReducer
}

/// The reducer family by name: `ReducerCatalog.make("visionzip", OptionValues(["keep": "64"]))`. The
/// command line's `--method`, its per-method options and their help all come from here.
public enum ReducerCatalog {
    /// Rows handed to the language model.
    public static let keep = OptionSpec(
        "keep", .int(0...1_000_000), placeholder: "N",
        help: "rows handed to the LLM: fastervlm, visionzip, vispruner, cdpruner (required), divprune (default "
            + "int(round(0.098·N))), random (patches); with --method all, the fixed-budget methods' budget (default: "
            + "TRIM's own row count)")
    /// TRIM's fixed ratio, PruMerge's fixed ratio, the random control's ratio.
    public static let keepRatio = OptionSpec(
        "keep-ratio", .number(0...1), placeholder: "R",
        help: "trim: keep the top int(N·R) patches instead of the IQR outliers; prumerge / prumerge+: a fixed ratio "
            + "instead of the adaptive one; random: keep int(N·R) patches; divprune: keep int(round(R·N)) rows (any "
            + "resolution: of the L packed rows); hired: the token rate (default 0.2); globalcom2: the retention ratio "
            + "r (default 0.25)")
    /// TRIM's IQR multiplier.
    public static let iqrMultiplier = OptionSpec(
        "iqr-multiplier", .number(0...1000), placeholder: "M", default: "1.5",
        help: "trim: keep scores > Q3 + M·(Q3 − Q1)")
    /// TRIM's and CDPruner's similarity.
    public static let scoring = OptionSpec(
        "scoring", .choice(["paper", "authors"]),
        help: "trim: cosine (paper, the default) or negated raw dot product (the released code); cdpruner: "
            + "relevance −cos (authors, the released default) or +cos (paper)")
    /// TRIM's and the random control's mean token.
    public static let noMeanToken = OptionSpec(
        "no-mean-token", .flag, help: "trim / random: do not append the mean of the unselected patches")
    /// The random control's seed.
    public static let seed = OptionSpec("seed", .int(0...Int(Int32.max)), placeholder: "S", default: "0",
                                        help: "random: the generator's seed")
    /// VisionZip's dominant rows.
    public static let dominant = OptionSpec(
        "dominant", .int(1...1_000_000), placeholder: "D",
        help: "visionzip: D rows by attention ([CLS] included), with --contextual C merged rows (with --keep alone: "
            + "D = round(27·N/32), the released 54+10, 108+20, 162+30)")
    /// VisionZip's contextual rows.
    public static let contextual = OptionSpec("contextual", .int(0...1_000_000), placeholder: "C",
                                              help: "visionzip: C merged rows (with --dominant D)")
    /// HiRED's base share.
    public static let alpha = OptionSpec("alpha", .number(0...1), placeholder: "A", default: "0.5",
                                         help: "hired: the base view's share of the budget")
    /// VisPruner's important share.
    public static let importantRatio = OptionSpec(
        "important-ratio", .number(0...1), placeholder: "R", default: "0.5",
        help: "vispruner: share of the budget chosen by attention")

    /// Every method, in the order `--method all` runs and draws them.
    public static let entries: [ReducerEntry] = [
        ReducerEntry(name: "trim", summary: "prompt–patch similarity in CLIP space, IQR outliers, mean token",
                     options: [scoring, iqrMultiplier, keepRatio, noMeanToken], fixedBudget: false) { v, _ in
            TRIMReducer(options: try trimOptions(v))
        },
        ReducerEntry(name: "prumerge", summary: "[CLS] attention of the last layer, IQR outliers, merged neighbours",
                     options: [keepRatio], fixedBudget: false) { v, budget in
            PruMerge(plus: false, keepRatio: budget == nil ? try v.number(keepRatio) : nil)
        },
        ReducerEntry(name: "prumerge+", summary: "PruMerge plus a spatially uniform sample",
                     options: [keepRatio], fixedBudget: false) { v, budget in
            PruMerge(plus: true, keepRatio: budget == nil ? try v.number(keepRatio) : nil)
        },
        ReducerEntry(name: "fastervlm", summary: "top N by [CLS] attention of the selected layer",
                     options: [keep], fixedBudget: true) { v, budget in
            FasterVLM(keep: try requiredKeep(v, budget, method: "fastervlm"))
        },
        ReducerEntry(name: "visionzip", summary: "dominant tokens by [CLS] attention + contextual tokens merged by keys",
                     options: [keep, dominant, contextual], fixedBudget: true, build: visionZip),
        ReducerEntry(name: "vispruner", summary: "important tokens by [CLS] attention + diverse ones",
                     options: [keep, importantRatio], fixedBudget: true) { v, budget in
            VisPruner(keep: try requiredKeep(v, budget, method: "vispruner"),
                      importantRatio: try v.number(importantRatio) ?? 0.5)
        },
        ReducerEntry(name: "divprune", summary: "max–min diversity of the projector's rows (ignores the prompt)",
                     options: [keep, keepRatio], fixedBudget: true, globalBudget: true) { v, budget in
            if v.has(keep.name) && v.has(keepRatio.name) { throw OptionError("--keep and --keep-ratio exclude each other") }
            return DivPrune(keep: try budget ?? v.int(keep), keepRatio: budget == nil ? try v.number(keepRatio) : nil)
        },
        ReducerEntry(name: "cdpruner", summary: "conditional DPP: diversity weighted by relevance to the prompt",
                     options: [keep, scoring], fixedBudget: true) { v, budget in
            CDPruner(keep: try requiredKeep(v, budget, method: "cdpruner"),
                     scoring: try v.choice(scoring).flatMap(Scoring.init(rawValue:)) ?? .authors)
        },
        ReducerEntry(name: "hired", summary: "any resolution: [CLS] attention, a budget shared across views by layer-0 attention",
                     options: [keepRatio, alpha], fixedBudget: false, anyResolutionOnly: true) { v, _ in
            HiRED(rate: try v.number(keepRatio) ?? 0.2, alpha: try v.number(alpha) ?? 0.5)
        },
        ReducerEntry(name: "globalcom2", summary: "any resolution: thumbnail + tiles scaled by global and local [CLS] logits",
                     options: [keepRatio], fixedBudget: false, anyResolutionOnly: true) { v, _ in
            GlobalCom2(ratio: try v.number(keepRatio) ?? 0.25)
        },
        ReducerEntry(name: "random", summary: "the control: random patches + mean token",
                     options: [keep, keepRatio, seed, noMeanToken], fixedBudget: false, build: random),
        ReducerEntry(name: "none", summary: "no reduction: every patch, no extra row (LLaVA's own input)",
                     options: [], fixedBudget: false, compared: false) { _, _ in NoReduction() },
    ]

    /// Every method's name, in catalog order.
    public static var names: [String] { entries.map(\.name) }

    /// The methods `--method all` runs and compares on one view, in catalog order (every reducer but those
    /// built for any-resolution input; not `none`).
    public static var compared: [String] { entries.filter { $0.compared && !$0.anyResolutionOnly }.map(\.name) }

    /// The methods `--method all` runs on any-resolution input: every reducer (not `none`).
    public static var comparedAnyResolution: [String] { entries.filter(\.compared).map(\.name) }

    /// Every option some method takes, once each, in first-use order.
    public static var allOptions: [OptionSpec] {
        var seen = Set<String>()
        return entries.flatMap(\.options).filter { seen.insert($0.name).inserted }
    }

    /// The entry named `name`, or an `OptionError` listing the names.
    public static func entry(_ name: String) throws -> ReducerEntry {
        guard let e = entries.first(where: { $0.name == name }) else {
            throw OptionError("--method must be \(names.joined(separator: ", ")) or all, got '\(name)'")
        }
        return e
    }

    /// The reducer `name` with `values`. Without `budget`, an option another method takes but this one does
    /// not is refused; with it (`--method all`), options apply where they can and `budget` stands in for a
    /// missing `--keep`.
    public static func make(_ name: String, _ values: OptionValues = OptionValues(), budget: Int? = nil) throws
        -> any TokenReducer
    {
        let e = try entry(name)
        if budget == nil {
            let own = Set(e.options.map(\.name))
            for o in allOptions.map(\.name).filter({ !own.contains($0) }).sorted() where values.has(o) {
                throw OptionError("--\(o) does not apply to --method \(name)")
            }
        }
        return try e.build(values, budget)
    }

    /// What one vision pass must compute for every method of `names` (a method's needs do not depend on
    /// its budget).
    public static func needs(of names: [String], _ values: OptionValues = OptionValues()) throws -> ReducerNeeds {
        try names.reduce(ReducerNeeds()) { $0.union(try make($1, values, budget: 1).needs) }
    }

    /// TRIM's options from values: scoring, selection rule (`--keep-ratio` or `--iqr-multiplier`), mean token.
    public static func trimOptions(_ v: OptionValues) throws -> ReductionOptions {
        var o = ReductionOptions()
        if let s = try v.choice(scoring) { o.scoring = Scoring(rawValue: s)! }
        if v.has(keepRatio.name) && v.has(iqrMultiplier.name) {
            throw OptionError("--keep-ratio and --iqr-multiplier exclude each other")
        }
        if let r = try v.number(keepRatio) { o.selection = .keepRatio(r) }
        if let m = try v.number(iqrMultiplier) { o.selection = .iqr(multiplier: Float(m)) }
        o.meanToken = !v.flag(noMeanToken.name)
        return o
    }

    private static func requiredKeep(_ v: OptionValues, _ budget: Int?, method: String) throws -> Int {
        guard let k = try budget ?? v.int(keep) else {
            throw OptionError("--method \(method) needs --keep N (rows handed to the LLM)")
        }
        return k
    }

    private static func visionZip(_ v: OptionValues, _ budget: Int?) throws -> any TokenReducer {
        let d = try v.int(dominant), c = try v.int(contextual)
        if d != nil || c != nil {
            guard let d, let c else { throw OptionError("--dominant and --contextual go together") }
            if v.has(keep.name), let k = try budget ?? v.int(keep), d + c != k {
                throw OptionError("--keep \(k) is not --dominant \(d) + --contextual \(c)")
            }
            return VisionZip(dominant: d, contextual: c)
        }
        let k = try requiredKeep(v, budget, method: "visionzip")
        guard k >= 1 else { throw OptionError("--method visionzip needs --keep of at least 1 (the [CLS] row)") }
        return VisionZip(keep: k)
    }

    private static func random(_ v: OptionValues, _ budget: Int?) throws -> any TokenReducer {
        let seed = UInt64(try v.int(Self.seed) ?? 0), meanToken = !v.flag(noMeanToken.name)
        if let budget {  // --method all: as many rows as the others, the mean token counting as one
            return RandomSelection(keep: max(budget - (meanToken ? 1 : 0), 0), seed: seed, meanToken: meanToken)
        }
        let keep = try v.int(Self.keep), ratio = try v.number(keepRatio)
        guard (keep == nil) != (ratio == nil) else { throw OptionError("--method random needs one of --keep N or --keep-ratio R") }
        // With a ratio, the count is int(N·R); N is known once the model is, so it is resolved lazily.
        return RandomSelection(keep: keep ?? -1, seed: seed, meanToken: meanToken, ratio: ratio)
    }
}

import Foundation
import TRIM
import TRIMEval
import TRIMJSON
import TRIMResources

let evalCommand = Command(
    name: "eval",
    summary: "measure what reducers keep on scenes with object masks (precision, recall, prompt sensitivity)",
    synopsis: "[--model DIR] [--scenes N] [--seed S] [--input DIR] [--method M|all] [--anyres] [options]",
    description: """
        Draws N scenes of the demo world (coloured balls, squares, triangles and stars on muted
        backgrounds; a renderer of its own, seeds from S on — the demo model never saw them), or reads a
        scene directory, runs the vision tower once per scene and every method on every prompt, and prints
        per method and selection rule:
          precision  kept patches touching the prompted object / kept        (median and mean)
          recall     patches the object covers by half that were kept        (median and mean)
          kept       median kept patches; tokens: mean rows handed to the LLM
          overlap    median Jaccard of the kept sets of two prompts about different objects of one
                     scene (prompt sensitivity: 0 = disjoint, 1 = the same patches whatever is asked)
          time       the method's own time per prompt, after the shared vision pass
        With --method all: TRIM, PruMerge, PruMerge+, the random control (as many rows as TRIM handed on
        for the same prompt: random patches plus the mean token), and the fixed-budget reducers
        (\(ReducerCatalog.entries.filter(\.fixedBudget).map(\.name).joined(separator: ", "))) with a random
        control at each budget.

        With --anyres: N high-resolution scenes (1008–1600 px long, aspect 2:1–3:1, objects 16–48 px;
        seeds from 2000000 on), and TRIM on LLaVA-1.5's one padded view against TRIM on every view of
        LLaVA-NeXT's any-resolution layout (the base view and the tiles; the bundled model comes with the
        bundled Weights/llava-next-demo, or give a LLaVA-NeXT checkpoint as --projector), each beside a
        random control with TRIM's budget; precision and recall over all views' patches, tokens (rows
        handed on, newline rows included), objects found (some kept patch touches the prompted object)
        and found where the other layout missed them, time. Docs/EVAL.md defines each.
        """,
    options: [
        OptionSpec("model", .text, placeholder: "DIR", default: "the bundled demo model, clip-demo", help: "CLIP checkpoint directory"),
        OptionSpec("scenes", .int(1...1_000_000), placeholder: "N", default: "100", help: "generated scenes"),
        OptionSpec("seed", .int(0...Int(Int32.max)), placeholder: "S", default: "1000000", help: "first scene seed (scene i uses S + i)"),
        OptionSpec("input", .text, placeholder: "DIR", help: "read DIR/scenes.jsonl instead (see Docs/EVAL.md for the format)"),
        OptionSpec("write-scenes", .text, placeholder: "DIR", help: "also write the scenes evaluated (PNG + masks + scenes.jsonl) to DIR"),
        Common.method,
        OptionSpec("budgets", .text, placeholder: "LIST", default: "64,128,192,trim",
                   help: "rows for the fixed-budget reducers, comma-separated; \"trim\" = TRIM's own count for each prompt"),
        OptionSpec("projector", .text, placeholder: "PATH",
                   help: "LLaVA projector for DivPrune and CDPruner, which choose among its rows (default with the bundled "
                       + "model: the bundled demo projector; without one they work on the features)"),
        OptionSpec("scoring", .choice(["paper", "authors", "both"]), default: "both",
                   help: "TRIM's similarity (both: the paper's cosine and the released code's negated dot product, side by side)"),
        ReducerCatalog.iqrMultiplier,
        OptionSpec("keep-ratio", .number(0...1), placeholder: "R",
                   help: "also evaluate TRIM keeping the top int(N·R) patches; PruMerge and PruMerge+ use R as their fixed ratio"),
        OptionSpec("json", .flag, help: "print one JSON object instead of the table"),
        Common.quiet,
        OptionSpec("anyres", .flag,
                   help: "high-resolution scenes: TRIM on one padded view (LLaVA-1.5) against TRIM on every view of the "
                       + "any-resolution layout (LLaVA-NeXT), or with --method all every method on Hugging Face's views "
                       + "at TRIM's row count (--keep N: N rows); --seed defaults to \(SceneGenerator.highResolutionSeed)"),
        Common.pinpoints, Common.newlines,
        OptionSpec("keep", .int(1...1_000_000), placeholder: "N",
                   help: "--anyres --method all: the total rows every method gets (default: TRIM's own count per prompt)"),
        OptionSpec("views", .choice(["hf"]), default: "hf",
                   help: "--anyres --method all: the methods compared on Hugging Face's views and packing (the only choice)"),
    ],
    run: { a in
        try a.noPositional()
        if a.flag("anyres") { return try evalAnyResolution(a) }
        for o in ["pinpoints", "newlines", "views", "keep"] where a.value(o) != nil { throw UsageError("--\(o) applies to --anyres") }
        let modelURL: URL
        var projectorURL: URL?
        if let m = a.value("model") { modelURL = try existingPath(m, what: "model directory") } else {
            guard let u = BundledResources.url(for: Demo.model) else { throw CLIError.missingBundledFile(Demo.model) }
            modelURL = u
            projectorURL = BundledResources.url(for: Demo.projector)
        }
        if let p = a.value("projector") { projectorURL = try existingPath(p, what: "projector") }
        let plan = try EvalPlan(a)
        let pipeline = try TRIMPipeline(modelDirectory: modelURL, projector: plan.usesProjector ? projectorURL : nil,
                                        needs: plan.needs)
        let methods = try plan.methods(pipeline)
        let (scenes, source) = try evalScenes(a)
        let progress = Progress(label: "eval", quiet: a.flag("quiet"))
        let result = Evaluation(pipeline: pipeline, methods: methods).run(scenes) { done, total in
            progress.update(done: done, total: total, unit: "scenes")
        }
        progress.finish()
        for (scene, message) in result.failures.prefix(20) {
            FileHandle.standardError.write(Data("warning: \(scene): \(message)\n".utf8))
        }
        let prompts = scenes.reduce(0) { $0 + $1.prompts.count }
        let visionPerScene = scenes.isEmpty ? 0 : result.visionSeconds / Double(scenes.count)
        if a.flag("json") {
            printJSON([("model", .string(modelURL.path)), ("source", .string(source)), ("scenes", .int(scenes.count)),
                       ("prompts", .int(prompts)), ("vision_ms_per_scene", .double(visionPerScene * 1000)),
                       ("methods", .array(result.rows.map(evalRowJSON))),
                       ("failures", .array(result.failures.map { .string("\($0.0): \($0.1)") }))])
            return
        }
        print("trim eval: \(modelURL.path)")
        print("scenes:    \(source); \(prompts) prompts; vision \(formatSeconds(visionPerScene)) per scene")
        if plan.usesProjector {
            print("projector: " + (pipeline.projector.map { _ in projectorURL!.path + " (DivPrune and CDPruner choose among its rows)" }
                                   ?? "none: DivPrune and CDPruner work on the features"))
        }
        print(evalTable(result.rows))
        if !result.failures.isEmpty { print("failures:  \(result.failures.count) (see stderr)") }
    })

/// What `trim eval` compares: the methods and variants its options ask for, and what their shared vision
/// pass must compute.
struct EvalPlan {
    var method: String
    var scorings: [Scoring]
    var multiplier: Float
    var ratio: Double?
    /// Budgets of the fixed-budget reducers; `nil` = TRIM's own count for each prompt.
    var budgets: [Int?]
    /// The fixed-budget reducers evaluated.
    var chosen: [String]

    init(_ a: Arguments) throws {
        method = try Common.methodName(a)
        scorings = a.value("scoring").flatMap(Scoring.init(rawValue:)).map { [$0] } ?? [.paper, .authors]
        multiplier = Float(a.double("iqr-multiplier") ?? 1.5)
        ratio = a.double("keep-ratio")
        budgets = []
        for item in (a.value("budgets") ?? "64,128,192,trim").split(separator: ",", omittingEmptySubsequences: false) {
            let t = item.trimmingCharacters(in: .whitespaces)
            if t == "trim" { budgets.append(nil); continue }
            guard let b = Int(t), b >= 1, b <= 1_000_000 else {
                throw UsageError("--budgets takes positive row counts or 'trim', comma-separated, got '\(t)'")
            }
            budgets.append(b)
        }
        let budgeted = ReducerCatalog.entries.filter(\.fixedBudget).map(\.name)
        let m = method
        chosen = m == "all" ? budgeted : budgeted.filter { $0 == m }
    }

    var withBudgeted: Bool { !chosen.isEmpty }
    var withTRIM: Bool { ["trim", "all", "random"].contains(method) || (withBudgeted && budgets.contains(nil)) }
    var withPruMerge: Bool { ["prumerge", "prumerge+", "all"].contains(method) }
    var usesProjector: Bool { chosen.contains("divprune") || chosen.contains("cdpruner") }

    /// What the one vision pass per scene must compute.
    var needs: ReducerNeeds {
        get throws {
            var needs: ReducerNeeds = TRIMReducer().needs
            if withPruMerge { needs.formUnion(PruMerge().needs) }
            return needs.union(try ReducerCatalog.needs(of: chosen))
        }
    }

    /// A fixed-budget reducer from the catalog at a given budget (CDPruner with the scoring given).
    func makeBudgeted(_ name: String, scoring: Scoring) -> @Sendable (Int) throws -> any TokenReducer {
        let values = OptionValues(name == "cdpruner" ? ["scoring": scoring.rawValue] : [:])
        return { budget in try ReducerCatalog.make(name, values, budget: budget) }
    }

    /// The methods in table order: TRIM's variants, PruMerge(+), the random control at TRIM's count, then
    /// the fixed-budget reducers grouped by budget, each group with its random control.
    func methods(_ pipeline: TRIMPipeline) throws -> [EvalMethod] {
        var methods: [EvalMethod] = []
        if withTRIM {
            for s in scorings {
                var o = ReductionOptions()
                o.scoring = s
                o.selection = .iqr(multiplier: multiplier)
                methods.append(.trim(pipeline, options: o))
                if let ratio {
                    o.selection = .keepRatio(ratio)
                    methods.append(.trim(pipeline, options: o))
                }
            }
        }
        if method == "prumerge" || method == "all" {
            methods.append(.reducer(pipeline, PruMerge(keepRatio: ratio), rule: ratio.map { "fixed ratio \($0)" } ?? "adaptive (IQR, CLS attn)"))
        }
        if method == "prumerge+" || method == "all" {
            methods.append(.reducer(pipeline, PruMerge(plus: true, keepRatio: ratio), rule: ratio.map { "fixed ratio \($0)" } ?? "adaptive + spatial"))
        }
        let trimLabel = methods.first.map { "trim \($0.rule.split(separator: " ").first ?? "")" } ?? "trim"
        if method == "random" || method == "all" {
            methods.append(.random(budgetFrom: 0, label: trimLabel))
        }
        for budget in withBudgeted ? budgets : [] {
            let label = budget.map { "\($0) rows" } ?? "\(trimLabel)'s count"
            for name in chosen {
                for scoring in name == "cdpruner" ? scorings.map(Optional.some) : [nil] {
                    let make = makeBudgeted(name, scoring: scoring ?? .authors)
                    let rule = (scoring.map { "\($0.rawValue) · " } ?? "") + label
                    methods.append(.budgeted(pipeline, name: name, rule: rule, needs: try make(1).needs, rows: budget,
                                             budgetFrom: budget == nil ? 0 : nil, make: make))
                }
            }
            if method == "all" && budget != nil { methods.append(.random(rows: budget, label: label)) }
        }
        return methods
    }
}

/// The scenes `--input` names, or `--scenes N` generated from `--seed S`; written out with `--write-scenes`.
func evalScenes(_ a: Arguments) throws -> (scenes: [Scene], source: String) {
    let scenes: [Scene]
    let source: String
    if let input = a.value("input") {
        scenes = try SceneDirectory.read(try existingPath(input, what: "scene directory"))
        source = input
    } else {
        let count = a.int("scenes") ?? 100, seed = a.int("seed") ?? 1_000_000
        scenes = (0..<count).map { SceneGenerator.scene(seed: UInt64(seed + $0)) }
        source = "\(count) generated scenes, seeds \(seed)…\(seed + count - 1)"
    }
    if let dir = a.value("write-scenes") { try SceneDirectory.write(scenes, to: URL(fileURLWithPath: dir)) }
    return (scenes, source)
}

/// One row of `trim eval --json`'s `methods`.
func evalRowJSON(_ r: EvalRow) -> JSONValue {
    func num(_ x: Double?) -> JSONValue { x.map { .double($0) } ?? .null }
    return .object(JSONObject([
        ("method", .string(r.method)), ("rule", .string(r.rule)), ("prompts", .int(r.prompts)),
        ("empty", .int(r.empty)), ("precision_median", num(r.precision.median)),
        ("precision_mean", num(r.precision.mean)), ("recall_median", num(r.recall.median)),
        ("recall_mean", num(r.recall.mean)), ("kept_median", num(r.keptMedian)),
        ("tokens_mean", num(r.tokensMean)), ("overlap_median", num(r.jaccard)), ("pairs", .int(r.pairs)),
        ("ms_per_prompt", .double(r.secondsPerPrompt * 1000)),
    ]))
}

/// The `trim eval` table, one row per method and rule.
func evalTable(_ rows: [EvalRow]) -> String {
    func f(_ x: Double?, _ digits: Int = 2) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "—" }
    var lines = [
        "method      rule                        prompts  precision (mean)  recall (mean)  kept  tokens  overlap  empty  ms/prompt",
    ]
    for r in rows {
        lines.append(
            r.method.padding(toLength: 12, withPad: " ", startingAt: 0)
                + r.rule.padding(toLength: 28, withPad: " ", startingAt: 0)
                + String(format: "%7d", r.prompts)
                + "  " + "\(f(r.precision.median)) (\(f(r.precision.mean)))".padding(toLength: 16, withPad: " ", startingAt: 0)
                + "  " + "\(f(r.recall.median)) (\(f(r.recall.mean)))".padding(toLength: 13, withPad: " ", startingAt: 0)
                + "  " + right(f(r.keptMedian, 0), 4) + "  " + right(f(r.tokensMean, 1), 6)
                + "  " + right(f(r.jaccard), 7) + String(format: "  %5d", r.empty)
                + String(format: "  %9.2f", r.secondsPerPrompt * 1000))
    }
    return lines.joined(separator: "\n")
}

/// `s` right-aligned in `width` columns.
func right(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }

/// A progress line on stderr: rewritten in place on a terminal, a plain line every few seconds otherwise.
final class Progress: @unchecked Sendable {
    let label: String
    let quiet: Bool
    let terminal = isatty(2) != 0  // standard error
    let start = DispatchTime.now().uptimeNanoseconds
    var lastPrint: UInt64 = 0
    var wrote = false

    init(label: String, quiet: Bool) {
        self.label = label
        self.quiet = quiet
    }

    func update(done: Int, total: Int, unit: String) {
        guard !quiet else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard done == total || now - lastPrint > (terminal ? 200_000_000 : 5_000_000_000) else { return }
        lastPrint = now
        let elapsed = Double(now - start) / 1e9
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = "\(label): \(done)/\(total) \(unit) · " + String(format: "%.2f", rate) + "/s · elapsed "
            + clock(elapsed) + " · eta " + clock(eta)
        FileHandle.standardError.write(Data((terminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
        wrote = true
    }

    func finish() {
        if terminal && wrote && !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}

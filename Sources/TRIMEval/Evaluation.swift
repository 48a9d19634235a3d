import Foundation
import TRIM
import TRIMImage

/// One way of choosing patches for a prompt, as `trim eval` compares them: a name, a selection-rule label,
/// and what it keeps for an encoded image and a prompt.
public struct EvalMethod: Sendable {
    /// What it kept: patch indices, and the number of rows it hands on.
    public struct Choice: Sendable {
        /// Kept patch indices (any order).
        public var kept: [Int]
        /// Rows handed to the language model (e.g. K + 1 with a mean token).
        public var tokens: Int

        /// A choice of patches.
        public init(kept: [Int], tokens: Int) {
            self.kept = kept
            self.tokens = tokens
        }
    }

    /// The method's name, e.g. `trim`.
    public var name: String
    /// The selection rule or variant, e.g. `paper · IQR ×1.5`.
    public var rule: String
    /// What it needs the shared vision pass to compute.
    public var needs: ReducerNeeds
    /// The index of an earlier method whose row count for the same prompt is this one's budget (matched
    /// budgets: the random control, the fixed-budget reducers at TRIM's own count), or `nil`.
    public var budgetFrom: Int?
    /// Chooses patches for one prompt about an encoded image, given the budget in rows (when `budgetFrom`
    /// is set).
    public var choose: @Sendable (EncodedImage, String, Int?) throws -> Choice

    /// A method from its parts.
    public init(name: String, rule: String, needs: ReducerNeeds, budgetFrom: Int? = nil,
                choose: @escaping @Sendable (EncodedImage, String, Int?) throws -> Choice)
    {
        self.name = name
        self.rule = rule
        self.needs = needs
        self.budgetFrom = budgetFrom
        self.choose = choose
    }

    /// Any reducer of the family, run through `TRIMPipeline.reduce` (with the projector, when the pipeline
    /// has one; `trim eval` loads none, since projecting does not change the choice).
    public static func reducer(_ pipeline: TRIMPipeline, _ reducer: any TokenReducer, rule: String? = nil) -> EvalMethod {
        budgeted(pipeline, name: reducer.name, rule: rule ?? reducer.settings, needs: reducer.needs) { _ in reducer }
    }

    /// A fixed-budget reducer handed `rows` rows, or — with `rows` nil — as many as method `budgetFrom`
    /// handed on for the same prompt; `make` builds it for a budget.
    public static func budgeted(_ pipeline: TRIMPipeline, name: String, rule: String, needs: ReducerNeeds,
                                rows: Int? = nil, budgetFrom: Int? = nil,
                                make: @escaping @Sendable (Int) throws -> any TokenReducer) -> EvalMethod {
        EvalMethod(name: name, rule: rule, needs: needs, budgetFrom: budgetFrom) { encoded, prompt, matched in
            let r = try pipeline.reduce(encoded, prompt: prompt, reducer: try make(rows ?? matched ?? 0)).reduction
            return Choice(kept: r.keptIndices, tokens: r.reduced.rows)
        }
    }

    /// TRIM with the given scoring and selection.
    public static func trim(_ pipeline: TRIMPipeline, options: ReductionOptions) -> EvalMethod {
        let rule: String
        switch options.selection {
        case .iqr(let m): rule = "\(options.scoring.rawValue) · IQR ×\(m)"
        case .keepRatio(let r): rule = "\(options.scoring.rawValue) · ratio \(r)"
        }
        return reducer(pipeline, TRIMReducer(options: options), rule: rule)
    }

    /// The control: uniformly random patches plus the mean token, `rows` rows in all — or as many rows as
    /// method `budgetFrom` handed on for the same prompt; seeded by the scene and prompt, so reruns agree.
    public static func random(budgetFrom: Int? = nil, rows: Int? = nil, label: String) -> EvalMethod {
        EvalMethod(name: "random", rule: "budget of \(label)", needs: [], budgetFrom: budgetFrom) { encoded, prompt, matched in
            var seed: UInt64 = 1469598103934665603  // FNV-1a of the prompt, mixed with the image's first pixels
            for b in prompt.utf8 { seed = (seed ^ UInt64(b)) &* 1099511628211 }
            for v in encoded.views[0].pixelValues.scalars.prefix(64) { seed = (seed ^ UInt64(v.bitPattern)) &* 1099511628211 }
            let kept = RandomSelection.sample((rows ?? matched ?? 1) - 1, of: encoded.patchCount, seed: seed)
            return Choice(kept: kept, tokens: kept.count + 1)
        }
    }
}

/// The per-method summary of an evaluation.
public struct EvalRow: Sendable {
    /// Method name and rule.
    public var method: String, rule: String
    /// Prompts evaluated.
    public var prompts: Int
    /// Prompts for which nothing was kept (precision undefined there).
    public var empty: Int
    /// Median and mean precision over prompts that kept something.
    public var precision: (median: Double?, mean: Double?)
    /// Median and mean recall over prompts whose object covers some patch by half.
    public var recall: (median: Double?, mean: Double?)
    /// Median kept patches, and mean rows handed on.
    public var keptMedian: Double?, tokensMean: Double?
    /// Median Jaccard overlap of the kept sets of two prompts about different objects of one scene.
    public var jaccard: Double?
    /// Number of object pairs behind `jaccard`.
    public var pairs: Int
    /// Mean seconds per prompt of the method's own work (after the shared vision pass).
    public var secondsPerPrompt: Double
}

/// Runs methods over scenes: one vision pass per scene, every method on every prompt.
public struct Evaluation {
    /// The pipeline whose encoder every method shares.
    public var pipeline: TRIMPipeline
    /// The methods compared.
    public var methods: [EvalMethod]

    /// An evaluation of `methods` on `pipeline`'s encoder.
    public init(pipeline: TRIMPipeline, methods: [EvalMethod]) {
        self.pipeline = pipeline
        self.methods = methods
    }

    /// Per-prompt outcome, kept for tests and `--json`.
    public struct Outcome: Sendable {
        public var scene: String, prompt: String, object: Int, method: Int
        public var kept: [Int], tokens: Int, score: SelectionScore, seconds: Double
    }

    /// Evaluates every scene; `progress(done, total)` is called after each scene. Scenes whose image
    /// cannot be encoded are reported in `failures` and skipped.
    public func run(_ scenes: [Scene], progress: (Int, Int) -> Void = { _, _ in })
        -> (rows: [EvalRow], outcomes: [Outcome], failures: [(String, String)], visionSeconds: Double)
    {
        var outcomes: [Outcome] = []
        var failures: [(String, String)] = []
        var visionSeconds = 0.0
        let config = pipeline.preprocessor
        let grid = pipeline.clip.config.vision.gridSize
        let needs = methods.reduce(ReducerNeeds()) { $0.union($1.needs) }
        for (n, scene) in scenes.enumerated() {
            defer { progress(n + 1, scenes.count) }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let encoded: EncodedImage
            do { encoded = try pipeline.encode(image: scene.image, needs: needs) } catch {
                failures.append((scene.name, "\(error)"))
                continue
            }
            visionSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let coverage = scene.objects.map {
                patchCoverage(mask: $0.mask, width: scene.image.width, height: scene.image.height, config: config,
                              layout: encoded.layout, grid: grid)
            }
            var rowCount: [Int: [Int: Int]] = [:]  // method → prompt → rows handed on (for matched budgets)
            for (m, method) in methods.enumerated() {
                for (pi, p) in scene.prompts.enumerated() {
                    let start = DispatchTime.now().uptimeNanoseconds
                    do {
                        let budget = method.budgetFrom.flatMap { rowCount[$0]?[pi] }
                        let c = try method.choose(encoded, p.text, budget)
                        rowCount[m, default: [:]][pi] = c.tokens
                        let s = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                        outcomes.append(Outcome(scene: scene.name, prompt: p.text, object: p.object, method: m,
                                                kept: c.kept, tokens: c.tokens,
                                                score: SelectionScore(kept: c.kept, coverage: coverage[p.object]),
                                                seconds: s))
                    } catch {
                        failures.append((scene.name, "\(method.name) (\(method.rule)) on \"\(p.text)\": \(error)"))
                    }
                }
            }
        }
        let rows = methods.indices.map { m in Self.summarize(outcomes.filter { $0.method == m }, method: methods[m]) }
        return (rows, outcomes, failures, visionSeconds)
    }

    /// Aggregates one method's outcomes.
    static func summarize(_ os: [Outcome], method: EvalMethod) -> EvalRow {
        let precisions = os.compactMap(\.score.precision), recalls = os.compactMap(\.score.recall)
        // Prompt sensitivity: every pair of prompts about different objects of one scene.
        var overlaps: [Double] = []
        let byScene = Dictionary(grouping: os, by: \.scene)
        for (_, group) in byScene.sorted(by: { $0.key < $1.key }) {
            for i in group.indices {
                for j in group.indices where j > i && group[i].object != group[j].object {
                    overlaps.append(jaccard(group[i].kept, group[j].kept))
                }
            }
        }
        return EvalRow(
            method: method.name, rule: method.rule, prompts: os.count, empty: os.filter { $0.kept.isEmpty }.count,
            precision: (median(precisions), mean(precisions)), recall: (median(recalls), mean(recalls)),
            keptMedian: median(os.map { Double($0.score.kept) }), tokensMean: mean(os.map { Double($0.tokens) }),
            jaccard: median(overlaps), pairs: overlaps.count,
            secondsPerPrompt: os.isEmpty ? 0 : os.map(\.seconds).reduce(0, +) / Double(os.count))
    }
}

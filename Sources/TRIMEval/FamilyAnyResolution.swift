import Foundation
import TRIM
import TRIMImage

/// `trim eval --anyres --method all`: every method of the family on the same high-resolution scenes, on Hugging
/// Face's views and packing (`--views hf`, like for like), at matched total budgets (Docs/EVAL.md).
///
/// Per scene: one vision pass of the base view and the tiles with every method's needs, the objects' coverage of
/// each view. Per prompt: TRIM first; its row count (or `keep`) is the total budget B the others get — B / V
/// per view for the per-view methods, B for DivPrune, the rate B / (V·N) for HiRED and GlobalCom²; PruMerge and
/// PruMerge+ choose their own counts.
public struct FamilyAnyResolutionEvaluation {
    public var pipeline: TRIMPipeline
    /// TRIM's settings.
    public var options: ReductionOptions
    /// The canvases (empty: Hugging Face's default set).
    public var pinpoints: [Pinpoint]
    public var newlines: NewlinePolicy
    /// The total budget, or `nil` for TRIM's own row count per prompt.
    public var keep: Int?

    public init(pipeline: TRIMPipeline, options: ReductionOptions, pinpoints: [Pinpoint], newlines: NewlinePolicy = .all,
                keep: Int? = nil) {
        (self.pipeline, self.options, self.pinpoints, self.newlines, self.keep) = (pipeline, options, pinpoints, newlines, keep)
    }

    /// The methods compared, in table order.
    public static var methods: [String] { ReducerCatalog.comparedAnyResolution }

    /// One prompt's outcome for one method.
    public struct Outcome: Sendable {
        public var scene: String, promptIndex: Int, method: String
        /// Patches handed on, rows handed on.
        public var kept: Int, tokens: Int
        /// The object's size on the tiles, in patches across.
        public var patchesAcross: Double
        public var score: SelectionScore
        public var seconds: Double
    }

    /// One method's summary.
    public struct Row: Sendable {
        public var method: String
        public var prompts: Int, empty: Int
        public var precision: (median: Double?, mean: Double?), recall: (median: Double?, mean: Double?)
        public var rowsMean: Double?, keptMedian: Double?
        /// Prompts whose object some handed-on patch touches; of those about objects under 1.5 patches across.
        public var found: Int, smallFound: Int
        public var secondsPerPrompt: Double?
    }

    /// What a run measured.
    public struct Report: Sendable {
        public var rows: [Row]
        public var outcomes: [Outcome]
        public var failures: [(String, String)]
        public var scenes: Int, prompts: Int
        /// Prompts about objects under `smallBelow` patches across on the tiles.
        public var smallPrompts: Int
        /// Mean seconds of the one vision pass per scene.
        public var visionSeconds: Double
    }

    /// The size under which an object counts as small, in patches across on the tiles.
    public static let smallBelow = 1.5

    /// Runs `count` scenes, one at a time.
    public func run(count: Int, scene: (Int) throws -> Scene, progress: (Int, Int) -> Void = { _, _ in }) -> Report {
        var outcomes: [Outcome] = [], failures: [(String, String)] = []
        var scenes = 0, prompts = 0, vision = 0.0
        let needs: ReducerNeeds
        do { needs = try ReducerCatalog.needs(of: Self.methods) } catch {
            return Report(rows: [], outcomes: [], failures: [("needs", "\(error)")], scenes: 0, prompts: 0, smallPrompts: 0, visionSeconds: 0)
        }
        for i in 0..<count {
            defer { progress(i + 1, count) }
            do {
                let s = try scene(i)
                let t = DispatchTime.now().uptimeNanoseconds
                let encoded = try pipeline.encode(image: s.image, layout: .anyResolution(pinpoints: pinpoints),
                                                  selectLayer: options.selectLayer, needs: needs)
                vision += AnyResolutionEvaluation.since(t)
                guard let grid = encoded.grid else { continue }
                let layouts = AnyResolutionEvaluation.SceneLayouts(s, grid: grid, pipeline: pipeline)
                scenes += 1
                for (pi, p) in s.prompts.enumerated() {
                    prompts += 1
                    do {
                        outcomes += try evaluate(encoded, prompt: p.text, coverage: layouts.everyCoverage[p.object],
                                                 scene: s.name, promptIndex: pi, across: layouts.across[p.object])
                    } catch {
                        failures.append((s.name, "\"\(p.text)\": \(error)"))
                    }
                }
            } catch {
                failures.append(("scene \(i)", "\(error)"))
            }
        }
        let small = outcomes.filter { $0.method == "trim" && $0.patchesAcross < Self.smallBelow }.count
        return Report(rows: Self.summarize(outcomes), outcomes: outcomes, failures: failures, scenes: scenes, prompts: prompts,
                      smallPrompts: small, visionSeconds: vision / Double(max(scenes, 1)))
    }

    /// Every method on one prompt, TRIM first: its row count sets the others' budget.
    private func evaluate(_ encoded: EncodedImage, prompt: String, coverage: [[Float]], scene: String, promptIndex: Int,
                          across: Double) throws -> [Outcome] {
        var outcomes: [Outcome] = []
        var budget = keep
        let v = encoded.views.count, n = encoded.views[0].features.rows
        for method in Self.methods {
            let b = budget ?? 0
            let reducer: any TokenReducer
            switch method {
            case "trim": reducer = TRIMReducer(options: options)
            case "hired": reducer = HiRED(rate: min(1, Double(b) / Double(v * n)))
            case "globalcom2": reducer = GlobalCom2(ratio: min(1, Double(b) / Double(v * n)))
            default:
                let global = (try? ReducerCatalog.entry(method))?.globalBudget ?? false
                reducer = try ReducerCatalog.make(method, budget: global ? b : max(1, b / v))
            }
            pipeline.clearPromptCaches()
            let t = DispatchTime.now().uptimeNanoseconds
            let r = try pipeline.reduce(encoded, prompt: prompt, reducer: reducer, newlines: newlines, views: .hf)
            let seconds = AnyResolutionEvaluation.since(t)
            if budget == nil { budget = r.tokens }
            let kept = handedOnPatches(r)
            outcomes.append(Outcome(scene: scene, promptIndex: promptIndex, method: method, kept: kept.count, tokens: r.tokens,
                                    patchesAcross: across, score: SelectionScore(kept: kept, coverage: coverage), seconds: seconds))
        }
        return outcomes
    }

    /// Per method, in table order.
    static func summarize(_ outcomes: [Outcome]) -> [Row] {
        methods.map { m in
            let os = outcomes.filter { $0.method == m }
            let precisions = os.compactMap(\.score.precision), recalls = os.compactMap(\.score.recall)
            return Row(method: m, prompts: os.count, empty: os.filter { $0.kept == 0 }.count,
                       precision: (median(precisions), mean(precisions)), recall: (median(recalls), mean(recalls)),
                       rowsMean: mean(os.map { Double($0.tokens) }), keptMedian: median(os.map { Double($0.kept) }),
                       found: os.filter(\.score.found).count,
                       smallFound: os.filter { $0.score.found && $0.patchesAcross < smallBelow }.count,
                       secondsPerPrompt: os.isEmpty ? nil : os.reduce(0) { $0 + $1.seconds } / Double(os.count))
        }
    }
}

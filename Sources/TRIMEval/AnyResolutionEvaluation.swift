import Foundation
import TRIM
import TRIMImage

/// `trim eval --anyres`: TRIM on LLaVA-1.5's one padded view against TRIM on every view of LLaVA-NeXT's
/// any-resolution layout, on the same scenes, prompts and vision tower (Docs/EVAL.md, "High resolution").
///
/// Per scene: two vision passes (the padded view; the base view and the tiles in one batch), the objects'
/// coverage in each layout's views (`patchCoverage`, `anyResolutionCoverage`), then per prompt TRIM on each
/// layout and a random control with TRIM's budget on each. The every-view selection is also scored on its
/// base view alone and on its tiles alone.
public struct AnyResolutionEvaluation {
    /// The pipeline: its vision tower serves both layouts (the LLaVA-NeXT checkpoint's own when loaded).
    public var pipeline: TRIMPipeline
    /// TRIM's settings, the same for both layouts.
    public var options: ReductionOptions
    /// The any-resolution canvases (empty: Hugging Face's default set at the view size).
    public var pinpoints: [Pinpoint]
    /// Which grid rows get an `image_newline` (counted in the every-view rows' tokens).
    public var newlines: NewlinePolicy

    /// An evaluation of TRIM with `options` on `pipeline`.
    public init(pipeline: TRIMPipeline, options: ReductionOptions, pinpoints: [Pinpoint], newlines: NewlinePolicy = .all) {
        self.pipeline = pipeline
        self.options = options
        self.pinpoints = pinpoints
        self.newlines = newlines
    }

    /// The rows of the comparison, in table order.
    public enum Method: Int, CaseIterable, Sendable {
        /// TRIM on LLaVA-1.5's one padded view.
        case trimOneView
        /// TRIM on every view, packed as LLaVA-NeXT packs them.
        case trimEveryView
        /// The every-view selection, its base view's patches only.
        case trimBaseView
        /// The every-view selection, its tiles' patches only (after the unpadding).
        case trimTiles
        /// As many random patches as TRIM kept on the one view, plus a mean token.
        case randomOneView
        /// In every view as many random patches as TRIM kept in that view, plus each view's mean token, packed.
        case randomEveryView

        /// The method's name in the table.
        public var name: String { rawValue < 4 ? "trim" : "random" }

        /// What it runs on, for the table.
        public var layout: String {
            switch self {
            case .trimOneView, .randomOneView: "one view (1.5)"
            case .trimEveryView, .randomEveryView: "every view (NeXT)"
            case .trimBaseView: "  base view"
            case .trimTiles: "  tiles"
            }
        }

        /// The row whose found objects `foundOnly` is counted against.
        public var versus: Method {
            switch self {
            case .trimOneView: .trimEveryView
            case .trimEveryView, .trimBaseView, .trimTiles: .trimOneView
            case .randomOneView: .randomEveryView
            case .randomEveryView: .randomOneView
            }
        }
    }

    /// One prompt's outcome for one method.
    public struct Outcome: Sendable {
        /// The scene, the prompt and its index among the scene's prompts, the object it names.
        public var scene: String, prompt: String, promptIndex: Int, object: Int
        public var method: Method
        /// Patches handed on (a kept tile cell cut by the unpadding is not), and rows handed on.
        public var kept: Int, tokens: Int
        /// Kept tile cells the unpadding cut away (not handed on, not in `kept`).
        public var dropped: Int
        /// Patches handed on in views where the object covers no patch at all.
        public var keptAway: Int
        /// The object's size on the tiles, in patches: the diameter of a disc of its area (pixels covered at least
        /// half) times the canvas fit's scale, over the patch size.
        public var patchesAcross: Double
        public var score: SelectionScore
        /// The method's own seconds for this prompt (`nil` for the parts of the every-view selection).
        public var seconds: Double?
    }

    /// One method's summary.
    public struct Row: Sendable {
        public var method: Method
        public var prompts: Int, empty: Int
        public var precision: (median: Double?, mean: Double?), recall: (median: Double?, mean: Double?)
        /// Prompts whose object covers some patch of the row's views by half (those with a recall).
        public var recallPrompts: Int
        public var keptMedian: Double?, tokensMean: Double?
        /// Mean kept tile cells the unpadding cut away.
        public var droppedMean: Double?
        /// Share of the patches handed on that lie in a view where the object covers nothing.
        public var keptAwayShare: Double?
        /// Prompts whose object some handed-on patch touches; of those, the ones `method.versus` missed.
        public var found: Int, foundOnly: Int
        public var secondsPerPrompt: Double?
    }

    /// Everything a run measured.
    public struct Report: Sendable {
        public var rows: [Row]
        public var outcomes: [Outcome]
        public var failures: [(String, String)]
        public var scenes: Int, prompts: Int
        /// Mean vision seconds per scene: one padded view; every view (one batched pass).
        public var visionSeconds: (oneView: Double, everyView: Double)
        /// How many scenes were cut into each tile grid, "rows×columns".
        public var grids: [(grid: String, scenes: Int)]
        /// Mean views per scene (1 + tiles).
        public var viewsMean: Double
        /// Found and precision by the object's size on the tiles (`sizeBins`), for TRIM on one view, TRIM on every
        /// view and the random control on every view.
        public var bySize: [SizeRow]
    }

    /// The size bins of `Report.bySize`, in patches across on the tiles: below 1, 1 to 1.5, 1.5 to 2, 2 and more.
    public static let sizeBins: [Double] = [0, 1, 1.5, 2]

    /// The prompts about objects of one size bin.
    public struct SizeRow: Sendable {
        /// The bin: `from ..< to` patches across (`to` nil for the last).
        public var from: Double, to: Double?
        public var prompts: Int
        /// Per method (TRIM on one view, TRIM on every view, random on every view): prompts whose object was
        /// found, and the mean precision over the prompts that kept something.
        public var found: [Method: Int], precisionMean: [Method: Double?]
    }

    /// Runs `count` scenes, `scene(i)` drawn (or read) one at a time so only one is in memory; `progress(done,
    /// total)` after each. Scenes whose image cannot be encoded are reported in `failures` and skipped.
    public func run(count: Int, scene: (Int) throws -> Scene, progress: (Int, Int) -> Void = { _, _ in }) -> Report {
        let reducer = TRIMReducer(options: options)
        var tally = Tally()
        for i in 0..<count {
            defer { progress(i + 1, count) }
            let s: Scene
            do { s = try scene(i) } catch {
                tally.failures.append(("scene \(i)", "\(error)"))
                continue
            }
            guard let (one, every) = encodeLayouts(s, reducer: reducer, tally: &tally), let grid = every.grid else { continue }
            tally.count(s, every: every, grid: grid)
            let layouts = SceneLayouts(s, grid: grid, pipeline: pipeline)
            for (pi, p) in s.prompts.enumerated() {
                let prompt = PromptOutcomes(scene: s.name, prompt: p.text, promptIndex: pi, object: p.object,
                                            patchesAcross: layouts.across[p.object])
                do {
                    tally.outcomes += try evaluate(prompt, one: one, every: every, layouts: layouts, reducer: reducer)
                } catch {
                    tally.failures.append((s.name, "\"\(p.text)\": \(error)"))
                }
            }
        }
        return tally.report()
    }

    /// What a run has gathered so far.
    private struct Tally {
        var outcomes: [Outcome] = []
        var failures: [(String, String)] = []
        /// Vision seconds summed over the scenes: one padded view; every view.
        var vision = (0.0, 0.0)
        var scenes = 0, prompts = 0, views = 0
        /// Scenes per tile grid, "rows×columns".
        var grids: [String: Int] = [:]

        /// Counts a scene both layouts encoded: its prompts, its views and its tile grid.
        mutating func count(_ s: Scene, every: EncodedImage, grid: AnyResolutionGrid) {
            scenes += 1
            prompts += s.prompts.count
            views += every.views.count
            grids["\(grid.rows)×\(grid.columns)", default: 0] += 1
        }

        /// The report: the rows and size bins summarized, the vision seconds and views averaged over the scenes.
        func report() -> Report {
            let n = Double(max(scenes, 1))
            return Report(rows: AnyResolutionEvaluation.summarize(outcomes), outcomes: outcomes, failures: failures,
                          scenes: scenes, prompts: prompts, visionSeconds: (vision.0 / n, vision.1 / n),
                          grids: grids.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { ($0.key, $0.value) },
                          viewsMean: Double(views) / n, bySize: AnyResolutionEvaluation.bySize(outcomes))
        }
    }

    /// The scene's two vision passes, timed into `tally.vision`: LLaVA-1.5's padded view, then every view in one
    /// batch. `nil` (and a failure in `tally`) when either cannot be encoded.
    private func encodeLayouts(_ s: Scene, reducer: TRIMReducer,
                               tally: inout Tally) -> (one: EncodedImage, every: EncodedImage)? {
        do {
            var t = DispatchTime.now().uptimeNanoseconds
            let one = try pipeline.encode(image: s.image, layout: .llava15, selectLayer: options.selectLayer, needs: reducer.needs)
            tally.vision.0 += Self.since(t)
            t = DispatchTime.now().uptimeNanoseconds
            let every = try pipeline.encode(image: s.image, layout: .anyResolution(pinpoints: pinpoints),
                                            selectLayer: options.selectLayer, needs: reducer.needs)
            tally.vision.1 += Self.since(t)
            return (one, every)
        } catch {
            tally.failures.append((s.name, "\(error)"))
            return nil
        }
    }

    /// A scene's objects in both layouts: their coverage of each layout's views, the packed grid, and their size on
    /// the tiles in patches across.
    struct SceneLayouts {
        /// Per object: its coverage of the one padded view, and of every view.
        let oneCoverage: [[Float]], everyCoverage: [[[Float]]]
        /// The every-view layout's packed grid.
        let packed: PackedGrid
        /// Per object: `Outcome.patchesAcross`.
        let across: [Double]

        /// The layouts of `s`, cut into `grid`, at `pipeline`'s preprocessing and patch grid.
        init(_ s: Scene, grid: AnyResolutionGrid, pipeline: TRIMPipeline) {
            let config = pipeline.preprocessor, side = pipeline.visionTower.config.gridSize
            let w = s.image.width, h = s.image.height
            oneCoverage = s.objects.map {
                patchCoverage(mask: $0.mask, width: w, height: h, config: config, layout: .llava15, grid: side)
            }
            everyCoverage = s.objects.map {
                anyResolutionCoverage(mask: $0.mask, width: w, height: h, grid: grid, config: config, side: side)
            }
            packed = PackedGrid(grid: grid, side: side, imageHeight: h, imageWidth: w)
            let fit = AnyResolution.fittedSize(height: h, width: w, canvasHeight: grid.canvasHeight, canvasWidth: grid.canvasWidth)
            let patch = Double(grid.viewSize) / Double(side)
            across = s.objects.map { o in
                (4 * Double(o.mask.filter { $0 >= 128 }.count) / Double.pi).squareRoot() * Double(fit.width) / Double(w) / patch
            }
        }
    }

    /// One prompt of one scene: what every method's `Outcome` for it shares.
    private struct PromptOutcomes {
        let scene: String, prompt: String, promptIndex: Int, object: Int
        let patchesAcross: Double

        /// The outcome of method `m` keeping `kept`, scored against `coverage` (per view).
        func outcome(_ m: Method, _ kept: [(view: Int, patch: Int)], tokens: Int, dropped: Int = 0, coverage: [[Float]],
                     seconds: Double?) -> Outcome {
            let away = kept.filter { k in coverage[k.view].allSatisfy { $0 == 0 } }.count
            return Outcome(scene: scene, prompt: prompt, promptIndex: promptIndex, object: object, method: m,
                           kept: kept.count, tokens: tokens, dropped: dropped, keptAway: away, patchesAcross: patchesAcross,
                           score: SelectionScore(kept: kept, coverage: coverage), seconds: seconds)
        }
    }

    /// Every method's outcome for one prompt, in `Method` order: TRIM on each layout (the every-view selection also
    /// split into its base view and its tiles), then the random control with TRIM's budget on each.
    private func evaluate(_ p: PromptOutcomes, one: EncodedImage, every: EncodedImage, layouts: SceneLayouts,
                          reducer: TRIMReducer) throws -> [Outcome] {
        // Each layout pays for the text tower: the prompt cache is emptied before each.
        pipeline.clearPromptCaches()
        var t = DispatchTime.now().uptimeNanoseconds
        let r1 = try pipeline.reduce(one, prompt: p.prompt, reducer: reducer)
        let s1 = Self.since(t)
        pipeline.clearPromptCaches()
        t = DispatchTime.now().uptimeNanoseconds
        let r2 = try pipeline.reduce(every, prompt: p.prompt, reducer: reducer, newlines: newlines)
        let s2 = Self.since(t)
        let c1 = [layouts.oneCoverage[p.object]], c2 = layouts.everyCoverage[p.object]
        var outcomes = [p.outcome(.trimOneView, handedOnPatches(r1), tokens: r1.tokens, coverage: c1, seconds: s1)]
        let kept2 = handedOnPatches(r2)
        let cut = r2.packing?.droppedInPadding ?? 0
        outcomes.append(p.outcome(.trimEveryView, kept2, tokens: r2.tokens, dropped: cut, coverage: c2, seconds: s2))
        let baseRows = r2.rows.filter { $0.tokenMapEntry.view == 0 }.count
        // The parts: the other views' coverage set to nothing, so recall counts this part's patches only.
        let none = c2.map { [Float](repeating: 0, count: $0.count) }
        outcomes.append(p.outcome(.trimBaseView, kept2.filter { $0.view == 0 }, tokens: baseRows,
                                  coverage: [c2[0]] + none.dropFirst(), seconds: nil))
        outcomes.append(p.outcome(.trimTiles, kept2.filter { $0.view > 0 }, tokens: r2.tokens - baseRows, dropped: cut,
                                  coverage: [none[0]] + c2.dropFirst(), seconds: nil))
        return outcomes + randomOutcomes(p, one: one, every: every, r1: r1, r2: r2, layouts: layouts)
    }

    /// The random control for one prompt: on the one view as many random patches as TRIM kept (`r1`), and in every
    /// view as many as TRIM kept in that view (`r2`), each view's mean token added and the rows packed.
    private func randomOutcomes(_ p: PromptOutcomes, one: EncodedImage, every: EncodedImage, r1: ReductionResult,
                                r2: ReductionResult, layouts: SceneLayouts) -> [Outcome] {
        let c1 = [layouts.oneCoverage[p.object]], c2 = layouts.everyCoverage[p.object]
        var t = DispatchTime.now().uptimeNanoseconds
        let seed = Self.seed(p.scene, p.prompt)
        let k1 = r1.views[0].keptIndices.count
        let random1 = RandomSelection.sample(k1, of: one.views[0].features.rows, seed: seed).map { (view: 0, patch: $0) }
        let first = p.outcome(.randomOneView, random1, tokens: random1.count + 1, coverage: c1, seconds: Self.since(t))
        t = DispatchTime.now().uptimeNanoseconds
        let perView: [[RowSource]] = r2.views.enumerated().map { v, reduction in
            RandomSelection.sample(reduction.keptIndices.count, of: every.views[v].features.rows, seed: seed &+ UInt64(v))
                .sorted().map { RowSource.patch(view: v, index: $0) } + [.mean(view: v)]
        }
        let packing = Packing(views: perView, grid: layouts.packed, newlines: newlines)
        return [first, p.outcome(.randomEveryView, packing.rows.compactMap(\.patch).map { ($0.view, $0.index) },
                                 tokens: packing.rows.count, dropped: packing.droppedInPadding, coverage: c2,
                                 seconds: Self.since(t))]
    }

    /// Per method: the metrics of `Evaluation`, and the objects found (and found where `versus` missed them).
    static func summarize(_ outcomes: [Outcome]) -> [Row] {
        var found: [Method: [String: Bool]] = [:]  // method → "scene#prompt" → found
        for o in outcomes { found[o.method, default: [:]]["\(o.scene)#\(o.promptIndex)"] = o.score.found }
        return Method.allCases.map { m in
            let os = outcomes.filter { $0.method == m }
            let precisions = os.compactMap(\.score.precision), recalls = os.compactMap(\.score.recall)
            let mine = found[m] ?? [:], theirs = found[m.versus] ?? [:]
            let seconds = os.compactMap(\.seconds)
            return Row(method: m, prompts: os.count, empty: os.filter { $0.kept == 0 }.count,
                       precision: (median(precisions), mean(precisions)), recall: (median(recalls), mean(recalls)),
                       recallPrompts: recalls.count, keptMedian: median(os.map { Double($0.kept) }), tokensMean: mean(os.map { Double($0.tokens) }),
                       droppedMean: mean(os.map { Double($0.dropped) }),
                       keptAwayShare: os.reduce(0) { $0 + $1.kept } == 0 ? nil
                           : Double(os.reduce(0) { $0 + $1.keptAway }) / Double(os.reduce(0) { $0 + $1.kept }),
                       found: mine.values.filter { $0 }.count,
                       foundOnly: mine.filter { $0.value && theirs[$0.key] == false }.count,
                       secondsPerPrompt: seconds.isEmpty ? nil : seconds.reduce(0, +) / Double(seconds.count))
        }
    }

    /// Found and precision per size bin, for the rows that compare the layouts.
    static func bySize(_ outcomes: [Outcome]) -> [SizeRow] {
        sizeBins.indices.map { b in
            let from = sizeBins[b], to = b + 1 < sizeBins.count ? sizeBins[b + 1] : nil
            let inBin = outcomes.filter { o in o.patchesAcross >= from && (to.map { o.patchesAcross < $0 } ?? true) }
            var found: [Method: Int] = [:], precision: [Method: Double?] = [:]
            for m in [Method.trimOneView, .trimEveryView, .randomEveryView] {
                let os = inBin.filter { $0.method == m }
                found[m] = os.filter(\.score.found).count
                precision[m] = mean(os.compactMap(\.score.precision))
            }
            return SizeRow(from: from, to: to, prompts: inBin.filter { $0.method == .trimOneView }.count, found: found,
                           precisionMean: precision)
        }
    }

    static func since(_ t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }

    /// FNV-1a of the scene's name and the prompt: the random control's seed, the same on every run.
    static func seed(_ scene: String, _ prompt: String) -> UInt64 {
        var h: UInt64 = 1469598103934665603
        for b in scene.utf8 + [0] + prompt.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        return h
    }
}

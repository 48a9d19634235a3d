import Foundation
import TRIM
import TRIMImage
import TRIMRender

// `--method all` on any-resolution input: every method of the family on the views its release cuts (or
// Hugging Face's, `--views hf`), one vision pass per distinct view rule, one table, one dump per method, and
// one picture with each method's base view, tiled canvas and packed order.

/// An image's encodings by view rule, made on first use (the methods sharing a rule share its vision pass).
final class EncodingsByRule {
    let pipeline: TRIMPipeline, image: RGBImage, layout: ImageLayout, selectLayer: Int, needs: ReducerNeeds
    private var cache: [ViewGeometry: EncodedImage] = [:]

    init(pipeline: TRIMPipeline, image: RGBImage, layout: ImageLayout, selectLayer: Int, needs: ReducerNeeds) {
        (self.pipeline, self.image, self.layout, self.selectLayer, self.needs) = (pipeline, image, layout, selectLayer, needs)
    }

    /// The image cut by `geometry` and encoded with every method's needs.
    func encoded(_ geometry: ViewGeometry) throws -> EncodedImage {
        if let hit = cache[geometry] { return hit }
        let e = try pipeline.encode(image: image, layout: layout.with(geometry: geometry), selectLayer: selectLayer, needs: needs)
        cache[geometry] = e
        return e
    }

    /// The vision passes run so far.
    var passes: Int { cache.count }
}

/// Every any-resolution method on one image and prompt: TRIM first; then the others with `--keep N` as each
/// release reads it, or, without `--keep`, TRIM's row count — per view (TRIM's rows / V) for the methods
/// whose budget is per view, whole for DivPrune; HiRED and GlobalCom² at their own ratios.
func allAnyResolutionResults(_ a: Arguments, encodings: EncodingsByRule, prompt: String, options: ReductionOptions)
    throws -> (results: [ReductionResult], budget: Int)
{
    let mode = Common.viewsMode(a), newlines = Common.newlinePolicy(a), pipeline = encodings.pipeline
    let trimReducer = TRIMReducer(options: options)
    let trim = try pipeline.reduce(try encodings.encoded(trimReducer.viewGeometry(mode)), prompt: prompt, reducer: trimReducer,
                                   newlines: newlines, views: mode)
    let budget = a.int("keep") ?? trim.tokens
    var results = [trim]
    for entry in ReducerCatalog.entries.filter(\.compared).dropFirst() {
        let keep = a.int("keep") ?? (entry.globalBudget ? budget : max(1, budget / trim.encoded.views.count))
        let reducer = try usage { try ReducerCatalog.make(entry.name, a.given, budget: keep) }
        let encoded = try encodings.encoded(reducer.viewGeometry(mode))
        results.append(try pipeline.reduce(encoded, prompt: prompt, reducer: reducer, newlines: newlines, views: mode))
    }
    return (results, budget)
}

/// `trim reduce --anyres --method all` for one prompt: the table (or JSON Lines), dumps, the stacked picture.
func runAllAnyResolution(_ a: Arguments, encodings: EncodingsByRule, prompt: String, options: ReductionOptions,
                         number: Int?, image: ImageSource, separator: Bool, heatmap: String? = nil) throws {
    let (results, budget) = try allAnyResolutionResults(a, encodings: encodings, prompt: prompt, options: options)
    try writeAllDumps(results, a, prompt: prompt, options: options, number: number, producer: "trim reduce --anyres --method all")
    if let path = (a.value("heatmap") ?? heatmap).map({ numbered($0, number) }) {
        try write(PNGEncoder.encode(allAnyResolutionPicture(results, pipeline: encodings.pipeline, prompt: prompt)), to: path)
    }
    if a.flag("json") { return printAllJSON(results, prompt: prompt, options: options) }
    if separator { print("") }
    print("image      \(image.name)  (\(image.width)×\(image.height))")
    print("prompt     \"\(prompt)\"")
    print("views      --views \(Common.viewsMode(a).rawValue): \(encodings.passes) vision passes (one per view rule)")
    print("budget     " + (a.int("keep").map { "--keep \($0) (per view, or whole for divprune)" }
                           ?? "TRIM's \(budget) rows: per view for the per-view methods, whole for divprune"))
    print("method       rule       canvas     rows  kept  newl  cut  own time")
    for r in results {
        let g = r.encoded.grid
        let canvas = g.map { "\($0.canvasHeight)×\($0.canvasWidth)" } ?? "-"
        let own = r.promptTimings.reduce(0) { $0 + $1.seconds }
        let cols: [String] = [
            r.method.padding(toLength: 12, withPad: " ", startingAt: 0),
            (r.encoded.layout.geometry?.rawValue ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0),
            canvas.padding(toLength: 9, withPad: " ", startingAt: 0),
            String(format: "%5d %5d %5d %4d", r.tokens, r.kept, r.packing?.newlines ?? 0, r.packing?.droppedInPadding ?? 0),
            formatSeconds(own),
        ]
        print(cols.joined(separator: " "))
        if let note = r.reduction.note { print("             note: \(note)") }
    }
}

/// Each method's any-resolution picture, one under the other.
func allAnyResolutionPicture(_ results: [ReductionResult], pipeline: TRIMPipeline, prompt: String) -> RGBImage {
    let pictures = results.compactMap { r in
        anyResolutionPictureInput(r, pipeline: pipeline, title: "\(r.method): \(r.tokens) rows · \(keptSummary(r)) · \"\(prompt)\"",
                                  subtitle: r.settings + (r.encoded.layout.geometry.map { " · views: \($0.rawValue)" } ?? ""))
            .map { AnyResolutionPicture.render($0, maximumWidth: 1600) }
    }
    return AnyResolutionPicture.stacked(pictures)
}

import TRIM
import TRIMImage
import TRIMRender

// From results to pictures: what each heat map panel shows is read from the result's rows and signal.

/// The heat map input of one result: its signal over the preprocessed view, the kept patches outlined.
/// `image`: the view's pixels, when the caller already has them (every panel of one picture shares them).
func heatmapInput(_ r: ReductionResult, pipeline: TRIMPipeline, title: String, subtitle: String, image: RGBImage? = nil)
    -> HeatmapInput
{
    let image = image ?? denormalizedImage(r.encoded.views[0].pixelValues, config: pipeline.preprocessor)
    return HeatmapInput(
        image: image, gridSize: pipeline.clip.config.vision.gridSize, scores: r.reduction.signal.values,
        kept: r.reduction.keptIndices, threshold: r.reduction.iqr?.upper, title: title, subtitle: subtitle,
        caption: signalCaption(r))
}

/// The heat map of a result as PNG bytes: the method's ranking signal, the kept patches outlined — for an
/// any-resolution result, the base view beside the tiled canvas with the packed order under them.
func renderHeatmapPNG(_ r: ReductionResult, pipeline: TRIMPipeline, prompt: String, options: ReductionOptions) -> [UInt8] {
    let subtitle = "\(describe(r, options)) · \(keptSummary(r))"
    if let picture = anyResolutionPictureInput(r, pipeline: pipeline, title: prompt, subtitle: subtitle) {
        return AnyResolutionPicture.png(picture)
    }
    return PNGEncoder.encode(Heatmap.render(heatmapInput(r, pipeline: pipeline, title: prompt, subtitle: subtitle)))
}

/// The any-resolution picture's input from a result with a packing (`nil` for one view): every view's pixels
/// and signal, its kept patches, the unpadded cells, and the packed order read from the result's rows.
func anyResolutionPictureInput(_ r: ReductionResult, pipeline: TRIMPipeline, title: String, subtitle: String)
    -> AnyResolutionPictureInput?
{
    guard let packing = r.packing, let grid = r.encoded.grid else { return nil }
    let images = r.encoded.views.map { denormalizedImage($0.pixelValues, config: pipeline.preprocessor) }
    let packed: [PackedEntry] = packing.rows.map { source in
        switch source {
        case .patch(let v, let i): v == 0 ? .base(patch: i) : .tile(view: v, patch: i)
        case .newline: .newline
        case .mean(let v): .mean(view: v)
        case .merged(let v), .classToken(let v), .contextual(let v): .other(view: v)
        }
    }
    // A packing grid laid out otherwise than the views (HiRED's release swaps it) shades nothing as cut.
    let sameLayout = packing.grid.tileRows == grid.rows && packing.grid.tileColumns == grid.columns
    let side = packing.grid.side
    return AnyResolutionPictureInput(
        base: images[0], tiles: Array(images.dropFirst()), tileRows: grid.rows, tileColumns: grid.columns,
        side: side, keptRows: sameLayout ? packing.grid.rows : 0..<(grid.rows * side),
        keptColumns: sameLayout ? packing.grid.columns : 0..<(grid.columns * side),
        signals: r.views.map(\.signal.values), kept: r.views.map(\.keptIndices), packed: packed, title: title,
        subtitle: subtitle, caption: signalCaption(r))
}

/// Every method's choice on the same image: one panel per result, each drawing that method's signal with
/// its kept patches outlined.
func sideBySideHeatmap(_ results: [ReductionResult], pipeline: TRIMPipeline, prompt: String, budget: Int,
                       budgetFromTRIM: Bool) -> RGBImage {
    let image = denormalizedImage(results[0].encoded.views[0].pixelValues, config: pipeline.preprocessor)
    let panels = results.map { r in
        heatmapInput(r, pipeline: pipeline, title: "\(r.method): \(r.tokens) rows, \(keptSummary(r))", subtitle: r.settings,
                     image: image)
    }
    let title = "\"\(prompt)\" · \(budget) rows for the fixed-budget methods" + (budgetFromTRIM ? " (TRIM's count)" : "")
    return Heatmap.sideBySide(panels, title: title, columns: 3)
}

/// What a heat map's colours mean: TRIM's softmax score, else the method's signal (log scale).
func signalCaption(_ r: ReductionResult) -> String {
    r.reduction.signal.name == "scores" ? "softmax score (log)" : "\(r.reduction.signal.name) (log)"
}

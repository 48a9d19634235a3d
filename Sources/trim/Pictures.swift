import TRIM
import TRIMImage
import TRIMRender

// From results to pictures: what each heat map panel shows is read from the result's rows and signal.

/// The heat map input of one result: its signal over the preprocessed view, the kept patches outlined.
func heatmapInput(_ r: ReductionResult, pipeline: TRIMPipeline, title: String, subtitle: String) -> HeatmapInput {
    let image = denormalizedImage(r.encoded.views[0].pixelValues, config: pipeline.preprocessor)
    return HeatmapInput(
        image: image, gridSize: pipeline.clip.config.vision.gridSize, scores: r.reduction.signal.values,
        kept: r.reduction.keptIndices, threshold: r.reduction.iqr?.upper, title: title, subtitle: subtitle,
        caption: signalCaption(r))
}

/// The heat map of a result as PNG bytes: the method's ranking signal, the kept patches outlined.
func renderHeatmapPNG(_ r: ReductionResult, pipeline: TRIMPipeline, prompt: String, options: ReductionOptions) -> [UInt8] {
    let input = heatmapInput(r, pipeline: pipeline, title: prompt, subtitle: "\(describe(r, options)) · \(keptSummary(r))")
    return PNGEncoder.encode(Heatmap.render(input))
}

/// Every method's choice on the same image: one panel per result, each drawing that method's signal with
/// its kept patches outlined.
func sideBySideHeatmap(_ results: [ReductionResult], pipeline: TRIMPipeline, prompt: String, budget: Int,
                       budgetFromTRIM: Bool) -> RGBImage {
    let panels = results.map { r in
        heatmapInput(r, pipeline: pipeline, title: "\(r.method): \(r.tokens) rows, \(keptSummary(r))", subtitle: r.settings)
    }
    let title = "\"\(prompt)\" · \(budget) rows for the fixed-budget methods" + (budgetFromTRIM ? " (TRIM's count)" : "")
    return Heatmap.sideBySide(panels, title: title, columns: 3)
}

/// What a heat map's colours mean: TRIM's softmax score, else the method's signal (log scale).
func signalCaption(_ r: ReductionResult) -> String {
    r.reduction.signal.name == "scores" ? "softmax score (log)" : "\(r.reduction.signal.name) (log)"
}

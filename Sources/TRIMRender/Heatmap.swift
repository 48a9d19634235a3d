import Foundation
import TRIMImage

/// Everything the heat-map renderer needs; nothing in it is specific to CLIP.
public struct HeatmapInput: Sendable {
    /// The image the patches were cut from, as the model saw it (e.g. the 336 × 336 preprocessed
    /// crop, before normalisation).
    public var image: RGBImage
    /// Patches per side (24 for ViT-L/14-336). Patch `i` is at row `i / gridSize`, column
    /// `i % gridSize`, and covers the matching `1 / gridSize` of the image in each direction.
    public var gridSize: Int
    /// Softmax score of each patch, row-major. `[gridSize * gridSize]`; patches without a score are
    /// drawn without overlay.
    public var scores: [Float]
    /// Indices of the kept patches (any order; out-of-range indices are ignored).
    public var kept: [Int]
    /// The selection threshold on the score (the IQR upper bound), marked on the colour bar;
    /// `nil` for a fixed keep ratio.
    public var threshold: Float?
    /// The first line(s) of the title strip, normally the prompt.
    public var title: String
    /// The smaller line(s) under the title, e.g. `"scoring paper · IQR · kept 41 of 576 (7.1%) + mean token"`.
    public var subtitle: String
    /// What the colours mean, under the colour bar (TRIM's: `softmax score (log)`).
    public var caption: String

    /// An input from its parts; see each property.
    public init(
        image: RGBImage, gridSize: Int, scores: [Float], kept: [Int], threshold: Float?, title: String,
        subtitle: String, caption: String = "softmax score (log)"
    ) {
        self.caption = caption
        self.image = image
        self.gridSize = gridSize
        self.scores = scores
        self.kept = kept
        self.threshold = threshold
        self.title = title
        self.subtitle = subtitle
    }
}

/// Draws TRIM's patch scores over the image, like Fig. 2 of the paper.
///
/// From top to bottom: a title strip (title and subtitle, word-wrapped to two lines each, cut with
/// `…` beyond), the image magnified by nearest neighbour with each patch tinted by its score
/// (*inferno* colour map, half transparent) and each kept patch outlined in cyan, then a colour bar
/// (low → high, with the threshold marked when given) and a legend.
///
/// **Colour scale: logarithm of the score, min–max normalised.** Since `scores = softmax(s)`,
/// `log(score_i) = s_i − logsumexp(s)`: a log-score colour scale is exactly a linear scale on the
/// similarities `s_i` themselves. It therefore keeps relative magnitudes (unlike a rank scale) and
/// still shows the structure when one patch takes nearly all the probability mass (where a
/// linear-score scale would paint every other patch the darkest colour). Scores that are zero
/// (softmax underflow), negative or NaN get the lowest colour; the ends of the colour bar are the
/// smallest positive and the largest score.
public enum Heatmap {
    /// Outline colour of kept patches: cyan, which the *inferno* map never produces.
    public static let outlineColor = RGBColor(0, 230, 255)
    /// The thin line drawn just inside each outline for contrast.
    static let outlineShadowColor = RGBColor(0, 0, 0)
    /// Background of the title strip and legend.
    static let backgroundColor = RGBColor(22, 22, 28)
    /// Title text colour.
    static let titleColor = RGBColor(255, 255, 255)
    /// Subtitle and legend text colour.
    static let subtitleColor = RGBColor(185, 185, 198)
    /// Opacity of the score tint over the image.
    static let overlayAlpha: Float = 0.5
    /// Space around and between the parts, in pixels.
    static let margin = 16
    /// Font magnification: each font pixel is drawn as a 2 × 2 square.
    static let fontScale = 2
    /// Height of one text line in pixels.
    static let lineHeight = BitmapFont.lineHeight * fontScale
    /// The magnified image is made at least this wide so a person can read it…
    static let minimumPanelWidth = 448
    /// …and at most this many pixels on its long side (unless the image itself is larger).
    static let maximumPanelSide = 4096
    /// Height of the colour bar in pixels.
    static let colorBarHeight = 16
    /// Lines of title and of subtitle shown before cutting with `…`.
    static let maximumLines = 2

    /// The heat map of `input`, with the image magnified `scale`× (more if needed to reach
    /// 448 pixels wide, less if it would exceed 4096). Never fails: malformed inputs (empty image,
    /// `gridSize` ≤ 0, missing scores, bad indices) draw whatever is meaningful.
    public static func render(_ input: HeatmapInput, scale: Int = 2) -> RGBImage {
        let layout = Layout(input, scale: scale)
        var canvas = RGBImage(
            width: layout.width, height: layout.height,
            fill: (backgroundColor.r, backgroundColor.g, backgroundColor.b))

        for (n, line) in layout.titleLines.enumerated() {
            canvas.drawText(
                line, x: margin, y: layout.titleY + n * lineHeight, pixelSize: fontScale, color: titleColor)
        }
        for (n, line) in layout.subtitleLines.enumerated() {
            canvas.drawText(
                line, x: margin, y: layout.subtitleY + n * lineHeight, pixelSize: fontScale,
                color: subtitleColor)
        }

        let panel = layout.panel
        canvas.drawUpscaled(layout.image, x: panel.x, y: panel.y, factor: layout.factor)
        if panel.isDrawable {
            drawScores(input.scores, colorScale: layout.colorScale, panel: panel, on: &canvas)
            drawOutlines(input.kept, panel: panel, on: &canvas)
        }

        drawColorBar(x: panel.x, y: layout.barY, width: panel.width, on: &canvas)
        if let t = layout.thresholdPosition, let threshold = input.threshold {
            drawThresholdMarker(
                at: t, value: threshold, barX: panel.x, barY: layout.barY, barWidth: panel.width,
                labelY: layout.thresholdLabelY, on: &canvas)
        }
        drawBarLabels(
            layout.colorScale, caption: input.caption, x: panel.x, y: layout.barLabelY, width: panel.width, on: &canvas)
        drawLegend(x: margin, y: layout.legendY, on: &canvas)
        return canvas
    }

    /// `render(input, scale:)` encoded as a PNG file (8-bit RGB), ready to write to disk.
    public static func png(_ input: HeatmapInput, scale: Int = 2) -> [UInt8] {
        PNGEncoder.encode(render(input, scale: scale))  // render never returns an empty image
    }

    /// Where every part of the heat map goes: the canvas is the magnified image plus a margin on
    /// each side, and from top to bottom title, subtitle, image, threshold label, colour bar, bar
    /// labels and legend.
    struct Layout {
        /// The image drawn (a grey pixel stands in for an empty input image).
        var image: RGBImage
        /// Magnification of `image`.
        var factor: Int
        /// Canvas size in pixels.
        var width: Int, height: Int
        /// Title and subtitle, wrapped.
        var titleLines: [String], subtitleLines: [String]
        /// Top edges of the text blocks, colour bar and legend.
        var titleY: Int, subtitleY: Int, thresholdLabelY: Int, barY: Int, barLabelY: Int, legendY: Int
        /// The magnified image and its patch grid.
        var panel: Panel
        /// Score → colour mapping.
        var colorScale: ColorScale
        /// The threshold's position on the colour bar, when it has one.
        var thresholdPosition: Float?

        init(_ input: HeatmapInput, scale: Int) {
            image =
                input.image.width > 0 && input.image.height > 0
                ? input.image : RGBImage(width: 1, height: 1, fill: (r: 128, g: 128, b: 128))
            factor = magnification(width: image.width, height: image.height, requested: scale)
            let panelWidth = image.width * factor
            width = panelWidth + 2 * margin

            let columnsPerLine = max(2, panelWidth / (BitmapFont.columnWidth * fontScale))
            titleLines = wrap(input.title, columns: columnsPerLine, maxLines: maximumLines)
            subtitleLines = wrap(input.subtitle, columns: columnsPerLine, maxLines: maximumLines)
            colorScale = ColorScale(scores: input.scores)
            thresholdPosition = input.threshold.flatMap(colorScale.position(ofThreshold:))

            var y = margin
            titleY = y
            y += titleLines.count * lineHeight + 4
            subtitleY = y
            y += subtitleLines.count * lineHeight + margin / 2
            panel = Panel(
                x: margin, y: y, width: panelWidth, height: image.height * factor, gridSize: input.gridSize)
            y += panel.height + margin
            thresholdLabelY = y
            if thresholdPosition != nil { y += lineHeight + 2 }
            barY = y
            y += colorBarHeight + 6
            barLabelY = y
            y += lineHeight + margin / 2
            legendY = y
            y += lineHeight + margin
            height = y
        }
    }

    // MARK: - Geometry

    /// The integer magnification: `requested` (at least 1), raised so the image is at least
    /// `minimumPanelWidth` wide, then lowered so its long side stays within `maximumPanelSide`.
    static func magnification(width: Int, height: Int, requested: Int) -> Int {
        let wanted = max(requested, 1, (minimumPanelWidth + width - 1) / width)
        return max(1, min(wanted, maximumPanelSide / max(width, height)))
    }

    /// Where the magnified image sits on the canvas and how it is cut into patches.
    struct Panel {
        /// Left edge on the canvas.
        var x: Int
        /// Top edge on the canvas.
        var y: Int
        /// Width in pixels.
        var width: Int
        /// Height in pixels.
        var height: Int
        /// Patches per side.
        var gridSize: Int

        /// Whether every patch is at least one pixel (false for `gridSize` ≤ 0 or absurdly large).
        var isDrawable: Bool { gridSize >= 1 && gridSize <= min(width, height) }

        /// Number of patches, `gridSize²`.
        var patchCount: Int { gridSize * gridSize }

        /// The canvas rectangle of patch `index`: its row and column edges are at
        /// `k · size / gridSize`, so the patches tile the panel exactly even when it does not divide.
        func rect(ofPatch index: Int) -> (x: Int, y: Int, width: Int, height: Int) {
            let row = index / gridSize
            let column = index % gridSize
            let x0 = column * width / gridSize
            let x1 = (column + 1) * width / gridSize
            let y0 = row * height / gridSize
            let y1 = (row + 1) * height / gridSize
            return (x + x0, y + y0, x1 - x0, y1 - y0)
        }
    }

    // MARK: - Colour scale

    /// Maps scores to colour-map positions in [0, 1] by log-score, min–max normalised (see `Heatmap`).
    struct ColorScale {
        /// Smallest positive finite score, or nil when there is none.
        var low: Float?
        /// Largest finite score, or nil when no score is positive and finite.
        var high: Float?

        init(scores: [Float]) {
            let usable = scores.filter { $0 > 0 && $0.isFinite }
            low = usable.min()
            high = usable.max()
        }

        /// The colour-map position of `score`: 0 for the lowest, 1 for the highest; 0.5 when all
        /// usable scores are equal; 0 for zero, negative or NaN scores.
        func position(of score: Float) -> Float {
            guard score > 0, let low, let high else { return 0 }
            guard score.isFinite else { return 1 }
            guard high > low else { return 0.5 }
            let t = (log(score) - log(low)) / (log(high) - log(low))
            return min(max(t, 0), 1)
        }

        /// The position of a threshold on the colour bar, or nil if it cannot be placed
        /// (no usable scores, or a threshold that is not a positive number).
        func position(ofThreshold threshold: Float) -> Float? {
            guard threshold > 0, !threshold.isNaN, low != nil else { return nil }
            return position(of: threshold)
        }
    }

    // MARK: - Drawing the parts

    /// Tints each patch of the panel with the colour of its score.
    static func drawScores(
        _ scores: [Float], colorScale: ColorScale, panel: Panel, on canvas: inout RGBImage
    ) {
        for index in 0..<min(panel.patchCount, scores.count) {
            let r = panel.rect(ofPatch: index)
            let color = Colormap.inferno(colorScale.position(of: scores[index]))
            canvas.blendRect(
                x: r.x, y: r.y, width: r.width, height: r.height, color: color, alpha: overlayAlpha)
        }
    }

    /// Outlines each kept patch inside its own cell, so neighbouring kept patches stay distinct.
    static func drawOutlines(_ kept: [Int], panel: Panel, on canvas: inout RGBImage) {
        for index in Set(kept) where index >= 0 && index < panel.patchCount {
            let r = panel.rect(ofPatch: index)
            drawKeptOutline(x: r.x, y: r.y, width: r.width, height: r.height, on: &canvas)
        }
    }

    /// One kept-patch outline: cyan inside the rectangle's edge, then (for cells of 8 px or more)
    /// a dark 1-pixel line just inside it, which keeps it visible on light and on bluish patches.
    static func drawKeptOutline(x: Int, y: Int, width: Int, height: Int, on canvas: inout RGBImage) {
        let thickness = outlineThickness(cellSide: min(width, height))
        canvas.strokeRect(
            x: x, y: y, width: width, height: height, thickness: thickness, color: outlineColor)
        if min(width, height) >= 8 {
            canvas.strokeRect(
                x: x + thickness, y: y + thickness, width: width - 2 * thickness,
                height: height - 2 * thickness,
                thickness: 1, color: outlineShadowColor)
        }
    }

    /// Outline width for a patch `cellSide` pixels across: 2 px for ViT patches at 2× (28 px),
    /// up to 4 px for very large cells, 1 px for cells under 8 px.
    static func outlineThickness(cellSide: Int) -> Int {
        cellSide < 8 ? 1 : min(max(cellSide / 12, 2), 4)
    }

    /// The colour bar: the colour map from low (left) to high (right).
    static func drawColorBar(x: Int, y: Int, width: Int, on canvas: inout RGBImage) {
        for column in 0..<width {
            let t = width > 1 ? Float(column) / Float(width - 1) : 0.5
            canvas.fillRect(
                x: x + column, y: y, width: 1, height: colorBarHeight, color: Colormap.inferno(t))
        }
    }

    /// Marks `value` at position `t` of the colour bar with a white line edged in black, and its
    /// label in the row above the bar.
    static func drawThresholdMarker(
        at t: Float, value: Float, barX: Int, barY: Int, barWidth: Int, labelY: Int,
        on canvas: inout RGBImage
    ) {
        let markerX = barX + Int((t * Float(barWidth - 1)).rounded())
        let top = barY - 4
        let height = colorBarHeight + 8
        canvas.fillRect(x: markerX - 2, y: top, width: 5, height: height, color: RGBColor(0, 0, 0))
        canvas.fillRect(
            x: markerX - 1, y: top, width: 3, height: height, color: RGBColor(255, 255, 255))
        let label = "IQR upper bound " + formatScore(value)
        let labelWidth = textWidth(label, pixelSize: fontScale)
        let labelX = min(max(markerX - labelWidth / 2, barX), barX + barWidth - labelWidth)
        canvas.drawText(label, x: max(labelX, 0), y: labelY, pixelSize: fontScale, color: titleColor)
    }

    /// The lowest and highest score under the ends of the colour bar, and what the colour means
    /// in the middle when there is room.
    static func drawBarLabels(
        _ scale: ColorScale, caption: String, x: Int, y: Int, width: Int, on canvas: inout RGBImage
    ) {
        let low = scale.low.map(formatScore) ?? "-"
        let high = scale.high.map(formatScore) ?? "-"
        canvas.drawText(low, x: x, y: y, pixelSize: fontScale, color: subtitleColor)
        let highX = x + width - textWidth(high, pixelSize: fontScale) + fontScale  // drop trailing spacing
        canvas.drawText(high, x: highX, y: y, pixelSize: fontScale, color: subtitleColor)
        let captionWidth = textWidth(caption, pixelSize: fontScale)  // the caller's words, any script
        let room = width - textWidth(low + high + "  ", pixelSize: fontScale)
        if captionWidth <= room {
            canvas.drawText(
                caption, x: x + (width - captionWidth) / 2, y: y, pixelSize: fontScale, color: subtitleColor
            )
        }
    }

    /// A swatch outlined like a kept patch, followed by "kept patch".
    static func drawLegend(x: Int, y: Int, on canvas: inout RGBImage) {
        let side = lineHeight - 2
        canvas.fillRect(
            x: x, y: y, width: side, height: side,
            color: Colormap.inferno(1).blended(with: RGBColor(128, 128, 128), alpha: 0.5))
        drawKeptOutline(x: x, y: y, width: side, height: side, on: &canvas)
        canvas.drawText(
            "kept patch", x: x + side + 10, y: y + 2, pixelSize: fontScale, color: subtitleColor)
    }

    /// A score as `1.23e-04`.
    static func formatScore(_ value: Float) -> String {
        String(format: "%.2e", Double(value))
    }

    // MARK: - Text layout

    /// `text` word-wrapped to lines of at most `width` ASCII characters (cells); see `wrap(_:columns:maxLines:)`.
    static func wrap(_ text: String, width: Int, maxLines: Int) -> [String] {
        wrap(text, columns: 2 * max(width, 1), maxLines: maxLines)
    }

    /// `text` word-wrapped to lines at most `columns` half-cells wide (`BitmapFont.Glyph.columns`: 2 for
    /// ASCII and other narrow glyphs, 3 for wide CJK and Hangul ones), at most `maxLines` of them; a
    /// word longer than a line is split between characters (grapheme clusters, so a letter and its
    /// combining marks stay together; this is also how CJK text without spaces breaks), whitespace
    /// (including newlines) is collapsed, and text that does not fit ends with `…`. Characters without
    /// a glyph are kept (they are drawn as `?`). A line is wider than `columns` only when `columns` is
    /// narrower than a single character.
    static func wrap(_ text: String, columns: Int, maxLines: Int) -> [String] {
        func width(_ c: Character) -> Int { BitmapFont.resolve(c).columns }
        let limit = max(columns, 2)
        var lines: [[Character]] = []
        var current: [Character] = []
        var currentWidth = 0
        for word in text.split(whereSeparator: { $0.isWhitespace }) {
            var word = Array(word)
            var wordWidth = word.reduce(0) { $0 + width($1) }
            if !current.isEmpty && currentWidth + 2 + wordWidth <= limit {
                current.append(" ")
                current += word
                currentWidth += 2 + wordWidth
                continue
            }
            if !current.isEmpty { lines.append(current) }
            while wordWidth > limit {  // hard-break a word longer than a line
                var taken = 0
                var takenWidth = 0
                while taken < word.count, taken == 0 || takenWidth + width(word[taken]) <= limit {
                    takenWidth += width(word[taken])
                    taken += 1
                }
                lines.append(Array(word[..<taken]))
                word.removeFirst(taken)
                wordWidth -= takenWidth
            }
            current = word
            currentWidth = wordWidth
        }
        if !current.isEmpty { lines.append(current) }
        let maxLines = max(maxLines, 1)
        guard lines.count > maxLines else { return lines.map { String($0) } }
        var shown = Array(lines[..<maxLines])
        var last = shown[maxLines - 1]
        var lastWidth = last.reduce(0) { $0 + width($1) }
        let ellipsis = width("…")
        while !last.isEmpty, lastWidth + ellipsis > limit {
            lastWidth -= width(last.removeLast())
        }
        shown[maxLines - 1] = last + ["…"]
        return shown.map { String($0) }
    }
}

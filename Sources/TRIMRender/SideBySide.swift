import TRIMImage

extension Heatmap {
    /// Several heat maps of the same image side by side — one per reducer, each with its own signal, kept
    /// patches and settings — under one title: the figure that compares what each method keeps. Panels fill
    /// `columns` per row, left to right; each sits in a cell as large as the largest panel.
    public static func sideBySide(_ panels: [HeatmapInput], title: String, columns: Int = 3, scale: Int = 1) -> RGBImage {
        let rendered = panels.map { render($0, scale: scale) }
        let background = (backgroundColor.r, backgroundColor.g, backgroundColor.b)
        guard !rendered.isEmpty else { return RGBImage(width: 1, height: 1, fill: background) }
        let columnCount = max(1, min(columns, rendered.count))
        let rowCount = (rendered.count + columnCount - 1) / columnCount
        let cellWidth = rendered.map(\.width).max()!, cellHeight = rendered.map(\.height).max()!
        let width = columnCount * cellWidth
        let columnsPerLine = max(2, (width - 2 * margin) / (BitmapFont.columnWidth * fontScale))
        let titleLines = wrap(title, columns: columnsPerLine, maxLines: maximumLines)
        let headerHeight = margin + titleLines.count * lineHeight
        var canvas = RGBImage(width: width, height: headerHeight + rowCount * cellHeight, fill: background)
        for (n, line) in titleLines.enumerated() {
            canvas.drawText(line, x: margin, y: margin + n * lineHeight, pixelSize: fontScale, color: titleColor)
        }
        for (i, panel) in rendered.enumerated() {
            canvas.drawUpscaled(panel, x: (i % columnCount) * cellWidth, y: headerHeight + (i / columnCount) * cellHeight, factor: 1)
        }
        return canvas
    }
}

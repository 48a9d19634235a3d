import TRIMImage

// The any-resolution picture: LLaVA-NeXT's views at their true geometry (the base view beside the tiled canvas,
// the cells the unpadding cuts away shaded) and, under them, the packed sequence the language model reads, one
// cell per row (Docs/SEMANTICS.md §5).

/// One row of the packed sequence of an any-resolution image (Docs/SEMANTICS.md §5), as the picture colours it.
public enum PackedEntry: Sendable, Hashable {
    /// Patch `patch` of the base view (view 0).
    case base(patch: Int)
    /// Patch `patch` of tile view `view` (1…T, row-major over the tiles).
    case tile(view: Int, patch: Int)
    /// An `image_newline` row, ending a row of the unpadded grid.
    case newline
    /// The mean token of view `view` (0 for the base view).
    case mean(view: Int)
    /// Any other row a reducer adds to view `view` (merged, class token, contextual, …).
    case other(view: Int)

    /// What a packed row is, which decides its colour in the strip.
    public enum Kind: Int, Sendable, CaseIterable {
        /// A base-view patch.
        case base
        /// A tile patch.
        case tile
        /// An `image_newline` row.
        case newline
        /// A mean token.
        case mean
        /// Any other row.
        case other
    }

    /// This row's kind.
    public var kind: Kind {
        switch self {
        case .base: .base
        case .tile: .tile
        case .newline: .newline
        case .mean: .mean
        case .other: .other
        }
    }

    /// The view a mean token or other row belongs to; `nil` for patches and newline rows.
    public var extraView: Int? {
        switch self {
        case .mean(let v), .other(let v): v
        case .base, .tile, .newline: nil
        }
    }
}

/// Everything the any-resolution picture needs: the views' pixels and geometry, each view's signal and kept
/// patches, and the packed order. Nothing in it is specific to CLIP or to a reducer.
public struct AnyResolutionPictureInput: Sendable {
    /// The base view's pixels (the whole image squashed to S × S), denormalised.
    public var base: RGBImage
    /// The tiles' pixels, row-major (tile `t` is view `t + 1`), S × S each; a missing tile is drawn grey.
    public var tiles: [RGBImage]
    /// Tile rows and columns of the canvas (nph, npw); the canvas has `tileRows · tileColumns` tiles, none
    /// when either is 0.
    public var tileRows: Int, tileColumns: Int
    /// Patches per view side (g = S / patch size). Patch `i` of a view is at row `i / side`, column `i % side`.
    public var side: Int
    /// The cells of the tiles' `R × C` patch grid (R = tileRows · side, C = tileColumns · side) that survive
    /// the unpadding; the others are shaded as cut away.
    public var keptRows: Range<Int>, keptColumns: Range<Int>
    /// Per view (0 = base, then the tiles), `side²` values: the ranking signal drawn as heat (all views share
    /// one colour scale). A view without values is drawn without overlay.
    public var signals: [[Float]]
    /// Per view, the indices of the kept patches (out-of-range indices are ignored).
    public var kept: [[Int]]
    /// The packed sequence, in order.
    public var packed: [PackedEntry]
    /// The first line(s) of the title strip, normally the prompt.
    public var title: String
    /// The smaller line(s) under the title, e.g. the method and how much it kept.
    public var subtitle: String
    /// What the colours mean, under the colour bar.
    public var caption: String

    /// An input from its parts; see each property.
    public init(
        base: RGBImage, tiles: [RGBImage], tileRows: Int, tileColumns: Int, side: Int, keptRows: Range<Int>,
        keptColumns: Range<Int>, signals: [[Float]], kept: [[Int]], packed: [PackedEntry], title: String,
        subtitle: String, caption: String = "softmax score (log)"
    ) {
        self.base = base
        self.tiles = tiles
        self.tileRows = tileRows
        self.tileColumns = tileColumns
        self.side = side
        self.keptRows = keptRows
        self.keptColumns = keptColumns
        self.signals = signals
        self.kept = kept
        self.packed = packed
        self.title = title
        self.subtitle = subtitle
        self.caption = caption
    }

    /// Number of tiles drawn: `tileRows · tileColumns`, or 0 when either is not positive.
    public var tileCount: Int { tileRows > 0 && tileColumns > 0 ? tileRows * tileColumns : 0 }

    /// How many packed rows are of `kind`.
    public func count(of kind: PackedEntry.Kind) -> Int { packed.reduce(0) { $0 + ($1.kind == kind ? 1 : 0) } }

    /// The line under the panels that counts the packed rows:
    /// `"L rows: B base, T tile, N newline, M mean"`, with `", O other"` when there are other rows.
    public var countsLine: String {
        var line = "\(packed.count) rows: \(count(of: .base)) base, \(count(of: .tile)) tile, "
        line += "\(count(of: .newline)) newline, \(count(of: .mean)) mean"
        let others = count(of: .other)
        return others > 0 ? line + ", \(others) other" : line
    }
}

/// Draws how LLaVA-NeXT packs an any-resolution image (Docs/SEMANTICS.md §5), at a glance.
///
/// From top to bottom: the title strip (as `Heatmap.render` draws it), then side by side the base view (left)
/// and the tiled canvas (right, `tileRows × tileColumns` tiles), both at the same scale per pixel so their
/// true geometry shows. Each view carries its signal as heat (*inferno*, one log scale for all views) and its
/// kept patches outlined in cyan; on the canvas, the tile boundaries are white, the cells the unpadding cuts
/// away are darkened and hatched, and a white mark right of each grid row stands for its `image_newline`.
/// Then the colour bar and its caption, a key, the counts line, and the strip: one small cell per packed row,
/// left to right and wrapping, coloured by kind (base patch blue, tile patch green, newline white, mean token
/// amber, other grey; the base panel is framed blue and the canvas green), with its legend.
public enum AnyResolutionPicture {
    /// Strip colour of base-view patches (and the base panel's frame).
    public static let baseColor = RGBColor(86, 156, 255)
    /// Strip colour of tile patches (and the canvas frame).
    public static let tileColor = RGBColor(60, 200, 120)
    /// Strip colour of `image_newline` rows (and the newline marks beside the canvas).
    public static let newlineColor = RGBColor(236, 236, 236)
    /// Strip colour of mean tokens.
    public static let meanColor = RGBColor(255, 170, 40)
    /// Strip colour of other rows.
    public static let otherColor = RGBColor(150, 150, 166)
    /// Colour of the lines between tiles.
    public static let boundaryColor = RGBColor(255, 255, 255)
    /// Colour of the hatching over cells cut away by the unpadding.
    public static let hatchColor = RGBColor(140, 140, 150)
    /// How far cut cells are darkened towards black.
    static let cutDarkening: Float = 0.6
    /// Hatch period in pixels (diagonal lines where `(x + y) % period < 2`).
    static let hatchPeriod = 9
    /// Space between the base panel and the canvas.
    static let panelGap = 44
    /// Width of the newline marks and their distance from the canvas.
    static let gutterWidth = 10, gutterGap = 7
    /// Distance of a panel's frame from the panel, and its thickness.
    static let frameOffset = 5, frameThickness = 2
    /// Height of a strip cell and the space between strip lines.
    static let stripCellHeight = 16, stripLineGap = 5
    /// Most strip lines the cell pitch is chosen for; beyond them cells are 3 pixels apart and the lines go on.
    static let stripMaximumLines = 5

    /// The strip colour of `kind`.
    public static func color(of kind: PackedEntry.Kind) -> RGBColor {
        switch kind {
        case .base: baseColor
        case .tile: tileColor
        case .newline: newlineColor
        case .mean: meanColor
        case .other: otherColor
        }
    }

    /// The picture of `input`. The base view is magnified as `Heatmap.render` magnifies an image (`scale`×,
    /// more to reach 448 pixels), the tiles at the same scale; if base, canvas and margins would be wider
    /// than `maximumWidth` (or the canvas taller), both are scaled down together, keeping their aspect. Never
    /// fails: malformed inputs (no tiles, `side` ≤ 0, missing signals, bad indices) draw what is meaningful.
    public static func render(_ input: AnyResolutionPictureInput, scale: Int = 1, maximumWidth: Int = 2048)
        -> RGBImage
    {
        let layout = Layout(input, scale: scale, maximumWidth: maximumWidth)
        let background = Heatmap.backgroundColor
        var canvas = RGBImage(
            width: layout.width, height: layout.height, fill: (background.r, background.g, background.b))
        drawHeader(layout, on: &canvas)
        drawView(input.base, view: 0, input: input, panel: layout.basePanel, layout: layout, on: &canvas)
        drawFrame(around: layout.basePanel, color: baseColor, on: &canvas)
        if layout.hasCanvas { drawCanvas(input, layout: layout, on: &canvas) }
        Heatmap.drawColorBar(x: layout.basePanel.x, y: layout.barY, width: layout.contentWidth, on: &canvas)
        Heatmap.drawBarLabels(
            layout.colorScale, caption: input.caption, x: layout.basePanel.x, y: layout.barLabelY,
            width: layout.contentWidth, on: &canvas)
        drawKey(layout, on: &canvas)
        for (n, line) in layout.countsLines.enumerated() {
            canvas.drawText(
                line, x: Heatmap.margin, y: layout.countsY + n * Heatmap.lineHeight, pixelSize: Heatmap.fontScale,
                color: Heatmap.titleColor)
        }
        drawStrip(input.packed, strip: layout.strip, on: &canvas)
        drawLegend(layout.legend, on: &canvas)
        for (n, line) in layout.orderLines.enumerated() {
            canvas.drawText(
                line, x: Heatmap.margin, y: layout.orderY + n * Heatmap.lineHeight, pixelSize: Heatmap.fontScale,
                color: Heatmap.subtitleColor)
        }
        return canvas
    }

    /// `render(input, scale:, maximumWidth:)` encoded as a PNG file (8-bit RGB).
    public static func png(_ input: AnyResolutionPictureInput, scale: Int = 1, maximumWidth: Int = 2048) -> [UInt8] {
        PNGEncoder.encode(render(input, scale: scale, maximumWidth: maximumWidth))
    }
}

// MARK: - Layout

extension AnyResolutionPicture {
    /// Where every part of the picture goes.
    struct Layout {
        /// Canvas size in pixels.
        var width = 0, height = 0
        /// Side in pixels of one view drawn (base panel and every tile).
        var panelSide = 1
        /// Patches per view side.
        var side: Int
        /// Tile rows and columns drawn (0 × 0 without a canvas).
        var tileRows = 0, tileColumns = 0
        /// The unpadded grid rows and columns.
        var keptRows: Range<Int>, keptColumns: Range<Int>
        /// Width of everything between the margins (panels, gutter, colour bar, strip).
        var contentWidth = 0
        /// Title, subtitle and the labels over the two panels, wrapped.
        var titleLines: [String] = [], subtitleLines: [String] = [], baseLabel: [String] = [],
            canvasLabel: [String] = []
        /// Top edges of the text blocks and bands, top to bottom.
        var titleY = 0, subtitleY = 0, labelY = 0, barY = 0, barLabelY = 0, keyY = 0, countsY = 0, orderY = 0
        /// The strip's heading with the counts, and the reading order explained under the legend, wrapped.
        var countsLines: [String] = [], orderLines: [String] = []
        /// The base view's panel.
        var basePanel = Heatmap.Panel(x: 0, y: 0, width: 1, height: 1, gridSize: 0)
        /// Top-left corner of the tiled canvas, and the left edge of the newline marks.
        var canvasX = 0, canvasY = 0, gutterX = 0
        /// One colour scale for every view's signal.
        var colorScale: Heatmap.ColorScale
        /// The packed-order strip.
        var strip = Strip()
        /// The strip's legend: kind and top-left corner of each item.
        var legend: [(kind: PackedEntry.Kind, label: String, x: Int, y: Int)] = []

        /// Whether there is a tiled canvas to draw.
        var hasCanvas: Bool { tileRows > 0 && tileColumns > 0 }

        init(_ input: AnyResolutionPictureInput, scale: Int, maximumWidth: Int) {
            side = AnyResolutionPicture.patchSide(input)
            keptRows = input.keptRows
            keptColumns = input.keptColumns
            colorScale = Heatmap.ColorScale(scores: input.signals.flatMap { $0 })
            if input.tileCount > 0 { (tileRows, tileColumns) = (input.tileRows, input.tileColumns) }
            panelSide = Self.panelSide(
                input, tileRows: tileRows, tileColumns: tileColumns, scale: scale, maximumWidth: maximumWidth)
            let canvasWidth =
                hasCanvas ? AnyResolutionPicture.panelGap + tileColumns * panelSide + gutterGap + gutterWidth : 0
            contentWidth = panelSide + canvasWidth
            width = contentWidth + 2 * Heatmap.margin
            wrapText(input)
            layOut(input)
        }

        /// The side of one drawn view: the heat map's magnification of the base view, shrunk (not below 8
        /// pixels) so the figure fits `maximumWidth` across and the canvas fits it down.
        static func panelSide(
            _ input: AnyResolutionPictureInput, tileRows: Int, tileColumns: Int, scale: Int, maximumWidth: Int
        ) -> Int {
            let s = max(input.base.width, input.base.height, 1)
            var p = s * Heatmap.magnification(width: s, height: s, requested: scale)
            if tileRows > 0 {
                let extra = 2 * Heatmap.margin + panelGap + gutterGap + gutterWidth
                p = min(p, (maximumWidth - extra) / (1 + tileColumns), maximumWidth / tileRows)
            } else {
                p = min(p, maximumWidth - 2 * Heatmap.margin)
            }
            return max(p, 8)
        }

        /// Wraps the title, subtitle and panel labels to their widths.
        mutating func wrapText(_ input: AnyResolutionPictureInput) {
            func columns(_ pixels: Int) -> Int { max(2, pixels / (BitmapFont.columnWidth * Heatmap.fontScale)) }
            titleLines = Heatmap.wrap(input.title, columns: columns(contentWidth), maxLines: Heatmap.maximumLines)
            subtitleLines = Heatmap.wrap(input.subtitle, columns: columns(contentWidth), maxLines: Heatmap.maximumLines)
            baseLabel = Heatmap.wrap(AnyResolutionPicture.baseLabel(input), columns: columns(panelSide), maxLines: 2)
            countsLines = Heatmap.wrap(
                "packed sequence, left to right · " + input.countsLine, columns: columns(contentWidth), maxLines: 2)
            orderLines = Heatmap.wrap(
                AnyResolutionPicture.readingOrder(input.packed, hasCanvas: hasCanvas), columns: columns(contentWidth), maxLines: 3)
            if hasCanvas {
                canvasLabel = Heatmap.wrap(
                    AnyResolutionPicture.canvasLabel(input), columns: columns(tileColumns * panelSide + gutterWidth),
                    maxLines: 2)
            }
        }

        /// Places everything from top to bottom.
        mutating func layOut(_ input: AnyResolutionPictureInput) {
            let margin = Heatmap.margin
            let lineHeight = Heatmap.lineHeight
            var y = margin
            titleY = y
            y += titleLines.count * lineHeight + 4
            subtitleY = y
            y += subtitleLines.count * lineHeight + margin
            labelY = y
            y += max(baseLabel.count, canvasLabel.count) * lineHeight + frameOffset + 4
            basePanel = Heatmap.Panel(x: margin, y: y, width: panelSide, height: panelSide, gridSize: side)
            canvasX = margin + panelSide + panelGap
            canvasY = y
            gutterX = canvasX + tileColumns * panelSide + gutterGap
            y += max(1, tileRows) * panelSide + frameOffset + margin
            barY = y
            y += Heatmap.colorBarHeight + 6
            barLabelY = y
            y += lineHeight + margin / 2
            keyY = y
            y += lineHeight + margin
            countsY = y
            y += countsLines.count * lineHeight + 4
            strip = Strip(count: input.packed.count, x: margin, y: y, width: contentWidth)
            y += strip.height + margin / 2
            y = layOutLegend(input, y: y) + 6
            orderY = y
            height = y + orderLines.count * lineHeight + margin / 2
        }

        /// Places the strip legend's items left to right from `y`, wrapping at the content width; returns the
        /// bottom edge. Base and mean always appear, tile and newline with a canvas or rows of theirs, other
        /// only with rows of its own.
        mutating func layOutLegend(_ input: AnyResolutionPictureInput, y top: Int) -> Int {
            var x = Heatmap.margin
            var y = top
            for kind in PackedEntry.Kind.allCases {
                let present = input.count(of: kind) > 0
                switch kind {
                case .tile, .newline: if !hasCanvas && !present { continue }
                case .other: if !present { continue }
                case .base, .mean: break
                }
                let label = AnyResolutionPicture.legendLabel(kind)
                let itemWidth = AnyResolutionPicture.legendItemWidth(label)
                if x > Heatmap.margin && x + itemWidth > Heatmap.margin + contentWidth {
                    x = Heatmap.margin
                    y += Heatmap.lineHeight + 4
                }
                legend.append((kind, label, x, y))
                x += itemWidth + 24
            }
            return y + Heatmap.lineHeight
        }

        /// The panel of tile `t` (row-major): `panelSide` square, cut into `side × side` patches.
        func tilePanel(_ t: Int) -> Heatmap.Panel {
            Heatmap.Panel(
                x: canvasX + (t % max(tileColumns, 1)) * panelSide, y: canvasY + (t / max(tileColumns, 1)) * panelSide,
                width: panelSide, height: panelSide, gridSize: side)
        }

        /// The canvas rectangle of cell (`row`, `column`) of the tiles' patch grid.
        func cellRect(row: Int, column: Int) -> (x: Int, y: Int, width: Int, height: Int) {
            let tile = (row / side) * tileColumns + column / side
            return tilePanel(tile).rect(ofPatch: (row % side) * side + column % side)
        }
    }

    /// The strip of the packed order: cells `pitch` pixels apart, `perLine` to a line.
    struct Strip {
        /// Top-left corner of the first cell.
        var x = 0, y = 0
        /// Distance between the left edges of neighbouring cells, and a cell's width and height.
        var pitch = 1, cellWidth = 1, cellHeight = AnyResolutionPicture.stripCellHeight
        /// Cells per line and number of lines.
        var perLine = 1, lineCount = 0

        init() {}

        /// A strip of `count` cells in `width` pixels: the widest pitch (16 down to 3) that needs at most
        /// `stripMaximumLines` lines, else pitch 3 on as many lines as it takes.
        init(count: Int, x: Int, y: Int, width: Int) {
            self.x = x
            self.y = y
            pitch = 3
            for candidate in stride(from: 16, through: 3, by: -1) {
                let lines = (count + max(width / candidate, 1) - 1) / max(width / candidate, 1)
                if lines <= stripMaximumLines {
                    pitch = candidate
                    break
                }
            }
            cellWidth = pitch - max(1, pitch / 4)
            perLine = max(width / pitch, 1)
            lineCount = (count + perLine - 1) / perLine
        }

        /// Height in pixels of all the lines.
        var height: Int { lineCount == 0 ? 0 : lineCount * (cellHeight + stripLineGap) - stripLineGap }

        /// The rectangle of the cell of packed row `index`.
        func cell(_ index: Int) -> (x: Int, y: Int, width: Int, height: Int) {
            (x + (index % perLine) * pitch, y + (index / perLine) * (cellHeight + stripLineGap), cellWidth, cellHeight)
        }
    }

    /// Patches per view side as drawn: `input.side`, or 0 (no patches) when it is not in 1…4096.
    static func patchSide(_ input: AnyResolutionPictureInput) -> Int {
        (1...4096).contains(input.side) ? input.side : 0
    }

    /// The label over the base panel: its size and what was kept of it.
    static func baseLabel(_ input: AnyResolutionPictureInput) -> String {
        let g = patchSide(input)
        let kept = Set(input.kept.first ?? []).filter { $0 >= 0 && $0 < g * g }.count
        return "base view · \(input.base.width)×\(input.base.height) · kept \(kept) of \(g * g)"
    }

    /// The label over the canvas: tiles, grid, what the unpadding keeps, and what was kept.
    static func canvasLabel(_ input: AnyResolutionPictureInput) -> String {
        let g = patchSide(input)
        let r = input.tileRows * g
        let c = input.tileColumns * g
        let tileSize = input.tiles.first.map { "\($0.width)×\($0.height)" } ?? "?"
        var label = "\(input.tileRows)×\(input.tileColumns) tiles of \(tileSize) · grid \(r)×\(c)"
        let rows = input.keptRows.clamped(to: 0..<r)
        let columns = input.keptColumns.clamped(to: 0..<c)
        if rows.count == r && columns.count == c {
            label += ", nothing unpadded"
        } else {
            label += " unpadded to \(rows.count)×\(columns.count)"
        }
        var kept = 0
        var cut = 0
        for view in 1...max(input.tileCount, 1) where view <= input.tileCount && view < input.kept.count {
            for patch in Set(input.kept[view]) where patch >= 0 && patch < g * g {
                let row = ((view - 1) / input.tileColumns) * g + patch / g
                let column = ((view - 1) % input.tileColumns) * g + patch % g
                if rows.contains(row) && columns.contains(column) { kept += 1 } else { cut += 1 }
            }
        }
        label += " · kept \(kept) of \(rows.count * columns.count)"
        return cut > 0 ? label + " (\(cut) more cut away)" : label
    }

    /// What the strip shows, in words (Docs/SEMANTICS.md §5, §5b): Hugging Face's order spelled out when the
    /// rows follow it (the base view's block, then the unpadded grid row by row with `image_newline` rows,
    /// then the tiles' extra rows), otherwise the strip's runs as they come (the spatial, VisionZip and
    /// DivPrune orders of the released any-resolution code, or Hugging Face's order without newline rows).
    static func readingOrder(_ packed: [PackedEntry], hasCanvas: Bool) -> String {
        // Hugging Face's phases: base patches, the base view's extra rows, grid cells and newlines, the tiles' extra rows.
        let phases = packed.map { e in e.extraView.map { $0 == 0 ? 1 : 3 } ?? (e.kind == .base ? 0 : 2) }
        let ordered = zip(phases, phases.dropFirst()).allSatisfy { $0 <= $1 }
        let hasCells = packed.contains { $0.kind == .tile }
        let extraWords = packed.allSatisfy { $0.extraView == nil || $0.kind == .mean } ? "mean token" : "extra rows"
        if ordered && (!hasCells || packed.contains(.newline)) {
            guard hasCanvas else { return "reading order: the base view's kept patches, then its \(extraWords)" }
            return "reading order: the base view's rows (kept patches, \(extraWords)); then the unpadded grid, row by "
                + "row: each row's kept cells left to right, then image_newline; then the tiles' \(extraWords), tile by tile"
        }
        return "reading order: " + runs(packed).joined(separator: "; ")
    }

    /// The strip's runs in words: base-view patches, tile cells (with any newline rows among them), mean
    /// tokens, other rows — each with its count, at most six runs.
    static func runs(_ packed: [PackedEntry]) -> [String] {
        var groups: [(kind: PackedEntry.Kind, entries: [PackedEntry])] = []
        for e in packed {
            let kind: PackedEntry.Kind = e.kind == .newline ? .tile : e.kind
            if let last = groups.last, last.kind == kind { groups[groups.count - 1].entries.append(e) } else { groups.append((kind, [e])) }
        }
        func plural(_ n: Int, _ word: String, _ many: String? = nil) -> String { "\(n) " + (n == 1 ? word : many ?? word + "s") }
        var words = groups.prefix(6).map { g -> String in
            let views = Set(g.entries.compactMap(\.extraView))
            let scope = views == [0] ? " of the base view" : views.isEmpty || views.contains(0) ? "" : " of the tiles"
            switch g.kind {
            case .base: return plural(g.entries.count, "base-view patch", "base-view patches")
            case .tile, .newline:
                let lines = g.entries.filter { $0 == .newline }.count, cells = g.entries.count - lines
                if cells == 0 { return plural(lines, "image_newline row") }
                return plural(cells, "tile cell") + " row by row over the canvas"
                    + (lines > 0 ? " with " + plural(lines, "image_newline row") : ", no image_newline")
            case .mean: return plural(g.entries.count, "mean token") + scope
            case .other: return plural(g.entries.count, "other row") + scope + " ([CLS], merged or contextual)"
            }
        }
        if groups.count > 6 { words.append("…") }
        return words
    }

    /// The legend's words for `kind`.
    static func legendLabel(_ kind: PackedEntry.Kind) -> String {
        switch kind {
        case .base: "base view patch"
        case .tile: "tile patch"
        case .newline: "image_newline"
        case .mean: "mean token"
        case .other: "other row"
        }
    }

    /// Width of a legend item: swatch, space, label.
    static func legendItemWidth(_ label: String) -> Int {
        Heatmap.lineHeight - 4 + 8 + textWidth(label, pixelSize: Heatmap.fontScale)
    }
}

// MARK: - Drawing

extension AnyResolutionPicture {
    /// Title, subtitle and the labels over the panels.
    static func drawHeader(_ layout: Layout, on canvas: inout RGBImage) {
        let margin = Heatmap.margin
        let lineHeight = Heatmap.lineHeight
        let p = Heatmap.fontScale
        for (n, line) in layout.titleLines.enumerated() {
            canvas.drawText(line, x: margin, y: layout.titleY + n * lineHeight, pixelSize: p, color: Heatmap.titleColor)
        }
        for (n, line) in layout.subtitleLines.enumerated() {
            canvas.drawText(
                line, x: margin, y: layout.subtitleY + n * lineHeight, pixelSize: p, color: Heatmap.subtitleColor)
        }
        for (n, line) in layout.baseLabel.enumerated() {
            canvas.drawText(line, x: margin, y: layout.labelY + n * lineHeight, pixelSize: p, color: baseColor)
        }
        for (n, line) in layout.canvasLabel.enumerated() {
            canvas.drawText(line, x: layout.canvasX, y: layout.labelY + n * lineHeight, pixelSize: p, color: tileColor)
        }
    }

    /// One view in its panel: the pixels resized to the panel, the signal as heat, the kept patches outlined.
    static func drawView(
        _ image: RGBImage?, view: Int, input: AnyResolutionPictureInput, panel: Heatmap.Panel, layout: Layout,
        on canvas: inout RGBImage
    ) {
        if let image, image.width > 0, image.height > 0 {
            canvas.drawResized(image, x: panel.x, y: panel.y, width: panel.width, height: panel.height)
        } else {
            canvas.fillRect(
                x: panel.x, y: panel.y, width: panel.width, height: panel.height, color: RGBColor(128, 128, 128))
        }
        guard panel.isDrawable else { return }
        if view < input.signals.count {
            Heatmap.drawScores(input.signals[view], colorScale: layout.colorScale, panel: panel, on: &canvas)
        }
        if view < input.kept.count { Heatmap.drawOutlines(input.kept[view], panel: panel, on: &canvas) }
    }

    /// The tiled canvas: every tile's view, the cut cells shaded, tile boundaries and numbers, the newline
    /// marks and the frame.
    static func drawCanvas(_ input: AnyResolutionPictureInput, layout: Layout, on canvas: inout RGBImage) {
        let count = layout.tileRows * layout.tileColumns
        for t in 0..<count {
            let image = t < input.tiles.count ? input.tiles[t] : nil
            drawView(image, view: t + 1, input: input, panel: layout.tilePanel(t), layout: layout, on: &canvas)
        }
        if layout.side >= 1 && layout.side <= layout.panelSide {
            for row in 0..<(layout.tileRows * layout.side) {
                for column in 0..<(layout.tileColumns * layout.side)
                where !(layout.keptRows.contains(row) && layout.keptColumns.contains(column)) {
                    let r = layout.cellRect(row: row, column: column)
                    canvas.shadeCut(x: r.x, y: r.y, width: r.width, height: r.height)
                }
            }
            for row in newlineRows(input, layout: layout) {
                let r = layout.cellRect(row: row, column: 0)
                let inset = r.height >= 6 ? 1 : 0
                canvas.fillRect(
                    x: layout.gutterX, y: r.y + inset, width: gutterWidth, height: r.height - 2 * inset,
                    color: newlineColor)
            }
        }
        drawTileBoundaries(layout, on: &canvas)
        let whole = Heatmap.Panel(
            x: layout.canvasX, y: layout.canvasY, width: layout.tileColumns * layout.panelSide,
            height: layout.tileRows * layout.panelSide, gridSize: 1)
        drawFrame(around: whole, color: tileColor, on: &canvas)
    }

    /// The grid rows that have an `image_newline` after them: every unpadded row when there are as many
    /// newlines as rows; otherwise, the row of the tile patch each newline follows.
    static func newlineRows(_ input: AnyResolutionPictureInput, layout: Layout) -> [Int] {
        let rows = input.keptRows.clamped(to: 0..<(layout.tileRows * layout.side))
        let newlines = input.count(of: .newline)
        if newlines == rows.count { return Array(rows) }
        var result: [Int] = []
        var lastRow: Int?
        for entry in input.packed {
            switch entry {
            case .tile(let view, let patch) where view >= 1 && view <= layout.tileRows * layout.tileColumns:
                lastRow = ((view - 1) / layout.tileColumns) * layout.side + patch / max(layout.side, 1)
            case .newline:
                if let row = lastRow, rows.contains(row), result.last != row { result.append(row) }
            default: break
            }
        }
        return result
    }

    /// White lines between the tiles and each tile's view number in its top-left corner.
    static func drawTileBoundaries(_ layout: Layout, on canvas: inout RGBImage) {
        let p = layout.panelSide
        let canvasWidth = layout.tileColumns * p
        let canvasHeight = layout.tileRows * p
        for column in 1..<max(layout.tileColumns, 1) {
            canvas.fillRect(
                x: layout.canvasX + column * p - 1, y: layout.canvasY, width: 2, height: canvasHeight,
                color: boundaryColor)
        }
        for row in 1..<max(layout.tileRows, 1) {
            canvas.fillRect(
                x: layout.canvasX, y: layout.canvasY + row * p - 1, width: canvasWidth, height: 2, color: boundaryColor)
        }
        for t in 0..<(layout.tileRows * layout.tileColumns) {
            let panel = layout.tilePanel(t)
            let label = "view \(t + 1)"
            let w = textWidth(label, pixelSize: Heatmap.fontScale) + 6
            canvas.blendRect(
                x: panel.x + 1, y: panel.y + 1, width: w, height: Heatmap.lineHeight + 2,
                color: Heatmap.backgroundColor,
                alpha: 0.75)
            canvas.drawText(
                label, x: panel.x + 5, y: panel.y + 4, pixelSize: Heatmap.fontScale, color: boundaryColor)
        }
    }

    /// A frame in `color` just outside `panel`.
    static func drawFrame(around panel: Heatmap.Panel, color: RGBColor, on canvas: inout RGBImage) {
        canvas.strokeRect(
            x: panel.x - frameOffset, y: panel.y - frameOffset, width: panel.width + 2 * frameOffset,
            height: panel.height + 2 * frameOffset, thickness: frameThickness, color: color)
    }

    /// The key under the colour bar: a kept-patch swatch and, with a canvas, a cut-away swatch.
    static func drawKey(_ layout: Layout, on canvas: inout RGBImage) {
        let x = Heatmap.margin
        let y = layout.keyY
        let side = Heatmap.lineHeight - 2
        Heatmap.drawLegend(x: x, y: y, on: &canvas)
        guard layout.hasCanvas else { return }
        let cutX = x + side + 10 + textWidth("kept patch", pixelSize: Heatmap.fontScale) + 24
        canvas.fillRect(x: cutX, y: y, width: side, height: side, color: RGBColor(70, 70, 80))
        canvas.shadeCut(x: cutX, y: y, width: side, height: side)
        canvas.drawText(
            "cut away by unpadding", x: cutX + side + 10, y: y + 2, pixelSize: Heatmap.fontScale,
            color: Heatmap.subtitleColor)
        let markX = cutX + side + 10 + textWidth("cut away by unpadding", pixelSize: Heatmap.fontScale) + 24
        canvas.fillRect(x: markX, y: y + 3, width: gutterWidth, height: side - 6, color: newlineColor)
        canvas.drawText(
            "grid row ends with image_newline", x: markX + gutterWidth + 10, y: y + 2, pixelSize: Heatmap.fontScale,
            color: Heatmap.subtitleColor)
    }

    /// One cell per packed row, coloured by kind.
    static func drawStrip(_ packed: [PackedEntry], strip: Strip, on canvas: inout RGBImage) {
        for (i, entry) in packed.enumerated() {
            let r = strip.cell(i)
            canvas.fillRect(x: r.x, y: r.y, width: r.width, height: r.height, color: color(of: entry.kind))
        }
    }

    /// The strip's legend: a swatch of each kind's colour and its name.
    static func drawLegend(
        _ items: [(kind: PackedEntry.Kind, label: String, x: Int, y: Int)], on canvas: inout RGBImage
    ) {
        let side = Heatmap.lineHeight - 4
        for item in items {
            canvas.fillRect(x: item.x, y: item.y, width: side, height: side, color: color(of: item.kind))
            canvas.drawText(
                item.label, x: item.x + side + 8, y: item.y + 1, pixelSize: Heatmap.fontScale,
                color: Heatmap.subtitleColor)
        }
    }
}

extension RGBImage {
    /// Copies `image` resized to `width × height` with its top-left corner at (`x`, `y`): each target pixel
    /// is the mean of the source pixels it covers (at least one), so enlarging by a whole factor is nearest
    /// neighbour and shrinking does not alias.
    fileprivate mutating func drawResized(_ image: RGBImage, x: Int, y: Int, width: Int, height: Int) {
        guard width > 0, height > 0 else { return }
        for ty in 0..<height {
            let sy0 = ty * image.height / height
            let sy1 = max(sy0 + 1, (ty + 1) * image.height / height)
            for tx in 0..<width {
                let sx0 = tx * image.width / width
                let sx1 = max(sx0 + 1, (tx + 1) * image.width / width)
                var sum = (0, 0, 0)
                for sy in sy0..<sy1 {
                    for sx in sx0..<sx1 {
                        let i = (sy * image.width + sx) * 3
                        sum.0 += Int(image.pixels[i])
                        sum.1 += Int(image.pixels[i + 1])
                        sum.2 += Int(image.pixels[i + 2])
                    }
                }
                let n = (sy1 - sy0) * (sx1 - sx0)
                guard x + tx >= 0, x + tx < self.width, y + ty >= 0, y + ty < self.height else { continue }
                let o = ((y + ty) * self.width + x + tx) * 3
                pixels[o] = UInt8((sum.0 + n / 2) / n)
                pixels[o + 1] = UInt8((sum.1 + n / 2) / n)
                pixels[o + 2] = UInt8((sum.2 + n / 2) / n)
            }
        }
    }

    /// Marks the rectangle as cut away: darkened towards black, with diagonal hatching at fixed canvas
    /// positions (so neighbouring cut cells join up).
    mutating func shadeCut(x: Int, y: Int, width: Int, height: Int) {
        guard let (xs, ys) = clipped(x: x, y: y, width: width, height: height) else { return }
        let black = RGBColor(0, 0, 0)
        let period = AnyResolutionPicture.hatchPeriod
        for row in ys {
            for column in xs {
                let color =
                    (column + row) % period < 2
                    ? AnyResolutionPicture.hatchColor
                    : pixel(x: column, y: row).blended(with: black, alpha: AnyResolutionPicture.cutDarkening)
                let i = (row * self.width + column) * 3
                pixels[i] = color.r
                pixels[i + 1] = color.g
                pixels[i + 2] = color.b
            }
        }
    }
}

extension AnyResolutionPicture {
    /// Several pictures one under the other (each method's, for `--method all`), left-aligned on the heat
    /// map's background, `gap` pixels apart.
    public static func stacked(_ pictures: [RGBImage], gap: Int = 24) -> RGBImage {
        let width = pictures.map(\.width).max() ?? 1
        let height = max(1, pictures.reduce(0) { $0 + $1.height } + gap * max(pictures.count - 1, 0))
        let b = Heatmap.backgroundColor
        var canvas = RGBImage(width: width, height: height, fill: (b.r, b.g, b.b))
        var y = 0
        for p in pictures {
            for row in 0..<p.height {
                let dst = ((y + row) * width) * 3
                canvas.pixels.replaceSubrange(dst..<(dst + p.width * 3), with: p.pixels[(row * p.width * 3)..<((row + 1) * p.width * 3)])
            }
            y += p.height + gap
        }
        return canvas
    }
}

import Foundation
import TRIMImage
import XCTest

@testable import TRIMRender

final class AnyResolutionPictureTests: XCTestCase {
    // MARK: - Synthetic inputs

    /// The packed order of Docs/SEMANTICS.md §5: the base view's kept patches and its mean token, then each
    /// unpadded grid row's kept cells left to right and an `image_newline` (after every row, or only after
    /// rows that hand on a cell), then the tiles' mean tokens in tile order.
    static func packedOrder(
        kept: [[Int]], tileRows: Int, tileColumns: Int, side g: Int, rows: Range<Int>, columns: Range<Int>,
        newlineAfterEmptyRows: Bool = true
    ) -> [PackedEntry] {
        var packed = kept[0].sorted().map { PackedEntry.base(patch: $0) } + [.mean(view: 0)]
        let keptSets = kept.map(Set.init)
        for row in rows {
            var any = false
            for column in columns {
                let view = 1 + (row / g) * tileColumns + column / g
                let patch = (row % g) * g + column % g
                if keptSets[view].contains(patch) {
                    packed.append(.tile(view: view, patch: patch))
                    any = true
                }
            }
            if any || newlineAfterEmptyRows { packed.append(.newline) }
        }
        return packed + (1...(tileRows * tileColumns)).map { .mean(view: $0) }
    }

    /// A small input: grey 32 × 32 views with 4 × 4 patches, `tileRows × tileColumns` tiles, the grid's first
    /// and last rows cut away; patch 5 (row 1, column 1) and 15 kept in every view, signal rising with the index.
    static func smallInput(tileRows: Int = 1, tileColumns: Int = 2) -> AnyResolutionPictureInput {
        let g = 4
        let views = 1 + tileRows * tileColumns
        let grey = RGBImage(width: 32, height: 32, fill: (r: 128, g: 128, b: 128))
        let kept = [[Int]](repeating: [5, 15], count: views)
        let rows = 1..<(tileRows * g - 1)
        let columns = 0..<(tileColumns * g)
        return AnyResolutionPictureInput(
            base: grey, tiles: [RGBImage](repeating: grey, count: tileRows * tileColumns), tileRows: tileRows,
            tileColumns: tileColumns, side: g, keptRows: rows, keptColumns: columns,
            signals: [[Float]](repeating: (1...16).map { Float($0) / 136 }, count: views), kept: kept,
            packed: packedOrder(
                kept: kept, tileRows: tileRows, tileColumns: tileColumns, side: g, rows: rows, columns: columns),
            title: "a small test", subtitle: "4 x 4 patches per view")
    }

    // MARK: - Geometry

    func testOutputSizeFollowsTheGeometry() {
        let wide = AnyResolutionPicture.Layout(
            Self.smallInput(tileRows: 1, tileColumns: 3), scale: 1, maximumWidth: 4096)
        let tall = AnyResolutionPicture.Layout(
            Self.smallInput(tileRows: 3, tileColumns: 1), scale: 1, maximumWidth: 4096)
        let p = wide.panelSide
        XCTAssertEqual(p, 448)  // 32 px magnified 14× to reach 448, like the heat map
        XCTAssertEqual(tall.panelSide, p)
        let m = Heatmap.margin
        let extra = AnyResolutionPicture.panelGap + AnyResolutionPicture.gutterGap + AnyResolutionPicture.gutterWidth
        XCTAssertEqual(wide.width, 2 * m + 4 * p + extra)
        XCTAssertEqual(tall.width, 2 * m + 2 * p + extra)
        XCTAssertEqual(tall.barY - tall.canvasY, 3 * p + AnyResolutionPicture.frameOffset + m)
        XCTAssertEqual(wide.barY - wide.canvasY, p + AnyResolutionPicture.frameOffset + m)
        XCTAssertEqual(wide.basePanel.y, wide.canvasY)
        // A tile is drawn as large as the base view: the same scale per pixel.
        XCTAssertEqual(wide.tilePanel(2).x, wide.canvasX + 2 * p)
        XCTAssertEqual(tall.tilePanel(2).y, tall.canvasY + 2 * p)

        let wideImage = AnyResolutionPicture.render(Self.smallInput(tileRows: 1, tileColumns: 3), maximumWidth: 4096)
        let tallImage = AnyResolutionPicture.render(Self.smallInput(tileRows: 3, tileColumns: 1), maximumWidth: 4096)
        XCTAssertEqual(wideImage.width, wide.width)
        XCTAssertEqual(wideImage.height, wide.height)
        XCTAssertEqual(tallImage.width, tall.width)
        XCTAssertEqual(tallImage.height, tall.height)
        XCTAssertGreaterThan(wideImage.width, tallImage.width)
        XCTAssertGreaterThan(tallImage.height - tallImage.width, wideImage.height - wideImage.width)
    }

    func testWideCanvasIsScaledDownToTheMaximumWidthTogetherWithTheBase() {
        let input = Self.smallInput(tileRows: 1, tileColumns: 3)
        let layout = AnyResolutionPicture.Layout(input, scale: 1, maximumWidth: 1000)
        XCTAssertLessThanOrEqual(layout.width, 1000)
        XCTAssertLessThan(layout.panelSide, 448)
        XCTAssertEqual(layout.basePanel.width, layout.panelSide)
        XCTAssertEqual(layout.tilePanel(1).width, layout.panelSide)
        XCTAssertEqual(AnyResolutionPicture.render(input, maximumWidth: 1000).width, layout.width)
        let tall = AnyResolutionPicture.Layout(
            Self.smallInput(tileRows: 3, tileColumns: 1), scale: 1, maximumWidth: 900)
        XCTAssertLessThanOrEqual(3 * tall.panelSide, 900)
    }

    // MARK: - Pixels

    func testCutCellsAreDarkenedAndHatched() {
        var full = Self.smallInput()
        full.keptRows = 0..<4
        let cut = Self.smallInput()  // rows 0 and 3 cut away
        let layout = AnyResolutionPicture.Layout(cut, scale: 1, maximumWidth: 4096)
        let shaded = AnyResolutionPicture.render(cut, maximumWidth: 4096)
        let plain = AnyResolutionPicture.render(full, maximumWidth: 4096)
        // The labels differ, so the panels may start lower or higher: compare pixel for pixel of the panels.
        let dy = AnyResolutionPicture.Layout(full, scale: 1, maximumWidth: 4096).canvasY - layout.canvasY
        func unshaded(_ x: Int, _ y: Int) -> RGBColor { plain.pixel(x: x, y: y + dy) }
        let r = layout.cellRect(row: 0, column: 6)
        var hatched = 0
        var darkened = 0
        for y in (r.y + 4)..<(r.y + r.height - 4) {
            for x in (r.x + 4)..<(r.x + r.width - 4) {
                if (x + y) % AnyResolutionPicture.hatchPeriod < 2 {
                    XCTAssertEqual(shaded.pixel(x: x, y: y), AnyResolutionPicture.hatchColor)
                    hatched += 1
                } else {
                    let expected = unshaded(x, y).blended(
                        with: RGBColor(0, 0, 0), alpha: AnyResolutionPicture.cutDarkening)
                    XCTAssertEqual(shaded.pixel(x: x, y: y), expected)
                    darkened += 1
                }
            }
        }
        XCTAssertGreaterThan(hatched, 100)
        XCTAssertGreaterThan(darkened, 500)
        // A surviving cell is drawn as without the unpadding.
        let kept = layout.cellRect(row: 2, column: 6)
        let centre = (x: kept.x + kept.width / 2, y: kept.y + kept.height / 2)
        XCTAssertEqual(shaded.pixel(x: centre.x, y: centre.y), unshaded(centre.x, centre.y))
        // The base view is never shaded.
        let base = layout.basePanel.rect(ofPatch: 0)
        XCTAssertEqual(
            shaded.pixel(x: base.x + base.width / 2, y: base.y + 10), unshaded(base.x + base.width / 2, base.y + 10))
    }

    func testKeptPatchesAreOutlinedWhereTheyAre() {
        let input = Self.smallInput()
        let layout = AnyResolutionPicture.Layout(input, scale: 1, maximumWidth: 4096)
        let image = AnyResolutionPicture.render(input, maximumWidth: 4096)
        // Patch 5 of view 2 (the second tile) is grid cell (1, 4 + 1).
        let r = layout.cellRect(row: 1, column: 5)
        XCTAssertEqual(r.x, layout.canvasX + layout.panelSide + layout.panelSide / 4)
        XCTAssertEqual(image.pixel(x: r.x, y: r.y), Heatmap.outlineColor)
        XCTAssertEqual(image.pixel(x: r.x + r.width - 1, y: r.y + r.height / 2), Heatmap.outlineColor)
        XCTAssertNotEqual(image.pixel(x: r.x + r.width / 2, y: r.y + r.height / 2), Heatmap.outlineColor)
        let base = layout.basePanel.rect(ofPatch: 5)
        XCTAssertEqual(image.pixel(x: base.x + 2, y: base.y + base.height / 2), Heatmap.outlineColor)
        for (row, column) in [(1, 6), (2, 2)] {  // not kept
            let d = layout.cellRect(row: row, column: column)
            XCTAssertNotEqual(image.pixel(x: d.x + 2, y: d.y + d.height / 2), Heatmap.outlineColor)
        }
        // Patch 15 of each tile sits on the cut-away last row: outlined, then darkened with the rest.
        let cut = layout.cellRect(row: 3, column: 7)
        let x = cut.x + cut.width / 2
        let y = cut.y + 1
        let outline =
            (x + y) % AnyResolutionPicture.hatchPeriod < 2
            ? AnyResolutionPicture.hatchColor
            : Heatmap.outlineColor.blended(with: RGBColor(0, 0, 0), alpha: AnyResolutionPicture.cutDarkening)
        XCTAssertEqual(image.pixel(x: x, y: y), outline)
    }

    func testTileBoundariesFrameAndNewlineMarks() {
        let input = Self.smallInput(tileRows: 2, tileColumns: 2)
        let layout = AnyResolutionPicture.Layout(input, scale: 1, maximumWidth: 4096)
        let image = AnyResolutionPicture.render(input, maximumWidth: 4096)
        let p = layout.panelSide
        XCTAssertEqual(
            image.pixel(x: layout.canvasX + p, y: layout.canvasY + p / 2 + 3), AnyResolutionPicture.boundaryColor)
        XCTAssertEqual(
            image.pixel(x: layout.canvasX + p / 2 + 3, y: layout.canvasY + p - 1), AnyResolutionPicture.boundaryColor)
        let frame = AnyResolutionPicture.frameOffset
        XCTAssertEqual(image.pixel(x: layout.canvasX - frame, y: layout.canvasY + p), AnyResolutionPicture.tileColor)
        XCTAssertEqual(
            image.pixel(x: layout.basePanel.x - frame, y: layout.canvasY + p / 2), AnyResolutionPicture.baseColor)
        // Grid rows 1…6 survive (of 8): one newline mark beside each, none beside rows 0 and 7.
        for row in 0..<8 {
            let r = layout.cellRect(row: row, column: 0)
            let mark = image.pixel(x: layout.gutterX + 2, y: r.y + r.height / 2)
            XCTAssertEqual(mark == AnyResolutionPicture.newlineColor, (1..<7).contains(row), "row \(row)")
        }
    }

    func testNewlineMarksFollowThePackedOrderWhenEmptyRowsHaveNone() {
        var input = Self.smallInput()
        input.packed = Self.packedOrder(
            kept: input.kept, tileRows: 1, tileColumns: 2, side: 4, rows: input.keptRows, columns: input.keptColumns,
            newlineAfterEmptyRows: false)
        let layout = AnyResolutionPicture.Layout(input, scale: 1, maximumWidth: 4096)
        XCTAssertEqual(AnyResolutionPicture.newlineRows(input, layout: layout), [1])  // only row 1 hands on cells
        XCTAssertEqual(AnyResolutionPicture.newlineRows(Self.smallInput(), layout: layout), [1, 2])
    }

    func testStripHasOneCellPerPackedRowColouredByKind() {
        var input = Self.smallInput()
        input.packed.insert(.other(view: 1), at: input.packed.count - 1)
        let layout = AnyResolutionPicture.Layout(input, scale: 1, maximumWidth: 4096)
        let image = AnyResolutionPicture.render(input, maximumWidth: 4096)
        // base 5, 15, mean; row 1: (1,1) of view 1, (1,5) of view 2, newline; row 2: newline; other; two means.
        let kinds: [PackedEntry.Kind] = [.base, .base, .mean, .tile, .tile, .newline, .newline, .mean, .other, .mean]
        XCTAssertEqual(input.packed.map(\.kind), kinds)
        for (i, kind) in kinds.enumerated() {
            let r = layout.strip.cell(i)
            XCTAssertEqual(
                image.pixel(x: r.x + r.width / 2, y: r.y + r.height / 2), AnyResolutionPicture.color(of: kind),
                "cell \(i)")
            XCTAssertEqual(
                image.pixel(x: r.x + r.width, y: r.y + r.height / 2), Heatmap.backgroundColor, "gap after \(i)")
        }
        let after = layout.strip.cell(kinds.count)
        XCTAssertEqual(
            image.pixel(x: after.x + after.width / 2, y: after.y + after.height / 2), Heatmap.backgroundColor)
        let colors = PackedEntry.Kind.allCases.map { AnyResolutionPicture.color(of: $0) }
        XCTAssertEqual(Set(colors.map { [$0.r, $0.g, $0.b] }).count, 5)
    }

    func testLongPackedOrderWrapsWithNarrowerCells() {
        var input = Self.smallInput()
        input.packed = (0..<5000).map { .tile(view: 1 + $0 % 2, patch: $0 % 16) }
        let layout = AnyResolutionPicture.Layout(input, scale: 1, maximumWidth: 4096)
        XCTAssertEqual(layout.strip.pitch, 3)
        XCTAssertEqual(layout.strip.lineCount, (5000 + layout.strip.perLine - 1) / layout.strip.perLine)
        let last = layout.strip.cell(4999)
        XCTAssertLessThanOrEqual(last.x + last.width, Heatmap.margin + layout.contentWidth)
        XCTAssertLessThan(last.y + last.height, layout.legend[0].y)
        let image = AnyResolutionPicture.render(input, maximumWidth: 4096)
        XCTAssertEqual(image.pixel(x: last.x, y: last.y), AnyResolutionPicture.tileColor)
        XCTAssertEqual(image.height, layout.height)
    }

    func testCountsLineAndLegendTextRender() {
        var input = Self.smallInput()
        input.packed.append(.other(view: 2))
        XCTAssertEqual(input.countsLine, "10 rows: 2 base, 2 tile, 2 newline, 3 mean, 1 other")
        XCTAssertEqual(Self.smallInput().countsLine, "9 rows: 2 base, 2 tile, 2 newline, 3 mean")
        let layout = AnyResolutionPicture.Layout(input, scale: 1, maximumWidth: 4096)
        let image = AnyResolutionPicture.render(input, maximumWidth: 4096)
        XCTAssertEqual(
            layout.legend.map(\.label), ["base view patch", "tile patch", "image_newline", "mean token", "other row"])
        func count(_ color: RGBColor, x xs: Range<Int>, y ys: Range<Int>) -> Int {
            ys.reduce(0) { n, y in n + xs.filter { image.pixel(x: $0, y: y) == color }.count }
        }
        XCTAssertGreaterThan(
            count(Heatmap.titleColor, x: 0..<image.width, y: layout.countsY..<(layout.countsY + Heatmap.lineHeight)),
            400)
        for item in layout.legend {
            let swatch = image.pixel(x: item.x + 4, y: item.y + 4)
            XCTAssertEqual(swatch, AnyResolutionPicture.color(of: item.kind))
            let textX = item.x + Heatmap.lineHeight + 4
            let ink = count(
                Heatmap.subtitleColor, x: textX..<(textX + textWidth(item.label, pixelSize: 2)),
                y: item.y..<(item.y + Heatmap.lineHeight))
            XCTAssertGreaterThan(ink, 8 * item.label.count, item.label)
        }
        // The labels over the panels, in the colours of their kinds.
        XCTAssertGreaterThan(
            count(AnyResolutionPicture.baseColor, x: 0..<layout.canvasX, y: layout.labelY..<layout.basePanel.y - 6), 100
        )
        XCTAssertGreaterThan(
            count(
                AnyResolutionPicture.tileColor, x: layout.canvasX..<image.width, y: layout.labelY..<layout.canvasY - 6),
            100)
        XCTAssertEqual(
            AnyResolutionPicture.canvasLabel(input),
            "1×2 tiles of 32×32 · grid 4×8 unpadded to 2×8 · kept 2 of 16 (2 more cut away)")
    }

    func testNonASCIITitleUsesTheUnifontGlyphs() {
        var input = Self.smallInput()
        input.title = "赤い星はどこにありますか？ Где звезда?"
        let image = AnyResolutionPicture.render(input, maximumWidth: 4096)
        input.title = String(input.title.map { $0.isWhitespace || $0 == "?" ? $0 : "?" })
        let questions = AnyResolutionPicture.render(input, maximumWidth: 4096)
        let layout = AnyResolutionPicture.Layout(input, scale: 1, maximumWidth: 4096)
        func strip(_ i: RGBImage) -> [RGBColor] {
            (layout.titleY..<layout.subtitleY).flatMap { y in (0..<i.width).map { i.pixel(x: $0, y: y) } }
        }
        XCTAssertTrue(strip(image).contains(Heatmap.titleColor))
        XCTAssertNotEqual(strip(image), strip(questions))
    }

    // MARK: - One view, edge cases

    func testNoTilesDrawsTheBasePanelAndTheStrip() {
        var input = Self.smallInput()
        input.tiles = []
        input.tileRows = 0
        input.tileColumns = 0
        input.keptRows = 0..<0
        input.keptColumns = 0..<0
        input.signals = [input.signals[0]]
        input.kept = [[5, 15]]
        input.packed = [.base(patch: 5), .base(patch: 15), .mean(view: 0)]
        let layout = AnyResolutionPicture.Layout(input, scale: 1, maximumWidth: 4096)
        let image = AnyResolutionPicture.render(input, maximumWidth: 4096)
        XCTAssertFalse(layout.hasCanvas)
        XCTAssertEqual(image.width, 448 + 2 * Heatmap.margin)
        XCTAssertEqual(image.height, layout.height)
        XCTAssertEqual(layout.legend.map(\.kind), [.base, .mean])
        XCTAssertEqual(input.countsLine, "3 rows: 2 base, 0 tile, 0 newline, 1 mean")
        let base = layout.basePanel.rect(ofPatch: 5)
        XCTAssertEqual(image.pixel(x: base.x, y: base.y), Heatmap.outlineColor)
        for (i, kind) in [PackedEntry.Kind.base, .base, .mean].enumerated() {
            let r = layout.strip.cell(i)
            XCTAssertEqual(image.pixel(x: r.x, y: r.y), AnyResolutionPicture.color(of: kind))
        }
    }

    func testEdgeCasesRender() {
        var cases: [(String, AnyResolutionPictureInput)] = []
        var input = Self.smallInput()
        input.tiles = []
        cases.append(("tiles missing", input))
        input = Self.smallInput()
        input.signals = []
        input.kept = []
        input.packed = []
        cases.append(("no signals, kept or packed rows", input))
        input = Self.smallInput()
        input.kept = [[-1, 99, 1 << 40], [3, 3]]
        input.packed = [.tile(view: 99, patch: -4), .newline, .newline, .newline, .mean(view: -1)]
        input.keptRows = -5..<100
        cases.append(("bad indices and ranges", input))
        for side in [0, -2, 1 << 40] {
            input = Self.smallInput()
            input.side = side
            cases.append(("side \(side)", input))
        }
        input = Self.smallInput()
        input.base = RGBImage(width: 0, height: 0, pixels: [])
        input.tiles = [RGBImage(width: 3, height: 90, fill: (r: 1, g: 2, b: 3))]
        input.title = String(repeating: "A very long prompt. ", count: 50)
        cases.append(("empty base, thin tile, long title", input))
        input = Self.smallInput(tileRows: 5, tileColumns: 1)
        cases.append(("very tall canvas", input))
        for (name, input) in cases {
            let image = AnyResolutionPicture.render(input, maximumWidth: 1200)
            XCTAssertGreaterThan(image.width, 2 * Heatmap.margin, name)
            XCTAssertLessThanOrEqual(image.width, 1200, name)
            XCTAssertEqual(image.pixels.count, image.width * image.height * 3, name)
        }
    }

    func testReadingOrderDescribesTheStripOfEachPacking() {
        // Hugging Face's order: the base block, grid rows ended by image_newline, the tiles' mean tokens.
        let hf: [PackedEntry] = [.base(patch: 3), .mean(view: 0), .tile(view: 1, patch: 0), .newline, .mean(view: 1)]
        let hfText = AnyResolutionPicture.readingOrder(hf, hasCanvas: true)
        XCTAssertTrue(hfText.contains("then image_newline"), hfText)
        XCTAssertTrue(hfText.contains("mean token"), hfText)
        // The same order with merged rows says so instead of "mean token".
        let merged: [PackedEntry] = [.base(patch: 3), .other(view: 0), .tile(view: 1, patch: 0), .newline, .other(view: 1)]
        XCTAssertTrue(AnyResolutionPicture.readingOrder(merged, hasCanvas: true).contains("extra rows"))
        // The released spatial packing (FasterVLM, VisPruner, CDPruner): no newline rows, so not Hugging Face's words.
        let spatial: [PackedEntry] = [.base(patch: 1), .base(patch: 5), .tile(view: 1, patch: 0), .tile(view: 2, patch: 0)]
        XCTAssertEqual(AnyResolutionPicture.readingOrder(spatial, hasCanvas: true),
                       "reading order: 2 base-view patches; 2 tile cells row by row over the canvas, no image_newline")
        // VisionZip's release: base [CLS] and contextual rows, tile cells, the tiles' [CLS], their contextual rows.
        let zip: [PackedEntry] = [.other(view: 0), .base(patch: 2), .other(view: 0), .tile(view: 1, patch: 4),
                                  .other(view: 1), .other(view: 2)]
        XCTAssertEqual(AnyResolutionPicture.readingOrder(zip, hasCanvas: true),
                       "reading order: 1 other row of the base view ([CLS], merged or contextual); 1 base-view patch; "
                       + "1 other row of the base view ([CLS], merged or contextual); 1 tile cell row by row over the canvas, "
                       + "no image_newline; 2 other rows of the tiles ([CLS], merged or contextual)")
        // DivPrune may pick the newline row alone, and a long alternation is cut after six runs.
        let picks: [PackedEntry] = [.base(patch: 0), .newline, .base(patch: 1), .tile(view: 1, patch: 0), .base(patch: 2),
                                    .tile(view: 1, patch: 1), .base(patch: 3), .tile(view: 1, patch: 2)]
        let text = AnyResolutionPicture.readingOrder(picks, hasCanvas: true)
        XCTAssertTrue(text.hasPrefix("reading order: 1 base-view patch; 1 image_newline row; 1 base-view patch;"), text)
        XCTAssertTrue(text.hasSuffix("; …"), text)
    }

    func testRenderIsDeterministicAndThePNGDecodesBack() throws {
        let input = Self.smallInput(tileRows: 2, tileColumns: 1)
        let image = AnyResolutionPicture.render(input, maximumWidth: 600)
        XCTAssertEqual(image, AnyResolutionPicture.render(input, maximumWidth: 600))
        XCTAssertEqual(try PNGDecoder.decode(AnyResolutionPicture.png(input, maximumWidth: 600)), image)
    }

    // MARK: - Sample for a person to look at

    /// Writes sample pictures (PNG) into the directory `TRIM_HEATMAP_SAMPLES` names:
    /// `TRIM_HEATMAP_SAMPLES=/tmp/heatmap-samples swift test --filter AnyResolutionPictureTests`.
    func testWritesSamplesWhenAsked() throws {
        guard let directory = ProcessInfo.processInfo.environment["TRIM_HEATMAP_SAMPLES"] else { return }
        func write(_ image: RGBImage, _ name: String) throws {
            try Data(PNGEncoder.encode(image)).write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
        }
        let picture = AnyResolutionPicture.render(
            Self.realisticInput(width: 800, height: 500, tileRows: 2, tileColumns: 2))
        try write(picture, "anyres-2x2.png")
        try write(Self.crop(picture, x: 0, y: picture.height - 260, width: 1100, height: 260), "anyres-2x2-strip.png")
        try write(Self.crop(picture, x: picture.width - 700, y: 60, width: 700, height: 500), "anyres-2x2-corner.png")
        try write(
            AnyResolutionPicture.render(Self.realisticInput(width: 1000, height: 330, tileRows: 1, tileColumns: 3)),
            "anyres-1x3.png")
        try write(
            AnyResolutionPicture.render(Self.realisticInput(width: 360, height: 1000, tileRows: 3, tileColumns: 1)),
            "anyres-3x1.png")
        try write(
            AnyResolutionPicture.render(Self.realisticInput(width: 500, height: 500, tileRows: 0, tileColumns: 0)),
            "anyres-one-view.png")
    }
}

// MARK: - A photo-like any-resolution input

extension AnyResolutionPictureTests {
    /// The `width × height` part of `image` at (`x`, `y`), clipped to the image.
    static func crop(_ image: RGBImage, x: Int, y: Int, width: Int, height: Int) -> RGBImage {
        let x0 = max(0, x)
        let y0 = max(0, y)
        let w = min(width, image.width - x0)
        let h = min(height, image.height - y0)
        var pixels: [UInt8] = []
        for row in y0..<(y0 + h) {
            pixels += image.pixels[((row * image.width + x0) * 3)..<((row * image.width + x0 + w) * 3)]
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    /// A `width × height` scene: sky, grass and a red ball, seen through 336 × 336 views.
    struct Scene {
        /// View side in pixels and patches per view side.
        static let s = 336, g = 24
        /// Image size.
        var w: Int, h: Int
        /// The ball's centre and radius in image pixels.
        var ball: (x: Double, y: Double, r: Double)

        init(width: Int, height: Int) {
            (w, h) = (width, height)
            ball = (0.68 * Double(width), 0.62 * Double(height), 0.12 * Double(min(width, height)))
        }

        /// The colour at image point (`x`, `y`).
        func pixel(_ x: Double, _ y: Double) -> (UInt8, UInt8, UInt8) {
            let dx = x - ball.x
            let dy = y - ball.y
            if dx * dx + dy * dy <= ball.r * ball.r { return (210, 40, 40) }
            if y < 0.55 * Double(h) { return (UInt8(70 + 60 * y / Double(h)), UInt8(140 + 80 * y / Double(h)), 230) }
            return (60, UInt8(140 + Int(x * 7 + y * 3) % 30), 50)
        }

        /// A view whose pixel (x, y) shows image point `map(x, y)`, black where that is nil.
        func view(_ map: (Int, Int) -> (Double, Double)?) -> RGBImage {
            var image = RGBImage(width: Self.s, height: Self.s, fill: (r: 0, g: 0, b: 0))
            for y in 0..<Self.s {
                for x in 0..<Self.s {
                    guard let (sx, sy) = map(x, y) else { continue }
                    let i = (y * Self.s + x) * 3
                    (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]) = pixel(sx, sy)
                }
            }
            return image
        }

        /// The canvas fit: scale and offsets of the image centred in `rows × columns` tiles, keeping aspect.
        func fit(rows: Int, columns: Int) -> (k: Double, ox: Double, oy: Double) {
            let cw = Double(max(columns, 1) * Self.s)
            let ch = Double(max(rows, 1) * Self.s)
            let k = min(cw / Double(w), ch / Double(h))
            return (k, (cw - k * Double(w)) / 2, (ch - k * Double(h)) / 2)
        }

        /// The base view (the whole image squashed) and the tiles of the fitted canvas, padded with black.
        func views(rows: Int, columns: Int) -> (base: RGBImage, tiles: [RGBImage]) {
            let base = view { x, y in
                ((Double(x) + 0.5) * Double(w) / Double(Self.s), (Double(y) + 0.5) * Double(h) / Double(Self.s))
            }
            let (k, ox, oy) = fit(rows: rows, columns: columns)
            let tiles = (0..<(rows * columns)).map { t in
                let tx = Double((t % columns) * Self.s)
                let ty = Double((t / columns) * Self.s)
                return view { x, y in
                    let sx = (tx + Double(x) + 0.5 - ox) / k
                    let sy = (ty + Double(y) + 0.5 - oy) / k
                    return sx >= 0 && sx < Double(w) && sy >= 0 && sy < Double(h) ? (sx, sy) : nil
                }
            }
            return (base, tiles)
        }

        /// Each view's signal (softmax of a bump on the ball's patch) and its IQR-kept patches.
        func signals(rows: Int, columns: Int) -> (signals: [[Float]], kept: [[Int]]) {
            let (k, ox, oy) = fit(rows: rows, columns: columns)
            let g = Double(Self.g)
            let s = Double(Self.s)
            var at = [(ball.y / Double(h) * g, ball.x / Double(w) * g)]
            for t in 0..<(rows * columns) {
                let tx = Double((t % columns) * Self.s)
                let ty = Double((t / columns) * Self.s)
                at.append(((oy + k * ball.y - ty) / s * g, (ox + k * ball.x - tx) / s * g))
            }
            let signals = at.map { HeatmapTests.peakedScores(grid: Self.g, row: $0.0, column: $0.1) }
            return (signals, signals.map { HeatmapTests.iqrSelection($0).kept })
        }

        /// The grid rows and columns LLaVA-NeXT's unpadding keeps of `rows × columns` tiles.
        func unpadded(rows: Int, columns: Int) -> (rows: Range<Int>, columns: Range<Int>) {
            let r = rows * Self.g
            let c = columns * Self.g
            if Double(w) / Double(h) > Double(c) / Double(r) {
                let pad = (r - Int((Double(h) * Double(c) / Double(w)).rounded())) / 2
                return (pad..<(r - pad), 0..<c)
            }
            let pad = (c - Int((Double(w) * Double(r) / Double(h)).rounded())) / 2
            return (0..<r, pad..<(c - pad))
        }
    }

    /// A photo-like input cut as LLaVA-NeXT cuts it: the base view, `tileRows × tileColumns` tiles, the
    /// unpadded rows or columns, a signal peaked on the ball per view, IQR-kept patches, and the packing.
    static func realisticInput(width w: Int, height h: Int, tileRows: Int, tileColumns: Int)
        -> AnyResolutionPictureInput
    {
        let scene = Scene(width: w, height: h)
        let (base, tiles) = scene.views(rows: tileRows, columns: tileColumns)
        let (signals, kept) = scene.signals(rows: tileRows, columns: tileColumns)
        let (rows, columns) = scene.unpadded(rows: tileRows, columns: tileColumns)
        let tiled = tileRows * tileColumns > 0
        let packed =
            tiled
            ? packedOrder(
                kept: kept, tileRows: tileRows, tileColumns: tileColumns, side: Scene.g, rows: rows, columns: columns)
            : kept[0].sorted().map { PackedEntry.base(patch: $0) } + [.mean(view: 0)]
        let total = kept.reduce(0) { $0 + $1.count }
        return AnyResolutionPictureInput(
            base: base, tiles: tiles, tileRows: tileRows, tileColumns: tileColumns, side: Scene.g, keptRows: rows,
            keptColumns: columns, signals: signals, kept: kept, packed: packed,
            title: "What colour is the ball on the grass?",
            subtitle: "\(w) × \(h) image · "
                + (tiled ? "LLaVA-NeXT \(tileRows) × \(tileColumns) tiles" : "base view only")
                + " · TRIM (IQR) kept \(total) of \(576 * kept.count) patches + \(kept.count) mean token"
                + (kept.count == 1 ? "" : "s"))
    }
}

import Foundation
import Inflate
import TRIMImage
import TRIMResources
import XCTest

@testable import TRIMRender

final class HeatmapTests: XCTestCase {
    // MARK: - Synthetic inputs

    /// A `side × side` image: a sky-to-grass gradient with a red ball centred at (`ballX`, `ballY`).
    static func scene(side: Int, ballX: Int, ballY: Int, radius: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        for y in 0..<side {
            for x in 0..<side {
                let i = (y * side + x) * 3
                let dx = x - ballX
                let dy = y - ballY
                if dx * dx + dy * dy <= radius * radius {
                    (pixels[i], pixels[i + 1], pixels[i + 2]) = (210, 40, 40)
                } else if y < side * 3 / 5 {
                    let v = UInt8(120 + 100 * y / side)
                    (pixels[i], pixels[i + 1], pixels[i + 2]) = (v / 2, v, 230)
                } else {
                    (pixels[i], pixels[i + 1], pixels[i + 2]) = (60, UInt8(140 + (x * 7 + y * 3) % 30), 50)
                }
            }
        }
        return RGBImage(width: side, height: side, pixels: pixels)
    }

    /// Softmax of similarities that peak at patch (`row`, `column`), with a little deterministic
    /// texture, like the paper's cosine scores: `[grid * grid]`.
    static func peakedScores(grid: Int, row: Double, column: Double, sharpness: Float = 1) -> [Float] {
        var similarities = [Float](repeating: 0, count: grid * grid)
        for i in 0..<(grid * grid) {
            let dr = Double(i / grid) - row
            let dc = Double(i % grid) - column
            let bump = exp(-(dr * dr + dc * dc) / 8)
            let texture = 0.01 * sin(Double(i) * 1.7)
            similarities[i] = sharpness * Float(0.15 + 0.12 * bump + texture)
        }
        let maximum = similarities.max() ?? 0
        let e = similarities.map { exp($0 - maximum) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// numpy-style IQR outlier bound `Q3 + 1.5 (Q3 - Q1)` (linear-interpolation percentiles) and
    /// the indices above it.
    static func iqrSelection(_ scores: [Float]) -> (upper: Float, kept: [Int]) {
        let sorted = scores.sorted()
        func percentile(_ p: Float) -> Float {
            let position = p / 100 * Float(sorted.count - 1)
            let lower = Int(position)
            let upper = min(lower + 1, sorted.count - 1)
            return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Float(lower))
        }
        let q1 = percentile(25)
        let q3 = percentile(75)
        let bound = q3 + 1.5 * (q3 - q1)
        return (bound, scores.indices.filter { scores[$0] > bound })
    }

    /// A 336 × 336, 24 × 24-patch input like ViT-L/14-336 produces, IQR-selected.
    static func realisticInput(title: String = "What colour is the ball on the grass?")
        -> HeatmapInput
    {
        let scores = peakedScores(grid: 24, row: 14.5, column: 16.5)
        let (upper, kept) = iqrSelection(scores)
        let percent = String(format: "%.1f", 100 * Double(kept.count) / 576)
        return HeatmapInput(
            image: scene(side: 336, ballX: 236, ballY: 210, radius: 44), gridSize: 24, scores: scores,
            kept: kept, threshold: upper, title: title,
            subtitle: "scoring paper · IQR · kept \(kept.count) of 576 (\(percent)%) + mean token")
    }

    /// A 56 × 56 image with a 4 × 4 grid: patch 5 scores highest, patch 10 lowest; patches 5 and 6 kept.
    static func smallInput() -> HeatmapInput {
        var scores = [Float](repeating: 0.05, count: 16)
        scores[5] = 0.4
        scores[10] = 0.001
        return HeatmapInput(
            image: RGBImage(width: 56, height: 56, fill: (r: 128, g: 128, b: 128)), gridSize: 4,
            scores: scores,
            kept: [5, 6], threshold: 0.2, title: "a small test", subtitle: "4 x 4 patches")
    }

    // MARK: - Geometry

    func testSmallImageIsMagnifiedToAtLeast448PixelsWide() {
        let input = Self.smallInput()
        let layout = Heatmap.Layout(input, scale: 2)
        let image = Heatmap.render(input)
        XCTAssertEqual(layout.factor, 8)
        XCTAssertEqual(layout.panel.width, 448)
        XCTAssertEqual(layout.panel.height, 448)
        XCTAssertEqual(image.width, 448 + 2 * Heatmap.margin)
        XCTAssertEqual(image.height, layout.height)
        XCTAssertEqual(image.pixels.count, image.width * image.height * 3)
        XCTAssertGreaterThan(layout.panel.y, layout.subtitleY)
        XCTAssertGreaterThan(layout.barY, layout.panel.y + layout.panel.height)
    }

    func testViTL336ImageAtScale2GivesTwentyEightPixelPatches() {
        let layout = Heatmap.Layout(Self.realisticInput(), scale: 2)
        XCTAssertEqual(layout.factor, 2)
        XCTAssertEqual(layout.panel.width, 672)
        let r = layout.panel.rect(ofPatch: 24 + 3)  // row 1, column 3
        XCTAssertEqual(r.x - layout.panel.x, 3 * 28)
        XCTAssertEqual(r.y - layout.panel.y, 28)
        XCTAssertEqual(r.width, 28)
        XCTAssertEqual(r.height, 28)
    }

    func testMagnificationIsCappedForHugeImagesAndScales() {
        XCTAssertEqual(Heatmap.magnification(width: 336, height: 336, requested: 1000), 4096 / 336)
        XCTAssertEqual(Heatmap.magnification(width: 5000, height: 10, requested: 2), 1)
        XCTAssertEqual(Heatmap.magnification(width: 336, height: 336, requested: 0), 2)
    }

    func testPatchesTileThePanelWhenTheGridDoesNotDivideIt() {
        let panel = Heatmap.Panel(x: 0, y: 0, width: 100, height: 100, gridSize: 7)
        var covered = [Int](repeating: 0, count: 100 * 100)
        for i in 0..<panel.patchCount {
            let r = panel.rect(ofPatch: i)
            for y in r.y..<(r.y + r.height) {
                for x in r.x..<(r.x + r.width) { covered[y * 100 + x] += 1 }
            }
        }
        XCTAssertEqual(Set(covered), [1])
    }

    // MARK: - Pixels

    func testKeptPatchesHaveOutlineColourOnTheirBorderAndOthersDoNot() {
        let input = Self.smallInput()
        let layout = Heatmap.Layout(input, scale: 2)
        let image = Heatmap.render(input)
        for index in [5, 6] {
            let r = layout.panel.rect(ofPatch: index)
            XCTAssertEqual(
                image.pixel(x: r.x, y: r.y), Heatmap.outlineColor, "top-left of kept patch \(index)")
            XCTAssertEqual(image.pixel(x: r.x + r.width - 1, y: r.y + r.height / 2), Heatmap.outlineColor)
            XCTAssertEqual(image.pixel(x: r.x + r.width / 2, y: r.y + r.height - 1), Heatmap.outlineColor)
            XCTAssertNotEqual(
                image.pixel(x: r.x + r.width / 2, y: r.y + r.height / 2), Heatmap.outlineColor)
        }
        for index in [0, 10, 15] {
            let r = layout.panel.rect(ofPatch: index)
            XCTAssertNotEqual(
                image.pixel(x: r.x, y: r.y), Heatmap.outlineColor, "corner of dropped patch \(index)")
        }
    }

    func testHighScorePatchIsTintedDifferentlyFromLowScorePatch() {
        let input = Self.smallInput()
        let layout = Heatmap.Layout(input, scale: 2)
        let image = Heatmap.render(input)
        func centre(_ index: Int) -> RGBColor {
            let r = layout.panel.rect(ofPatch: index)
            return image.pixel(x: r.x + r.width / 2, y: r.y + r.height / 2)
        }
        let high = centre(5)
        let low = centre(10)
        let grey = RGBColor(128, 128, 128)
        XCTAssertEqual(high, grey.blended(with: Colormap.inferno(1), alpha: Heatmap.overlayAlpha))
        XCTAssertEqual(low, grey.blended(with: Colormap.inferno(0), alpha: Heatmap.overlayAlpha))
        func lightness(_ c: RGBColor) -> Int { Int(c.r) + Int(c.g) + Int(c.b) }
        XCTAssertGreaterThan(lightness(high), lightness(low) + 200)
    }

    func testTitleStripContainsTitleColouredTextPixels() {
        let input = Self.smallInput()
        let layout = Heatmap.Layout(input, scale: 2)
        let image = Heatmap.render(input)
        var titlePixels = 0
        for y in layout.titleY..<layout.subtitleY {
            for x in 0..<image.width where image.pixel(x: x, y: y) == Heatmap.titleColor {
                titlePixels += 1
            }
        }
        // "a small test": 10 glyphs of roughly 10 to 20 font pixels, each drawn 2 × 2.
        XCTAssertGreaterThan(titlePixels, 10 * 10 * 4)
        var subtitlePixels = 0
        for y in layout.subtitleY..<layout.panel.y {
            for x in 0..<image.width where image.pixel(x: x, y: y) == Heatmap.subtitleColor {
                subtitlePixels += 1
            }
        }
        XCTAssertGreaterThan(subtitlePixels, 0)
    }

    func testColourBarRunsFromLowToHighColourWithThresholdMarked() throws {
        let input = Self.smallInput()
        let layout = Heatmap.Layout(input, scale: 2)
        let image = Heatmap.render(input)
        let y = layout.barY + Heatmap.colorBarHeight / 2
        XCTAssertEqual(image.pixel(x: layout.panel.x, y: y), Colormap.inferno(0))
        XCTAssertEqual(
            image.pixel(x: layout.panel.x + layout.panel.width - 1, y: y), Colormap.inferno(1))
        let t = try XCTUnwrap(layout.thresholdPosition)
        // threshold 0.2 between low 0.001 and high 0.4 on a log scale
        XCTAssertEqual(t, (log(0.2) - log(0.001)) / (log(0.4) - log(0.001)), accuracy: 1e-5)
        let markerX = layout.panel.x + Int((t * Float(layout.panel.width - 1)).rounded())
        XCTAssertEqual(image.pixel(x: markerX, y: y), RGBColor(255, 255, 255))
    }

    func testRenderIsDeterministic() {
        XCTAssertEqual(Heatmap.render(Self.smallInput()), Heatmap.render(Self.smallInput()))
    }

    // MARK: - Colour scale

    func testLogScoreScaleIsLinearInTheSimilarities() {
        // softmax of similarities 0, 1, 2, 4: log-score positions are 0, 1/4, 2/4, 1.
        let s: [Float] = [0, 1, 2, 4]
        let e = s.map { exp($0) }
        let scores = e.map { $0 / e.reduce(0, +) }
        let scale = Heatmap.ColorScale(scores: scores)
        assertClose(scores.map(scale.position(of:)), [0, 0.25, 0.5, 1], accuracy: 1e-5)
    }

    func testZeroNegativeAndNaNScoresGetTheLowestColourAndEqualScoresTheMiddle() {
        let scale = Heatmap.ColorScale(scores: [0, -1, .nan, 0.5, 0.25])
        XCTAssertEqual(scale.low, 0.25)
        XCTAssertEqual(scale.high, 0.5)
        XCTAssertEqual(scale.position(of: 0), 0)
        XCTAssertEqual(scale.position(of: -1), 0)
        XCTAssertEqual(scale.position(of: .nan), 0)
        XCTAssertEqual(Heatmap.ColorScale(scores: [0.1, 0.1]).position(of: 0.1), 0.5)
        XCTAssertNil(Heatmap.ColorScale(scores: [0, 0]).position(ofThreshold: 0.1))
        XCTAssertNil(scale.position(ofThreshold: -1))
    }

    func testInfernoEndsAndLightnessRisesMonotonically() {
        XCTAssertEqual(Colormap.inferno(0), RGBColor(0, 0, 4))
        XCTAssertEqual(Colormap.inferno(1), RGBColor(252, 255, 164))
        XCTAssertEqual(Colormap.inferno(-3), Colormap.inferno(0))
        XCTAssertEqual(Colormap.inferno(.nan), Colormap.inferno(0))
        XCTAssertEqual(Colormap.inferno(7), Colormap.inferno(1))
        // Rec. 601 luma, a stand-in for perceived lightness.
        func luma(_ c: RGBColor) -> Float {
            0.299 * Float(c.r) + 0.587 * Float(c.g) + 0.114 * Float(c.b)
        }
        let lumas = (0...100).map { luma(Colormap.inferno(Float($0) / 100)) }
        for (a, b) in zip(lumas, lumas.dropFirst()) { XCTAssertLessThanOrEqual(a, b + 0.5) }
    }

    // MARK: - Text

    func testEveryPrintableASCIICharacterHasAFiveColumnGlyph() {
        XCTAssertEqual(BitmapFont.printableASCII.count, 95)
        for (offset, rows) in BitmapFont.printableASCII.enumerated() {
            XCTAssert(rows.count == 7 || rows.count == 9, "glyph \(offset + 32) has \(rows.count) rows")
            XCTAssert(rows.allSatisfy { $0 < 0x20 }, "glyph \(offset + 32) is wider than 5 columns")
            if offset > 0 { XCTAssert(rows.contains { $0 != 0 }, "glyph \(offset + 32) is blank") }
        }
        // Distinct characters look distinct.
        XCTAssertEqual(Set(BitmapFont.printableASCII).count, 95)
    }

    func testCharactersWithoutGlyphAreDrawnAsQuestionMark() {
        let question = BitmapFont.glyph(for: "?")
        XCTAssertEqual(BitmapFont.glyph(for: "é"), question)
        XCTAssertEqual(BitmapFont.glyph(for: "猫"), question)
        XCTAssertEqual(BitmapFont.glyph(for: "👍🏽"), question)
        XCTAssertEqual(BitmapFont.glyph(for: "\n"), question)
        XCTAssertNotEqual(BitmapFont.glyph(for: "·"), question)
        XCTAssertNotEqual(BitmapFont.glyph(for: "…"), question)
    }

    func testWrapBreaksAtWordsAndEndsOverflowWithEllipsis() {
        XCTAssertEqual(
            Heatmap.wrap("the cat sat on the mat", width: 10, maxLines: 3),
            ["the cat", "sat on the", "mat"])
        XCTAssertEqual(
            Heatmap.wrap("the cat sat on the mat", width: 10, maxLines: 2), ["the cat", "sat on th…"])
        XCTAssertEqual(
            Heatmap.wrap("abcdefghijklmnop", width: 6, maxLines: 5), ["abcdef", "ghijkl", "mnop"])
        XCTAssertEqual(Heatmap.wrap("  spaced\n\tout  ", width: 20, maxLines: 2), ["spaced out"])
        XCTAssertEqual(Heatmap.wrap("", width: 20, maxLines: 2), [])
        XCTAssertEqual(Heatmap.wrap("abc", width: 0, maxLines: 0), ["…"])
        for line in Heatmap.wrap(
            String(repeating: "long words here ", count: 50), width: 37, maxLines: 2)
        {
            XCTAssertLessThanOrEqual(line.count, 37)
        }
    }

    // MARK: - Text in other scripts (bundled GNU Unifont subset)

    /// Titles in Korean, Japanese, Chinese, Russian and accented French (precomposed and combining).
    static let nonASCIITitles = [
        "빨간 별은 어디에 있나요?", "赤い星はどこにありますか？", "红色的星星在哪里？", "Где красная звезда?",
        "Où est l'étoile rouge? Ça, café, cafe\u{301}, Æsir, Łódź, Ελλάδα",
    ]

    func testBundledFontLoadsWithTheExpectedGlyphs() throws {
        let font = try XCTUnwrap(Unifont.bundled, "Weights/fonts/unifont-subset.bin.gz is missing or damaged")
        XCTAssertEqual(font.glyphCount, 34948)
        XCTAssertEqual(font.glyph(for: "가")?.width, 16)
        XCTAssertEqual(font.glyph(for: "猫")?.width, 16)
        XCTAssertEqual(font.glyph(for: "é")?.width, 8)
        XCTAssertEqual(font.glyph(for: "é")?.rows.count, 16)
        XCTAssertNil(font.glyph(for: "A"))  // ASCII stays with the 5 × 7 font
        XCTAssertNil(font.glyph(for: "\u{1F600}"))
        XCTAssertNil(font.glyph(for: "\u{10FFFF}"))
        // 一 is one horizontal stroke: a single row of 15 pixels.
        XCTAssertEqual(font.glyph(for: "一")?.rows.filter { $0 != 0 }, [0xFFFE])
    }

    func testNonASCIITitlesRenderWithoutQuestionMarks() {
        let question = BitmapFont.Glyph.small(BitmapFont.printableASCII[BitmapFont.questionMark])
        for title in Self.nonASCIITitles {
            for character in title where !character.isWhitespace && character != "?" {
                let glyph = BitmapFont.resolve(character)
                XCTAssertNotEqual(glyph, question, "\(character) in \(title) is drawn as ?")
                if character.asciiValue == nil, character != "…" {
                    guard case .unifont = glyph else { return XCTFail("\(character) is not a Unifont glyph") }
                }
            }
            // The title strip holds ink, and differs from the same number of question marks.
            var input = Self.smallInput()
            input.title = title
            let image = Heatmap.render(input)
            input.title = String(title.map { $0.isWhitespace || $0 == "?" ? $0 : "?" })
            let questions = Heatmap.render(input)
            let layout = Heatmap.Layout(input, scale: 2)
            func strip(_ i: RGBImage) -> [RGBColor] {
                (layout.titleY..<layout.subtitleY).flatMap { y in (0..<i.width).map { i.pixel(x: $0, y: y) } }
            }
            XCTAssertTrue(strip(image).contains(Heatmap.titleColor), title)
            XCTAssertNotEqual(strip(image), strip(questions), title)
        }
        // Wide glyphs advance 1.5 cells, narrow ones 1.
        XCTAssertEqual(textWidth("가나", pixelSize: 2), 2 * 18)
        XCTAssertEqual(textWidth("éa", pixelSize: 2), 2 * 12)
    }

    func testCombiningSequencesUseThePrecomposedGlyphOrTheBase() {
        XCTAssertEqual(BitmapFont.resolve("e\u{301}"), BitmapFont.resolve("é"))
        XCTAssertEqual(BitmapFont.resolve("\u{1100}\u{1161}"), BitmapFont.resolve("가"))  // conjoining jamo
        XCTAssertEqual(BitmapFont.resolve("q\u{301}"), .small(BitmapFont.glyph(for: "q")))  // no precomposed q́
        XCTAssertEqual(BitmapFont.resolve("я\u{301}"), BitmapFont.resolve("я"))
        let question = BitmapFont.Glyph.small(BitmapFont.printableASCII[BitmapFont.questionMark])
        XCTAssertEqual(BitmapFont.resolve("👍🏽"), question)
        XCTAssertEqual(BitmapFont.resolve("\n"), question)
        XCTAssertEqual(BitmapFont.resolve("\u{7}"), question)
        // Without the font file, everything outside the 5 × 7 font is a question mark.
        XCTAssertEqual(BitmapFont.resolve("猫", font: nil), question)
        XCTAssertEqual(BitmapFont.resolve("é", font: nil), question)
        XCTAssertEqual(BitmapFont.resolve("·", font: nil), .small(BitmapFont.glyph(for: "·")))
        // A combining sequence is never split by wrapping.
        let word = String(repeating: "e\u{301}\u{323}", count: 9)
        let lines = Heatmap.wrap(word, width: 4, maxLines: 5)
        XCTAssertEqual(lines.map(\.count), [4, 4, 1])
        XCTAssertEqual(lines.joined(), word)
    }

    func testLongCJKTitleWrapsWithinThePanel() {
        let titles = [
            String(repeating: "赤い星はどこにありますか、そして青い丸は何色ですか。", count: 8),
            String(repeating: "빨간 별은 어디에 있나요? ", count: 20),
            String(repeating: "猫a", count: 100),
        ]
        for title in titles {
            let input = Self.realisticInput(title: title)
            let layout = Heatmap.Layout(input, scale: 2)
            XCTAssertEqual(layout.titleLines.count, 2, title)
            XCTAssertEqual(layout.titleLines.last?.last, "…", title)
            for line in layout.titleLines {
                XCTAssertLessThanOrEqual(textWidth(line, pixelSize: Heatmap.fontScale), layout.panel.width, line)
                // …and fills it to within one wide glyph and the ellipsis.
                XCTAssertGreaterThan(textWidth(line, pixelSize: Heatmap.fontScale), layout.panel.width - 3 * 18, line)
            }
            XCTAssertTrue(
                title.replacingOccurrences(of: " ", with: "").hasPrefix(
                    layout.titleLines[0].replacingOccurrences(of: " ", with: "")))
        }
        // 10 columns hold 3 wide glyphs (9 columns), not 4; the ellipsis (2) replaces the third on a last line.
        XCTAssertEqual(Heatmap.wrap("一二三四五六七", columns: 10, maxLines: 5), ["一二三", "四五六", "七"])
        XCTAssertEqual(Heatmap.wrap("一二三四五六七", columns: 10, maxLines: 2), ["一二三", "四五…"])
        XCTAssertEqual(Heatmap.wrap("一 a 二", columns: 7, maxLines: 3), ["一 a", "二"])
        XCTAssertEqual(Heatmap.wrap("一二", columns: 1, maxLines: 3), ["一", "二"])  // a glyph wider than a line
    }

    func testColourBarCaptionIsMeasuredInItsOwnScript() {
        // 30 wide glyphs: 540 pixels, more than the 456 between the end labels, though 30 ASCII cells (360) fit.
        var input = Self.realisticInput()
        input.caption = String(repeating: "類", count: 30)
        let layout = Heatmap.Layout(input, scale: 2)
        let picture = Heatmap.render(input, scale: 2)
        for y in layout.barLabelY..<(layout.barLabelY + Heatmap.lineHeight) {
            for x in (layout.panel.x + 120)..<(layout.panel.x + layout.panel.width - 120) {
                XCTAssertNotEqual(picture.pixel(x: x, y: y), Heatmap.subtitleColor, "caption drawn at (\(x), \(y))")
            }
        }
        input.caption = String(repeating: "類", count: 20)  // 360 pixels: fits, and is drawn
        let fits = Heatmap.render(input, scale: 2)
        XCTAssertTrue((layout.panel.x + 120..<layout.panel.x + layout.panel.width - 120).contains { x in
            (layout.barLabelY..<(layout.barLabelY + Heatmap.lineHeight)).contains { fits.pixel(x: x, y: $0) == Heatmap.subtitleColor }
        })
    }

    func testSideBySideTilesThePanelsUnderOneTitleThatStaysInside() {
        let panels = (0..<4).map { Self.realisticInput(title: "method \($0)") }
        let one = Heatmap.render(panels[0], scale: 1)
        let title = String(repeating: "빨간 별은 어디에 있나요? 赤い星はどこ？", count: 12)
        let picture = Heatmap.sideBySide(panels, title: title, columns: 3)
        let header = Heatmap.margin + 2 * Heatmap.lineHeight  // a long title: two lines, cut with …
        XCTAssertEqual(picture.width, 3 * one.width)
        XCTAssertEqual(picture.height, header + 2 * one.height)
        // The second panel sits in the second cell, pixel for pixel.
        for (x, y) in [(5, 5), (one.width / 2, one.height / 2), (one.width - 3, one.height - 3)] {
            XCTAssertEqual(picture.pixel(x: one.width + x, y: header + y), one.pixel(x: x, y: y))
        }
        // The wide glyphs are measured as wide: nothing drawn in the header's right margin.
        let background = Heatmap.backgroundColor
        var text = 0
        for y in 0..<header {
            for x in 0..<picture.width where picture.pixel(x: x, y: y) != background {
                text += 1
                XCTAssertLessThan(x, picture.width - Heatmap.margin + 2, "title pixel at (\(x), \(y)) in the margin")
            }
        }
        XCTAssertGreaterThan(text, 1000)
    }

    /// The heat map's pictures of ASCII text are those of the 5 × 7 font alone: `drawText` draws what the
    /// old one-glyph-per-6-pixel-cell loop drew, and `wrap` breaks as the old character-count wrap did.
    func testASCIITextIsDrawnAndWrappedExactlyAsBefore() {
        let text =
            (32...126).map { String(UnicodeScalar(UInt8($0))) }.joined() + " ·…×–— scoring paper · IQR"
        for pixelSize in [1, 2, 3] {
            var old = RGBImage(width: 1400 * pixelSize, height: 12 * pixelSize, fill: (r: 0, g: 0, b: 0))
            var new = old
            for (n, character) in text.enumerated() {
                old.drawGlyph(
                    BitmapFont.glyph(for: character), x: 2 + n * 6 * pixelSize, y: 1, pixelSize: pixelSize,
                    color: RGBColor(255, 255, 255))
            }
            new.drawText(text, x: 2, y: 1, pixelSize: pixelSize, color: RGBColor(255, 255, 255))
            XCTAssertEqual(old, new, "pixel size \(pixelSize)")
            XCTAssertEqual(textWidth(text, pixelSize: pixelSize), textWidth(text.count, pixelSize: pixelSize))
        }
        let texts = [
            "the cat sat on the mat", String(repeating: "What is written on the very long sign? ", count: 40),
            "abcdefghijklmnop qrstuvwxyz0123456789 x", "a bb ccc dddd eeeee ffffff ggggggg", "  spaced\n\tout  ",
            "scoring paper · IQR ×1.5 · mean token · layer -2 · kept 9 of 576 (1.6%) + mean token",
        ]
        for text in texts {
            for width in 1...60 {
                for maxLines in 1...3 {
                    let expected = Self.legacyWrap(text, width: width, maxLines: maxLines)
                    XCTAssertEqual(Heatmap.wrap(text, width: width, maxLines: maxLines), expected, "\(width) \(text)")
                    // The layout's odd column counts (a panel width not a multiple of 12) change nothing either.
                    XCTAssertEqual(Heatmap.wrap(text, columns: 2 * width + 1, maxLines: maxLines), expected)
                }
            }
        }
    }

    /// The character-count word wrap the heat map used before it drew other scripts.
    static func legacyWrap(_ text: String, width: Int, maxLines: Int) -> [String] {
        let width = max(width, 1)
        var lines: [[Character]] = []
        var current: [Character] = []
        for word in text.split(whereSeparator: { $0.isWhitespace }) {
            var word = Array(word)
            if !current.isEmpty && current.count + 1 + word.count <= width {
                current.append(" ")
                current += word
                continue
            }
            if !current.isEmpty { lines.append(current) }
            current = []
            while word.count > width {
                lines.append(Array(word[..<width]))
                word.removeFirst(width)
            }
            current = word
        }
        if !current.isEmpty { lines.append(current) }
        let maxLines = max(maxLines, 1)
        guard lines.count > maxLines else { return lines.map { String($0) } }
        var shown = Array(lines[..<maxLines])
        var last = shown[maxLines - 1]
        if last.count >= width { last.removeLast(last.count - width + 1) }
        shown[maxLines - 1] = last + ["…"]
        return shown.map { String($0) }
    }

    /// A well-formed two-range font: U+00E9 (8 wide) and U+AC00…U+AC01 (16 wide).
    static func tinyFont() -> [UInt8] {
        var bytes = Array("TUF1".utf8) + [1, 16, 2, 0]
        bytes += [0xE9, 0, 0, 0, 1, 0, 8, 0]
        bytes += [0x00, 0xAC, 0, 0, 2, 0, 16, 0]
        bytes += (0..<16).map { UInt8($0) }
        bytes += (0..<64).map { UInt8(255 - $0) }
        return bytes
    }

    /// `bytes` in a minimal gzip member (no name, mtime 0).
    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        return [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF] + Deflate.deflate(bytes) + le32(Checksum.crc32(bytes))
            + le32(UInt32(bytes.count))
    }

    func testMalformedFontBytesGiveTypedErrors() throws {
        let good = Self.tinyFont()
        let font = try Unifont(bytes: good)
        XCTAssertEqual(font.glyphCount, 3)
        XCTAssertEqual(font.glyph(for: "é"), UnifontGlyph(width: 8, rows: (0..<16).map { UInt16($0) << 8 }))
        XCTAssertEqual(font.glyph(for: "각")?.rows.first, 0xDFDE)
        XCTAssertNil(font.glyph(for: "갂"))
        XCTAssertNil(font.glyph(for: "ê"))
        XCTAssertEqual(try Unifont(gzip: Self.gzip(good)).glyphCount, 3)

        func error(_ bytes: [UInt8]) -> UnifontError? {
            do {
                _ = try Unifont(bytes: bytes)
                return nil
            } catch { return error }
        }
        func patched(_ at: Int, _ value: UInt8) -> [UInt8] {
            var b = good
            b[at] = value
            return b
        }
        XCTAssertEqual(error([]), .truncated(need: 8, have: 0))
        XCTAssertEqual(error(patched(0, 0x58)), .badMagic)
        XCTAssertEqual(error(patched(4, 2)), .unsupported(field: "version", value: 2))
        XCTAssertEqual(error(patched(5, 8)), .unsupported(field: "glyph height", value: 8))
        XCTAssertEqual(error(patched(6, 0)), .unsupported(field: "range count", value: 0))
        XCTAssertEqual(error(patched(7, 0xFF)), .unsupported(field: "range count", value: 0xFF02))
        XCTAssertEqual(error(patched(6, 200)), .truncated(need: 8 + 8 * 200, have: good.count))
        XCTAssertEqual(error(patched(12, 0)), .badRange(index: 0, reason: "no glyphs"))
        XCTAssertEqual(error(patched(14, 12)), .badRange(index: 0, reason: "width 12"))
        XCTAssertEqual(error(patched(15, 1)), .badRange(index: 0, reason: "reserved byte set"))
        XCTAssertEqual(error(patched(17, 0)), .badRange(index: 1, reason: "starts at U+0, out of order"))
        var overlapping = patched(16, 0xE9)  // the second range starts on the first one's glyph
        overlapping[17] = 0
        XCTAssertEqual(error(overlapping), .badRange(index: 1, reason: "starts at U+E9, out of order"))
        var huge = patched(19, 0x10)
        huge[18] = 0xFF
        huge[17] = 0xFF
        XCTAssertEqual(error(huge), .badRange(index: 1, reason: "runs past U+10FFFF"))
        XCTAssertEqual(error(patched(20, 3)), .truncated(need: good.count + 32, have: good.count))
        XCTAssertEqual(error(good + [0]), .trailingBytes(count: 1))
        // Every truncation and every single-byte corruption of the header and table is an error or a
        // valid font, never a trap.
        for length in 0..<good.count {
            XCTAssertNotNil(error(Array(good[..<length])), "prefix of \(length) bytes")
        }
        for at in 0..<24 {
            for value: UInt8 in [0, 1, 7, 0x80, 0xFF] { _ = error(patched(at, value)) }
        }

        // The gzip wrapper: garbage, and the bundled file cut short.
        XCTAssertThrowsError(try Unifont(gzip: Array("not a gzip file".utf8))) { error in
            guard case .badCompression = error as? UnifontError else { return XCTFail("\(error)") }
        }
        let url = try XCTUnwrap(BundledResources.url(for: Unifont.bundledPath))
        let compressed = try [UInt8](Data(contentsOf: url))
        XCTAssertThrowsError(try Unifont(gzip: Array(compressed[..<(compressed.count / 2)])))
        XCTAssertThrowsError(try Unifont.load(contentsOf: URL(fileURLWithPath: "/nonexistent/font.bin.gz"))) {
            XCTAssertEqual($0 as? UnifontError, .unreadable(path: "/nonexistent/font.bin.gz"))
        }
    }

    // MARK: - Edge cases render without crashing

    func testEdgeCasesRender() {
        var cases: [(String, HeatmapInput)] = []
        var input = Self.smallInput()
        input.kept = []
        cases.append(("no kept patch", input))
        input.kept = Array(0..<16)
        cases.append(("K = N", input))
        input.kept = [-1, 16, 1 << 40, 3, 3]
        cases.append(("bad and repeated indices", input))
        input = Self.smallInput()
        input.gridSize = 1
        input.scores = [1]
        input.kept = [0]
        cases.append(("gridSize 1", input))
        input.gridSize = 0
        cases.append(("gridSize 0", input))
        input.gridSize = -3
        cases.append(("negative gridSize", input))
        input.gridSize = 1 << 40
        cases.append(("absurd gridSize", input))
        input = Self.smallInput()
        input.scores = []
        input.threshold = nil
        cases.append(("no scores, fixed ratio", input))
        input.scores = [0, .nan, .infinity, -1]
        input.threshold = .nan
        cases.append(("degenerate scores", input))
        input = Self.smallInput()
        input.title = String(repeating: "What is written on the very long sign? ", count: 40)
        input.subtitle = String(repeating: "x", count: 500)
        cases.append(("long title", input))
        input.title = "Что на картинке? 猫 🐈‍⬛ café\u{301} — fine…"
        cases.append(("non-ASCII title", input))
        input.image = RGBImage(width: 0, height: 0, pixels: [])
        cases.append(("empty image", input))
        input.image = RGBImage(width: 3, height: 200, fill: (r: 1, g: 2, b: 3))
        cases.append(("thin image", input))

        for (name, input) in cases {
            let image = Heatmap.render(input, scale: 2)
            XCTAssertGreaterThan(image.width, 2 * Heatmap.margin, name)
            XCTAssertEqual(image.pixels.count, image.width * image.height * 3, name)
        }
    }

    func testLongTitleIsCutToTwoLinesEndingWithEllipsis() {
        var input = Self.realisticInput()
        input.title = String(repeating: "What is written on the very long sign? ", count: 40)
        let layout = Heatmap.Layout(input, scale: 2)
        XCTAssertEqual(layout.titleLines.count, 2)
        XCTAssertEqual(layout.titleLines.last?.last, "…")
    }

    // MARK: - Sample for a person to look at

    func testPNGDecodesBackToTheRenderedPixels() throws {
        let input = Self.smallInput()
        XCTAssertEqual(try PNGDecoder.decode(Heatmap.png(input)), Heatmap.render(input))
    }

    /// Writes sample heat maps (PNG) into the directory `TRIM_HEATMAP_SAMPLES` names, for a
    /// person to look at: `TRIM_HEATMAP_SAMPLES=/tmp/heatmap-samples swift test --filter HeatmapTests` (the directory must exist).
    func testWritesSamplesWhenAsked() throws {
        guard let directory = ProcessInfo.processInfo.environment["TRIM_HEATMAP_SAMPLES"] else {
            return
        }
        func write(_ image: RGBImage, _ name: String) throws {
            try Data(PNGEncoder.encode(image)).write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
        }
        try write(Heatmap.render(Self.realisticInput()), "heatmap-paper.png")

        var peaked = Self.realisticInput(
            title: "Where is the ball? (negated dot product, a very peaked softmax)")
        peaked.scores = Self.peakedScores(grid: 24, row: 14.5, column: 16.5, sharpness: 400)
        (peaked.threshold, peaked.kept) = Self.iqrSelection(peaked.scores)
        peaked.subtitle = "scoring authors · IQR · kept \(peaked.kept.count) of 576"
        try write(Heatmap.render(peaked), "heatmap-peaked.png")

        var ratio = Self.smallInput()
        ratio.image = Self.scene(side: 56, ballX: 38, ballY: 36, radius: 9)
        ratio.threshold = nil
        ratio.title = String(
            repeating: "A long prompt about a tiny image that goes on and on. ", count: 5)
        ratio.subtitle = "fixed ratio 0.125 · kept 2 of 16 · no mean token"
        try write(Heatmap.render(ratio), "heatmap-small.png")

        for (n, title) in Self.nonASCIITitles.enumerated() {
            try write(Heatmap.render(Self.realisticInput(title: title)), "heatmap-script-\(n).png")
        }

        let specimen = (32...126).map { String(UnicodeScalar(UInt8($0))) }.joined() + " ·…×–— é猫가Я"
        var font = RGBImage(
            width: 24 + 24 * 6 * 3, height: 5 * 10 * 3 + 24, fill: (r: 255, g: 255, b: 255))
        for (n, start) in stride(from: 0, to: specimen.count, by: 24).enumerated() {
            let line = String(specimen.dropFirst(start).prefix(24))
            font.drawText(line, x: 12, y: 12 + n * 30, pixelSize: 3, color: RGBColor(0, 0, 0))
        }
        try write(font, "font-specimen.png")
    }
}

/// `XCTAssertEqual` for float arrays with a tolerance.
private func assertClose(
    _ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}

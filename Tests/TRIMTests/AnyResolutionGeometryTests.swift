import Foundation
import TRIMImage
import TRIMTensor
import XCTest

@testable import TRIM

/// The view rules and unpadding rules the reducer family's released any-resolution code uses
/// (Docs/SEMANTICS.md §5b, §5c), on cases worked out by hand from those rules.
final class AnyResolutionGeometryTests: XCTestCase {
    let pinpoints = AnyResolution.defaultPinpoints(viewSize: 336)  // (336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008)

    /// 656 × 205 on the 336 × 672 canvas: 205 · (48/656) is 14.999999999999998 in float64. Hugging Face rounds
    /// it to 7 decimals (15 rows, pad 4 → 16 grid rows kept), original LLaVA truncates (14, pad 5 → 14 rows):
    /// DivPrune's packed sequence is 576 + 14·49 = 1262 rows, Hugging Face's 576 + 16·49 = 1360.
    func testOriginalUnpaddingTruncatesWhereHuggingFaceRounds() throws {
        let grid = try AnyResolution.grid(height: 205, width: 656, viewSize: 336, pinpoints: pinpoints)
        XCTAssertEqual([grid.rows, grid.columns], [1, 2])
        let hf = PackedGrid(grid: grid, side: 24, imageHeight: 205, imageWidth: 656, unpad: .huggingFace)
        let original = PackedGrid(grid: grid, side: 24, imageHeight: 205, imageWidth: 656, unpad: .original)
        let none = PackedGrid(grid: grid, side: 24, imageHeight: 205, imageWidth: 656, unpad: .none)
        XCTAssertEqual(hf.rows, 4..<20)
        XCTAssertEqual(original.rows, 5..<19)
        XCTAssertEqual(none.rows, 0..<24)
        XCTAssertEqual(none.columns, 0..<48)
        let all = (0..<3).map { v in (0..<576).map { RowSource.patch(view: v, index: $0) } }
        XCTAssertEqual(Packing(views: all, grid: original, newlines: .all).rows.count, 1262)
        XCTAssertEqual(Packing(views: all, grid: hf, newlines: .all).rows.count, 1360)
    }

    /// An image smaller than every canvas keeps all its pixels on each, so the least waste decides and the
    /// first of 336×672 and 672×336 wins: Hugging Face reads the first pair as height 336, width 672 (1 × 2
    /// tiles); original LLaVA as width 336, height 672 (2 × 1).
    func testOriginalLLaVAReadsPinpointsTransposed() throws {
        let hf = try AnyResolution.grid(height: 100, width: 100, viewSize: 336, pinpoints: pinpoints, geometry: .huggingFace)
        let original = try AnyResolution.grid(height: 100, width: 100, viewSize: 336, pinpoints: pinpoints, geometry: .original)
        XCTAssertEqual([hf.rows, hf.columns], [1, 2])
        XCTAssertEqual([original.rows, original.columns], [2, 1])
        let fixed = try AnyResolution.grid(height: 100, width: 3000, viewSize: 336, pinpoints: pinpoints, geometry: .fixedCanvas)
        XCTAssertEqual([fixed.canvasHeight, fixed.canvasWidth], [672, 672])
    }

    /// FasterVLM's rule has no cap at the image's area. A 300 × 700 image (h × w): Hugging Face keeps all
    /// 210,000 pixels only on 336×1008 (scale 1.12, 784 × 336 capped at the image) and picks it; FasterVLM
    /// scores the filled share of each canvas read as (width, height) — 672×336 wide: scale 0.96, 672 × 288 =
    /// 0.857 of it; 1008×336 wide: 784 × 336 = 0.778 — and picks 336 × 672 (1 × 2 tiles).
    func testFasterVLMGridRuleAndItsRefusal() throws {
        XCTAssertEqual(AnyResolution.bestResolution(height: 300, width: 700, pinpoints: pinpoints), Pinpoint(height: 336, width: 1008))
        XCTAssertEqual(AnyResolution.fasterVLMResolution(height: 300, width: 700, pinpoints: pinpoints), Pinpoint(height: 336, width: 672))
        XCTAssertThrowsError(try AnyResolution.grid(height: 1, width: 1200, viewSize: 336, pinpoints: pinpoints, geometry: .fasterVLM)) {
            XCTAssertEqual($0 as? AnyResolutionError, .degenerateAspect(width: 1200, height: 1))
        }
    }

    /// HiRED pads `(H* − h′) // 2` on both sides: a 389 × 1200 image goes on the 336×1008 canvas fitted to
    /// 327 × 1008 (ceil(389 · 0.84)), padded by 4 above and below: a 335-pixel canvas whose tiles are 335 px
    /// tall; Hugging Face's canvas stays 336 (the odd row at the bottom).
    func testHiREDLeavesTheLastTileRowOnePixelShort() throws {
        let image = RGBImage(width: 1200, height: 389, pixels: [UInt8](repeating: 200, count: 1200 * 389 * 3))
        let grid = try AnyResolution.grid(height: 389, width: 1200, viewSize: 336, pinpoints: pinpoints)
        XCTAssertEqual([grid.canvasHeight, grid.canvasWidth], [336, 1008])
        XCTAssertEqual(AnyResolution.fittedSize(height: 389, width: 1200, canvasHeight: 336, canvasWidth: 1008).height, 327)
        let hired = AnyResolution.views(of: image, grid: grid, hired: true)
        XCTAssertEqual(hired.map(\.height), [336, 335, 335, 335])
        XCTAssertEqual(hired.map(\.width), [336, 336, 336, 336])
        XCTAssertEqual(hired[1].pixels[0..<3], [0, 0, 0])  // row 0 is padding (4 rows), row 4 is image
        XCTAssertEqual(hired[1].pixels[(4 * 336) * 3], 200)
        XCTAssertEqual(AnyResolution.views(of: image, grid: grid).map(\.height), [336, 336, 336, 336])
        // Through CLIP preprocessing a 336 × 335 tile is resized (short side to 336) and centre-cropped.
        let (_, views) = try AnyResolution.pixelValues(for: image, config: PreprocessorConfig(), pinpoints: pinpoints, geometry: .hired)
        XCTAssertEqual(views.map(\.shape), [[3, 336, 336], [3, 336, 336], [3, 336, 336], [3, 336, 336]])
    }

    /// HiRED's budgets: V = 5, N = 576, rate 0.2 → total int(2880 · 0.2) = 576, base min(288, 576) = 288,
    /// sub 288; layer-0 attention marking the first 288 base patches (α 0.5) puts them all in the first
    /// two raster chunks of 144: k = 144, 144, 0, 0.
    func testHiREDSharesTheBudgetByLayerZeroAttention() {
        let a0 = (0..<576).map { Float(576 - $0) }
        XCTAssertEqual(HiRED.budgets(layer0: a0, views: 5, patches: 576, rate: 0.2, alpha: 0.5), [288, 144, 144, 0, 0])
        // Chunks of near-equal size when T does not divide N (7 patches, 2 tiles: 4 + 3): total int(21 · 0.5) = 10,
        // base 5, sub 5; the top 3 by layer 0 are patches 1, 3, 5: 2 in the first chunk, 1 in the second →
        // int(2/3 · 5) = 3, int(1/3 · 5) = 1.
        XCTAssertEqual(HiRED.budgets(layer0: [1, 7, 2, 6, 3, 5, 4], views: 3, patches: 7, rate: 0.5, alpha: 0.5), [5, 3, 1])
        // α = 1: the whole budget goes to the base view, the tiles get nothing.
        XCTAssertEqual(HiRED.budgets(layer0: [1, 2, 3, 4], views: 2, patches: 4, rate: 0.5, alpha: 1), [4, 0])
    }

    /// GlobalCom²'s bilinear resize is PyTorch's `align_corners=False`: the identity at the same size, the
    /// half-pixel centres when upsampling 2 → 4.
    func testGlobalCom2BilinearMatchesHalfPixelCentres() {
        XCTAssertEqual(GlobalCom2.bilinear([1, 2, 3, 4], side: 2, height: 2, width: 2), [1, 2, 3, 4])
        let up = GlobalCom2.bilinear([0, 4, 8, 12], side: 2, height: 1, width: 4)
        // One output row from two input rows: source row 0.5 → the mean of both rows (4, 8 … per column).
        XCTAssertEqual(up, [4, 5, 7, 8])
    }
}

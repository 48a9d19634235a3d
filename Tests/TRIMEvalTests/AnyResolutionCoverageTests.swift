import Foundation
import TRIM
import TRIMImage
import XCTest

@testable import TRIMEval

/// The per-view coverage of `trim eval --anyres` on small hand-worked layouts (view side S = 28, 14 px patches:
/// 2 × 2 patches per view), the scoring of (view, patch) selections, and the high-resolution scenes.
final class AnyResolutionCoverageTests: XCTestCase {
    /// CLIP preprocessing at S = 28: a 28 × 28 view passes unchanged.
    let config: PreprocessorConfig = {
        var c = PreprocessorConfig(size: 28)
        c.cropHeight = 28
        c.cropWidth = 28
        return c
    }()

    func grid(_ w: Int, _ h: Int, pinpoints: [Pinpoint]? = nil) throws -> AnyResolutionGrid {
        try AnyResolution.grid(height: h, width: w, viewSize: 28, pinpoints: pinpoints ?? AnyResolution.defaultPinpoints(viewSize: 28))
    }

    func mask(_ w: Int, _ h: Int, _ inside: (Int, Int) -> Bool) -> [UInt8] {
        (0..<(w * h)).map { inside($0 % w, $0 / w) ? 255 : 0 }
    }

    /// A 56 × 28 image (2 : 1) fits the 28 × 56 canvas exactly: 1 × 2 tiles, no padding, scale 1.
    func testAMaskPixelLandsInItsTileCell() throws {
        let g = try grid(56, 28)
        XCTAssertEqual([g.rows, g.columns], [1, 2])
        let c = anyResolutionCoverage(mask: mask(56, 28) { $0 == 45 && $1 == 3 }, width: 56, height: 28, grid: g, config: config, side: 2)
        XCTAssertEqual(c.count, 3)  // base, tile 1, tile 2
        // Canvas (45, 3) is tile 2 (columns 28…55), its column 17 (patch column 1), row 3 (patch row 0): patch 1.
        XCTAssertEqual(c[2][1], 1 / 196, accuracy: 1e-7)
        XCTAssertEqual(c[2].filter { $0 > 0 }.count, 1)
        XCTAssertEqual(c[1], [0, 0, 0, 0])
        // In the base view (squashed 56 → 28 wide) the pixel's centre 45.5 lands at 22.75: column 1, row 0.
        XCTAssertGreaterThan(c[0][1], 0)
        XCTAssertEqual(c[0].filter { $0 > 0 }.count, 1)
    }

    /// A tall 28 × 84 image is cut 3 × 1; tiles are numbered row by row.
    func testTallImagesTilesAreRowMajor() throws {
        let g = try grid(28, 84)
        XCTAssertEqual([g.rows, g.columns], [3, 1])
        let c = anyResolutionCoverage(mask: mask(28, 84) { $0 == 20 && $1 == 60 }, width: 28, height: 84, grid: g, config: config, side: 2)
        XCTAssertEqual(c.count, 4)
        // Row 60 is in tile 3 (rows 56…83), its row 4 (patch row 0); column 20 is patch column 1: view 3, patch 1.
        XCTAssertGreaterThan(c[3][1], 0)
        XCTAssertEqual(c.dropFirst().flatMap { $0 }.filter { $0 > 0 }.count, 1)
    }

    /// A downscaled image: 112 × 56 fits the 28 × 56 canvas at scale 1/2, so a pixel's cell is at half its position.
    func testTheFitScaleIsApplied() throws {
        let g = try grid(112, 56)
        XCTAssertEqual([g.canvasHeight, g.canvasWidth], [28, 56])
        // Image columns 56…83 and rows 28…55 have their centres at canvas columns 28.25…41.75 and rows
        // 14.25…27.75: tile 2's patch at row 1, column 0 (patch 2), which holds exactly them.
        let c = anyResolutionCoverage(mask: mask(112, 56) { (56..<84).contains($0) && (28..<56).contains($1) },
                                      width: 112, height: 56, grid: g, config: config, side: 2)
        XCTAssertEqual(c[2], [0, 0, 1, 0])
        XCTAssertEqual(c[1], [0, 0, 0, 0])
    }

    /// A full mask on a 56 × 20 image placed on a 56 × 56 canvas (2 × 2 tiles): the image takes canvas rows 18…37,
    /// so the top tiles' first patch row and the bottom tiles' last one lie wholly in the padding and cover
    /// nothing, the rows the image half fills cover 10 of 14 rows, and the base view (squashed) is all covered.
    func testPaddingCoversNothingAndTheBaseViewIsSquashed() throws {
        let g = try grid(56, 20, pinpoints: [Pinpoint(height: 56, width: 56)])
        XCTAssertEqual([g.rows, g.columns], [2, 2])
        let c = anyResolutionCoverage(mask: [UInt8](repeating: 255, count: 56 * 20), width: 56, height: 20, grid: g,
                                      config: config, side: 2)
        let part: Float = 10 / 14
        XCTAssertEqual(c[0], [1, 1, 1, 1])
        for v in [1, 2] {
            XCTAssertEqual(c[v][0], 0)
            XCTAssertEqual(c[v][1], 0)
            XCTAssertEqual(c[v][2], part, accuracy: 1e-6)
            XCTAssertEqual(c[v][3], part, accuracy: 1e-6)
        }
        for v in [3, 4] {
            XCTAssertEqual(c[v][0], part, accuracy: 1e-6)
            XCTAssertEqual(c[v][1], part, accuracy: 1e-6)
            XCTAssertEqual(c[v][2], 0)
            XCTAssertEqual(c[v][3], 0)
        }
    }

    /// The base view squashes each axis on its own: the left half of a wide image is the left half of the view.
    func testTheBaseViewIgnoresTheAspect() throws {
        let g = try grid(150, 50)
        let c = anyResolutionCoverage(mask: mask(150, 50) { x, _ in x < 75 }, width: 150, height: 50, grid: g, config: config, side: 2)
        XCTAssertEqual(c[0], [1, 0, 1, 0])
        // …and equals the one-view coverage `patchCoverage` gives the base view.
        XCTAssertEqual(c[0], patchCoverage(mask: mask(150, 50) { x, _ in x < 75 }, width: 150, height: 50, config: config,
                                           layout: .anyResolution(pinpoints: []), grid: 2))
    }

    /// The coverage follows the views the pipeline really cuts: a white object on black, cut by
    /// `AnyResolution.views`; each cell's mean brightness is its coverage, up to the resampling's blur.
    func testCoverageMatchesTheCutViews() throws {
        let w = 150, h = 60
        let inside = { (x: Int, y: Int) in (40..<95).contains(x) && (12..<50).contains(y) }
        let m = mask(w, h, inside)
        let image = RGBImage(width: w, height: h, pixels: m.flatMap { [$0, $0, $0] })
        let g = try grid(w, h)
        let views = AnyResolution.views(of: image, grid: g)
        let c = anyResolutionCoverage(mask: m, width: w, height: h, grid: g, config: config, side: 2)
        XCTAssertEqual(views.count, c.count)
        for (v, view) in views.enumerated() {
            for p in 0..<4 {
                var sum = 0.0
                for y in (p / 2 * 14)..<(p / 2 * 14 + 14) {
                    for x in (p % 2 * 14)..<(p % 2 * 14 + 14) { sum += Double(view.pixels[3 * (y * 28 + x)]) }
                }
                XCTAssertEqual(Float(sum / 196 / 255), c[v][p], accuracy: 0.08, "view \(v) patch \(p)")
            }
        }
    }

    func testSelectionsOverViewsAreScoredOverEveryViewsPatches() {
        // Two views of four patches: the object covers view 0 patch 1 fully, view 1 patches 2 (fully) and 3 (a quarter).
        let coverage: [[Float]] = [[0, 1, 0, 0], [0, 0, 1, 0.25]]
        let s = SelectionScore(kept: [(view: 1, patch: 3), (view: 1, patch: 0), (view: 0, patch: 1)], coverage: coverage)
        XCTAssertEqual(s.kept, 3)
        XCTAssertEqual(s.touching, 2)  // (1, 3) and (0, 1)
        XCTAssertEqual([s.halfCovered, s.halfCoveredKept], [2, 1])  // (0, 1) and (1, 2); (0, 1) kept
        XCTAssertTrue(s.found)
        XCTAssertFalse(SelectionScore(kept: [(view: 0, patch: 0)], coverage: coverage).found)
    }

    func testHighResolutionScenesAreLargeWithSmallObjects() {
        // A wide one (1031 × 373, the bundled demo-hires scene) and a tall one (665 × 1528).
        let scenes = [SceneGenerator.highResolutionScene(seed: 2049), SceneGenerator.highResolutionScene(seed: 2024)]
        XCTAssertEqual(scenes.map { [$0.image.width, $0.image.height] }, [[1031, 373], [665, 1528]])
        for s in scenes {
            let long = max(s.image.width, s.image.height), short = min(s.image.width, s.image.height)
            XCTAssertTrue((1008...1600).contains(long), "\(s.name): \(s.image.width)×\(s.image.height)")
            XCTAssertTrue((1.99...3.01).contains(Double(long) / Double(short)), "\(s.name)")
            XCTAssertTrue((2...6).contains(s.objects.count), "\(s.name): \(s.objects.count) objects")
            XCTAssertEqual(s.prompts.count, s.objects.count)
            for o in s.objects {
                XCTAssertEqual(o.mask.count, s.image.width * s.image.height)
                // The object's extent: 16…48 px across (plus the anti-aliased edge pixels).
                let xs = o.mask.indices.filter { o.mask[$0] > 0 }.map { $0 % s.image.width }
                let across = xs.max()! - xs.min()! + 1
                XCTAssertTrue((10...50).contains(across), "\(s.name) \(o.name): \(across) px")
            }
        }
        let again = SceneGenerator.highResolutionScene(seed: 2049)
        XCTAssertEqual(again.image, scenes[0].image)
        XCTAssertEqual(again.objects.map(\.mask), scenes[0].objects.map(\.mask))
        XCTAssertEqual(again.name, "hires-2049")
    }
}

import Foundation
import TRIM
import TRIMImage
import XCTest

@testable import TRIMEval

/// The metrics of `trim eval` on hand-built cases whose answers are worked out by hand.
final class MetricsTests: XCTestCase {
    /// A 4 × 4 grid; the object covers patches 5 and 6 fully, 9 by a quarter.
    let coverage: [Float] = [0, 0, 0, 0, 0, 1, 1, 0, 0, 0.25, 0, 0, 0, 0, 0, 0]

    func testPrecisionCountsTouchingPatchesRecallCountsHalfCoveredOnes() {
        // kept 5 (on), 9 (touching, a quarter), 15 (off): precision 2/3; half-covered {5, 6}: recall 1/2.
        let s = SelectionScore(kept: [5, 9, 15], coverage: coverage)
        XCTAssertEqual(s.precision!, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(s.recall!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(s.kept, 3)
    }

    func testEmptySelectionHasNoPrecisionAndZeroRecall() {
        let s = SelectionScore(kept: [], coverage: coverage)
        XCTAssertNil(s.precision)
        XCTAssertEqual(s.recall, 0)
    }

    func testObjectCoveringNoPatchByHalfHasNoRecall() {
        let s = SelectionScore(kept: [9], coverage: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0.25, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(s.precision, 1)
        XCTAssertNil(s.recall)
    }

    func testJaccard() {
        XCTAssertEqual(jaccard([1, 2, 3], [3, 4]), 0.25)
        XCTAssertEqual(jaccard([1, 2], [2, 1]), 1)
        XCTAssertEqual(jaccard([], []), 1)
        XCTAssertEqual(jaccard([7], []), 0)
    }

    func testMedianAndMean() {
        XCTAssertEqual(median([3, 1, 2]), 2)
        XCTAssertEqual(median([4, 1, 3, 2]), 2.5)
        XCTAssertNil(median([]))
        XCTAssertEqual(mean([1, 2, 6]), 3)
    }

    /// A 28 × 14 image (wide) padded to 28 × 28, resized to 28, 2 × 2 grid of 14 px patches: the image
    /// occupies rows 7…20 of the canvas. An object filling the image's left half covers the top-left
    /// patch's rows 7…13 of 0…13 (half) and the bottom-left patch's rows 14…20 (half).
    func testCoverageFollowsThePadGeometry() {
        let w = 28, h = 14
        var mask = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<14 { mask[y * w + x] = 255 } }
        var config = PreprocessorConfig(size: 28)
        config.cropHeight = 28
        config.cropWidth = 28
        let c = patchCoverage(mask: mask, width: w, height: h, config: config, layout: .singleView(padToSquare: true), grid: 2)
        XCTAssertEqual(c, [0.5, 0, 0.5, 0])
        // Without padding: shortest edge 14 → 28 (scale 2), long side 56, center crop 28 keeps resized x
        // 14…41, i.e. original columns 7…20; the left patch is original columns 7…13, all inside the object.
        let d = patchCoverage(mask: mask, width: w, height: h, config: config, layout: .singleView(padToSquare: false), grid: 2)
        XCTAssertEqual(d, [1, 0, 1, 0])
    }

    func testCoverageOfAPixelPerfectSquareAtFullSize() {
        // 336 × 336 image, object = the patch at row 2, column 3 exactly → coverage 1 there, 0 elsewhere.
        let n = 336
        var mask = [UInt8](repeating: 0, count: n * n)
        for y in 28..<42 { for x in 42..<56 { mask[y * n + x] = 255 } }
        let c = patchCoverage(mask: mask, width: n, height: n, config: PreprocessorConfig(), grid: 24)
        XCTAssertEqual(c[2 * 24 + 3], 1)
        XCTAssertEqual(c.reduce(0, +), 1)
    }

    func testGeneratedScenesAreDeterministicAndMasksMatchTheirObjects() {
        let a = SceneGenerator.scene(seed: 42), b = SceneGenerator.scene(seed: 42)
        XCTAssertEqual(a.image, b.image)
        XCTAssertEqual(a.prompts.map(\.text), b.prompts.map(\.text))
        XCTAssertFalse(a.objects.isEmpty)
        for o in a.objects {
            XCTAssertEqual(o.mask.count, a.image.width * a.image.height)
            // Where the mask is full, the pixel has the object's colour family (no other object overlaps).
            let full = o.mask.indices.filter { o.mask[$0] == 255 }
            XCTAssertFalse(full.isEmpty)
        }
        // Masks of one scene never overlap.
        for i in a.objects.indices {
            for j in a.objects.indices where j > i {
                XCTAssertFalse(zip(a.objects[i].mask, a.objects[j].mask).contains { $0 > 0 && $1 > 0 })
            }
        }
        XCTAssertNotEqual(SceneGenerator.scene(seed: 43).image, a.image)
    }

    func testSceneDirectoryRoundTrips() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trim-scenes-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let scenes = [SceneGenerator.scene(seed: 7), SceneGenerator.scene(seed: 8)]
        try SceneDirectory.write(scenes, to: dir)
        let back = try SceneDirectory.read(dir)
        XCTAssertEqual(back.count, 2)
        for (x, y) in zip(scenes, back) {
            XCTAssertEqual(x.image, y.image)
            XCTAssertEqual(x.objects.map(\.mask), y.objects.map(\.mask))
            XCTAssertEqual(x.objects.map(\.name), y.objects.map(\.name))
            XCTAssertEqual(x.prompts.map(\.text), y.prompts.map(\.text))
        }
    }

    func testBadSceneLineNamesTheLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trim-bad-scenes-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("\n{\"objects\": []}\n".utf8).write(to: dir.appendingPathComponent("scenes.jsonl"))
        XCTAssertThrowsError(try SceneDirectory.read(dir)) { e in
            XCTAssertTrue("\(e)".contains("line 2"), "\(e)")
            XCTAssertTrue("\(e)".contains("image"), "\(e)")
        }
    }
}

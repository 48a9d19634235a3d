import Foundation
import TRIMTensor
import XCTest

@testable import CLIP

/// Several images through the vision tower in one pass (LLaVA-NeXT's views): the matrix products see all
/// rows at once, attention stays within each image, and each image's state is the one it gets alone.
final class BatchedVisionTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testABatchOfViewsGivesEachViewItsOwnPassBitForBit() throws {
        let model = try CLIPModel(directory: Self.root.appendingPathComponent("Weights/clip-odd"), loadText: false)
        let c = model.config.vision
        var g = UInt64(7)
        func pixels() -> Tensor {
            Tensor(shape: [c.channels, c.imageSize, c.imageSize], scalars: (0..<(c.channels * c.imageSize * c.imageSize)).map { _ in
                g = g &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(Int64(bitPattern: g) >> 40) / Float(1 << 23)
            })
        }
        let views = (0..<3).map { _ in pixels() }
        let k = model.vision_model.layers.count
        var observed: [Int: Tensor] = [:]
        let batched = try model.vision_model.hiddenStates(batch: views, afterLayers: k) { observed[$0] = $1 }
        XCTAssertEqual(batched.count, 3)
        XCTAssertEqual(observed.keys.sorted(), Array(0..<k), "every layer's q | k | v, indexed from 0")
        for (v, view) in views.enumerated() {
            var alone: Tensor?, first: Tensor?
            let single = try model.vision_model.hiddenState(view, afterLayers: k) { alone = $0 }
            _ = try model.vision_model.hiddenState(view, afterLayers: 1) { first = $0 }
            XCTAssertEqual(batched[v], single, "view \(v)")
            let t = c.tokenCount
            XCTAssertEqual(observed[k - 1]!.rows((v * t)..<((v + 1) * t)), alone!, "view \(v)'s last q | k | v")
            XCTAssertEqual(observed[0]!.rows((v * t)..<((v + 1) * t)), first!, "view \(v)'s first q | k | v")
        }
        // Attention really stays within a view: a different second view leaves the first one's state alone.
        let other = try model.vision_model.hiddenStates(batch: [views[0], pixels()], afterLayers: k)
        XCTAssertEqual(other[0], batched[0])
        XCTAssertNotEqual(other[1], batched[1])
    }
}

import Foundation
import TRIMTensor
import XCTest

@testable import TRIM

/// The random control, the shared top-k, and prompt handling that LLaVA's question files rely on.
final class ReducerFamilyTests: XCTestCase {
    func testRandomSelectionKeepsDistinctAscendingPatchesFixedBySeedThenTheMeanToken() throws {
        let n = 49, d = 3
        let x = Tensor(shape: [n, d], scalars: (0..<(n * d)).map(Float.init))
        let input = ReducerInput(features: x, classToken: [0, 0, 0])
        let a = try RandomSelection(keep: 10, seed: 5).reduce(input)
        XCTAssertEqual(a.keptIndices.count, 10)
        XCTAssertEqual(a.keptIndices, a.keptIndices.sorted())
        XCTAssertEqual(Set(a.keptIndices).count, 10)
        XCTAssertEqual(try RandomSelection(keep: 10, seed: 5).reduce(input).keptIndices, a.keptIndices)
        XCTAssertNotEqual(try RandomSelection(keep: 10, seed: 6).reduce(input).keptIndices, a.keptIndices)
        XCTAssertEqual(a.reduced, reduceFeatures(x, kept: a.keptIndices, meanToken: true))
        XCTAssertEqual(try RandomSelection(keep: 0, seed: 5, ratio: 0.5).reduce(input).keptIndices.count, 24)  // int(49·0.5)
        XCTAssertEqual(try RandomSelection(keep: 99, seed: 1).reduce(input).keptIndices, Array(0..<n))
        XCTAssertEqual(try RandomSelection(keep: 3, meanToken: false).reduce(input).reduced.rows, 3)
    }

    func testTopKIsLargestFirstWithTiesToTheLowerIndexOnBothPaths() {
        let values: [Float] = (0..<300).map { Float(($0 * 37) % 50) }  // many ties
        // Reference: a full stable sort.
        let reference = values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
        for k in [0, 1, 5, 32, 74, 75, 76, 200, 300, 400] {  // k·4 ≤ n uses the heap, larger k the sort
            XCTAssertEqual(topK(values, k), Array(reference.prefix(min(k, 300))), "k = \(k)")
        }
    }

    func testLLaVAImagePlaceholderIsScoredAsASpace() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let p = try TRIMPipeline(modelDirectory: root.appendingPathComponent("Weights/clip-odd"))
        let withPlaceholder = try p.embedPrompt("<image>\nWhat is on the table?")
        let asReleased = try p.embedPrompt(" \nWhat is on the table?")
        XCTAssertEqual(withPlaceholder.ids, asReleased.ids)
        XCTAssertEqual(withPlaceholder.embeds, asReleased.embeds)
        XCTAssertNotEqual(withPlaceholder.ids, p.tokenizer.encode("<image>\nWhat is on the table?", truncateTo: 77))
        // The cache returns the same bits as a fresh computation.
        XCTAssertEqual(try p.embedPrompt("<image>\nWhat is on the table?").embeds, withPlaceholder.embeds)
    }
}

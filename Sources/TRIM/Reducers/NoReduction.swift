import Foundation
import TRIMTensor

// No reduction (`--method none`): every patch of every view, in order, and no extra row — what LLaVA hands
// its language model. At any resolution its packed, projected rows are Hugging Face's
// `LlavaNextModel.get_image_features` output, `image_newline` rows included (Docs/SEMANTICS.md §5.6): the
// baseline every reducer is measured against, and the check that views, tower and packing are exact.

/// Every patch, nothing added (`--method none`).
public struct NoReduction: TokenReducer {
    /// No reduction.
    public init() {}

    public var name: String { "none" }
    public var settings: String { "every patch, no extra rows" }
    public var needs: ReducerNeeds { [] }

    public func reduce(_ input: ReducerInput) throws -> Reduction {
        let n = input.patchCount
        return Reduction(reduced: input.features, rows: input.patchRows(Array(0..<n)),
                         signal: ("kept_mask", [Float](repeating: 1, count: n)))
    }
}

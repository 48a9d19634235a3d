import TRIMTensor

@testable import TRIM

/// The tests' shorthand for building a reducer's input by named parts (the pipeline builds it from the
/// needs it computed, in `EncodedImage.input`).
extension ReducerInput {
    init(features: Tensor, classToken: [Float], imageTokens: Tensor? = nil, textEmbeds: Tensor? = nil,
         queries: Tensor? = nil, keys: Tensor? = nil, classAttention: Tensor? = nil, headMeanKeys: Tensor? = nil,
         projectedRows: Tensor? = nil, promptSegments: Tensor? = nil) {
        self.init(features: features, classToken: classToken)
        self.imageTokens = imageTokens
        self.textEmbeds = textEmbeds
        self.classAttention = classAttention
        self.headMeanKeys = headMeanKeys
        self.projectedRows = projectedRows
        self.promptSegments = promptSegments
        if let queries, let keys { values[.nextLayerQueriesKeys] = Self.sideBySide(queries, keys) }
    }

    var imageTokens: Tensor? { get { values[.imageTokens] } set { values[.imageTokens] = newValue } }
    var textEmbeds: Tensor? { get { values[.promptEmbedding] } set { values[.promptEmbedding] = newValue } }
    var classAttention: Tensor? { get { values[.classAttention] } set { values[.classAttention] = newValue } }
    var headMeanKeys: Tensor? { get { values[.headMeanKeys] } set { values[.headMeanKeys] = newValue } }
    var projectedRows: Tensor? { get { values[.projectedRows] } set { values[.projectedRows] = newValue } }
    var promptSegments: Tensor? { get { values[.promptSegments] } set { values[.promptSegments] = newValue } }

    /// The next layer's queries, the first half of `next_layer_qk`; `nil` removes both halves.
    var queries: Tensor? {
        get { values[.nextLayerQueriesKeys].map { $0.columnSlice(0..<($0.columns / 2)) } }
        set { values[.nextLayerQueriesKeys] = newValue.flatMap { q in keys.map { Self.sideBySide(q, $0) } } }
    }

    /// The next layer's keys, the second half of `next_layer_qk`; `nil` removes both halves.
    var keys: Tensor? {
        get { values[.nextLayerQueriesKeys].map { $0.columnSlice(($0.columns / 2)..<$0.columns) } }
        set { values[.nextLayerQueriesKeys] = newValue.flatMap { k in queries.map { Self.sideBySide($0, k) } } }
    }

    /// `[R, A]` and `[R, B]` → `[R, A + B]`.
    static func sideBySide(_ a: Tensor, _ b: Tensor) -> Tensor {
        var out: [Float] = []
        for r in 0..<a.rows { out += a.row(r).scalars + b.row(r).scalars }
        return Tensor(shape: [a.rows, a.columns + b.columns], scalars: out)
    }
}

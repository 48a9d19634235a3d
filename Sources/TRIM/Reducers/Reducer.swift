import Foundation
import TRIMImage
import TRIMJSON
import TRIMTensor

// The reducer family: one interface for every method that shortens the image-token sequence on the
// CLIP side of LLaVA (TRIM, PruMerge, PruMerge+, FasterVLM, VisionZip, VisPruner, DivPrune, CDPruner, a
// random control). Each method declares the `Need`s it has; the pipeline computes only those, in one
// vision pass, builds the method's `ReducerInput` in one place (`EncodedImage.input`), and reads the
// method's `Reduction`, whose every row says where it came from (`RowSource`).

/// Where one output row came from.
public enum RowSource: Hashable, Sendable {
    /// Patch `index` of view `view` (possibly with other patches merged into it, as PruMerge does).
    case patch(view: Int, index: Int)
    /// The mean of a view's unselected patches (TRIM's extra token, the random control's).
    case mean(view: Int)
    /// A weighted sum of a view's unselected patches (PruMerge's last row).
    case merged(view: Int)
    /// The view's class token ([CLS]; VisionZip's first row).
    case classToken(view: Int)
    /// A target patch plus the mean of the patches merged into it (VisionZip's contextual rows).
    case contextual(view: Int)
    /// LLaVA-NeXT's `image_newline` row (any-resolution packing).
    case newline

    /// The view and patch of a `.patch` row, else `nil`.
    public var patch: (view: Int, index: Int)? {
        if case .patch(let v, let i) = self { return (v, i) }
        return nil
    }

    /// The `(view, patch)` pair of a token map: the patch for a patch row, `(view, −1)` for another row of a
    /// view, `(−1, −1)` for a newline.
    public var tokenMapEntry: (view: Int, patch: Int) {
        switch self {
        case .patch(let v, let i): (v, i)
        case .mean(let v), .merged(let v), .classToken(let v), .contextual(let v): (v, -1)
        case .newline: (-1, -1)
        }
    }
}

/// What the pipeline hands a reducer: one view's features and whatever the reducer said it needs.
public struct ReducerInput: Sendable {
    /// The view these features are of (0 for a single-view layout).
    public var view: Int
    /// `x`: the selected hidden state without the class token, `[N, D]` (LLaVA's image features).
    public var features: Tensor
    /// The class token's row of the same hidden state, `[D]`.
    public var classToken: [Float]
    /// The needs computed for this view and prompt.
    public var values: [Need: Tensor]

    /// An input from its parts.
    public init(view: Int = 0, features: Tensor, classToken: [Float], values: [Need: Tensor] = [:]) {
        self.view = view
        self.features = features
        self.classToken = classToken
        self.values = values
    }

    /// Number of patches N.
    public var patchCount: Int { features.rows }

    /// The value of `need`, if it was computed.
    public subscript(need: Need) -> Tensor? { values[need] }

    /// The value of `need`, or a `TRIMError.missingInput` saying which reducer lacked it.
    public func required(_ need: Need, by reducer: String) throws -> Tensor {
        guard let value = values[need] else { throw TRIMError.missingInput(reducer: reducer, input: need.summary) }
        return value
    }

    /// Row sources for `patches` of this view, in the order given.
    public func patchRows(_ patches: [Int]) -> [RowSource] { patches.map { .patch(view: view, index: $0) } }
}

/// The IQR rule's statistics (TRIM's selection, PruMerge's ratio): a value is an outlier when it is
/// strictly greater than `upper = Q3 + m·(Q3 − Q1)`.
public struct IQRStatistics: Sendable, Equatable {
    /// First and third quartiles, as `numpy.percentile` computes them on float32.
    public var q1: Float, q3: Float
    /// The bound a kept value exceeds.
    public var upper: Float
}

/// What a reducer hands on: the rows for the language model, where each came from, and how it chose them.
public struct Reduction: Sendable {
    /// `reduced [R, D]`: the rows handed to the projector / LLM.
    public var reduced: Tensor
    /// Where each row of `reduced` came from, `[R]`.
    public var rows: [RowSource]
    /// What the method ranks patches by, `[N]`, under its dump name (`scores`, `cls_attention`, …); drawn
    /// by the heat map.
    public var signal: (name: String, values: [Float])
    /// The IQR rule's statistics of the signal, when the method selected by it.
    public var iqr: IQRStatistics?
    /// Further named tensors for the dump.
    public var extras: [(name: String, tensor: Tensor)]
    /// The projector's rows for `reduced`, when the reducer already had them (DivPrune and CDPruner select
    /// among projected rows); otherwise the pipeline projects `reduced`.
    public var projected: Tensor?
    /// A remark about this run the output should show (e.g. a convention applied), or `nil`.
    public var note: String?

    /// A reduction from its parts; `rows` must have one entry per row of `reduced`.
    public init(reduced: Tensor, rows: [RowSource], signal: (name: String, values: [Float]), iqr: IQRStatistics? = nil,
                extras: [(name: String, tensor: Tensor)] = [], projected: Tensor? = nil, note: String? = nil)
    {
        precondition(rows.count == reduced.rows, "a reduction names the source of each of its \(reduced.rows) rows, got \(rows.count)")
        self.reduced = reduced
        self.rows = rows
        self.signal = signal
        self.iqr = iqr
        self.extras = extras
        self.projected = projected
        self.note = note
    }

    /// The patch indices of the single-patch rows, in row order (rows that are not one patch — a mean,
    /// merged, [CLS] or contextual row — are not listed).
    public var keptIndices: [Int] { rows.compactMap { $0.patch?.index } }

    /// Rows that are not one patch.
    public var otherRows: [RowSource] { rows.filter { $0.patch == nil } }
}

/// A token-reduction method.
public protocol TokenReducer: Sendable {
    /// The `--method` name, e.g. `trim`, `prumerge+`.
    var name: String { get }
    /// One line of its settings, e.g. `scoring paper · IQR ×1.5 · mean token`.
    var settings: String { get }
    /// What it needs from the towers.
    var needs: ReducerNeeds { get }
    /// Its settings as the fields of `trim reduce --json` (default: `method` and `settings`).
    var settingsFields: [(String, JSONValue)] { get }
    /// Chooses and builds the rows of one view.
    func reduce(_ input: ReducerInput) throws -> Reduction
    /// The views it runs on at any resolution in `mode` (default: Hugging Face's).
    func viewGeometry(_ mode: ViewsMode) -> ViewGeometry
    /// Reduces a whole any-resolution image cut by `viewGeometry(image.mode)` (default: `reduce` on each
    /// view, the rows packed as Hugging Face packs a view's; Docs/SEMANTICS.md §5b).
    func reduceImage(_ image: ImageInput) throws -> ImageReduction
}

extension TokenReducer {
    public var settingsFields: [(String, JSONValue)] { [("method", .string(name)), ("settings", .string(settings))] }
}

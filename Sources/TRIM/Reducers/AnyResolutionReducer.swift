import Foundation
import TRIMImage
import TRIMTensor

// The reducer family on any-resolution input (Docs/SEMANTICS.md §5b, §5c). Every method has one: by default
// its one-view rule on each view, the rows packed as Hugging Face packs a view's (TRIM, PruMerge, the random
// control, `none`); a method whose released LLaVA-1.6 code does otherwise says which views it cuts
// (`viewGeometry`) and reduces the whole image itself (`reduceImage`), with the pieces below.

/// `--views`: whose views and packing a method runs on at any resolution.
public enum ViewsMode: String, Sendable, CaseIterable {
    /// Each method as its released LLaVA-1.6 code runs it: its own canvas rule, packing and order.
    case released
    /// Every method on Hugging Face's views and packing (`unpad_image`, `--newlines`): the like-for-like mode.
    case hf
}

/// What the pipeline hands a reducer for a whole any-resolution image.
public struct ImageInput: Sendable {
    /// Each view's input (the base view first, then the tiles row-major), the prompt's needs included.
    public var views: [ReducerInput]
    /// The canvas and tile grid the views were cut by.
    public var grid: AnyResolutionGrid
    /// The original image's size.
    public var imageHeight: Int, imageWidth: Int
    /// Patches per view side (g).
    public var side: Int
    /// Released or Hugging Face views and packing.
    public var mode: ViewsMode
    /// Which grid rows get an `image_newline` under Hugging Face packing.
    public var newlines: NewlinePolicy
    /// LLaVA's projector and LLaVA-NeXT's `image_newline [H]`, when loaded.
    public var projector: Projector?
    public var imageNewline: Tensor?

    /// Patches per view (N = g²).
    public var patchCount: Int { side * side }

    /// The packed grid with `unpad`'s rule.
    public func packedGrid(_ unpad: UnpadRule) -> PackedGrid {
        PackedGrid(grid: grid, side: side, imageHeight: imageHeight, imageWidth: imageWidth, unpad: unpad)
    }

    /// Each view reduced on its own by `reducer`'s one-view rule.
    public func reduceEachView(_ reducer: any TokenReducer) throws -> [Reduction] {
        try views.map { try reducer.reduce($0) }
    }

    /// Per-view reductions packed as Hugging Face packs (`mode` hf, or a method without a release of its own):
    /// unpadded, newline rows as `newlines` says, a view's non-patch rows where TRIM's mean tokens go.
    public func packedAsHuggingFace(_ views: [Reduction]) -> ImageReduction {
        pack(views, Packing(views: views.map(\.rows), grid: packedGrid(.huggingFace), newlines: newlines))
    }

    /// Per-view reductions in the released "spatial" layout of FasterVLM, VisPruner and CDPruner: the base
    /// view's rows, then the tiles' kept patches read row by row over the full padded `R × C` grid — no
    /// unpadding, no newline rows.
    public func packedSpatially(_ views: [Reduction]) -> ImageReduction {
        pack(views, Packing(views: views.map(\.rows), grid: packedGrid(.none), newlines: .none))
    }

    /// Per-view reductions with `packing` (built from their rows): the packed rows that are not newlines,
    /// their projected rows when every view had them, the signal all views' in turn (`[V·N]`).
    public func pack(_ views: [Reduction], _ packing: Packing) -> ImageReduction {
        var scalars: [Float] = [], projected: [Float] = []
        var sources: [RowSource] = []
        let withProjection = views.allSatisfy { $0.projected != nil }
        for (source, origin) in zip(packing.rows, packing.origins) {
            guard let o = origin else { continue }
            scalars += views[o.view].reduced.row(o.row).scalars
            if withProjection { projected += views[o.view].projected!.row(o.row).scalars }
            sources.append(source)
        }
        let width = views[0].reduced.columns
        var extras: [(name: String, tensor: Tensor)] = []
        for (name, first) in views[0].extras where views.allSatisfy({ $0.extras.contains { $0.name == name } }) {
            let all = views.map { v in v.extras.first { $0.name == name }!.tensor }
            extras.append((name, Tensor(shape: [views.count] + first.shape, scalars: all.flatMap(\.scalars))))
        }
        let reduction = Reduction(
            reduced: Tensor(shape: [sources.count, width], scalars: scalars), rows: sources,
            signal: (views[0].signal.name, views.flatMap(\.signal.values)), extras: extras,
            projected: withProjection ? Tensor(shape: [sources.count, views[0].projected!.columns], scalars: projected) : nil,
            note: views.compactMap(\.note).first)
        return ImageReduction(views: views, packing: packing, reduction: reduction)
    }
}

/// A whole any-resolution image's reduction: each view's, the packing, and the packed rows.
public struct ImageReduction: Sendable {
    /// Each view's own reduction, in view order (for a method that selects over all views at once, each
    /// view's share of it).
    public var views: [Reduction]
    /// Where every packed row came from (`token_map`), newline rows included.
    public var packing: Packing
    /// The packed rows that are not newlines, in packed order; the signal all views' in turn (`[V·N]`).
    public var reduction: Reduction

    /// An image reduction from its parts.
    public init(views: [Reduction], packing: Packing, reduction: Reduction) {
        self.views = views
        self.packing = packing
        self.reduction = reduction
    }
}

extension TokenReducer {
    public func viewGeometry(_ mode: ViewsMode) -> ViewGeometry { .huggingFace }

    public func reduceImage(_ image: ImageInput) throws -> ImageReduction {
        image.packedAsHuggingFace(try image.reduceEachView(self))
    }
}

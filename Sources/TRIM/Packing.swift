import Foundation
import TRIMImage
import TRIMTensor

// LLaVA-NeXT's packing of an image's views into one sequence (Docs/SEMANTICS.md §5.5; Hugging Face's
// `LlavaNextModel.pack_image_features`, strategy "default"): the base view's rows, then the tiles laid out
// as one grid of patches, the padding the aspect-keeping fit added cut away again (`unpad_image`), each
// remaining grid row followed by an `image_newline` row.

/// Which grid rows get an `image_newline` after them.
public enum NewlinePolicy: String, Sendable, CaseIterable {
    /// After every kept grid row, as LLaVA-NeXT does (the default).
    case all
    /// Only after grid rows that hand on at least one cell.
    case nonempty
    /// None.
    case none
}

/// How the padding the aspect-keeping fit added is cut from the packed grid (`unpad_image`).
public enum UnpadRule: Sendable, Equatable {
    /// Hugging Face's: the kept side `int(round(h · C/w, 7))` in float64.
    case huggingFace
    /// Original LLaVA's: `int(h · C/w)` in float64, no rounding (a side can come out one cell shorter).
    case original
    /// Hugging Face's of transformers 4.42 as HiRED runs it: `int()` of float32 tensor arithmetic, no
    /// rounding — the image aspect `w/h` in float32 against the grid's (a float64 rounded to float32), the
    /// kept side `h · (1/w · C)` (likewise for a width) in float32.
    case float32
    /// Nothing is cut: the full padded `R × C` grid (FasterVLM's, VisPruner's, CDPruner's and VisionZip's
    /// released layouts).
    case none
}

/// The geometry of one image's packed grid: the tiles' patches as `R × C` cells, and the rows or columns
/// that survive the unpadding.
public struct PackedGrid: Sendable, Equatable {
    /// Patches per view side (g = S / p).
    public var side: Int
    /// Tile rows and columns (nph, npw).
    public var tileRows: Int, tileColumns: Int
    /// The kept cells: grid rows `rows` and columns `columns` of the `R × C` grid (R = nph·g, C = npw·g).
    public var rows: Range<Int>, columns: Range<Int>

    /// The grid of an image of `height × width` pixels cut as `grid`, with `side` patches per view side,
    /// unpadded by `unpad`.
    public init(grid: AnyResolutionGrid, side g: Int, imageHeight h: Int, imageWidth w: Int, unpad: UnpadRule = .huggingFace) {
        side = g
        tileRows = grid.rows
        tileColumns = grid.columns
        let r = grid.rows * g, c = grid.columns * g
        rows = 0..<r
        columns = 0..<c
        guard unpad != .none else { return }
        if unpad == .float32 {
            if Float(w) / Float(h) > Float(Double(c) / Double(r)) {
                let n = Int(Float(h) * ((1 / Float(w)) * Float(c)))
                rows = ((r - n) / 2)..<(r - (r - n) / 2)
            } else {
                let n = Int(Float(w) * ((1 / Float(h)) * Float(r)))
                columns = ((c - n) / 2)..<(c - (c - n) / 2)
            }
            return
        }
        let kept = { (x: Double) -> Int in Int(unpad == .huggingFace ? Self.pythonRound7(x) : x) }
        // unpad_image, in token units and float64: the axis the image does not fill loses its padding.
        if Double(w) / Double(h) > Double(c) / Double(r) {
            let n = kept(Double(h) * (Double(c) / Double(w)))
            let pad = (r - n) / 2  // n ≤ r: Python's floor division of a non-negative number
            rows = pad..<(r - pad)
        } else {
            let n = kept(Double(w) * (Double(r) / Double(h)))
            let pad = (c - n) / 2
            columns = pad..<(c - pad)
        }
    }

    /// Python's `round(x, 7)` for a finite non-negative x: the exact binary value correctly rounded to 7
    /// decimals (as Python and glibc's `printf` both do).
    static func pythonRound7(_ x: Double) -> Double { Double(String(format: "%.7f", x))! }

    /// The view (1 + tile index) and patch of grid cell (`row`, `column`).
    public func cell(row: Int, column: Int) -> (view: Int, patch: Int) {
        (1 + (row / side) * tileColumns + column / side, (row % side) * side + column % side)
    }

    /// The grid cell of a tile's patch, or `nil` for the base view.
    public func position(view: Int, patch: Int) -> (row: Int, column: Int)? {
        guard view >= 1 else { return nil }
        let tile = view - 1
        return ((tile / tileColumns) * side + patch / side, (tile % tileColumns) * side + patch % side)
    }

    /// Whether a cell survives the unpadding.
    public func isKept(row: Int, column: Int) -> Bool { rows.contains(row) && columns.contains(column) }

    /// The unpadded grid's height and width (H′, W′).
    public var unpadded: (height: Int, width: Int) { (rows.count, columns.count) }
}

/// One image's views packed into the sequence the language model reads.
public struct Packing: Sendable {
    /// The packed grid.
    public var grid: PackedGrid
    /// Where every packed row came from, in order, newline rows included (`token_map`).
    public var rows: [RowSource]
    /// For each packed row, the view and the row of that view's reduction it is; `nil` for a newline.
    public var origins: [(view: Int, row: Int)?]
    /// Kept patch rows the unpadding cut away (not emitted).
    public var droppedInPadding: Int
    /// Number of `image_newline` rows.
    public var newlines: Int { rows.filter { $0 == .newline }.count }

    /// A packing from its parts (a method's own layout): `origins` has one entry per row, `nil` for a newline.
    public init(grid: PackedGrid, rows: [RowSource], origins: [(view: Int, row: Int)?], droppedInPadding: Int = 0) {
        precondition(rows.count == origins.count, "a packing names the origin of each of its \(rows.count) rows")
        self.grid = grid
        self.rows = rows
        self.origins = origins
        self.droppedInPadding = droppedInPadding
    }

    /// Packs per-view row sources (`views[v]` = the rows view v hands on, in its own order): the base view's
    /// rows (`basePatchesFirst`: its patch rows in index order, as the base view's N rows stand in Hugging
    /// Face's packing, then its other rows — where TRIM's mean token goes; else as they are); the tiles' patch rows at their grid cells, read row by row, each kept grid row followed by
    /// a newline (`policy`); then the tiles' other rows (mean, merged, …), in tile order, or with
    /// `othersByKind` all tiles' [CLS] rows first, then the rest tile by tile (VisionZip's released order).
    public init(views: [[RowSource]], grid g: PackedGrid, newlines policy: NewlinePolicy, basePatchesFirst: Bool = true,
                othersByKind: Bool = false) {
        grid = g
        let width = g.tileColumns * g.side
        var cells = [(view: Int, row: Int)?](repeating: nil, count: g.tileRows * g.side * width)
        var others: [(RowSource, (view: Int, row: Int))] = []
        var dropped = 0
        for (v, sources) in views.enumerated().dropFirst() {
            for (i, source) in sources.enumerated() {
                guard let p = source.patch, let at = g.position(view: p.view, patch: p.index) else {
                    others.append((source, (v, i)))
                    continue
                }
                if g.isKept(row: at.row, column: at.column) { cells[at.row * width + at.column] = (v, i) } else { dropped += 1 }
            }
        }
        if othersByKind {
            others = others.filter { if case .classToken = $0.0 { true } else { false } }
                + others.filter { if case .classToken = $0.0 { false } else { true } }
        }
        let base = Array((views.first ?? []).enumerated())
        let basePatches = base.filter { $0.element.patch != nil }.sorted { $0.element.patch!.index < $1.element.patch!.index }
        let baseOrder = basePatchesFirst ? basePatches + base.filter { $0.element.patch == nil } : base
        var packed = baseOrder.map(\.element)
        var origins: [(view: Int, row: Int)?] = baseOrder.map { (0, $0.offset) }
        for r in g.rows {
            let kept = g.columns.filter { cells[r * width + $0] != nil }
            for c in kept {
                let (view, patch) = g.cell(row: r, column: c)
                packed.append(.patch(view: view, index: patch))
                origins.append(cells[r * width + c])
            }
            if policy == .all || (policy == .nonempty && !kept.isEmpty) {
                packed.append(.newline)
                origins.append(nil)
            }
        }
        rows = packed + others.map(\.0)
        self.origins = origins + others.map { Optional($0.1) }
        droppedInPadding = dropped
    }
}

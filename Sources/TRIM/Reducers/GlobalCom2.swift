import Foundation
import TRIMImage
import TRIMTensor

// GlobalCom² (Liu et al., "Compression with Global Guidance: Towards Training-free High-Resolution MLLMs
// Acceleration", 2025; released code xuyang-liu16/GlobalCom2, `llava_arch.py`, `apply_customvit.py`),
// Docs/SEMANTICS.md §5c. Built for any-resolution input; ignores the prompt.
//
//   s[v]      = mean_h of the pre-softmax logits (q·hd^-0.5)·kᵀ of the layer after the selected state (the
//               last layer at LLaVA's −2), [CLS] row, patch columns
//   thumbnail = the top int(N·r) base patches by s[0], in descending-score order (`--views hf`: ascending)
//   crop scale: side = int(√N), pw = max(side // npw, 1), ph = max(side // nph, 1); base patch (i, j) belongs
//               to tile (min(i // ph, nph−1), min(j // pw, npw−1)); B_t = Σ s[0] over it;
//               σ = exp((B − max B)/10) / (Σ exp + 1e-8); scale_t = min(r·(1 + σ_t − mean σ), 1)
//   unpadding: original LLaVA's `int()` rule → H′ × W′; tile t's valid cells a rectangle of N_t cells
//   global map: s[0] as g × g, bilinear to H′ × W′ (align_corners False, no antialias), cut per tile
//   tile t: k_t = int(N_t·scale_t) valid cells by local/‖local‖ + crop/‖crop‖
//   scatter (the release's slot defect): the kept cell at position q of the tile's valid cells (raster order) is
//               written to patch slot q of the tile, not to its own position
//   packing: the thumbnail, then the full padded grid row by row — occupied slots left to right — with an
//            `image_newline` after every padded row
//
// `--views hf`: Hugging Face's views and unpadding, each kept cell at its own position, a newline after each
// unpadded row (`--newlines`). `token_map` names each row's own (view, patch), wherever the defect wrote it.

/// GlobalCom² as a member of the reducer family (`--anyres --method globalcom2 [--keep-ratio R]`).
public struct GlobalCom2: TokenReducer {
    /// The retention ratio r (the release's default 0.25).
    public var ratio: Double
    /// The softmax temperature of the crop scales (the release's 10).
    public static let temperature = 10.0

    /// GlobalCom² keeping about `ratio` of every view.
    public init(ratio: Double = 0.25) { self.ratio = ratio }

    public var name: String { "globalcom2" }
    public var settings: String { "thumbnail int(N·\(ratio)) + each tile's share scaled by its [CLS] logits (global and local guidance)" }
    public var needs: ReducerNeeds { [.nextLayerClassLogits] }

    /// One view: refused (GlobalCom² needs the views together).
    public func reduce(_ input: ReducerInput) throws -> Reduction {
        throw TRIMError.invalidOption("globalcom2 is built for any-resolution input: give --anyres (or a LLaVA-NeXT checkpoint)")
    }

    public func viewGeometry(_ mode: ViewsMode) -> ViewGeometry { mode == .released ? .original : .huggingFace }

    /// `s = mean_h (q_h[0]·hd^-0.5)·k_h[1+j]` from a layer's `[N+1, 2D]` q | k with `heads` heads, `[1, N]`.
    static func logits(_ qk: Tensor, heads: Int) -> Tensor {
        let d = qk.columns / 2, hd = d / heads, n = qk.rows - 1
        let scale = 1 / Float(hd).squareRoot()
        var s = [Float](repeating: 0, count: n)
        for h in 0..<heads {
            let q = (0..<hd).map { qk.scalars[h * hd + $0] * scale }
            for j in 0..<n {
                let k = (1 + j) * 2 * d + d + h * hd
                var dot: Float = 0
                for t in 0..<hd { dot += q[t] * qk.scalars[k + t] }
                s[j] += dot
            }
        }
        return Tensor(shape: [1, n], scalars: s.map { $0 / Float(heads) })
    }

    /// Each tile's scale from the base view's logits: block sums in float64 in raster order (the release
    /// sums `.item()` values), then its softmax with temperature 10 in float64.
    static func cropScales(_ s0: [Float], side g: Int, tileRows nph: Int, tileColumns npw: Int, ratio r: Double) -> [Double] {
        let side = Int(Double(s0.count).squareRoot())
        let pw = max(side / npw, 1), ph = max(side / nph, 1)
        var blocks = [Double](repeating: 0, count: nph * npw)
        for (idx, score) in s0.enumerated() {
            let (i, j) = idx.quotientAndRemainder(dividingBy: side)
            blocks[min(i / ph, nph - 1) * npw + min(j / pw, npw - 1)] += Double(score)
        }
        let top = blocks.max() ?? 0
        let e = blocks.map { exp(($0 - top) / temperature) }
        let sum = e.reduce(0, +)
        let sigma = e.map { $0 / (sum + 1e-8) }
        guard sigma.reduce(0, +) != 0 else { return [Double](repeating: r, count: sigma.count) }
        let mean = sigma.reduce(0, +) / Double(sigma.count)
        return sigma.map { min(r * ((1 + $0) - mean), 1) }
    }

    /// `F.interpolate(mode="bilinear", align_corners=False)` of a `g × g` map to `h × w`, in float32.
    static func bilinear(_ x: [Float], side g: Int, height h: Int, width w: Int) -> [Float] {
        func taps(_ size: Int) -> [(Int, Int, Float, Float)] {
            let scale = Float(g) / Float(size)
            return (0..<size).map { o in
                let src = max(scale * (Float(o) + 0.5) - 0.5, 0)
                let i0 = Int(src), l1 = src - Float(i0)
                return (i0, i0 < g - 1 ? i0 + 1 : i0, 1 - l1, l1)
            }
        }
        let ys = taps(h), xs = taps(w)
        var out = [Float](repeating: 0, count: h * w)
        for (r, (y0, y1, wy0, wy1)) in ys.enumerated() {
            for (c, (x0, x1, wx0, wx1)) in xs.enumerated() {
                out[r * w + c] = wy0 * (wx0 * x[y0 * g + x0] + wx1 * x[y0 * g + x1]) + wy1 * (wx0 * x[y1 * g + x0] + wx1 * x[y1 * g + x1])
            }
        }
        return out
    }

    public func reduceImage(_ image: ImageInput) throws -> ImageReduction {
        guard ratio >= 0 && ratio <= 1 else { throw TRIMError.invalidOption("globalcom2: the ratio \(ratio) must be in 0…1") }
        let n = image.patchCount, grid = image.grid
        let s = try image.views.map { try $0.required(.nextLayerClassLogits, by: name).scalars }
        let descending = topK(s[0], Int(Double(n) * ratio))
        let thumbnail = image.mode == .released ? descending : descending.sorted()
        let scales = Self.cropScales(s[0], side: image.side, tileRows: grid.rows, tileColumns: grid.columns, ratio: ratio)
        let packed = image.packedGrid(image.mode == .released ? .original : .huggingFace)
        let (hh, ww) = packed.unpadded
        guard hh > 0 && ww > 0 else {
            throw TRIMError.invalidOption("globalcom2: the unpadding of a \(image.imageWidth)×\(image.imageHeight) image keeps no grid cell")
        }
        let crops = Self.globalCrops(s[0], side: image.side, grid: packed)
        // Per tile, the kept cells as (slot, own patch): released, the cell at valid-list position q goes to slot q.
        var kept = [[(slot: Int, own: Int)]](repeating: [], count: image.views.count)
        for t in 0..<grid.tileCount {
            let valid = (0..<n).filter { p in packed.position(view: 1 + t, patch: p).map { packed.isKept(row: $0.row, column: $0.column) } ?? false }
            let k = Int(Double(valid.count) * scales[t])
            guard k > 0 else { continue }
            let score = zip(Self.unit(valid.map { s[1 + t][$0] }), Self.unit(crops[t])).map { $0 + $1 }
            kept[1 + t] = topK(score, k).map { q in (image.mode == .released ? q : valid[q], valid[q]) }
        }
        return pack(image, s: s, thumbnail: thumbnail, kept: kept, grid: packed)
    }

    /// The global map (`s[0]` as g × g, bilinear to the unpadded H′ × W′) cut per tile as the release cuts it:
    /// each tile takes its valid rectangle's size, the column advancing by each tile's width and the row by
    /// the height of the first tile of its row (so a tile row whose first tile is wholly cut away does not
    /// advance it: the next row reads the same map rows again, as released).
    static func globalCrops(_ s0: [Float], side g: Int, grid packed: PackedGrid) -> [[Float]] {
        let (hh, ww) = packed.unpadded
        let map = bilinear(s0, side: g, height: hh, width: ww)
        func size(_ i: Int, _ j: Int) -> (h: Int, w: Int) {
            let rows = max(packed.rows.lowerBound, i * g)..<max(max(packed.rows.lowerBound, i * g), min(packed.rows.upperBound, i * g + g))
            let cols = max(packed.columns.lowerBound, j * g)..<max(max(packed.columns.lowerBound, j * g), min(packed.columns.upperBound, j * g + g))
            return rows.isEmpty || cols.isEmpty ? (0, 0) : (rows.count, cols.count)
        }
        var crops: [[Float]] = [], top = 0
        for i in 0..<packed.tileRows {
            var left = 0
            for j in 0..<packed.tileColumns {
                let (h, w) = size(i, j)
                var crop: [Float] = []
                for r in top..<(top + h) { for c in left..<(left + w) where r < hh && c < ww { crop.append(map[r * ww + c]) } }
                crops.append(crop)
                left += w
            }
            top += size(i, 0).h
        }
        return crops
    }

    /// `F.normalize(x, dim=-1)`: `x / max(‖x‖, 1e-12)`.
    static func unit(_ x: [Float]) -> [Float] {
        let norm = max(x.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot(), 1e-12)
        return x.map { $0 / norm }
    }

    /// The thumbnail, then the grid: released, each kept cell at its slot of the full padded grid with a
    /// newline after every padded row; hf, each at its own cell of the unpadded grid, newlines by `--newlines`.
    private func pack(_ image: ImageInput, s: [[Float]], thumbnail: [Int], kept: [[(slot: Int, own: Int)]],
                      grid packed: PackedGrid) -> ImageReduction {
        let released = image.mode == .released
        let width = packed.tileColumns * packed.side
        var cells = [(view: Int, own: Int)?](repeating: nil, count: packed.tileRows * packed.side * width)
        var moved = 0
        for v in 1..<image.views.count {
            for k in kept[v] {
                let at = packed.position(view: v, patch: k.slot)!
                if k.slot != k.own { moved += 1 }
                cells[at.row * width + at.column] = (v, k.own)
            }
        }
        var order = [[Int]](repeating: [], count: image.views.count)  // each view's patches in packed order
        order[0] = thumbnail
        var sources: [(view: Int, own: Int)?] = thumbnail.map { (0, $0) }
        for r in released ? 0..<(packed.tileRows * packed.side) : packed.rows {
            let occupied = (released ? 0..<width : packed.columns).compactMap { cells[r * width + $0] }
            for o in occupied {
                order[o.view].append(o.own)
                sources.append(o)
            }
            if released || image.newlines == .all || (image.newlines == .nonempty && !occupied.isEmpty) { sources.append(nil) }
        }
        let views = image.views.enumerated().map { v, input in
            Reduction(reduced: input.features.gatherRows(order[v]), rows: input.patchRows(order[v]), signal: ("cls_attention", s[v]))
        }
        var seen = [Int](repeating: 0, count: image.views.count)
        let origins: [(view: Int, row: Int)?] = sources.map { o in
            guard let o else { return nil }
            defer { seen[o.view] += 1 }
            return (o.view, seen[o.view])
        }
        let rows = sources.map { $0.map { RowSource.patch(view: $0.view, index: $0.own) } ?? .newline }
        let full = PackedGrid(grid: image.grid, side: image.side, imageHeight: image.imageHeight, imageWidth: image.imageWidth,
                              unpad: released ? .none : .huggingFace)
        var result = image.pack(views, Packing(grid: released ? full : packed, rows: rows, origins: origins))
        if moved > 0 {
            result.reduction.note = "the release writes each tile's kept cells to the slots of their places among its valid cells: \(moved) rows moved from their own position (reproduced; --views hf keeps them in place)"
        }
        return result
    }
}

import Foundation
import TRIMImage
import TRIMTensor

// GlobalCom² (Liu et al., "Compression with Global Guidance: Towards Training-free High-Resolution MLLMs
// Acceleration", 2025; released code xuyang-liu16/GlobalCom2, `llava_arch.py`, `apply_customvit.py`),
// Docs/SEMANTICS.md §5c. Built for any-resolution input; ignores the prompt.
//
//   s[v]      = mean_h of the pre-softmax logits (q·hd^-0.5)·kᵀ of the layer after the selected state (the
//               last layer at LLaVA's −2), [CLS] row, patch columns
//   thumbnail = the top int(N·r) base patches by s[0], in descending-score order
//   crop scale: side = int(√N), pw = max(side // npw, 1), ph = max(side // nph, 1); base patch (i, j) belongs
//               to tile (min(i // ph, nph−1), min(j // pw, npw−1)); B_t = Σ s[0] over it;
//               σ = exp((B − max B)/10) / (Σ exp + 1e-8); scale_t = min(r·(1 + σ_t − mean σ), 1)
//   unpadding: original LLaVA's `int()` rule → H′ × W′; tile t's valid cells a rectangle of N_t cells
//   global map: s[0] as g × g, bilinear to H′ × W′ (align_corners False, no antialias), cut per tile
//   tile t: k_t = int(N_t·scale_t) valid cells by local/‖local‖ + crop/‖crop‖
//   scatter (the release's slot defect): the j-th kept cell (raster order) is written to slot j of its tile
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

    /// Each tile's scale from the base view's logits (float64 after the block sums).
    static func cropScales(_ s0: [Float], side g: Int, tileRows nph: Int, tileColumns npw: Int, ratio r: Double) -> [Double] {
        let side = Int(Double(s0.count).squareRoot())
        let pw = max(side / npw, 1), ph = max(side / nph, 1)
        var blocks = [Float](repeating: 0, count: nph * npw)
        for i in 0..<g {
            for j in 0..<g { blocks[min(i / ph, nph - 1) * npw + min(j / pw, npw - 1)] += s0[i * g + j] }
        }
        let top = Double(blocks.max() ?? 0)
        let e = blocks.map { exp((Double($0) - top) / temperature) }
        let sum = e.reduce(0, +)
        let sigma = e.map { $0 / (sum + 1e-8) }
        let mean = sigma.reduce(0, +) / Double(sigma.count)
        return sigma.map { min(r * (1 + $0 - mean), 1) }
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
        let n = image.patchCount, g = image.side, grid = image.grid
        let s = try image.views.map { try $0.required(.nextLayerClassLogits, by: name).scalars }
        let thumbnail = topK(s[0], Int(Double(n) * ratio))
        let scales = Self.cropScales(s[0], side: g, tileRows: grid.rows, tileColumns: grid.columns, ratio: ratio)
        let packed = image.packedGrid(image.mode == .released ? .original : .huggingFace)
        let (hh, ww) = packed.unpadded
        guard hh > 0 && ww > 0 else {
            throw TRIMError.invalidOption("globalcom2: the unpadding of a \(image.imageWidth)×\(image.imageHeight) image keeps no grid cell")
        }
        let map = Self.bilinear(s[0], side: g, height: hh, width: ww)
        var kept = [[Int]](repeating: [], count: image.views.count)  // per tile: kept patches, raster order
        kept[0] = thumbnail
        for t in 0..<grid.tileCount {
            var valid: [Int] = [], local: [Float] = [], crop: [Float] = []
            for p in 0..<n {
                let at = packed.position(view: 1 + t, patch: p)!
                guard packed.isKept(row: at.row, column: at.column) else { continue }
                valid.append(p)
                local.append(s[1 + t][p])
                crop.append(map[(at.row - packed.rows.lowerBound) * ww + at.column - packed.columns.lowerBound])
            }
            let k = Int(Double(valid.count) * scales[t])
            let score = zip(Self.unit(local), Self.unit(crop)).map { $0 + $1 }
            kept[1 + t] = topK(score, k).sorted().map { valid[$0] }
        }
        return pack(image, s: s, kept: kept, grid: packed)
    }

    /// `x / ‖x‖` (all zeros stay zeros).
    static func unit(_ x: [Float]) -> [Float] {
        let norm = x.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? x.map { $0 / norm } : x
    }

    /// The thumbnail, then the grid: released, tile t's j-th kept cell at slot j of the full padded grid with a
    /// newline after every padded row; hf, each at its own cell of the unpadded grid, newlines by `--newlines`.
    private func pack(_ image: ImageInput, s: [[Float]], kept: [[Int]], grid packed: PackedGrid) -> ImageReduction {
        let released = image.mode == .released
        let views = image.views.enumerated().map { v, input in
            Reduction(reduced: input.features.gatherRows(kept[v]), rows: input.patchRows(kept[v]), signal: ("cls_attention", s[v]))
        }
        var rows: [RowSource] = views[0].rows, origins: [(view: Int, row: Int)?] = views[0].rows.indices.map { (0, $0) }
        let width = packed.tileColumns * packed.side
        var cells = [(view: Int, row: Int)?](repeating: nil, count: packed.tileRows * packed.side * width)
        var moved = 0
        for v in 1..<views.count {
            for (j, p) in kept[v].enumerated() {
                let at = packed.position(view: v, patch: released ? j : p)!
                if released && j != p { moved += 1 }
                cells[at.row * width + at.column] = (v, j)
            }
        }
        for r in released ? 0..<(packed.tileRows * packed.side) : packed.rows {
            let occupied = (released ? 0..<width : packed.columns).filter { cells[r * width + $0] != nil }
            for c in occupied {
                let o = cells[r * width + c]!
                rows.append(views[o.view].rows[o.row])
                origins.append(o)
            }
            if released || image.newlines == .all || (image.newlines == .nonempty && !occupied.isEmpty) {
                rows.append(.newline)
                origins.append(nil)
            }
        }
        let full = PackedGrid(grid: image.grid, side: image.side, imageHeight: image.imageHeight, imageWidth: image.imageWidth,
                              unpad: released ? .none : .huggingFace)
        var result = image.pack(views, Packing(grid: released ? full : packed, rows: rows, origins: origins))
        if moved > 0 {
            result.reduction.note = "the release writes each tile's kept cells to its first slots: \(moved) rows moved from their own position (reproduced; --views hf keeps them in place)"
        }
        return result
    }
}

import Foundation
import TRIMImage
import TRIMTensor

// HiRED (Arif et al., "HiRED: Attention-Guided Token Dropping for Efficient Inference of High-Resolution
// Vision-Language Models", AAAI 2025; released code hasanar1f/HiRED, its vendored transformers 4.42
// `modeling_llava_next.py`), Docs/SEMANTICS.md §5c. Built for any-resolution input; ignores the prompt.
//
//   a0[v], aS[v] = Σ_h A[h, 0, 1:] of layer 0 and of the layer producing the selected state (the release's 22)
//   total = int(V·N·rate)   base = min(int(total·α), N)   sub = min(total − base, (V−1)·N)
//   base view: topk(aS[0], base)
//   allocation: m = the top int(N·(1−α)) base patches by a0[0]; counts_i = how many of them fall in the i-th
//     contiguous raster chunk of the base patches (T chunks, the first N mod T one longer);
//     k_i = min(int(float32(float32(counts_i / Σcounts) · sub)), N)   (Σcounts = 0: every k_i = 0)
//   tile i: topk(aS[1+i], k_i)
//   packing, no newline rows: the base view's kept patches ascending, then the tiles' kept cells row by row
//     over the grid as the release builds it — the tiles viewed as (npw, nph), so a non-square grid is
//     stacked the wrong way — unpadded in float32 (`UnpadRule.float32`); kept cells cut away are dropped.
//   views (`ViewGeometry.hired`): Hugging Face's canvas, the padding `(H* − h′) // 2` on both sides.
//
// `--views hf`: Hugging Face's views, grid and unpadding, still no newline rows. The release's defects are
// reproduced in `--views released` (they produced its published numbers) and named in the output when they
// changed the result.

/// HiRED as a member of the reducer family (`--anyres --method hired [--keep-ratio R] [--alpha A]`).
public struct HiRED: TokenReducer {
    /// The share of all views' patches kept (the release's default 0.2).
    public var rate: Double
    /// The base view's share of the budget (the release's default 0.5).
    public var alpha: Double

    /// HiRED with token rate `rate` and base share `alpha`.
    public init(rate: Double = 0.2, alpha: Double = 0.5) {
        self.rate = rate
        self.alpha = alpha
    }

    public var name: String { "hired" }
    public var settings: String { "int(V·N·\(rate)) rows, \(alpha) of them in the base view, the rest shared by layer-0 [CLS] attention" }
    public var needs: ReducerNeeds { [.classAttention, .firstLayerClassAttention] }

    /// One view: the top `int(N·rate)` patches by [CLS] attention (HiRED needs the views together).
    public func reduce(_ input: ReducerInput) throws -> Reduction {
        throw TRIMError.invalidOption("hired is built for any-resolution input: give --anyres (or a LLaVA-NeXT checkpoint)")
    }

    public func viewGeometry(_ mode: ViewsMode) -> ViewGeometry { mode == .released ? .hired : .huggingFace }

    /// How many patches each view keeps: the base view's, then each tile's.
    static func budgets(layer0 a0: [Float], views: Int, patches n: Int, rate: Double, alpha: Double) -> [Int] {
        let total = Int(Double(views * n) * rate)
        let base = min(Int(Double(total) * alpha), n)
        let sub = min(total - base, (views - 1) * n)
        let tiles = views - 1
        guard sub > 0, tiles > 0 else { return [base] + [Int](repeating: 0, count: tiles) }
        let marked = Set(topK(a0, Int(Double(n) * (1 - alpha))))
        // Contiguous raster chunks of the base patches, one per tile, the first n mod T one longer.
        var counts: [Int] = [], start = 0
        for i in 0..<tiles {
            let size = n / tiles + (i < n % tiles ? 1 : 0)
            counts.append((start..<(start + size)).filter(marked.contains).count)
            start += size
        }
        let sum = counts.reduce(0, +)
        guard sum > 0 else { return [base] + [Int](repeating: 0, count: tiles) }
        return [base] + counts.map { min(Int(Float(Float(Float($0) / Float(sum)) * Float(sub))), n) }
    }

    public func reduceImage(_ image: ImageInput) throws -> ImageReduction {
        guard rate >= 0 && rate <= 1, alpha >= 0 && alpha <= 1 else {
            throw TRIMError.invalidOption("hired: the rate \(rate) and alpha \(alpha) must be in 0…1")
        }
        let n = image.patchCount, v = image.views.count
        let attention = try image.views.map { try $0.classAttentionToPatches(by: name, mean: false) }
        let layer0 = try image.views.map { try $0.classAttentionToPatches(by: name, mean: false, need: .firstLayerClassAttention) }
        let k = Self.budgets(layer0: layer0[0], views: v, patches: n, rate: rate, alpha: alpha)
        let views = image.views.enumerated().map { i, input in
            let kept = topK(attention[i], k[i]).sorted()
            return Reduction(reduced: input.features.gatherRows(kept), rows: input.patchRows(kept), signal: ("cls_attention", attention[i]),
                             extras: [("cls_attention_layer0", Tensor(shape: [n], scalars: layer0[i]))])
        }
        guard image.mode == .released else {
            return image.pack(views, Packing(views: views.map(\.rows), grid: image.packedGrid(.huggingFace), newlines: .none))
        }
        // The release views the tiles as (npw, nph): a grid with rows and columns swapped.
        let g = image.grid
        let swapped = AnyResolutionGrid(canvasHeight: g.canvasWidth, canvasWidth: g.canvasHeight, viewSize: g.viewSize)
        let grid = PackedGrid(grid: swapped, side: image.side, imageHeight: image.imageHeight, imageWidth: image.imageWidth, unpad: .float32)
        var packed = image.pack(views, Packing(views: views.map(\.rows), grid: grid, newlines: .none))
        if g.rows != g.columns {
            packed.reduction.note = "the release views the \(g.rows)×\(g.columns) tiles as \(g.columns)×\(g.rows): they are stacked the wrong way (reproduced; --views hf packs them in place)"
        }
        return packed
    }
}

import Foundation
import TRIMImage
import TRIMTensor

// FasterVLM (Zhang et al., "[CLS] Attention is All You Need for Training-Free Visual Token Pruning", 2024;
// released code Theia-4869/FasterVLM, llava/model/llava_arch.py `encode_images` and
// llava/model/multimodal_encoder/clip_encoder.py `feature_select`), SEMANTICS.md §3c:
//
//   s    = mean_h A[h, 0, 1:]          A = attentions[-2]: the layer producing hidden_states[-2]; not renormalised
//   kept = topk(s, T)                  ties to the lower index
//   rows = x[kept], ascending          LLaVA's projector then maps each row (the released code projects all
//                                      N rows and masks; row for row the same)
//
// Needs: the class token's attention row in the one vision pass. Budgets above N keep all N.
//
// Any resolution (`mm_utils.py`, `llava_arch.py`; Docs/SEMANTICS.md §5b): the views by its own grid rule
// (`ViewGeometry.fasterVLM`; an image no canvas fits is refused), `topk(s, T)` in every view, and the
// "spatial" layout — the base view's kept patches, then the tiles' kept cells row by row over the full padded
// grid, no unpadding, no newline rows: V·T rows. `--views hf`: the same choice per view, Hugging Face's packing.

/// FasterVLM as a member of the reducer family (`--method fastervlm --keep T`).
public struct FasterVLM: TokenReducer {
    /// Rows handed to the LLM (T).
    public var keep: Int

    /// FasterVLM keeping `keep` patches (the README's budgets: 144, 58, 29 of 576).
    public init(keep: Int) { self.keep = keep }

    public var name: String { "fastervlm" }
    public var settings: String { "top \(keep) by [CLS] attention of the selected layer (head mean)" }
    public var needs: ReducerNeeds { [.classAttention] }

    public func reduce(_ input: ReducerInput) throws -> Reduction {
        let s = try input.classAttentionToPatches(by: name, mean: true)
        let kept = topK(s, clampedBudget(keep, patches: input.patchCount)).sorted()
        return Reduction(reduced: input.features.gatherRows(kept), rows: input.patchRows(kept), signal: ("cls_attention", s))
    }

    public func viewGeometry(_ mode: ViewsMode) -> ViewGeometry { mode == .released ? .fasterVLM : .huggingFace }

    public func reduceImage(_ image: ImageInput) throws -> ImageReduction {
        let views = try image.reduceEachView(self)
        return image.mode == .released ? image.packedSpatially(views) : image.packedAsHuggingFace(views)
    }
}

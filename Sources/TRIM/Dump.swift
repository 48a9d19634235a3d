import SafeTensors
import TRIMTensor

extension ReductionResult {
    /// Every intermediate under the dump names of SEMANTICS.md §3, float32 unless noted: `pixel_values [3,H,W]`,
    /// `features [N,D]`, `image_tokens [N,P]` (when computed), `input_ids [L]` (int64) and `text_embeds`
    /// (when the prompt was used), the reducer's ranking signal under its own name (`scores` for TRIM,
    /// `cls_attention`, …), its extra tensors, `kept_indices [K]` (int64, the single-patch rows of
    /// `reduced` in row order), `reduced [R,D]`, and `projected [R,H]` when a projector ran. Load it with
    /// `safetensors.numpy.load_file`.
    public func dump(metadata: [String: String] = [:]) -> SafeTensorsWriter {
        let view = encoded.views[0]
        var w = SafeTensorsWriter(metadata: metadata)
        w.add("pixel_values", view.pixelValues)
        w.add("features", view.features)
        if let t = view[.imageTokens] { w.add("image_tokens", t) }
        if let ids = inputIDs { w.add("input_ids", int64s: ids.map(Int64.init), shape: [ids.count]) }
        if let t = textEmbeds { w.add("text_embeds", t) }
        let signal = reduction.signal
        w.add(signal.name, Tensor(shape: [signal.values.count], scalars: signal.values))
        for (name, tensor) in reduction.extras { w.add(name, tensor) }
        let kept = reduction.keptIndices
        w.add("kept_indices", int64s: kept.map(Int64.init), shape: [kept.count])
        w.add("reduced", reduction.reduced)
        if let projected { w.add("projected", projected) }
        return w
    }
}

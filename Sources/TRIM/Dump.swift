import SafeTensors
import TRIMTensor

extension ReductionResult {
    /// Every intermediate under the dump names of SEMANTICS.md §3, float32 unless noted: `pixel_values [3,H,W]`,
    /// `features [N,D]`, `image_tokens [N,P]` (when computed), `input_ids [L]` (int64) and `text_embeds`
    /// (when the prompt was used), the reducer's ranking signal under its own name (`scores` for TRIM,
    /// `cls_attention`, …), its extra tensors, `kept_indices [K]` (int64, the single-patch rows of
    /// `reduced` in row order), `reduced [R,D]`, and `projected [R,H]` when a projector ran. Load it with
    /// `safetensors.numpy.load_file`.
    ///
    /// An any-resolution result (Docs/SEMANTICS.md §5.7) stacks the views: `pixel_values [V,3,S,S]`,
    /// `image_sizes [2]` (int64, height and width), `features [V,N,D]`, `image_tokens [V,N,P]`, the signal
    /// `[V,N]`, `kept_indices [K,2]` (int64 view, patch in output-row order), `token_map [L,2]` (int64: per
    /// packed row its view and patch, (view, −1) for a row that is not one patch, (−1, −1) for a newline),
    /// `reduced` (the rows that are not newlines) and `projected [L,H]` (newline rows included).
    public func dump(metadata: [String: String] = [:]) -> SafeTensorsWriter {
        if let packing { return anyResolutionDump(packing, metadata: metadata) }
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

extension ReductionResult {
    /// `dump` for an any-resolution result.
    func anyResolutionDump(_ packing: Packing, metadata: [String: String]) -> SafeTensorsWriter {
        let views = encoded.views
        func stacked(_ tensors: [Tensor]) -> Tensor {
            Tensor(shape: [tensors.count] + tensors[0].shape, scalars: tensors.flatMap(\.scalars))
        }
        func pairs(_ entries: [(view: Int, patch: Int)]) -> [Int64] { entries.flatMap { [Int64($0.view), Int64($0.patch)] } }
        var w = SafeTensorsWriter(metadata: metadata)
        w.add("pixel_values", stacked(views.map(\.pixelValues)))
        w.add("image_sizes", int64s: [Int64(encoded.imageHeight), Int64(encoded.imageWidth)], shape: [2])
        w.add("features", stacked(views.map(\.features)))
        let tokens = views.compactMap { $0[.imageTokens] }
        if tokens.count == views.count { w.add("image_tokens", stacked(tokens)) }
        if let ids = inputIDs { w.add("input_ids", int64s: ids.map(Int64.init), shape: [ids.count]) }
        if let t = textEmbeds { w.add("text_embeds", t) }
        let signal = reduction.signal
        w.add(signal.name, Tensor(shape: [views.count, signal.values.count / views.count], scalars: signal.values))
        for (name, tensor) in reduction.extras { w.add(name, tensor) }
        let kept = reduction.rows.compactMap(\.patch).map { (view: $0.view, patch: $0.index) }
        w.add("kept_indices", int64s: pairs(kept), shape: [kept.count, 2])
        w.add("token_map", int64s: pairs(packing.rows.map(\.tokenMapEntry)), shape: [packing.rows.count, 2])
        w.add("reduced", reduction.reduced)
        if let projected { w.add("projected", projected) }
        return w
    }
}

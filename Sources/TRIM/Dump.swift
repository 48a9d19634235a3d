import SafeTensors
import TRIMTensor

extension TRIMResult {
    /// Every intermediate under SPEC §3's dump names, float32 unless noted:
    /// `pixel_values [3,H,W]`, `features [N,D]`, `image_tokens [N,P]`, `input_ids [L]` (int64),
    /// `text_embeds [P]`, `scores [N]`, `kept_indices [K]` (int64), `reduced [K(+1),D]`, and
    /// `projected [K(+1),H]` when a projector ran. Load it with `safetensors.numpy.load_file`.
    public func dump(metadata: [String: String] = [:]) -> SafeTensorsWriter {
        var w = SafeTensorsWriter(metadata: metadata)
        w.add("pixel_values", pixelValues)
        w.add("features", features)
        w.add("image_tokens", imageTokens)
        w.add("input_ids", int64s: inputIDs.map(Int64.init), shape: [inputIDs.count])
        w.add("text_embeds", textEmbeds)
        w.add("scores", Tensor(shape: [patchScores.scores.count], scalars: patchScores.scores))
        w.add("kept_indices", int64s: selection.keptIndices.map(Int64.init), shape: [selection.keptIndices.count])
        w.add("reduced", reduced)
        if let projected { w.add("projected", projected) }
        return w
    }
}

extension ReductionResult {
    /// Every intermediate under SPEC §3's dump names: `pixel_values`, `features`, `image_tokens` (when
    /// computed), `input_ids` (int64) and `text_embeds` (when the prompt was used), the reducer's ranking
    /// signal under its own name (`scores`, `cls_attention`, …), its extra tensors, `kept_indices` (int64,
    /// row order of `reduced`), `reduced`, and `projected` when a projector ran. For TRIM the names and
    /// bytes are those of `TRIMResult.dump`.
    public func dump(metadata: [String: String] = [:]) -> SafeTensorsWriter {
        var w = SafeTensorsWriter(metadata: metadata)
        w.add("pixel_values", encoded.pixelValues)
        w.add("features", encoded.features)
        if let t = encoded.imageTokens { w.add("image_tokens", t) }
        if let ids = inputIDs { w.add("input_ids", int64s: ids.map(Int64.init), shape: [ids.count]) }
        if let t = textEmbeds { w.add("text_embeds", t) }
        let signal = reduction.signal
        w.add(signal.name, Tensor(shape: [signal.values.count], scalars: signal.values))
        for (name, tensor) in reduction.extras { w.add(name, tensor) }
        w.add("kept_indices", int64s: reduction.keptIndices.map(Int64.init), shape: [reduction.keptIndices.count])
        w.add("reduced", reduction.reduced)
        if let projected { w.add("projected", projected) }
        return w
    }
}

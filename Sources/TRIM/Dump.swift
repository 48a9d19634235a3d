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

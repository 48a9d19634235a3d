import SafeTensors

/// The dump names of Docs/SEMANTICS.md §3 in pipeline order, and how a comparison treats each.
public enum DumpNames {
    /// Inputs and towers, before any reducer: `pixel_values`, `image_sizes`, `features`, `image_tokens`,
    /// `input_ids`, `text_embeds`.
    public static let inputs = ["pixel_values", "image_sizes", "features", "image_tokens", "input_ids", "text_embeds"]

    /// Each method's ranking signal or extra tensor: TRIM's `scores`, then the other methods' (§3b, §3c).
    public static let signals = [
        "scores", "cls_attention", "cls_attention_layer0", "relevance", "pick_order", "random_mask",
        "contextual_assignment",
    ]

    /// The selection and what is built from it: `kept_indices`, `token_map`, `reduced`, `projected`.
    public static let outputs = ["kept_indices", "token_map", "reduced", "projected"]

    /// Signals that rank patches by a score, in the order a selection is judged by the first one present.
    /// `pick_order` and `random_mask` record the outcome, not a score: a near-tie cannot be read from them.
    public static let scoreSignals = ["scores", "cls_attention", "relevance", "cls_attention_layer0"]

    /// Tensors that record a selection's outcome: when the selection differs only by near-ties, a difference
    /// in them follows from those near-ties.
    public static let selectionOutcomes: Set<String> = ["pick_order", "random_mask", "contextual_assignment"]

    /// Every name of both files in pipeline order: the known names first in their stages, then any other
    /// name (after the signals, before `kept_indices`) in file order, the expected file's first.
    public static func pipelineOrder(expected: SafeTensorsFile, actual: SafeTensorsFile) -> [String] {
        let known = inputs + signals + outputs
        let present = Set(expected.tensorNames).union(actual.tensorNames)
        var others: [String] = []
        for name in fileOrder(expected) + fileOrder(actual) where !known.contains(name) && !others.contains(name) {
            others.append(name)
        }
        return (inputs + signals).filter(present.contains) + others + outputs.filter(present.contains)
    }

    /// A file's tensor names in the order of their bytes in the data buffer (the order they were written;
    /// empty tensors, which have no bytes, by name among equal offsets).
    static func fileOrder(_ file: SafeTensorsFile) -> [String] {
        file.tensorNames.sorted {
            let a = file.infos[$0]!.dataOffsets, b = file.infos[$1]!.dataOffsets
            return (a.lowerBound, a.upperBound, $0) < (b.lowerBound, b.upperBound, $1)
        }
    }
}

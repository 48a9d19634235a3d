/// Errors of the TRIM stage and the end-to-end pipeline; one line each, naming the file or value.
public enum TRIMError: Error, CustomStringConvertible, Equatable {
    /// The projector file has no usable projector tensors, or inconsistent ones.
    case invalidProjector(path: String, reason: String)
    /// The projector does not fit the vision tower.
    case projectorMismatch(projectorInput: Int, visionWidth: Int)
    /// An option value outside its domain.
    case invalidOption(String)
    /// A model directory that cannot be used.
    case invalidModel(path: String, reason: String)
    /// A reducer was run without an input it needs (the pipeline was not loaded or encoded for it).
    case missingInput(reducer: String, input: String)

    public var description: String {
        switch self {
        case .invalidProjector(let path, let reason): return "invalid projector \(path): \(reason)"
        case .projectorMismatch(let p, let v):
            return "projector takes \(p)-wide features but the vision tower produces \(v)-wide ones"
        case .invalidOption(let reason): return "invalid option: \(reason)"
        case .invalidModel(let path, let reason): return "invalid model \(path): \(reason)"
        case .missingInput(let reducer, let input):
            return "\(reducer) needs \(input), which this run did not compute (load and encode with the reducer's needs)"
        }
    }
}

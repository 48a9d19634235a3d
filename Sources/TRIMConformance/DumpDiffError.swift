import SafeTensors

/// Why two dumps could not be compared (bad input: the command line exits with 1).
public enum DumpDiffError: Error, CustomStringConvertible, Equatable {
    /// The file at `path` is not a readable safetensors file.
    case notSafeTensors(path: String, reason: String)
    /// A tensor of the file at `path` could not be read (e.g. a U64 value beyond Int64).
    case unreadableTensor(path: String, tensor: String, reason: String)

    /// One line naming the file and what was wrong.
    public var description: String {
        switch self {
        case .notSafeTensors(let path, let reason):
            return "'\(path)' is not a readable safetensors file: \(reason)"
        case .unreadableTensor(let path, let tensor, let reason):
            return "'\(path)': tensor \"\(tensor)\" cannot be read: \(reason)"
        }
    }
}

/// What can go wrong turning a checkpoint directory into a CLIP model. Each description is one line
/// naming the file or tensor and what was expected.
public enum CLIPError: Error, CustomStringConvertible, Equatable {
    /// A file could not be read at all.
    case unreadableFile(path: String, reason: String)
    /// `config.json` is malformed or has an impossible value.
    case invalidConfig(path: String, reason: String)
    /// The checkpoint lacks a tensor the configuration requires.
    case missingTensor(name: String, source: String)
    /// A tensor's shape contradicts the configuration.
    case shapeMismatch(name: String, expected: [Int], found: [Int], source: String)
    /// The checkpoint holds a tensor the configuration says cannot exist (e.g. more encoder layers).
    case unexpectedTensor(name: String, source: String, reason: String)
    /// A tensor could not be loaded (dtype, range, I/O); `reason` is the loader's message.
    case tensorLoadFailed(name: String, reason: String)
    /// Input to a forward pass that the model cannot take.
    case invalidInput(String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason): return "cannot read \(path): \(reason)"
        case .invalidConfig(let path, let reason): return "invalid CLIP config \(path): \(reason)"
        case .missingTensor(let name, let source): return "\(source): missing tensor '\(name)'"
        case .shapeMismatch(let name, let expected, let found, let source):
            return "\(source): tensor '\(name)' has shape \(found), expected \(expected) from config.json"
        case .unexpectedTensor(let name, let source, let reason):
            return "\(source): unexpected tensor '\(name)': \(reason); the weights do not match config.json"
        case .tensorLoadFailed(let name, let reason): return "cannot load tensor '\(name)': \(reason)"
        case .invalidInput(let reason): return "invalid input: \(reason)"
        }
    }
}

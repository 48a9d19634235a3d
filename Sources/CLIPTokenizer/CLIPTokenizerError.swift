/// Why a CLIP vocabulary could not be loaded. Encoding and decoding themselves never fail.
public enum CLIPTokenizerError: Error, CustomStringConvertible, Equatable {
    /// `bpe_simple_vocab_16e6.txt.gz` is in none of the `Weights/` directories searched.
    case bundledVocabularyNotFound(searched: [String])
    /// A file could not be read (missing, unreadable, or larger than `limit` bytes).
    case unreadableFile(path: String, reason: String)
    /// The gzip-compressed OpenAI vocabulary is damaged (`reason` is the decompressor's message).
    case badVocabularyArchive(path: String, reason: String)
    /// A vocabulary or merges file does not have the expected shape.
    case badVocabulary(path: String, reason: String)
    /// Line `line` (1-based) of a merges file is not two space-separated tokens of the vocabulary.
    case badMerge(path: String, line: Int, reason: String)

    /// One line: what is wrong, where (byte offset or file), what was expected.
    public var description: String {
        switch self {
        case .bundledVocabularyNotFound(let searched):
            return "CLIP vocabulary bpe_simple_vocab_16e6.txt.gz not found in \(searched.joined(separator: ", ")); "
                + "set TRIM_WEIGHTS to the directory holding it"
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .badVocabularyArchive(let path, let reason):
            return "\(path) is not a valid gzip file (\(reason)); expected OpenAI's bpe_simple_vocab_16e6.txt.gz"
        case .badVocabulary(let path, let reason):
            return "\(path): \(reason)"
        case .badMerge(let path, let line, let reason):
            return "\(path) line \(line): \(reason); expected two space-separated vocabulary tokens"
        }
    }
}

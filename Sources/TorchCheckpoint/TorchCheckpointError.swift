import SafeTensors

/// Why a PyTorch `.bin` checkpoint (a `torch.save` zip archive), its index, or a checkpoint path could not be
/// read.
///
/// `file` is the file's last path component (or the name given to an in-memory buffer); byte offsets are
/// absolute offsets into that file, or into the archive's `data.pkl` record for pickle faults (`record` says
/// which). Every description is one line: file, where, what was wrong, what was expected.
public enum TorchCheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened, sized or mapped.
    case cannotOpen(file: String, reason: String)
    /// A pre-1.6 `torch.save` file (pickle stream, not a zip archive), which this reader does not read.
    case legacyFormat(file: String)
    /// The zip container is malformed: no end of central directory, entries outside the file, a local header
    /// that contradicts the central directory, overlapping entries, ….
    case invalidZip(file: String, offset: Int, reason: String)
    /// A zip entry this reader refuses: encrypted, or compressed with a method other than stored / deflate.
    case unsupportedEntry(file: String, entry: String, reason: String)
    /// A deflated entry that does not decompress to its declared size and CRC-32.
    case decompressionFailed(file: String, entry: String, reason: String)
    /// The archive lacks a record it needs (`<prefix>/data.pkl`, `<prefix>/data/<key>`).
    case missingRecord(file: String, record: String)
    /// `<prefix>/byteorder` says something other than `little`.
    case unsupportedByteOrder(file: String, byteOrder: String)
    /// The pickle in `record` is malformed or uses something a state dict does not need.
    case invalidPickle(file: String, record: String, offset: Int, reason: String)
    /// The pickle names a global outside the allow-list (it would be imported and called by Python).
    case forbiddenGlobal(file: String, record: String, offset: Int, module: String, name: String)
    /// A tensor whose storage or view does not fit its data.
    case invalidTensor(file: String, tensor: String, reason: String)
    /// No tensor of that name.
    case tensorNotFound(file: String, tensor: String)
    /// The tensor's dtype cannot be converted to what was asked for.
    case unsupportedDType(file: String, tensor: String, dtype: DType, expected: String)
    /// A `pytorch_model.bin.index.json` that is not usable.
    case invalidIndex(file: String, reason: String)
    /// A path that is not a checkpoint file, an index, or a directory holding one.
    case notACheckpoint(path: String, reason: String)

    /// One line: file, where, what was wrong and what was expected.
    public var description: String {
        switch self {
        case .cannotOpen(let f, let reason):
            return "\(f): cannot open: \(reason)"
        case .legacyFormat(let f):
            return "\(f): legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with "
                + "torch.save(torch.load(f), f) from PyTorch ≥ 1.6, or convert it to safetensors"
        case .invalidZip(let f, let offset, let reason):
            return "\(f): not a valid torch.save zip archive: \(reason) (at byte \(offset))"
        case .unsupportedEntry(let f, let entry, let reason):
            return "\(f): zip entry \"\(entry)\": \(reason)"
        case .decompressionFailed(let f, let entry, let reason):
            return "\(f): zip entry \"\(entry)\": \(reason)"
        case .missingRecord(let f, let record):
            return "\(f): archive has no record \"\(record)\", expected one in a torch.save checkpoint"
        case .unsupportedByteOrder(let f, let order):
            return "\(f): byteorder record says \"\(order.prefix(20))\", only \"little\" is supported"
        case .invalidPickle(let f, let record, let offset, let reason):
            return "\(f): \(record) at byte \(offset): \(reason)"
        case .forbiddenGlobal(let f, let record, let offset, let module, let name):
            return "\(f): \(record) at byte \(offset): refusing global \(module.prefix(100)).\(name.prefix(100)) "
                + "(only collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter and "
                + "torch.*Storage may appear in a state dict)"
        case .invalidTensor(let f, let t, let reason):
            return "\(f): tensor \"\(t)\": \(reason)"
        case .tensorNotFound(let f, let t):
            return "\(f): no tensor named \"\(t)\""
        case .unsupportedDType(let f, let t, let d, let expected):
            return "\(f): tensor \"\(t)\" has dtype \(d.rawValue), expected \(expected)"
        case .invalidIndex(let f, let reason):
            return "\(f): invalid pytorch_model.bin index: \(reason)"
        case .notACheckpoint(let p, let reason):
            return "\(p): not a checkpoint: \(reason)"
        }
    }
}

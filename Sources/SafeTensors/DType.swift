/// An element type of the safetensors format, spelled as in the header (`"F32"`, `"BF16"`, …).
public enum DType: String, Sendable, CaseIterable, Comparable {
  /// IEEE 754 binary64.
  case F64
  /// IEEE 754 binary32.
  case F32
  /// IEEE 754 binary16 (half).
  case F16
  /// bfloat16: the top 16 bits of a binary32.
  case BF16
  /// 8-bit float, 4 exponent / 3 mantissa bits (stored and listed, not converted).
  case F8_E4M3
  /// 8-bit float, 5 exponent / 2 mantissa bits (stored and listed, not converted).
  case F8_E5M2
  /// Signed integers.
  case I64, I32, I16, I8
  /// Unsigned integers.
  case U64, U32, U16, U8
  /// One byte per element, 0 or 1.
  case BOOL

  /// Bytes per element.
  public var byteSize: Int {
    switch self {
    case .F64, .I64, .U64: return 8
    case .F32, .I32, .U32: return 4
    case .F16, .BF16, .I16, .U16: return 2
    case .F8_E4M3, .F8_E5M2, .I8, .U8, .BOOL: return 1
    }
  }

  /// Whether `SafeTensorsFile.tensor(_:)` converts this type to Float32.
  public var isConvertibleToFloat: Bool {
    self == .F64 || self == .F32 || self == .F16 || self == .BF16
  }

  /// Whether `SafeTensorsFile.int64s(_:)` converts this type to Int64.
  public var isConvertibleToInt64: Bool {
    switch self {
    case .I64, .I32, .I16, .I8, .U64, .U32, .U16, .U8, .BOOL: return true
    default: return false
    }
  }

  /// Orders by header spelling, for stable listings.
  public static func < (lhs: DType, rhs: DType) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Where one tensor lives in a safetensors file, as declared by its header.
public struct TensorInfo: Sendable, Equatable {
  /// The tensor's key, e.g. `vision_model.embeddings.class_embedding`.
  public var name: String
  /// Element type.
  public var dtype: DType
  /// Extents, outermost first; `[]` for a 0-d (scalar) tensor.
  public var shape: [Int]
  /// Byte range of the elements, relative to the start of the data buffer (just after the header).
  public var dataOffsets: Range<Int>

  /// A description of one tensor.
  public init(name: String, dtype: DType, shape: [Int], dataOffsets: Range<Int>) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.dataOffsets = dataOffsets
  }

  /// Number of elements (1 for a 0-d tensor). Validated not to overflow when read from a file.
  public var elementCount: Int { shape.reduce(1, *) }

  /// Number of bytes of the elements.
  public var byteCount: Int { dataOffsets.count }
}

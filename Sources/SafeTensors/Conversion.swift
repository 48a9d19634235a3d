// Element conversions from the file's little-endian bytes to Float32 / Int64.
//
// These loops run over whole checkpoints (1.7 GB for CLIP ViT-L/14-336 in F32, half that in F16), so each is
// a straight loop over `count` elements with no branches that the vectorizer cannot turn into selects.
// Sources are read with `loadUnaligned`: data offsets in a safetensors file need not be aligned.

import TRIMTensor

#if _endian(big)
  #error("SafeTensors assumes a little-endian host, like the format itself")
#endif

/// Converts `count` elements of `dtype` at `src` to Float32 into `dst`.
/// - Precondition: `dtype.isConvertibleToFloat`; `src` holds `count * dtype.byteSize` bytes.
public func convertToFloat(
  _ dtype: DType, from src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int
) {
  switch dtype {
  case .F32:
    dst.withMemoryRebound(to: UInt8.self, capacity: count * 4) {
      $0.update(from: src.assumingMemoryBound(to: UInt8.self), count: count * 4)
    }
  case .F16:
    for i in 0..<count {
      dst[i] = HalfPrecision.float(fromHalfBits: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
    }
  case .BF16:
    for i in 0..<count {
      dst[i] = HalfPrecision.float(fromBFloat16Bits: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
    }
  case .F64:
    // Round to nearest, like torch's `.float()`.
    for i in 0..<count {
      dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self))
    }
  default:
    preconditionFailure("convertToFloat: \(dtype) is not a float dtype")
  }
}

/// Converts `count` elements of integer/bool `dtype` at `src` to Int64 into `dst`.
/// Returns the index of the first U64 element above `Int64.max` (nothing is converted after it), or nil.
/// - Precondition: `dtype.isConvertibleToInt64`; `src` holds `count * dtype.byteSize` bytes.
public func convertToInt64(
  _ dtype: DType, from src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Int64>, count: Int
)
  -> Int?
{
  switch dtype {
  case .I64:
    dst.withMemoryRebound(to: UInt8.self, capacity: count * 8) {
      $0.update(from: src.assumingMemoryBound(to: UInt8.self), count: count * 8)
    }
  case .I32:
    for i in 0..<count { dst[i] = Int64(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
  case .I16:
    for i in 0..<count { dst[i] = Int64(src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
  case .I8: for i in 0..<count { dst[i] = Int64(src.load(fromByteOffset: i, as: Int8.self)) }
  case .U32:
    for i in 0..<count { dst[i] = Int64(src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
  case .U16:
    for i in 0..<count { dst[i] = Int64(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
  case .U8: for i in 0..<count { dst[i] = Int64(src.load(fromByteOffset: i, as: UInt8.self)) }
  case .BOOL:
    for i in 0..<count { dst[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
  case .U64:
    for i in 0..<count {
      let v = src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
      guard v <= UInt64(Int64.max) else { return i }
      dst[i] = Int64(v)
    }
  default:
    preconditionFailure("convertToInt64: \(dtype) is not an integer dtype")
  }
  return nil
}

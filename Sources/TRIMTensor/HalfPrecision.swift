// Exact widening of the two 16-bit float formats checkpoints use, one value at a time. The safetensors
// loader converts whole tensors with these; the GEMM widens 16-bit weights with vector instructions
// where it can (see `WeightStorage`) and with these where it cannot.

/// Scalar F16 / BF16 → Float conversions.
public enum HalfPrecision {
    /// Half → float by bit manipulation, exact for every one of the 65 536 inputs:
    /// - normal numbers: rebias the exponent (15 → 127) by adding 112 << 23 to the shifted bits;
    /// - exponent 31 (±inf, NaN): force an all-ones exponent, keeping the payload (and the quiet bit, 0x200 → 0x400000);
    /// - zero and subnormals: the 10-bit mantissa m is m · 2⁻²⁴, computed exactly in Float arithmetic.
    /// All three candidates are computed and one is selected, so a loop over this has no branches.
    @inlinable @inline(__always)
    public static func float(fromHalfBits h: UInt16) -> Float {
        let bits = UInt32(h)
        let sign = (bits & 0x8000) << 16
        let magnitude = bits & 0x7FFF
        let normal = (magnitude << 13) &+ 0x3800_0000
        let special = (magnitude << 13) | 0x7F80_0000
        let subnormal = (Float(Int32(bitPattern: magnitude)) * 0x1p-24).bitPattern
        let chosen = magnitude >= 0x7C00 ? special : (magnitude < 0x0400 ? subnormal : normal)
        return Float(bitPattern: chosen | sign)
    }

    /// bfloat16 → float: the 16 bits are the top half of the binary32 pattern (exact, NaN payloads kept).
    @inlinable @inline(__always)
    public static func float(fromBFloat16Bits h: UInt16) -> Float {
        Float(bitPattern: UInt32(h) << 16)
    }
}

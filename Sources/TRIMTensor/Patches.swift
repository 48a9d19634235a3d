/// Cuts a channel-first image into non-overlapping square patches, one row per patch — the "im2col"
/// that turns a stride-`patch` convolution (CLIP's `patch_embedding`, no bias) into one matrix product.
///
/// Patches are ordered row by row (top-left first), as the convolution's output `[D, H/p, W/p]`
/// flattened to `[(H/p)·(W/p), D]`. Within a patch the values are ordered `(channel, y, x)`, matching
/// a conv weight `[D, C, p, p]` flattened to `[D, C·p·p]`. Trailing pixels that do not fill a whole
/// patch are dropped, as the convolution does.
///
/// - Parameters:
///   - image: `[C, H, W]`.
///   - patch: patch side `p` (CLIP ViT-L/14: 14).
/// - Returns: `[(H/p)·(W/p), C·p·p]`.
public func patchify(_ image: Tensor, patch p: Int) -> Tensor {
    precondition(image.rank == 3 && p > 0, "patchify: expected [C, H, W] and patch > 0, got \(image.shape)")
    let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
    let gh = h / p, gw = w / p
    let cols = c * p * p
    var out = [Float](repeating: 0, count: gh * gw * cols)
    image.scalars.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for py in 0..<gh {
                for px in 0..<gw {
                    var o = (py * gw + px) * cols
                    for ch in 0..<c {
                        for y in 0..<p {
                            let rowStart = ch * h * w + (py * p + y) * w + px * p
                            for x in 0..<p { dst[o] = src[rowStart + x]; o += 1 }
                        }
                    }
                }
            }
        }
    }
    return Tensor(shape: [gh * gw, cols], scalars: out)
}

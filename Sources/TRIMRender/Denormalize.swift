import TRIMImage
import TRIMTensor

/// Undoes normalisation for display: `pixel_values [3, H, W]` → an RGB image with
/// `round((x·std + mean)·255)` clamped to 0…255. Used to draw heat maps over what the model saw.
public func denormalizedImage(_ pixelValues: Tensor, config: PreprocessorConfig) -> RGBImage {
    precondition(pixelValues.rank == 3 && pixelValues.shape[0] == 3, "denormalizedImage: expected [3, H, W]")
    let h = pixelValues.shape[1], w = pixelValues.shape[2]
    var out = [UInt8](repeating: 0, count: h * w * 3)
    for c in 0..<3 {
        let mean = config.doNormalize ? Float(config.imageMean[c]) : 0
        let std = config.doNormalize ? Float(config.imageStd[c]) : 1
        let scale: Float = config.doRescale ? 1 / Float(config.rescaleFactor) : 1
        for i in 0..<(h * w) {
            let v = ((pixelValues.scalars[c * h * w + i] * std + mean) * scale).rounded()
            out[i * 3 + c] = UInt8(max(0, min(255, v)))
        }
    }
    return RGBImage(width: w, height: h, pixels: out)
}

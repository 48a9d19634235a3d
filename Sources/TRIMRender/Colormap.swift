import TRIMImage

/// An 8-bit sRGB colour.
public struct RGBColor: Sendable, Equatable {
    /// Red, 0…255.
    public var r: UInt8
    /// Green, 0…255.
    public var g: UInt8
    /// Blue, 0…255.
    public var b: UInt8

    /// A colour from its three channels.
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// `self` mixed with `other`: `(1 - alpha) · self + alpha · other` per channel, rounded.
    /// `alpha` is clamped to [0, 1].
    public func blended(with other: RGBColor, alpha: Float) -> RGBColor {
        let a = alpha.isNaN ? 0 : min(max(alpha, 0), 1)
        func mix(_ x: UInt8, _ y: UInt8) -> UInt8 {
            UInt8((Float(x) * (1 - a) + Float(y) * a).rounded())
        }
        return RGBColor(mix(r, other.r), mix(g, other.g), mix(b, other.b))
    }
}

/// Perceptually uniform colour maps.
public enum Colormap {
    /// Matplotlib's *inferno* (black → purple → red → orange → pale yellow), sampled at
    /// t = 0, 0.1, …, 1 and rounded to 8 bits. Lightness rises monotonically, so order is readable
    /// even in grey scale, and it contains no greens or cyans, which keeps a cyan outline distinct.
    static let infernoSamples: [RGBColor] = [
        RGBColor(0, 0, 4),
        RGBColor(22, 11, 57),
        RGBColor(66, 10, 104),
        RGBColor(106, 23, 110),
        RGBColor(147, 38, 103),
        RGBColor(188, 55, 84),
        RGBColor(221, 81, 58),
        RGBColor(243, 120, 25),
        RGBColor(252, 165, 10),
        RGBColor(246, 215, 70),
        RGBColor(252, 255, 164),
    ]

    /// The *inferno* colour at `t` ∈ [0, 1] (clamped; NaN → 0), linearly interpolated between the
    /// 11 stored samples.
    public static func inferno(_ t: Float) -> RGBColor {
        let samples = infernoSamples
        let clamped = t.isNaN ? 0 : min(max(t, 0), 1)
        let position = clamped * Float(samples.count - 1)
        let lower = min(Int(position), samples.count - 2)
        return samples[lower].blended(with: samples[lower + 1], alpha: position - Float(lower))
    }
}

import TRIMImage

/// Minimal raster drawing on `RGBImage`: every primitive clips to the image, so callers can draw
/// partly off-canvas without checking bounds.
extension RGBImage {
    /// The pixel ranges of the rectangle (`x`, `y`, `width`, `height`) that lie inside the image.
    func clipped(x: Int, y: Int, width: Int, height: Int) -> (xs: Range<Int>, ys: Range<Int>)? {
        let x0 = max(x, 0)
        let y0 = max(y, 0)
        let x1 = min(x + max(width, 0), self.width)
        let y1 = min(y + max(height, 0), self.height)
        guard x0 < x1, y0 < y1 else { return nil }
        return (x0..<x1, y0..<y1)
    }

    /// The colour of the pixel at column `x`, row `y` (must be inside the image).
    func pixel(x: Int, y: Int) -> RGBColor {
        let i = (y * width + x) * 3
        return RGBColor(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Paints the rectangle (`x`, `y`, `width`, `height`) with `color`.
    mutating func fillRect(x: Int, y: Int, width: Int, height: Int, color: RGBColor) {
        guard let (xs, ys) = clipped(x: x, y: y, width: width, height: height) else { return }
        for row in ys {
            var i = (row * self.width + xs.lowerBound) * 3
            for _ in xs {
                pixels[i] = color.r
                pixels[i + 1] = color.g
                pixels[i + 2] = color.b
                i += 3
            }
        }
    }

    /// Mixes `color` into the rectangle with opacity `alpha` (0 = unchanged, 1 = opaque).
    mutating func blendRect(x: Int, y: Int, width: Int, height: Int, color: RGBColor, alpha: Float) {
        guard let (xs, ys) = clipped(x: x, y: y, width: width, height: height) else { return }
        for row in ys {
            for column in xs {
                let mixed = pixel(x: column, y: row).blended(with: color, alpha: alpha)
                let i = (row * self.width + column) * 3
                pixels[i] = mixed.r
                pixels[i + 1] = mixed.g
                pixels[i + 2] = mixed.b
            }
        }
    }

    /// Draws the border of the rectangle, `thickness` pixels wide, inside its bounds.
    mutating func strokeRect(x: Int, y: Int, width: Int, height: Int, thickness: Int, color: RGBColor) {
        let t = min(thickness, width, height)
        guard t > 0 else { return }
        fillRect(x: x, y: y, width: width, height: t, color: color)  // top
        fillRect(x: x, y: y + height - t, width: width, height: t, color: color)  // bottom
        fillRect(x: x, y: y, width: t, height: height, color: color)  // left
        fillRect(x: x + width - t, y: y, width: t, height: height, color: color)  // right
    }

    /// Copies `image` magnified `factor`× by nearest neighbour, its top-left corner at (`x`, `y`).
    mutating func drawUpscaled(_ image: RGBImage, x: Int, y: Int, factor: Int) {
        for sy in 0..<image.height {
            for sx in 0..<image.width {
                fillRect(
                    x: x + sx * factor, y: y + sy * factor, width: factor, height: factor,
                    color: image.pixel(x: sx, y: sy))
            }
        }
    }
}

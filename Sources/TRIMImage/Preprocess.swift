import Foundation
import TRIMJSON
import TRIMTensor

/// LLaVA-1.5 / CLIP image preprocessing (SEMANTICS.md §1 steps 1–2), reproducing
/// LLaVA's `expand2square` followed by Hugging Face's `CLIPImageProcessor` (PIL backend,
/// `CLIPImageProcessorPil` in transformers ≥ 5):
///
/// 1. **Pad to square** (optional): paste the image onto a `max(w, h)` square filled with
///    `int(mean · 255)` per channel, centred along the short side (offset `(long - short) // 2`).
/// 2. **Resize** with Pillow (`BICUBIC` by default): shortest edge → `size`, long edge →
///    `int(size · long / short)`; no-op if the size is unchanged.
/// 3. **Center crop** to `crop_size`: `top = (h - crop_h) // 2`, `left = (w - crop_w) // 2`; an axis
///    shorter than the crop is zero-padded first, placed at `ceil((crop - size) / 2)`.
/// 4. **Rescale**: `Float32(Float64(x) · rescale_factor)`.
/// 5. **Normalize**: `(x - mean) / std` in Float32, per channel.
///
/// The result is channel-first `[3, H, W]` Float32.
/// - Throws: `PreprocessError.imageTooLarge` when the padded or resized image would exceed
///   `ImageLimits.maxPixels` (an extreme aspect ratio), instead of trying to allocate it.
public func pixelValues(for image: RGBImage, config: PreprocessorConfig = PreprocessorConfig(), padToSquare: Bool = true)
    throws(PreprocessError) -> Tensor
{
    let cropped = try preprocessedImage(for: image, config: config, padToSquare: padToSquare)
    return normalizedPixelValues(cropped, config: config)
}

/// Steps 1–3 of `pixelValues(for:config:padToSquare:)`: the padded, resized and cropped 8-bit image
/// (`[H, W, 3]`) that HF's processor rescales and normalizes. Bit-exact with Pillow + HF.
public func preprocessedImage(for image: RGBImage, config: PreprocessorConfig = PreprocessorConfig(), padToSquare: Bool = true)
    throws(PreprocessError) -> RGBImage
{
    var image = image
    if padToSquare {
        let side = max(image.width, image.height)
        guard side.multipliedReportingOverflow(by: side).partialValue <= ImageLimits.maxPixels, side <= 1 << 31 else {
            throw .imageTooLarge(step: "pad to square", width: side, height: side)
        }
        image = expandToSquare(image, background: config.padColor)
    }
    if config.doResize {
        let (height, width) = config.resizedSize(height: image.height, width: image.width)
        guard width >= 1, height >= 1, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw .imageTooLarge(step: "resize", width: width, height: height)
        }
        // With a center crop to follow, only the crop window of the resized image is computed (identical
        // bytes, less work); along an axis shorter than the crop the whole axis is kept and padded below.
        var columns = 0..<width
        var rows = 0..<height
        if config.doCenterCrop {
            if width > config.cropWidth { columns = (width - config.cropWidth) / 2..<((width - config.cropWidth) / 2 + config.cropWidth) }
            if height > config.cropHeight { rows = (height - config.cropHeight) / 2..<((height - config.cropHeight) / 2 + config.cropHeight) }
        }
        let (pixels, overflow) = columns.count.multipliedReportingOverflow(by: rows.count)
        guard !overflow, pixels <= ImageLimits.maxPixels else {
            throw .imageTooLarge(step: "resize", width: width, height: height)
        }
        image = Resample.resize(image, width: width, height: height, filter: config.resample, columns: columns, rows: rows)
    }
    if config.doCenterCrop {
        image = centerCrop(image, height: config.cropHeight, width: config.cropWidth)
    }
    return image
}

/// Steps 4–5: `[H, W, 3]` bytes → `[3, H, W]` Float32, rescaled and normalized as the config says.
public func normalizedPixelValues(_ image: RGBImage, config: PreprocessorConfig = PreprocessorConfig()) -> Tensor {
    let plane = image.width * image.height
    var out = [Float](repeating: 0, count: 3 * plane)
    for c in 0..<3 {
        // All 256 possible results for this channel, computed with HF's dtype flow:
        // uint8 → float64 · factor → float32, then float32 (x - mean) / std.
        var table = [Float](repeating: 0, count: 256)
        let mean = Float(config.imageMean[c])
        let std = Float(config.imageStd[c])
        for v in 0..<256 {
            var x = config.doRescale ? Float(Double(v) * config.rescaleFactor) : Float(v)
            if config.doNormalize { x = (x - mean) / std }
            table[v] = x
        }
        for i in 0..<plane {
            out[c * plane + i] = table[Int(image.pixels[i * 3 + c])]
        }
    }
    return Tensor(shape: [3, image.height, image.width], scalars: out)
}

/// LLaVA's `expand2square`: `image` centred on a square canvas of side `max(w, h)` filled with
/// `background`; offset `(0, (w - h) // 2)` if wider, `((h - w) // 2, 0)` if taller; unchanged if square.
public func expandToSquare(_ image: RGBImage, background: (r: UInt8, g: UInt8, b: UInt8)) -> RGBImage {
    if image.width == image.height { return image }
    let side = max(image.width, image.height)
    let left = (side - image.width) / 2
    let top = (side - image.height) / 2
    let rowBytes = image.width * 3
    let sideBytes = side * 3
    var backgroundRow = [UInt8](repeating: 0, count: sideBytes)
    for x in 0..<side { backgroundRow[3 * x] = background.r; backgroundRow[3 * x + 1] = background.g; backgroundRow[3 * x + 2] = background.b }
    var canvas = [UInt8](repeating: 0, count: side * sideBytes)
    canvas.withUnsafeMutableBytes { dst in
        backgroundRow.withUnsafeBytes { bg in
            image.pixels.withUnsafeBytes { src in
                // Row by row: background, then (inside the image band) the image row over it.
                for y in 0..<side {
                    let row = dst.baseAddress! + y * sideBytes
                    row.copyMemory(from: bg.baseAddress!, byteCount: sideBytes)
                    let iy = y - top
                    if iy >= 0 && iy < image.height {
                        (row + left * 3).copyMemory(from: src.baseAddress! + iy * rowBytes, byteCount: rowBytes)
                    }
                }
            }
        }
    }
    return RGBImage(width: side, height: side, pixels: canvas)
}

/// HF's `center_crop`: the `height × width` window at `top = (h - height) // 2`,
/// `left = (w - width) // 2` (floor division). Along an axis where the image is smaller than the
/// window, the image is first zero-padded to the window size with `ceil((window - size) / 2)` before it.
public func centerCrop(_ image: RGBImage, height: Int, width: Int) -> RGBImage {
    precondition(height >= 1 && width >= 1, "centerCrop: crop size \(width)×\(height) must be ≥ 1×1")
    // Offset of the window in image coordinates (may be negative where the image gets padded).
    func origin(_ size: Int, _ window: Int) -> Int {
        size >= window ? (size - window) / 2 : -((window - size + 1) / 2)
    }
    let top = origin(image.height, height)
    let left = origin(image.width, width)
    if top == 0 && left == 0 && height == image.height && width == image.width { return image }
    var out = [UInt8](repeating: 0, count: height * width * 3)
    for y in 0..<height {
        let sy = top + y
        guard sy >= 0 && sy < image.height else { continue }
        let x0 = max(0, -left)
        let x1 = min(width, image.width - left)
        guard x0 < x1 else { continue }
        let src = (sy * image.width + left + x0) * 3
        let dst = (y * width + x0) * 3
        out.replaceSubrange(dst..<(dst + (x1 - x0) * 3), with: image.pixels[src..<(src + (x1 - x0) * 3)])
    }
    return RGBImage(width: width, height: height, pixels: out)
}

/// The settings of a Hugging Face `preprocessor_config.json` that `pixelValues` uses.
/// The defaults are OpenAI CLIP ViT-L/14-336's (as LLaVA-1.5 uses it).
public struct PreprocessorConfig: Sendable, Equatable {
    /// How the resize target is chosen.
    public enum Size: Sendable, Equatable {
        /// `{"shortest_edge": n}` (or a bare int): short side → n, long side → `int(n · long / short)`.
        case shortestEdge(Int)
        /// `{"height": h, "width": w}`: resize to exactly `h × w`.
        case exact(height: Int, width: Int)
    }

    /// Resize target (`size`).
    public var size: Size = .shortestEdge(336)
    /// Center-crop height in pixels (`crop_size.height`).
    public var cropHeight = 336
    /// Center-crop width in pixels (`crop_size.width`).
    public var cropWidth = 336
    /// Per-channel RGB mean (`image_mean`), in [0, 1] units; also sets the square-padding colour.
    public var imageMean: [Double] = [0.48145466, 0.4578275, 0.40821073]
    /// Per-channel RGB standard deviation (`image_std`), in [0, 1] units.
    public var imageStd: [Double] = [0.26862954, 0.26130258, 0.27577711]
    /// `do_resize`.
    public var doResize = true
    /// `do_center_crop`.
    public var doCenterCrop = true
    /// `do_rescale`.
    public var doRescale = true
    /// `do_normalize`.
    public var doNormalize = true
    /// `rescale_factor`: multiplier from bytes to [0, 1].
    public var rescaleFactor = 1.0 / 255.0
    /// `resample`: the Pillow filter used by the resize.
    public var resample: Resample.Filter = .bicubic

    /// The CLIP ViT-L/14-336 defaults.
    public init() {}

    /// The defaults with another square size: shortest edge and crop both `size` (e.g. 224 for ViT-B/16).
    public init(size: Int) {
        self.size = .shortestEdge(size)
        cropHeight = size
        cropWidth = size
    }

    /// LLaVA's padding colour: `tuple(int(x * 255) for x in image_mean)`.
    public var padColor: (r: UInt8, g: UInt8, b: UInt8) {
        func byte(_ m: Double) -> UInt8 { UInt8(clamping: Int(max(0, min(255, m * 255)))) }
        return (byte(imageMean[0]), byte(imageMean[1]), byte(imageMean[2]))
    }

    /// The `(height, width)` HF's resize produces for an input of `height × width`
    /// (`get_resize_output_image_size` with `default_to_square=False`).
    public func resizedSize(height: Int, width: Int) -> (height: Int, width: Int) {
        switch size {
        case .exact(let h, let w):
            return (h, w)
        case .shortestEdge(let edge):
            let (short, long) = width <= height ? (width, height) : (height, width)
            // Python: int(size * long / short) — true division in float64, then truncation.
            let newLong = Int(Double(edge * long) / Double(short))
            return width <= height ? (newLong, edge) : (edge, newLong)
        }
    }
}

/// Why an image could not be preprocessed.
public enum PreprocessError: Error, CustomStringConvertible, Equatable {
    /// An intermediate image (after `step`) would have more than `ImageLimits.maxPixels` pixels.
    case imageTooLarge(step: String, width: Int, height: Int)

    /// One line saying what was wrong, where, and what was expected.
    public var description: String {
        switch self {
        case .imageTooLarge(let step, let width, let height):
            return "image too large to preprocess: \(step) would make \(width)×\(height) pixels, "
                + "more than the limit of \(ImageLimits.maxPixels); use a less extreme aspect ratio"
        }
    }
}

/// Why a `preprocessor_config.json` could not be used.
public enum PreprocessorConfigError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// The file is not valid JSON (`reason` from the parser).
    case invalidJSON(path: String, reason: String)
    /// A key has a value of the wrong type or out of range.
    case badValue(path: String, key: String, expected: String)

    /// One line saying what was wrong, where, and what was expected.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read preprocessor config \(path): \(reason)"
        case .invalidJSON(let path, let reason):
            return "preprocessor config \(path) is not valid JSON: \(reason)"
        case .badValue(let path, let key, let expected):
            return "preprocessor config \(path): \"\(key)\" must be \(expected)"
        }
    }
}

extension PreprocessorConfig {
    /// The largest `size` / `crop_size` edge accepted from a config file.
    public static let maxEdge = 16_384

    /// Reads a Hugging Face `preprocessor_config.json` (`CLIPImageProcessor`).
    ///
    /// Accepted forms: `"size": {"shortest_edge": n}`, `{"height": h, "width": w}` or a bare int
    /// (= shortest edge); `"crop_size": {"height": h, "width": w}` or a bare int; `image_mean` /
    /// `image_std` as 3 numbers or one; `resample` 0 (NEAREST), 2 (BILINEAR) or 3 (BICUBIC); `rescale_factor`;
    /// `do_resize`, `do_center_crop`, `do_rescale`, `do_normalize`. A missing key takes the value
    /// `CLIPImageProcessor` itself would use (size and crop 224, OpenAI CLIP mean/std, BICUBIC, 1/255,
    /// all steps on), so the result matches `CLIPImageProcessor.from_pretrained` on the same file.
    public init(contentsOf url: URL) throws(PreprocessorConfigError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw .unreadable(path: url.path, reason: error.localizedDescription)
        }
        try self.init(json: [UInt8](data), path: url.path)
    }

    /// Parses the bytes of a `preprocessor_config.json`; `path` is only used in error messages.
    public init(json bytes: [UInt8], path: String = "preprocessor_config.json") throws(PreprocessorConfigError) {
        let root: JSONValue
        do { root = try JSON.parse(bytes) } catch { throw .invalidJSON(path: path, reason: error.description) }
        guard root.objectValue != nil else { throw .badValue(path: path, key: "(root)", expected: "a JSON object") }
        self.init(size: 224)

        func edge(_ v: JSONValue?, _ key: String) throws(PreprocessorConfigError) -> Int {
            guard let n = v?.intValue, n >= 1, n <= Self.maxEdge else {
                throw .badValue(path: path, key: key, expected: "an integer in 1...\(Self.maxEdge)")
            }
            return n
        }
        func flag(_ key: String, _ current: Bool) throws(PreprocessorConfigError) -> Bool {
            guard let v = root[key], !v.isNull else { return current }
            guard let b = v.boolValue else { throw .badValue(path: path, key: key, expected: "true or false") }
            return b
        }
        func triple(_ key: String, _ current: [Double], positive: Bool) throws(PreprocessorConfigError) -> [Double] {
            guard let v = root[key], !v.isNull else { return current }
            let values: [Double]? = v.doubleValue.map { [$0, $0, $0] } ?? v.arrayValue.flatMap { a in
                a.count == 3 ? a.compactMap(\.doubleValue) : nil
            }
            guard let values, values.count == 3, values.allSatisfy({ $0.isFinite && (!positive || $0 > 0) }) else {
                throw .badValue(path: path, key: key, expected: positive ? "3 positive numbers" : "3 numbers")
            }
            return values
        }

        if let size = root["size"], !size.isNull {
            if size.intValue != nil {
                self.size = .shortestEdge(try edge(size, "size"))
            } else if let e = size["shortest_edge"], !e.isNull, size["longest_edge"]?.isNull ?? true {
                self.size = .shortestEdge(try edge(e, "size.shortest_edge"))
            } else if size["height"] != nil || size["width"] != nil {
                self.size = .exact(height: try edge(size["height"], "size.height"), width: try edge(size["width"], "size.width"))
            } else {
                throw .badValue(path: path, key: "size", expected: "an int, {\"shortest_edge\": n} or {\"height\": h, \"width\": w}")
            }
        }
        if let crop = root["crop_size"], !crop.isNull {
            if crop.intValue != nil {
                cropHeight = try edge(crop, "crop_size")
                cropWidth = cropHeight
            } else {
                cropHeight = try edge(crop["height"], "crop_size.height")
                cropWidth = try edge(crop["width"], "crop_size.width")
            }
        }
        imageMean = try triple("image_mean", imageMean, positive: false)
        imageStd = try triple("image_std", imageStd, positive: true)
        if let r = root["resample"], !r.isNull {
            switch r.intValue {
            case 0: resample = .nearest
            case 2: resample = .bilinear
            case 3: resample = .bicubic
            default: throw .badValue(path: path, key: "resample", expected: "0 (NEAREST), 2 (BILINEAR) or 3 (BICUBIC)")
            }
        }
        if let f = root["rescale_factor"], !f.isNull {
            guard let d = f.doubleValue, d.isFinite else {
                throw .badValue(path: path, key: "rescale_factor", expected: "a number")
            }
            rescaleFactor = d
        }
        doResize = try flag("do_resize", doResize)
        doCenterCrop = try flag("do_center_crop", doCenterCrop)
        doRescale = try flag("do_rescale", doRescale)
        doNormalize = try flag("do_normalize", doNormalize)
    }
}

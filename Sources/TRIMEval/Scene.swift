import Foundation
import TRIM
import TRIMImage

// The demo world of `trim eval` (Docs/EVAL.md), drawn by a renderer of its own (independent of the Pillow one the demo
// model was trained on, Tests/Training/scenes.py): coloured shapes on muted backgrounds, each with a
// pixel mask, so that what a reducer keeps can be scored against where the prompted object really is.

/// A shape of the demo world.
public enum SceneShape: String, Sendable, CaseIterable, Codable {
    /// A filled circle (prompts also say "circle").
    case ball
    /// A filled, axis-aligned square (prompts also say "box").
    case square
    /// A filled triangle pointing up.
    case triangle
    /// A filled five-pointed star, one point up.
    case star
}

/// A colour of the demo world (saturated).
public enum SceneColour: String, Sendable, CaseIterable, Codable {
    case red, green, blue, yellow, white, black

    /// The saturated RGB value this renderer draws (before jitter).
    var rgb: (Double, Double, Double) {
        switch self {
        case .red: return (235, 20, 25)
        case .green: return (20, 200, 60)
        case .blue: return (25, 40, 235)
        case .yellow: return (250, 230, 0)
        case .white: return (255, 255, 255)
        case .black: return (0, 0, 0)
        }
    }
}

/// One object of a scene: what it is, and its coverage of every pixel of the image.
public struct SceneObject: Sendable {
    /// Its colour.
    public var colour: SceneColour?
    /// Its shape.
    public var shape: SceneShape?
    /// Coverage of each image pixel, `[height · width]` row-major, 0 (outside) … 255 (inside).
    public var mask: [UInt8]

    /// "red ball", or "object" when the scene file names neither.
    public var name: String {
        [colour?.rawValue, shape?.rawValue].compactMap { $0 }.joined(separator: " ").nonEmpty ?? "object"
    }

    /// An object with a mask (`[height · width]`, 0…255).
    public init(colour: SceneColour?, shape: SceneShape?, mask: [UInt8]) {
        self.colour = colour
        self.shape = shape
        self.mask = mask
    }
}

/// A prompt about one object of a scene.
public struct ScenePrompt: Sendable {
    /// The text given to the reducer.
    public var text: String
    /// Index of the object it names, in `Scene.objects`.
    public var object: Int

    /// A prompt naming object `object`.
    public init(text: String, object: Int) {
        self.text = text
        self.object = object
    }
}

/// An image, its objects' masks and the prompts to ask about it.
public struct Scene: Sendable {
    /// An identifier (file stem or `scene-<seed>`).
    public var name: String
    /// The picture.
    public var image: RGBImage
    /// Its objects, each with a pixel mask of the image's size.
    public var objects: [SceneObject]
    /// The prompts, each naming one object.
    public var prompts: [ScenePrompt]

    /// A scene from its parts.
    public init(name: String, image: RGBImage, objects: [SceneObject], prompts: [ScenePrompt]) {
        self.name = name
        self.image = image
        self.objects = objects
        self.prompts = prompts
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}

/// The scenes' random numbers: TRIM's `SplitMix64` with the draws the renderer needs; a seed fixes every scene.
public struct SceneRandom: Sendable {
    private var generator: SplitMix64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 { generator.next() }

    /// Uniform in `[lo, hi)`.
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * Double(next() >> 11) / Double(1 << 53)
    }

    /// Uniform integer in `0..<n` (n > 0).
    public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    /// A standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u = max(uniform(0, 1), 1e-300), v = uniform(0, 1)
        return (-2 * Foundation.log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// A random element of a non-empty array.
    public mutating func pick<T>(_ xs: [T]) -> T { xs[int(xs.count)] }
}

/// Draws random scenes of the demo world.
///
/// Each scene: an image of random size (160…640 px a side, aspect up to 2 : 1, a fifth of them square),
/// one of the four backgrounds (plain muted colour; vertical or horizontal linear gradient between two
/// muted colours; a muted colour with Gaussian noise; a two-tone split with a vertical or horizontal cut),
/// and 1–4 non-overlapping objects whose size is 13–30 % of the image's shorter side, chosen so that
/// distractors sharing the colour or the shape of another object are common. Edges are anti-aliased with
/// 4 × 4 supersampling; masks hold the same coverage. Prompts use templates of their own, including forms
/// the demo model never saw in training.
public enum SceneGenerator {
    /// The prompt templates: `{c}` colour, `{s}` shape word (ball/circle, square/box, triangle, star).
    public static let templates = [
        "Where is the {c} {s}?",
        "Is there a {c} {s} in the picture?",
        "the {c} {s}",
        "What is next to the {c} {s}?",
        "Describe the {c} {s}.",
        "Can you find the {c} {s} for me?",
        "Please highlight the {c} {s}.",
        "what about the {c} {s}",
        "I am looking for a {c} {s}.",
        "Which part of the image shows the {c} {s}?",
    ]

    /// The words a prompt may use for a shape.
    public static func words(for shape: SceneShape) -> [String] {
        switch shape {
        case .ball: return ["ball", "circle"]
        case .square: return ["square", "box"]
        case .triangle: return ["triangle"]
        case .star: return ["star"]
        }
    }

    /// A prompt naming `colour` and `shape` with a random template and shape word.
    public static func prompt(_ colour: SceneColour, _ shape: SceneShape, rng: inout SceneRandom) -> String {
        rng.pick(templates).replacingOccurrences(of: "{c}", with: colour.rawValue)
            .replacingOccurrences(of: "{s}", with: rng.pick(words(for: shape)))
    }

    /// The scene for `seed`: one prompt per object.
    public static func scene(seed: UInt64) -> Scene {
        var rng = SceneRandom(seed: seed)
        let width: Int, height: Int
        if rng.uniform(0, 1) < 0.2 {
            width = 160 + rng.int(481)
            height = width
        } else {
            let aspect = exp(rng.uniform(log(0.5), log(2.0)))
            let side = rng.uniform(200, 600)
            width = max(160, min(640, Int(side * aspect.squareRoot())))
            height = max(160, min(640, Int(side / aspect.squareRoot())))
        }
        var canvas = background(width, height, rng: &rng)

        // Objects: 1–4 distinct colour–shape pairs, often sharing a colour or a shape with another.
        let short = Double(min(width, height))
        return populate(&canvas, name: "scene-\(seed)", count: 1 + rng.int(4), rng: &rng) { $0.uniform(0.13, 0.30) * short }
    }

    /// The first seed of `trim eval --anyres`'s high-resolution scenes (scene i is this + i).
    public static let highResolutionSeed = 2_000_000

    /// The high-resolution scene for `seed` (`trim eval --anyres`): a large canvas with small objects, where
    /// LLaVA-NeXT's tiles see what one 336-pixel view cannot.
    ///
    /// Three in four are wide — 1008…1600 px wide, aspect 2 : 1 … 3 : 1 — and one in four tall (the same sizes
    /// turned), so any-resolution input cuts them into 1 × 2, 1 × 3, 2 × 1 or 3 × 1 tiles. The background is one
    /// of the four of `scene(seed:)`; 2–6 non-overlapping objects, each 16–48 px across (a ball's diameter, a
    /// square's side), chosen as in `scene(seed:)` (distractors sharing a colour or a shape 60 % of the time);
    /// one prompt per object. Masks as in `scene(seed:)`.
    public static func highResolutionScene(seed: UInt64) -> Scene {
        var rng = SceneRandom(seed: seed)
        let long = 1008 + rng.int(593), aspect = rng.uniform(2, 3)
        let short = max(1, Int((Double(long) / aspect).rounded()))
        let (width, height) = rng.uniform(0, 1) < 0.25 ? (short, long) : (long, short)
        var canvas = background(width, height, rng: &rng)
        return populate(&canvas, name: "hires-\(seed)", count: 2 + rng.int(5), rng: &rng) { $0.uniform(16, 48) }
    }

    /// Draws `count` distinct colour–shape pairs (often sharing a colour or a shape with another) of sizes
    /// `size` (across, in pixels) on `canvas` without overlap, and asks one prompt per object.
    private static func populate(_ canvas: inout Canvas, name: String, count: Int, rng: inout SceneRandom,
                                 size drawSize: (inout SceneRandom) -> Double) -> Scene {
        let width = canvas.width, height = canvas.height
        var concepts: [(SceneColour, SceneShape)] = []
        var attempts = 0
        while concepts.count < count && attempts < 100 {
            attempts += 1
            var c = rng.pick(SceneColour.allCases), s = rng.pick(SceneShape.allCases)
            if let (c0, s0) = concepts.isEmpty ? nil : rng.pick(concepts), rng.uniform(0, 1) < 0.6 {
                if rng.uniform(0, 1) < 0.5 { c = c0 } else { s = s0 }
            }
            if !concepts.contains(where: { $0 == (c, s) }) { concepts.append((c, s)) }
        }
        var placed: [(x: Double, y: Double, r: Double)] = []
        var objects: [SceneObject] = []
        for (colour, shape) in concepts {
            var spot: (x: Double, y: Double, r: Double)?
            for _ in 0..<200 {
                let size = drawSize(&rng)
                let x = rng.uniform(size / 2, Double(width) - size / 2)
                let y = rng.uniform(size / 2, Double(height) - size / 2)
                if placed.allSatisfy({ hypot($0.x - x, $0.y - y) > $0.r + size / 2 + 3 }) {
                    spot = (x, y, size / 2)
                    break
                }
            }
            guard let (x, y, r) = spot else { continue }
            placed.append((x, y, r))
            let base = colour.rgb
            let jitter = (rng.normal() * 8, rng.normal() * 8, rng.normal() * 8)
            let rgb = (clamp(base.0 + jitter.0), clamp(base.1 + jitter.1), clamp(base.2 + jitter.2))
            let mask = rasterize(shape, centre: (x, y), radius: r, width: width, height: height)
            canvas.paint(mask, rgb)
            objects.append(SceneObject(colour: colour, shape: shape, mask: mask))
        }
        let prompts = objects.indices.map { i in
            ScenePrompt(text: prompt(objects[i].colour!, objects[i].shape!, rng: &rng), object: i)
        }
        return Scene(name: name, image: canvas.image(), objects: objects, prompts: prompts)
    }

    // MARK: drawing

    private static func clamp(_ v: Double) -> Double { min(max(v, 0), 255) }

    /// A muted colour: grey 80…180 with a small tint.
    private static func muted(_ rng: inout SceneRandom) -> (Double, Double, Double) {
        let g = rng.uniform(80, 180)
        return (clamp(g + rng.uniform(-25, 25)), clamp(g + rng.uniform(-25, 25)), clamp(g + rng.uniform(-25, 25)))
    }

    /// A float RGB canvas.
    struct Canvas {
        let width: Int, height: Int
        var rgb: [Double]  // [height, width, 3]

        mutating func paint(_ mask: [UInt8], _ colour: (Double, Double, Double)) {
            for i in 0..<(width * height) where mask[i] > 0 {
                let a = Double(mask[i]) / 255
                rgb[3 * i] = rgb[3 * i] * (1 - a) + colour.0 * a
                rgb[3 * i + 1] = rgb[3 * i + 1] * (1 - a) + colour.1 * a
                rgb[3 * i + 2] = rgb[3 * i + 2] * (1 - a) + colour.2 * a
            }
        }

        func image() -> RGBImage {
            RGBImage(width: width, height: height, pixels: rgb.map { UInt8(min(max($0.rounded(), 0), 255)) })
        }
    }

    static func background(_ w: Int, _ h: Int, rng: inout SceneRandom) -> Canvas {
        var rgb = [Double](repeating: 0, count: w * h * 3)
        let a = muted(&rng), b = muted(&rng)
        let kind = rng.int(4), vertical = rng.uniform(0, 1) < 0.5
        let cut = rng.uniform(0.3, 0.7), sigma = rng.uniform(5, 25)
        for y in 0..<h {
            for x in 0..<w {
                var c = a
                switch kind {
                case 1:  // gradient
                    let t = vertical ? Double(y) / Double(max(h - 1, 1)) : Double(x) / Double(max(w - 1, 1))
                    c = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, a.2 + (b.2 - a.2) * t)
                case 2:  // noise
                    let n = rng.normal() * sigma
                    c = (a.0 + n, a.1 + n, a.2 + n)
                case 3:  // two-tone split
                    let t = vertical ? Double(y) / Double(h) : Double(x) / Double(w)
                    if t >= cut { c = b }
                default: break
                }
                let i = 3 * (y * w + x)
                rgb[i] = clamp(c.0)
                rgb[i + 1] = clamp(c.1)
                rgb[i + 2] = clamp(c.2)
            }
        }
        return Canvas(width: w, height: h, rgb: rgb)
    }

    /// Coverage (0…255) of each pixel by the shape, 4 × 4 samples per pixel.
    static func rasterize(_ shape: SceneShape, centre: (Double, Double), radius r: Double, width: Int, height: Int)
        -> [UInt8]
    {
        let (cx, cy) = centre
        let polygon: [(Double, Double)]
        switch shape {
        case .ball: polygon = []
        case .square: polygon = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
        case .triangle:  // equilateral-ish, pointing up, inside the bounding square
            polygon = [(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)]
        case .star:
            polygon = (0..<10).map { k in
                let angle = -Double.pi / 2 + Double(k) * Double.pi / 5
                let rad = k % 2 == 0 ? r : r * 0.42
                return (cx + rad * cos(angle), cy + rad * sin(angle))
            }
        }
        func inside(_ x: Double, _ y: Double) -> Bool {
            if shape == .ball { return (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r }
            // even–odd rule
            var hit = false
            var j = polygon.count - 1
            for i in 0..<polygon.count {
                let (xi, yi) = polygon[i], (xj, yj) = polygon[j]
                if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi { hit.toggle() }
                j = i
            }
            return hit
        }
        var mask = [UInt8](repeating: 0, count: width * height)
        let x0 = max(Int(cx - r) - 1, 0), x1 = min(Int(cx + r) + 2, width)
        let y0 = max(Int(cy - r) - 1, 0), y1 = min(Int(cy + r) + 2, height)
        guard x0 < x1 && y0 < y1 else { return mask }
        for y in y0..<y1 {
            for x in x0..<x1 {
                var n = 0
                for sy in 0..<4 {
                    for sx in 0..<4 where inside(Double(x) + (Double(sx) + 0.5) / 4, Double(y) + (Double(sy) + 0.5) / 4) {
                        n += 1
                    }
                }
                mask[y * width + x] = UInt8((n * 255 + 8) / 16)
            }
        }
        return mask
    }
}

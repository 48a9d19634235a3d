import Foundation
import TRIMImage
import TRIMTensor

/// How an image becomes the views the vision tower sees.
public enum ImageLayout: Sendable, Equatable {
    /// One view of the whole image (LLaVA-1.5): pasted onto a square of LLaVA's pad colour first when
    /// `padToSquare` (its "pad" aspect mode), else plain CLIP preprocessing (resize the short side, centre crop).
    case singleView(padToSquare: Bool)

    /// LLaVA-NeXT's any-resolution layout (Docs/SEMANTICS.md §5): a base view of the whole image, then the
    /// tiles of the pinpoint canvas that fits it best; no pinpoints = Hugging Face's default set at the view
    /// size. `geometry` says whose rule cuts the views (Hugging Face's unless a method's released code
    /// cuts its own: Docs/SEMANTICS.md §5b).
    case anyResolution(pinpoints: [Pinpoint], geometry: ViewGeometry = .huggingFace)

    /// LLaVA-1.5's layout: one view, padded to a square.
    public static let llava15 = ImageLayout.singleView(padToSquare: true)

    /// Whether it cuts the image into several views.
    public var isAnyResolution: Bool { if case .anyResolution = self { true } else { false } }

    /// The same layout with the views cut by `geometry` (one view stays one view).
    public func with(geometry: ViewGeometry) -> ImageLayout {
        guard case .anyResolution(let pinpoints, _) = self else { return self }
        return .anyResolution(pinpoints: pinpoints, geometry: geometry)
    }

    /// Whose rule cuts the views, for an any-resolution layout.
    public var geometry: ViewGeometry? {
        if case .anyResolution(_, let g) = self { return g }
        return nil
    }
}

/// An image cut into its layout's views and preprocessed: what the vision tower is handed.
public struct PreparedImage: Sendable {
    /// The layout.
    public var layout: ImageLayout
    /// `pixel_values [3, S, S]` per view, in the layout's order.
    public var pixelValues: [Tensor]
    /// The canvas and tile grid (any-resolution layouts only).
    public var grid: AnyResolutionGrid?
    /// The original image's size (`image_sizes`).
    public var imageHeight: Int, imageWidth: Int
}

/// One view after the vision pass: its pixels, its selected hidden state, and what the reducers asked of it.
public struct EncodedView: Sendable {
    /// `pixel_values [3, S, S]`.
    public var pixelValues: Tensor
    /// `[D]`: the class token's row of the selected hidden state.
    public var classToken: [Float]
    /// `features [N, D]`: the selected hidden state without the class token (LLaVA's image features).
    public var features: Tensor
    /// What the pass computed for this view, by need (`image_tokens`, `class_attention`, …).
    public var values: [Need: Tensor]

    /// The value computed for `need`, if it was.
    public subscript(need: Need) -> Tensor? { values[need] }
}

/// The prompt-independent part of a run (`TRIMPipeline.encode`): the layout and its encoded views, what
/// every prompt about the image shares.
public struct EncodedImage: Sendable {
    /// How the views were cut.
    public var layout: ImageLayout
    /// The canvas and tile grid (any-resolution layouts only).
    public var grid: AnyResolutionGrid?
    /// The original image's size.
    public var imageHeight: Int, imageWidth: Int
    /// The views, in the layout's order.
    public var views: [EncodedView]
    /// The hidden state the features were taken from, Python-style (−2 = LLaVA's).
    public var selectLayer: Int
    /// Seconds per stage (preprocess, vision, …).
    public var timings: [(stage: String, seconds: Double)]
    /// Seconds of needs computed with the image but reported in the stage of each reducer that uses them
    /// (`image_tokens`, counted as TRIM's scoring).
    public var chargedSeconds: [Need: Double]

    /// N, the patches before reduction, over all views.
    public var patchCount: Int { views.reduce(0) { $0 + $1.features.rows } }

    /// The one place a reducer's input is built: view `view`'s features and values, and the prompt's.
    public func input(view: Int = 0, prompt: [Need: Tensor] = [:]) -> ReducerInput {
        let v = views[view]
        return ReducerInput(view: view, features: v.features, classToken: v.classToken,
                            values: v.values.merging(prompt) { a, _ in a })
    }
}

/// Wall-clock seconds per named stage, in order.
struct StageTimer {
    var stages: [(stage: String, seconds: Double)] = []

    mutating func time<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try body()
        stages.append((stage, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        return value
    }
}

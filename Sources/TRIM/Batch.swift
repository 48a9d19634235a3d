import Foundation
import SafeTensors
import TRIMImage
import TRIMJSON
import TRIMTensor

/// A corpus of image–prompt items, `trim batch`'s input: one JSON object per line,
/// `{"id": …, "image": PATH, "prompt": TEXT}` or `{"id": …, "image": PATH, "prompts": [TEXT, …]}`.
/// Relative image paths resolve against the input file's folder. A bad line becomes an item with an error
/// (reported by its line number) instead of stopping the run.
public struct BatchItem: Sendable {
    /// The item's id as given (string or number), or `line N` when the line had none.
    public var id: JSONValue
    /// The image file, resolved.
    public var image: URL?
    /// The prompts, in order.
    public var prompts: [String]
    /// 1-based line number in the input.
    public var line: Int
    /// Why the line cannot be run, if it cannot.
    public var error: String?

    /// The id as one compact JSON token, used for sharding and resume keys.
    public var key: String { JSON.serialize(id) }

    /// Parses the input file's text.
    public static func parse(_ text: String, relativeTo folder: URL) -> [BatchItem] {
        var items: [BatchItem] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            var item = BatchItem(id: .string("line \(n + 1)"), image: nil, prompts: [], line: n + 1, error: nil)
            guard let json = try? JSON.parse(line), case .object = json else {
                item.error = "line \(n + 1): not a JSON object"
                items.append(item)
                continue
            }
            if let id = json["id"], !id.isNull { item.id = id }
            if let p = json["prompt"]?.stringValue { item.prompts = [p] }
            if let ps = json["prompts"]?.arrayValue { item.prompts += ps.compactMap(\.stringValue) }
            if let path = json["image"]?.stringValue {
                item.image = path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path)
            }
            if item.image == nil {
                item.error = "line \(n + 1): no \"image\" path"
            } else if item.prompts.isEmpty {
                item.error = "line \(n + 1): no \"prompt\" or \"prompts\""
            }
            items.append(item)
        }
        return items
    }

    /// Whether the item belongs to shard `index` (0-based) of `count`: FNV-1a of its id, so N machines split
    /// a corpus deterministically and their union is the whole.
    public func inShard(_ index: Int, of count: Int) -> Bool {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return Int(h % UInt64(count)) == index
    }
}

/// One result line of `trim batch`.
public struct BatchResult: Sendable {
    /// The item and prompt it answers.
    public var id: JSONValue, promptIndex: Int, prompt: String
    /// The reduction, or why there is none.
    public var outcome: Result<ReductionResult, BatchError>
    /// Seconds spent decoding and preprocessing the image (shared by its prompts).
    public var prepareSeconds: Double
}

/// Why one item failed; never stops a batch.
public struct BatchError: Error, CustomStringConvertible, Sendable {
    /// One line.
    public var description: String
    /// An error with a message.
    public init(_ description: String) { self.description = description }
}

/// Runs a reducer over items grouped by image: each image decoded, preprocessed and encoded once (the next
/// image is decoded and preprocessed on another thread while the current one runs through the vision
/// tower), every prompt of every item about it reduced against that one encoding.
public struct BatchRunner: Sendable {
    /// The loaded pipeline.
    public var pipeline: TRIMPipeline
    /// The reducer run on every prompt.
    public var reducer: any TokenReducer
    /// The hidden state (Python-style).
    public var selectLayer: Int
    /// How each image becomes views.
    public var layout: ImageLayout
    /// Which grid rows of an any-resolution image get an `image_newline`.
    public var newlines: NewlinePolicy
    /// Whose views and packing an any-resolution image runs on (`layout` must be cut by the reducer's
    /// `viewGeometry` of it).
    public var views: ViewsMode

    /// A runner.
    public init(pipeline: TRIMPipeline, reducer: any TokenReducer, selectLayer: Int = -2, layout: ImageLayout = .llava15,
                newlines: NewlinePolicy = .all, views: ViewsMode = .released) {
        self.pipeline = pipeline
        self.reducer = reducer
        self.selectLayer = selectLayer
        self.layout = layout
        self.newlines = newlines
        self.views = views
    }

    /// Runs `work` — (item, prompt index) pairs — and hands each result to `emit` as soon as it exists, in
    /// image order.
    public func run(_ work: [(item: BatchItem, prompt: Int)], emit: (BatchResult) -> Void) {
        // Group by image, in order of first appearance.
        var groups: [(image: URL?, entries: [(item: BatchItem, prompt: Int)])] = []
        var index: [String: Int] = [:]
        for w in work {
            let key = w.item.error == nil ? (w.item.image?.standardizedFileURL.path ?? "") : "error \(w.item.line)"
            if let g = index[key] { groups[g].entries.append(w) } else {
                index[key] = groups.count
                groups.append((w.item.error == nil ? w.item.image : nil, [w]))
            }
        }
        let needs = reducer.needs
        let pipeline = self.pipeline, layout = self.layout
        @Sendable func prepare(_ url: URL?) -> (Result<PreparedImage, BatchError>, Double) {
            let start = DispatchTime.now().uptimeNanoseconds
            guard let url else { return (.failure(BatchError("no image")), 0) }
            let r: Result<PreparedImage, BatchError>
            do {
                let image = try ImageDecoder.decode(contentsOf: url)
                r = .success(try pipeline.preprocess(image, layout: layout))
            } catch {
                r = .failure(BatchError("\(url.path): \(error)"))
            }
            return (r, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        var next = groups.first.map { g in Prefetch { prepare(g.image) } }
        for (g, group) in groups.enumerated() {
            let (pixels, prepareSeconds) = next!.wait()
            next = g + 1 < groups.count ? Prefetch { [image = groups[g + 1].image] in prepare(image) } : nil
            // Items that were bad lines: one error result per item, no image work.
            if let bad = group.entries.first?.item.error {
                for e in group.entries {
                    emit(BatchResult(id: e.item.id, promptIndex: e.prompt, prompt: e.item.prompts.indices.contains(e.prompt) ? e.item.prompts[e.prompt] : "",
                                     outcome: .failure(BatchError(bad)), prepareSeconds: 0))
                }
                continue
            }
            let encoded: Result<EncodedImage, BatchError> = pixels.flatMap { px in
                Result {
                    try pipeline.encode(px, preprocessSeconds: prepareSeconds, selectLayer: selectLayer, needs: needs)
                }.mapError { BatchError("\(group.image?.path ?? "?"): \($0)") }
            }
            for (n, e) in group.entries.enumerated() {
                let prompt = e.item.prompts[e.prompt]
                let outcome: Result<ReductionResult, BatchError> = encoded.flatMap { enc in
                    Result { () throws -> ReductionResult in
                        var r = try pipeline.reduce(enc, prompt: prompt, reducer: reducer, newlines: newlines, views: views)
                        // The image's shared stages are reported with its first prompt only.
                        if n > 0 { r.timings = r.promptTimings }
                        return r
                    }.mapError { BatchError("\($0)") }
                }
                emit(BatchResult(id: e.item.id, promptIndex: e.prompt, prompt: prompt, outcome: outcome,
                                 prepareSeconds: n == 0 ? prepareSeconds : 0))
            }
        }
    }
}

/// A value computed on a global queue from the moment it is created; `wait()` blocks until it is ready.
final class Prefetch<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var value: T?

    init(_ body: @escaping @Sendable () -> T) {
        DispatchQueue.global().async {
            self.value = body()
            self.done.signal()
        }
    }

    func wait() -> T {
        done.wait()
        return value!
    }
}

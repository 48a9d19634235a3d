import CLIP
import Foundation
import TRIMImage
import TRIMTensor

extension PreprocessorConfig {
    /// The preprocessing of a model directory: its `preprocessor_config.json` when present, else CLIP's
    /// defaults at the vision tower's image size (`imageSize`, or read from `config.json` when `nil`).
    public static func forModel(directory: URL, imageSize: Int? = nil) throws -> PreprocessorConfig {
        let url = directory.appendingPathComponent("preprocessor_config.json")
        if FileManager.default.fileExists(atPath: url.path) { return try PreprocessorConfig(contentsOf: url) }
        let size = try imageSize ?? CLIPConfig(contentsOf: directory.appendingPathComponent("config.json")).vision.imageSize
        return PreprocessorConfig(size: size)
    }
}

/// A throwing computation started on a global queue at init; `wait()` blocks until it is done.
final class BackgroundResult<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, Error>?  // written once by the worker, read after `done` is signalled

    init(_ body: @escaping @Sendable () throws -> T) {
        DispatchQueue.global().async {
            self.result = Result { try body() }
            self.done.signal()
        }
    }

    func wait() -> Result<T, Error> {
        done.wait()
        return result!
    }
}

/// A bounded, thread-safe map prompt → (ids, text_embeds); the oldest entry goes first when full.
final class PromptCache: @unchecked Sendable {
    /// Distinct prompts kept (a text embedding of ViT-L's CLIP is 3 KB).
    static let capacity = 4096
    private let lock = NSLock()
    private var entries: [String: (ids: [Int], embeds: Tensor)] = [:]
    private var order: [String] = []
    private var head = 0

    /// Empties the cache.
    func removeAll() {
        lock.withLock {
            entries.removeAll()
            order.removeAll()
            head = 0
        }
    }

    subscript(prompt: String) -> (ids: [Int], embeds: Tensor)? {
        get { lock.withLock { entries[prompt] } }
        set {
            guard let newValue else { return }
            lock.withLock {
                if entries.updateValue(newValue, forKey: prompt) != nil { return }
                order.append(prompt)
                if order.count - head > Self.capacity {
                    entries[order[head]] = nil
                    head += 1
                    if head > Self.capacity { order.removeFirst(head); head = 0 }
                }
            }
        }
    }
}

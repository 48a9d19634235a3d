import Dispatch
import Foundation

/// How many threads the kernels split work across.
///
/// Defaults to the number of active processors; the environment variable `TRIM_THREADS` overrides it
/// (e.g. `TRIM_THREADS=1` for single-thread measurements). Never less than 1.
public enum Parallelism {
    /// The thread count used by `parallelFor` (read once per process).
    public static let threads: Int = {
        if let s = ProcessInfo.processInfo.environment["TRIM_THREADS"], let n = Int(s), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body(chunk)` for `chunk` in `0..<chunks`, spread over at most `threads` threads, and returns
    /// when all are done. With one chunk or one thread it runs inline (no dispatch overhead).
    @inlinable
    public static func parallelFor(_ chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 0 { return }
        if chunks == 1 || threads == 1 {
            for i in 0..<chunks { body(i) }
            return
        }
        // The kernels hand each chunk disjoint memory through raw pointers, which the compiler cannot
        // prove safe to share; the box states that promise once, here.
        withoutActuallyEscaping(body) { escaping in
            let box = UncheckedSendableBox(escaping)
            DispatchQueue.concurrentPerform(iterations: chunks) { box.value($0) }
        }
    }

    /// Splits `0..<count` into at most `threads` contiguous, near-equal ranges (never empty ones).
    @inlinable
    public static func split(_ count: Int, parts: Int = threads) -> [Range<Int>] {
        let p = max(1, min(parts, count))
        guard count > 0 else { return [] }
        return (0..<p).map { i in (count * i / p)..<(count * (i + 1) / p) }
    }
}

/// Carries a value across a concurrency boundary the compiler cannot check (see `parallelFor`).
@usableFromInline
struct UncheckedSendableBox<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}

// Output buffers handed back by one layer for the next to write into.
//
// A Swift array larger than glibc's largest mmap threshold (32 MB) is mapped afresh on every allocation
// and unmapped when freed, so each new one costs a page fault and a page of zeroes per 4 KiB. In a
// batched vision pass two outputs of every layer are that large — the stacked q | k | v projection (2,885
// × 3,072 floats at five LLaVA-NeXT views, 35 MB) and fc1's output (47 MB). Mapping them anew in each of
// 23 layers put 2.5 % of the pass's samples in page faults and zeroing, and the pass took 0.88 of its time
// once they were reused (six alternated rounds: PERFORMANCE.md, item 27). A pass that
// owns a `ScratchBuffers` gives each such buffer back once the next product has read it, and the same
// product of the next layer writes into it instead. Every element is overwritten (the products' first K
// block stores, padding columns are zeroed), so results are bit-identical with or without it.

/// A few spare `[Float]` buffers, matched by exact size, for one sequence of layers on one thread.
public final class ScratchBuffers {
    /// Unchecked: every access would otherwise carry a dynamic exclusivity check (`.ci/run` keeps TRIMTensor
    /// free of them); the buffers belong to one pass on one thread, and nothing here reenters.
    @exclusivity(unchecked) private var spare: [[Float]] = []
    /// Buffers kept at most (a transformer layer hands back two).
    private let limit = 4

    public init() {}

    /// A spare buffer of exactly `count` floats (contents undefined), or nil.
    func take(count: Int) -> [Float]? {
        guard let i = spare.firstIndex(where: { $0.count == count }) else { return nil }
        return spare.remove(at: i)
    }

    /// Keeps `buffer` for a later `take` (the oldest spare is dropped beyond the limit). Hand back only a
    /// buffer nothing else still reads: a shared one would be copied, not reused, when written.
    public func give(_ buffer: consuming [Float]) {
        if spare.count == limit { spare.removeFirst() }
        spare.append(buffer)
    }
}

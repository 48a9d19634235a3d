import Foundation

/// Step 3 of the pipeline: byte-level BPE with an end-of-word suffix, as Hugging Face's `BPE` model
/// (`end_of_word_suffix: "</w>"`, no dropout) computes it.
///
/// A piece starts as one symbol per UTF-8 byte, the last one carrying `</w>`. Then, repeatedly, the
/// adjacent pair with the lowest merge rank (the leftmost one on ties) is replaced by its merged token,
/// until no adjacent pair has a merge. Token ids are looked up once at load time, so the loop works on
/// integers only.
final class BytePairEncoding: Sendable {
    /// `[256]`: the id of each byte's character, and of the character followed by `</w>`.
    let byteIDs: [Int32]
    let byteEndIDs: [Int32]
    /// `(left id << 32 | right id)` → `(rank << 32 | merged id)`.
    let merges: [UInt64: UInt64]
    /// `[vocabulary size]`: id → token spelling (byte-level characters), for decoding; nil for unused ids.
    let tokens: [String?]
    /// Recently encoded pieces (UTF-8 bytes → ids).
    private let cache = WordCache(capacity: 100_000)

    /// - Parameters:
    ///   - tokens: id → spelling (nil for ids not in use).
    ///   - merges: `(left, right, merged)` ids in rank order.
    ///   - unknownID: the id used for a byte whose character is not in the vocabulary.
    init(tokens: [String?], merges mergeList: [(left: Int, right: Int, merged: Int)], unknownID: Int) {
        var idOfSpelling: [String: Int] = [:]
        for (id, t) in tokens.enumerated() {
            if let t, t.unicodeScalars.count <= 5 { idOfSpelling[t] = id }  // a byte's character, maybe + </w>
        }
        var byteIDs = [Int32](repeating: Int32(unknownID), count: 256)
        var byteEndIDs = byteIDs
        for b in 0..<256 {
            let c = String(ByteLevel.characterForByte[b])
            if let id = idOfSpelling[c] { byteIDs[b] = Int32(id) }
            if let id = idOfSpelling[c + "</w>"] { byteEndIDs[b] = Int32(id) }
        }
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, m) in mergeList.enumerated() {
            merges[UInt64(m.left) << 32 | UInt64(m.right)] = UInt64(rank) << 32 | UInt64(m.merged)
        }
        self.byteIDs = byteIDs
        self.byteEndIDs = byteEndIDs
        self.merges = merges
        self.tokens = tokens
    }

    /// The spelling of `id`, or nil when the vocabulary has no such id.
    func token(_ id: Int) -> String? { tokens.indices.contains(id) ? tokens[id] : nil }

    /// Appends the ids of one pre-tokenized piece, given as UTF-8 bytes, to `ids`.
    func encode(_ bytes: [UInt8], into ids: inout [Int]) {
        if let cached = cache[bytes] {
            ids += cached
            return
        }
        let word = merge(bytes)
        cache[bytes] = word
        ids += word
    }

    /// The BPE of one piece (no cache).
    ///
    /// The hot loop: symbols form a doubly linked list over the byte positions; a min-heap holds candidate
    /// merges keyed `(rank << 32 | position)`, so the smallest key is the lowest rank, leftmost. Entries
    /// made stale by an earlier merge are recognised when popped (dead symbol, or a different pair now)
    /// and skipped. O(n log n) for an n-byte piece, so even megabyte-long "words" stay fast.
    func merge(_ bytes: [UInt8]) -> [Int] {
        let n = bytes.count
        if n == 0 { return [] }
        if n == 1 { return [Int(byteEndIDs[Int(bytes[0])])] }
        var symbol = [Int32](repeating: 0, count: n)  // [n] token id at each live position
        var next = [Int32](repeating: -1, count: n)
        var previous = [Int32](repeating: -1, count: n)
        var alive = [Bool](repeating: true, count: n)
        for i in 0..<n {
            symbol[i] = i == n - 1 ? byteEndIDs[Int(bytes[i])] : byteIDs[Int(bytes[i])]
            next[i] = i + 1 < n ? Int32(i + 1) : -1
            previous[i] = Int32(i - 1)
        }
        var heap = MinHeap()
        @inline(__always) func lookup(_ a: Int32, _ b: Int32) -> UInt64? {
            merges[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))]
        }
        for i in 0..<(n - 1) {
            if let m = lookup(symbol[i], symbol[i + 1]) { heap.push(m & ~0xFFFF_FFFF | UInt64(i)) }
        }
        while let top = heap.pop() {
            let pos = Int(top & 0xFFFF_FFFF)
            let rank = top >> 32
            guard alive[pos], next[pos] >= 0 else { continue }
            let right = Int(next[pos])
            guard let m = lookup(symbol[pos], symbol[right]), m >> 32 == rank else { continue }
            // Merge `right` into `pos`.
            symbol[pos] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            alive[right] = false
            next[pos] = next[right]
            if next[right] >= 0 { previous[Int(next[right])] = Int32(pos) }
            if previous[pos] >= 0, let p = lookup(symbol[Int(previous[pos])], symbol[pos]) {
                heap.push(p & ~0xFFFF_FFFF | UInt64(previous[pos]))
            }
            if next[pos] >= 0, let p = lookup(symbol[pos], symbol[Int(next[pos])]) {
                heap.push(p & ~0xFFFF_FFFF | UInt64(pos))
            }
        }
        var out: [Int] = []
        var i: Int32 = 0
        while i >= 0 {
            out.append(Int(symbol[Int(i)]))
            i = next[Int(i)]
        }
        return out
    }
}

/// A binary min-heap of packed `(rank << 32 | position)` keys.
struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ x: UInt64) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent] <= x { break }
            items[i] = items[parent]
            i = parent
        }
        items[i] = x
    }

    mutating func pop() -> UInt64? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            let r = l + 1
            let c = r < n && items[r] < items[l] ? r : l
            if items[c] >= last { break }
            items[i] = items[c]
            i = c
        }
        items[i] = last
        return top
    }
}

/// A bounded, lock-protected map from piece bytes to ids, shared by copies of a tokenizer (and across
/// threads). When full it stops admitting new pieces, as Hugging Face's BPE cache does.
final class WordCache: @unchecked Sendable {
    private var storage: [[UInt8]: [Int]] = [:]
    private let lock = NSLock()
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    subscript(key: [UInt8]) -> [Int]? {
        get {
            lock.lock()
            defer { lock.unlock() }
            return storage[key]
        }
        set {
            lock.lock()
            defer { lock.unlock() }
            if storage.count < capacity { storage[key] = newValue }
        }
    }
}

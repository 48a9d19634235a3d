import Foundation
import TRIM
import TRIMJSON

let batchCommand = Command(
    name: "batch",
    summary: "reduce a corpus of image–prompt items (JSON Lines): one vision pass per image, resumable, shardable",
    synopsis: "--model DIR --input FILE.jsonl --output DIR [--shard I/N] [--dump] [--quiet] [options]",
    description: """
        Reads one item per line, {"id": …, "image": PATH, "prompt": TEXT} or {"id": …, "image": PATH,
        "prompts": [TEXT, …]} (relative paths resolve against the input file's folder), groups the work by
        image so each image is decoded and encoded once (the next one is decoded while the current one runs
        through the vision tower), and appends one line per id and prompt to OUTPUT/results.jsonl:
          {"id", "prompt_index", "prompt", "kept_indices", "kept", "tokens", "upper", "timings_s"[, "dump"]}
        or {"id", "prompt_index", "prompt", "error"} for a bad item (a bad JSON line, no image or prompt, a
        missing or corrupt image), which never stops the run. One method per batch (not `all`); its
        options as for `trim reduce`.

        Resume: a rerun skips the (id, prompt) pairs already in results.jsonl. Every result line is
        written whole and flushed; dumps are written under a temporary name and renamed; a run killed
        part-way loses at most the items in flight (a partial last line is cut off on the next run).

        Exit status: 0 when every item of the shard succeeded, 1 when any failed (a summary line says how
        many), 2 for usage errors.
        """,
    options: [
        Common.model,
        OptionSpec("input", .text, placeholder: "FILE.jsonl", help: "the items"),
        OptionSpec("output", .text, placeholder: "DIR", help: "results.jsonl (and dumps/) go here; created if needed"),
        OptionSpec("shard", .text, placeholder: "I/N",
                   help: "process only shard I of N (1-based; a deterministic split by id, so N machines together "
                       + "produce exactly one unsharded run's results)"),
        OptionSpec("dump", .flag, help: "also write each result's dump (the names of Docs/SEMANTICS.md §3) to OUTPUT/dumps/"),
        Common.quiet, Common.method,
    ] + ReducerCatalog.allOptions + [Common.projector, Common.selectLayer, Common.weights, Common.noPad] + Common.layoutOptions,
    run: { a in
        try a.noPositional()
        let options = try Common.reductionOptions(a)
        if try Common.methodName(a) == "all" { throw UsageError("trim batch runs one method; --method all is for reduce, demo and eval") }
        let reducer = try usage { try ReducerCatalog.make(a.value("method") ?? "trim", a.given) }
        var shard = (index: 0, count: 1)
        if let s = a.value("shard") {
            let parts = s.split(separator: "/").map { Int($0) }
            guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, i >= 1, i <= n else {
                throw UsageError("--shard must be I/N with 1 ≤ I ≤ N, got '\(s)'")
            }
            shard = (i - 1, n)
        }
        let model = try existingPath(try a.required("model"), what: "model directory")
        let input = try existingPath(try a.required("input"), what: "input file")
        let output = URL(fileURLWithPath: try a.required("output"), isDirectory: true)
        let projector = try a.value("projector").map { try existingPath($0, what: "projector") }

        guard let data = FileManager.default.contents(atPath: input.path) else {
            throw CLIError.noSuchFile(path: input.path, what: "input file")
        }
        let items = BatchItem.parse(String(decoding: data, as: UTF8.self), relativeTo: input.deletingLastPathComponent())
            .filter { $0.inShard(shard.index, of: shard.count) }
        let fm = FileManager.default
        do { try fm.createDirectory(at: output, withIntermediateDirectories: true) } catch {
            throw CLIError.cannotWrite(path: output.path, reason: error.localizedDescription)
        }
        let dumps = output.appendingPathComponent("dumps", isDirectory: true)
        if a.flag("dump") {
            do { try fm.createDirectory(at: dumps, withIntermediateDirectories: true) } catch {
                throw CLIError.cannotWrite(path: dumps.path, reason: error.localizedDescription)
            }
        }

        try runBatch(a, items: items, output: output, shard: shard, model: model, projector: projector,
                     options: options, reducer: reducer)
    })

/// An id as a file-name stem: letters, digits, `-`, `_`, `.`; anything else `_`; at most 100 characters.
func fileSafe(_ id: JSONValue) -> String {
    let raw = id.stringValue ?? JSON.serialize(id)
    let safe = String(raw.unicodeScalars.map { c in
        CharacterSet.alphanumerics.contains(c) && c.isASCII || c == "-" || c == "_" || c == "." ? Character(c) : "_"
    }).prefix(100)
    return safe.isEmpty || safe.hasPrefix(".") ? "id" + safe : String(safe)
}

/// `results.jsonl`, opened for appending: what is already answered, and whole-line appends flushed to disk.
final class ResultsLog {
    /// "id-json␟prompt index" → whether that result was an error.
    private(set) var done: [String: Bool] = [:]
    private let handle: FileHandle

    init(url: URL) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: url.path) { _ = fm.createFile(atPath: url.path, contents: nil) }
        guard let h = try? FileHandle(forUpdating: url) else {
            throw CLIError.cannotWrite(path: url.path, reason: "cannot open for appending")
        }
        handle = h
        let data = try h.readToEnd() ?? Data()
        // A run killed mid-line leaves a partial last line: cut the file back to its last newline.
        var end = data.count
        while end > 0 && data[data.startIndex + end - 1] != UInt8(ascii: "\n") { end -= 1 }
        if end < data.count { try h.truncate(atOffset: UInt64(end)) }
        try h.seek(toOffset: UInt64(end))
        for line in data.prefix(end).split(separator: UInt8(ascii: "\n")) {
            guard let j = try? JSON.parse([UInt8](line)), let id = j["id"], let p = j["prompt_index"]?.intValue else { continue }
            done["\(JSON.serialize(id))\u{1F}\(p)"] = j["error"] != nil
        }
    }

    /// Appends one line in a single write and flushes it to the disk.
    func append(_ line: String) throws {
        try handle.write(contentsOf: Data((line + "\n").utf8))
        try handle.synchronize()
    }
}

/// Runs the shard's items that results.jsonl does not hold yet, appending one line per result.
func runBatch(_ a: Arguments, items: [BatchItem], output: URL, shard: (index: Int, count: Int), model: URL,
              projector: URL?, options: ReductionOptions, reducer: any TokenReducer) throws {
    // Resume: the (id, prompt index) pairs already answered; a partial last line is cut off.
    let resultsURL = output.appendingPathComponent("results.jsonl")
    let log = try ResultsLog(url: resultsURL)
    var work: [(item: BatchItem, prompt: Int)] = []
    var skipped = 0, previousErrors = 0
    for item in items {
        for p in 0..<max(item.prompts.count, 1) {
            if let isError = log.done["\(item.key)\u{1F}\(p)"] {
                skipped += 1
                if isError { previousErrors += 1 }
            } else {
                work.append((item, p))
            }
        }
    }

    let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                    weightPrecision: Common.weightPrecision(a), needs: reducer.needs)
    let progress = Progress(label: "batch", quiet: a.flag("quiet"))
    if skipped > 0 && !a.flag("quiet") {
        FileHandle.standardError.write(Data("batch: \(skipped) results already in \(resultsURL.path), resuming\n".utf8))
    }
    var done = 0, failed = 0
    let layout = try Common.layout(a, pipeline: pipeline)
    try Common.checkLayout(layout, method: reducer.name, reducer: reducer)
    let runner = BatchRunner(pipeline: pipeline, reducer: reducer, selectLayer: options.selectLayer,
                             layout: Common.layout(layout, for: reducer, a), newlines: Common.newlinePolicy(a),
                             views: Common.viewsMode(a))
    var writeError: Error?
    runner.run(work) { result in
        guard writeError == nil else { return }
        let (pairs, ok) = resultLine(result, dumpTo: a.flag("dump") ? output : nil)
        if !ok { failed += 1 }
        do { try log.append(JSON.serialize(.object(JSONObject(pairs)))) } catch { writeError = error }
        done += 1
        progress.update(done: done, total: work.count, unit: "results")
    }
    progress.finish()
    if let writeError { throw CLIError.cannotWrite(path: resultsURL.path, reason: "\(writeError)") }
    let shardNote = shard.count > 1 ? " (shard \(shard.index + 1)/\(shard.count))" : ""
    let summary = "batch\(shardNote): \(done) results written, \(skipped) already done, "
        + "\(failed + previousErrors) failed → \(resultsURL.path)"
    if failed + previousErrors > 0 {
        FileHandle.standardError.write(Data("error: \(summary)\n".utf8))
        exit(1)
    }
    if !a.flag("quiet") { FileHandle.standardError.write(Data((summary + "\n").utf8)) }
}

/// The results.jsonl line of one result (writing its dump under `dumpTo` when given), and whether it succeeded.
func resultLine(_ result: BatchResult, dumpTo output: URL?) -> ([(String, JSONValue)], Bool) {
    let fm = FileManager.default
    var pairs: [(String, JSONValue)] = [("id", result.id), ("prompt_index", .int(result.promptIndex)),
                                       ("prompt", .string(result.prompt))]
    switch result.outcome {
    case .success(let r):
        pairs += [("kept_indices", keptIndicesJSON(r)), ("kept", .int(r.kept)),
                  ("tokens", .int(r.tokens)), ("upper", r.reduction.iqr.map { .double(Double($0.upper)) } ?? .null)]
        var timings = r.timings.map { ($0.stage, JSONValue.double($0.seconds)) }
        if result.prepareSeconds > 0 { timings.insert(("decode+preprocess", .double(result.prepareSeconds)), at: 0) }
        timings.removeAll { $0.0 == "preprocess" }
        pairs.append(("timings_s", .object(JSONObject(timings))))
        if let output {
            let name = "dumps/\(fileSafe(result.id))-\(result.promptIndex).safetensors"
            let final = output.appendingPathComponent(name)
            let temporary = output.appendingPathComponent(name + ".tmp")
            do {
                try r.dump(metadata: ["producer": "trim batch", "prompt": result.prompt, "method": r.method])
                    .write(to: temporary)
                _ = try? fm.removeItem(at: final)
                try fm.moveItem(at: temporary, to: final)
                pairs.append(("dump", .string(name)))
            } catch {
                pairs = Array(pairs.prefix(3)) + [("error", .string("cannot write dump \(name): \(error)"))]
                return (pairs, false)
            }
        }
    case .failure(let e):
        pairs.append(("error", .string(e.description)))
        return (pairs, false)
    }
    return (pairs, true)
}

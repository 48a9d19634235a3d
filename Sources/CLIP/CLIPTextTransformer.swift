import SafeTensors
import TRIMTensor

/// CLIP's text tower (`text_model`, Hugging Face `CLIPTextTransformer`):
///
///     ids [L] → token_embedding + position_embedding → causal encoder.layers → final_layer_norm
///       pooled output = the row of the end-of-text token
///
/// Because attention is causal, rows after the end-of-text token cannot change the pooled row, so
/// `pooledOutput` runs only the tokens up to it.
public struct CLIPTextTransformer: Sendable {
    /// Tower configuration.
    public let config: CLIPTextConfig
    /// `[vocab, D]`, read row by row from the checkpoint (see `EmbeddingTable`).
    public let token_embedding: EmbeddingTable
    /// `[maxPositions, D]`.
    public let position_embedding: Tensor
    /// Causal encoder layers.
    public let layers: [CLIPEncoderLayer]
    /// LayerNorm after the last layer.
    public let final_layer_norm: LayerNorm

    init(_ w: WeightLoader, config c: CLIPTextConfig, prefix: String) throws {
        config = c
        let d = c.hiddenSize
        token_embedding = try w.embeddingTable(prefix + ".embeddings.token_embedding.weight", rows: c.vocabSize, width: d)
        position_embedding = try w.tensor(prefix + ".embeddings.position_embedding.weight", shape: [c.maxPositions, d])
        layers = try (0..<c.layers).map { i in
            try CLIPEncoderLayer(w, prefix: "\(prefix).encoder.layers.\(i)", hidden: d, intermediate: c.intermediateSize,
                                 heads: c.attentionHeads, activation: c.activation, eps: c.layerNormEps)
        }
        final_layer_norm = try w.layerNorm(prefix + ".final_layer_norm", width: d, eps: c.layerNormEps)
    }

    /// Where Hugging Face pools: with `eos_token_id == 2` (old OpenAI configs) the first position of the
    /// largest id; otherwise the first position of `eos_token_id` (0 when absent, as `argmax` of all-false).
    public func poolingPosition(_ ids: [Int]) -> Int {
        if config.eosTokenID == 2 {
            var best = 0
            for (i, id) in ids.enumerated() where id > ids[best] { best = i }
            return best
        }
        return ids.firstIndex(of: config.eosTokenID) ?? 0
    }

    func validate(_ ids: [Int]) throws {
        guard !ids.isEmpty && ids.count <= config.maxPositions else {
            throw CLIPError.invalidInput("\(ids.count) token ids; the text tower takes 1…\(config.maxPositions)")
        }
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw CLIPError.invalidInput("token id \(bad) is outside the vocabulary 0..<\(config.vocabSize)")
        }
    }

    /// Token plus position embeddings, `[L, D]` (`hidden_states[0]`).
    public func embeddings(_ ids: [Int]) throws -> Tensor {
        try validate(ids)
        var x = try token_embedding.rows(ids)
        x = add(x, position_embedding.rows(0..<ids.count))
        return x
    }

    /// `hidden_states[0 ... layers]` for all `L` positions, each `[L, D]` (the last one before
    /// `final_layer_norm`, as Hugging Face reports it).
    public func hiddenStates(_ ids: [Int]) throws -> [Tensor] {
        var states = [try embeddings(ids)]
        for layer in layers { states.append(layer(states.last!, causal: true)) }
        return states
    }

    /// `final_layer_norm(hidden_states[-1])`, `[L, D]`: Hugging Face's `last_hidden_state`.
    public func lastHiddenState(_ ids: [Int]) throws -> Tensor {
        final_layer_norm(try hiddenStates(ids).last!)
    }

    /// The pooled output `[D]`: the end-of-text row of `lastHiddenState`, computed over the tokens up to
    /// and including that row only.
    public func pooledOutput(_ ids: [Int]) throws -> Tensor {
        try validate(ids)
        let eot = poolingPosition(ids)
        return try lastHiddenState(Array(ids[0...eot])).row(eot)
    }
}

/// A `[rows, width]` embedding matrix. From a single mapped checkpoint file it stays in the mapping and
/// a lookup converts only the rows it needs (CLIP's token table is 49,408 × 768 floats, 152 MB, of which
/// a prompt reads at most 77 rows); from any other source it is loaded whole.
public struct EmbeddingTable: Sendable {
    /// Number of rows (the vocabulary size).
    public let rows: Int
    /// Floats per row.
    public let width: Int
    private let storage: Storage

    private enum Storage: Sendable {
        case mapped(SafeTensorsFile, name: String)
        case loaded(Tensor)
    }

    init(mapped file: SafeTensorsFile, name: String, rows: Int, width: Int) {
        self.rows = rows
        self.width = width
        storage = .mapped(file, name: name)
    }

    init(_ table: Tensor) {
        rows = table.shape.first ?? 0
        width = table.columns
        storage = .loaded(table)
    }

    /// Rows `ids` (each in `0..<rows`), `[ids.count, width]`.
    public func rows(_ ids: [Int]) throws -> Tensor {
        if let bad = ids.first(where: { $0 < 0 || $0 >= rows }) {
            throw CLIPError.invalidInput("embedding row \(bad) is outside 0..<\(rows)")
        }
        switch storage {
        case .mapped(let file, let name): return try file.rows(name, ids)
        case .loaded(let table): return table.gatherRows(ids)
        }
    }

    /// The whole table, `[rows, width]` (a copy of all of it when mapped).
    public func tensor() throws -> Tensor {
        switch storage {
        case .mapped(let file, let name): return try file.tensor(name)
        case .loaded(let table): return table
        }
    }
}

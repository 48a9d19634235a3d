import CLIPTokenizer
import Foundation
import TRIM
import TRIMJSON

let tokenizeCommand = Command(
    name: "tokenize",
    summary: "CLIP token ids of texts (Hugging Face CLIPTokenizerFast-exact)",
    synopsis: "[--json] [--model DIR] [--no-truncate] TEXT...",
    description: """
        Prints the token ids of each TEXT, with <|startoftext|> (49406) and <|endoftext|> (49407),
        truncated to CLIP's 77-token context as Hugging Face does (unless --no-truncate).
        """,
    options: [
        OptionSpec("json", .flag, help: "print [[ids], ...] instead of one line per text"),
        OptionSpec("model", .text, placeholder: "DIR", help: "use DIR's vocab.json + merges.txt instead of the bundled vocabulary"),
        OptionSpec("no-truncate", .flag, help: "do not truncate to 77 tokens"),
    ],
    run: { a in
        guard !a.positional.isEmpty else { throw UsageError("give at least one TEXT") }
        let tokenizer = try a.value("model").map { try CLIPTokenizer.forModelDirectory(try existingPath($0, what: "model directory")) }
            ?? CLIPTokenizer.bundled()
        let limit = a.flag("no-truncate") ? nil : CLIPTokenizer.contextLength
        let ids = a.positional.map { tokenizer.encode($0, truncateTo: limit) }
        if a.flag("json") {
            print(JSON.serialize(.array(ids.map(jsonInts))))
        } else {
            for row in ids { print(row.map(String.init).joined(separator: " ")) }
        }
    })

import Foundation
import TRIM

// `trim`: the command line. It only wires library calls together; every stage lives in the modules.
//
// Exit codes: 0 success, 1 bad input (one line `error: …` on stderr), 2 usage error.

/// One subcommand: its name, a one-line summary, its synopsis and description, the options it declares
/// (from which its usage text, parsing and validation all come), and what it runs.
struct Command: Sendable {
    let name: String
    let summary: String
    let synopsis: String
    let description: String
    let options: [OptionSpec]
    let run: @Sendable (Arguments) throws -> Void

    /// The `--help` text: synopsis, description, then every declared option with its help and default.
    var usage: String {
        var lines = ["usage: trim \(name) \(synopsis)", ""]
        lines += description.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }
        if !options.isEmpty { lines += ["", "options:"] + options.flatMap { $0.usageLines() } }
        return lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
            .joined(separator: "\n")
    }
}

let commands: [Command] = [
    demoCommand, reduceCommand, batchCommand, evalCommand, embedCommand, tokenizeCommand, preprocessCommand,
    inspectCommand, convertCommand, benchCommand, diffCommand,
]

func printUsage() {
    var s = """
        trim — TRIM (Token Reduction using CLIP Metric) in pure Swift

        usage: trim <command> [options]

        commands:

        """
    for c in commands { s += "  \(c.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(c.summary)\n" }
    s += "\nRun `trim <command> --help` for a command's options. Start with `trim demo`.\n"
    print(s, terminator: "")
}

func fail(_ message: String, code: Int32) -> Never {
    let line = message.replacingOccurrences(of: "\n", with: " ")
    FileHandle.standardError.write(Data("error: \(line)\n".utf8))
    exit(code)
}

let argv = Array(CommandLine.arguments.dropFirst())
guard let name = argv.first else {
    printUsage()
    exit(2)
}
if name == "--help" || name == "-h" || name == "help" {
    printUsage()
    exit(0)
}
guard let command = commands.first(where: { $0.name == name }) else {
    fail("unknown command '\(name)'; run `trim --help` for the list", code: 2)
}
let rest = Array(argv.dropFirst())
if rest.contains("--help") || rest.contains("-h") {
    print(command.usage)
    exit(0)
}
do {
    try command.run(try Arguments(rest, command.options))
} catch let e as UsageError {
    FileHandle.standardError.write(Data("error: \(e.description)\nusage: see `trim \(command.name) --help`\n".utf8))
    exit(2)
} catch {
    fail("\(error)", code: 1)
}

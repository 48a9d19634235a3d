import TRIM

/// A wrong command line: printed as `error: …` plus a usage hint, exit code 2.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// The arguments after the subcommand name, parsed and validated against the options that subcommand
/// declares (`OptionSpec`: name, kind, default, help — the same declarations its usage text is made from).
///
/// `--name value` and `--name=value` both work; flags take no value; `--` ends option parsing. Unknown
/// options, missing values, values of the wrong kind and repeated options are usage errors.
struct Arguments {
    /// The values and flags given, for the library's readers (`ReducerCatalog.make`, …).
    private(set) var given = OptionValues()
    private(set) var positional: [String] = []
    /// Every value of the options declared repeatable, in order.
    private(set) var repeated: [String: [String]] = [:]
    private let specs: [String: OptionSpec]

    init(_ args: [String], _ declared: [OptionSpec]) throws {
        specs = Dictionary(declared.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var i = 0
        var onlyPositional = false
        while i < args.count {
            let a = args[i]
            i += 1
            if onlyPositional || !a.hasPrefix("--") || a == "-" {
                positional.append(a)
                continue
            }
            if a == "--" { onlyPositional = true; continue }
            var name = String(a.dropFirst(2))
            var inline: String?
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let spec = specs[name] else { throw UsageError("unknown option --\(name)") }
            if spec.isFlag {
                guard inline == nil else { throw UsageError("--\(name) takes no value") }
                given.flags.insert(name)
                continue
            }
            guard given.values[name] == nil || spec.repeatable else { throw UsageError("--\(name) given twice") }
            guard let value = inline ?? (i < args.count ? args[i] : nil) else { throw UsageError("--\(name) needs a value") }
            if inline == nil { i += 1 }
            if let problem = spec.problem(with: value) { throw UsageError(problem) }
            given.values[name] = value
            repeated[name, default: []].append(value)
        }
    }

    /// The value of `--name`, if given.
    func value(_ name: String) -> String? { given.values[name] }

    /// Every value given for a repeatable `--name`, in order (empty when absent).
    func all(_ name: String) -> [String] { repeated[name] ?? [] }

    /// The value of `--name`, which must be given.
    func required(_ name: String) throws -> String {
        guard let v = given.values[name] else { throw UsageError("--\(name) is required") }
        return v
    }

    /// Whether the flag `--name` was given.
    func flag(_ name: String) -> Bool { given.flags.contains(name) }

    /// `--name` as an integer (validated against its declaration when parsed), or `nil` when absent.
    func int(_ name: String) -> Int? { given.values[name].flatMap { Int($0) } }

    /// `--name` as a number (validated against its declaration when parsed), or `nil` when absent.
    func double(_ name: String) -> Double? { given.values[name].flatMap { Double($0) } }

    /// Fails when positional arguments were given to a command that takes none.
    func noPositional() throws {
        if let p = positional.first { throw UsageError("unexpected argument '\(p)'") }
    }
}

/// Runs a library call that reads option values, turning its `OptionError` into a usage error (exit 2).
func usage<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as OptionError { throw UsageError(e.description) }
}

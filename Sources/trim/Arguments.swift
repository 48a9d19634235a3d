/// A wrong command line: printed as `error: …` plus a usage hint, exit code 2.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// The arguments after the subcommand name, parsed against the flags that subcommand declares.
///
/// `--name value` and `--name=value` both work; boolean flags take no value; `--` ends flag parsing.
/// Unknown flags, missing values and repeated flags are usage errors.
struct Arguments {
    private(set) var values: [String: String] = [:]
    private(set) var switches: Set<String> = []
    private(set) var positional: [String] = []
    /// Every value of the options declared repeatable, in order.
    private(set) var repeated: [String: [String]] = [:]

    /// - Parameters:
    ///   - options: flags that take a value (without the leading `--`).
    ///   - flags: boolean flags.
    ///   - repeatable: options that may be given more than once (`all(_:)` lists their values).
    init(_ args: [String], options: Set<String>, flags: Set<String>, repeatable: Set<String> = []) throws {
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
            if flags.contains(name) {
                guard inline == nil else { throw UsageError("--\(name) takes no value") }
                switches.insert(name)
            } else if options.contains(name) {
                guard values[name] == nil || repeatable.contains(name) else { throw UsageError("--\(name) given twice") }
                if let inline {
                    values[name] = inline
                } else {
                    guard i < args.count else { throw UsageError("--\(name) needs a value") }
                    values[name] = args[i]
                    i += 1
                }
                repeated[name, default: []].append(values[name]!)
            } else {
                throw UsageError("unknown option --\(name)")
            }
        }
    }

    /// The value of `--name`, if given.
    func value(_ name: String) -> String? { values[name] }

    /// Every value given for a repeatable `--name`, in order (empty when absent).
    func all(_ name: String) -> [String] { repeated[name] ?? [] }

    /// The value of `--name`, which must be given.
    func required(_ name: String) throws -> String {
        guard let v = values[name] else { throw UsageError("--\(name) is required") }
        return v
    }

    /// Whether the boolean `--name` was given.
    func flag(_ name: String) -> Bool { switches.contains(name) }

    /// `--name` parsed as an integer within `range`, or `nil` when absent.
    func int(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let s = values[name] else { return nil }
        guard let v = Int(s), range.contains(v) else {
            throw UsageError("--\(name) must be an integer in \(range.lowerBound)…\(range.upperBound), got '\(s)'")
        }
        return v
    }

    /// `--name` parsed as a number within `range`, or `nil` when absent.
    func double(_ name: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let s = values[name] else { return nil }
        guard let v = Double(s), v.isFinite, range.contains(v) else {
            throw UsageError("--\(name) must be a number in \(range.lowerBound)…\(range.upperBound), got '\(s)'")
        }
        return v
    }

    /// Fails when positional arguments were given to a command that takes none.
    func noPositional() throws {
        if let p = positional.first { throw UsageError("unexpected argument '\(p)'") }
    }
}

import Foundation

/// One option of a reducer or a command, declared once: its name, the kind of value it takes, its default
/// and its help. Usage texts, parsing, validation and the per-method option checks all come from it.
public struct OptionSpec: Sendable {
    /// The kind of value an option takes.
    public enum Kind: Sendable {
        /// No value: present or not.
        case flag
        /// An integer in the range.
        case int(ClosedRange<Int>)
        /// A finite number in the range.
        case number(ClosedRange<Double>)
        /// One of the words.
        case choice([String])
        /// Any text (a path, a prompt, a list parsed by its command).
        case text
    }

    /// The name without the leading `--`.
    public var name: String
    /// The kind of value.
    public var kind: Kind
    /// The value's placeholder in usage lines (`N`, `R`, `FILE`); empty for flags.
    public var placeholder: String
    /// The default, as shown in help, or `nil`.
    public var defaultValue: String?
    /// What it does, one or a few sentences.
    public var help: String
    /// Whether it may be given more than once (every value is kept, in order).
    public var repeatable: Bool

    /// An option; `placeholder` defaults to the choices (`paper|authors`) or `X`.
    public init(_ name: String, _ kind: Kind, placeholder: String? = nil, default defaultValue: String? = nil,
                repeatable: Bool = false, help: String) {
        self.name = name
        self.kind = kind
        if let placeholder {
            self.placeholder = placeholder
        } else if case .choice(let words) = kind {
            self.placeholder = words.joined(separator: "|")
        } else if case .flag = kind {
            self.placeholder = ""
        } else {
            self.placeholder = "X"
        }
        self.defaultValue = defaultValue
        self.help = help
        self.repeatable = repeatable
    }

    /// Whether it takes no value.
    public var isFlag: Bool { if case .flag = kind { true } else { false } }

    /// Checks `value` against the kind: `nil` when it fits, else the one-line reason.
    public func problem(with value: String) -> String? {
        switch kind {
        case .flag: return "--\(name) takes no value"
        case .int(let r):
            guard let v = Int(value), r.contains(v) else {
                return "--\(name) must be an integer in \(r.lowerBound)…\(r.upperBound), got '\(value)'"
            }
        case .number(let r):
            guard let v = Double(value), v.isFinite, r.contains(v) else {
                return "--\(name) must be a number in \(r.lowerBound)…\(r.upperBound), got '\(value)'"
            }
        case .choice(let words):
            guard words.contains(value) else {
                return "--\(name) must be " + Self.list(words.map { "'\($0)'" }) + ", got '\(value)'"
            }
        case .text: break
        }
        return nil
    }

    /// `a`, `a or b`, `a, b or c`.
    static func list(_ xs: [String]) -> String {
        xs.count <= 2 ? xs.joined(separator: " or ") : xs.dropLast().joined(separator: ", ") + " or " + xs.last!
    }

    /// The option's lines in a usage text: `--name X` then the help (and default), wrapped at `width`.
    public func usageLines(width: Int = 104) -> [String] {
        let head = "  --\(name)" + (placeholder.isEmpty ? "" : " \(placeholder)")
        let text = help + (defaultValue.map { " (default \($0))" } ?? "")
        return wrapped(text, first: head, indent: 27, width: width)
    }
}

/// `text` wrapped at `width` columns, the first line after `first` (padded to `indent`, or on a line of its
/// own when longer), the others indented by `indent`.
func wrapped(_ text: String, first: String, indent: Int, width: Int) -> [String] {
    var lines: [String] = []
    var line = first.count + 1 <= indent ? first.padding(toLength: indent, withPad: " ", startingAt: 0) : first
    if line.count > indent {
        lines.append(line)
        line = String(repeating: " ", count: indent)
    }
    var empty = true
    for word in text.split(separator: " ") {
        if !empty && line.count + 1 + word.count > width {
            lines.append(line)
            line = String(repeating: " ", count: indent)
            empty = true
        }
        line += (empty ? "" : " ") + word
        empty = false
    }
    lines.append(line)
    return lines
}

/// Option values given by name, as a command line or a library caller gives them; read through the
/// declared `OptionSpec`s, which validate them.
public struct OptionValues: Sendable {
    /// The values of options that take one (the last given, for a repeatable option all in `repeated`).
    public var values: [String: String]
    /// The flags given.
    public var flags: Set<String>

    /// Values from a dictionary (`["keep": "64"]`) and a set of flags.
    public init(_ values: [String: String] = [:], flags: Set<String> = []) {
        self.values = values
        self.flags = flags
    }

    /// Whether `--name` was given (with or without a value).
    public func has(_ name: String) -> Bool { values[name] != nil || flags.contains(name) }

    /// The text of `--name`, if given.
    public func text(_ name: String) -> String? { values[name] }

    /// Whether the flag `--name` was given.
    public func flag(_ name: String) -> Bool { flags.contains(name) }

    /// `--name` as an integer, checked against `spec`, or `nil` when absent.
    public func int(_ spec: OptionSpec) throws -> Int? {
        guard let s = values[spec.name] else { return nil }
        if let p = spec.problem(with: s) { throw OptionError(p) }
        return Int(s)!
    }

    /// `--name` as a number, checked against `spec`, or `nil` when absent.
    public func number(_ spec: OptionSpec) throws -> Double? {
        guard let s = values[spec.name] else { return nil }
        if let p = spec.problem(with: s) { throw OptionError(p) }
        return Double(s)!
    }

    /// `--name` as one of its choices, checked against `spec`, or `nil` when absent.
    public func choice(_ spec: OptionSpec) throws -> String? {
        guard let s = values[spec.name] else { return nil }
        if let p = spec.problem(with: s) { throw OptionError(p) }
        return s
    }
}

/// Options that do not fit what was declared (a usage error: the command line exits with 2).
public struct OptionError: Error, CustomStringConvertible, Sendable {
    /// One line.
    public let description: String
    /// An error with its message.
    public init(_ message: String) { description = message }
}

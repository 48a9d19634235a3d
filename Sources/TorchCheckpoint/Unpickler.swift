import SafeTensors

/// A storage a state dict's tensors view: `('storage', torch.FloatStorage, '0', 'cpu', numel)` as a
/// persistent id, i.e. the record `<prefix>/data/<key>` holding `numel` elements of `dtype`.
struct StorageRef: Sendable, Equatable {
    /// Element type, from the storage class (`FloatStorage` → F32, `HalfStorage` → F16, …).
    var dtype: DType
    /// The record's key (`data/<key>`).
    var key: String
    /// Number of elements the pickle says the storage holds.
    var numel: Int
}

/// A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view into a storage.
struct TensorRef: Sendable, Equatable {
    /// The storage viewed.
    var storage: StorageRef
    /// First element's index in the storage.
    var offset: Int
    /// Extents, outermost first.
    var shape: [Int]
    /// Element steps per dimension (same count as `shape`).
    var strides: [Int]
}

/// The globals a state dict may name; nothing else can be referenced, so nothing else can be called.
enum AllowedGlobal: Sendable, Equatable {
    /// `collections.OrderedDict` (called with no arguments: an empty dict).
    case orderedDict
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    case rebuildTensorV2
    /// `torch._utils._rebuild_parameter(data, requires_grad, hooks)` and `_rebuild_parameter_with_state`
    /// (one more argument): the tensor `data`.
    case rebuildParameter
    /// A typed storage class such as `torch.FloatStorage`, naming the element type of a persistent id.
    case storageType(DType)

    /// Looks a global up in the allow-list.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            self = .rebuildParameter
        case ("torch", _):
            guard let dtype = Self.storageTypes[name] else { return nil }
            self = .storageType(dtype)
        default: return nil
        }
    }

    /// `torch.<Name>Storage` → element type.
    static let storageTypes: [String: DType] = [
        "DoubleStorage": .F64, "FloatStorage": .F32, "HalfStorage": .F16, "BFloat16Storage": .BF16,
        "LongStorage": .I64, "IntStorage": .I32, "ShortStorage": .I16, "CharStorage": .I8,
        "ByteStorage": .U8, "BoolStorage": .BOOL,
    ]
}

/// A value the pickle machine builds. Containers are boxes (lists and dicts are mutated after creation,
/// and the memo shares them), each registered in the machine's arena so they can be torn down without
/// recursion.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PickleBox)
    case list(PickleBox)
    case dict(PickleDict)
    case global(AllowedGlobal)
    case storage(StorageRef)
    case tensor(TensorRef)

    /// What the value is, for error messages.
    var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global: return "global"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }

    /// Nesting depth: 0 for a leaf, 1 + the deepest child for a container (as recorded when built).
    var depth: Int {
        switch self {
        case .tuple(let b), .list(let b): return b.depth
        case .dict(let d): return d.depth
        default: return 0
        }
    }
}

/// The items of a tuple or list.
final class PickleBox {
    var items: [PickleValue]
    var depth: Int
    init(_ items: [PickleValue], depth: Int) {
        self.items = items
        self.depth = depth
    }
}

/// The entries of a dict, in insertion order (a later equal key replaces nothing: both are kept, and the
/// reader keeps the last, as Python would).
final class PickleDict {
    var entries: [(PickleValue, PickleValue)] = []
    var depth = 1
}

/// A pickle interpreter for the subset of protocols 2–5 that `torch.save` writes for a state dict.
///
/// It is a data interpreter, not Python: it can build None, bools, 64-bit ints, floats, strings, bytes,
/// tuples, lists and dicts, plus the storages and tensors the allow-listed globals describe. A global
/// outside `AllowedGlobal` is refused with its module and name when it is *named* (GLOBAL, STACK_GLOBAL),
/// before anything could call it; REDUCE and BUILD only dispatch to the allow-list's fixed Swift code.
/// The opcodes that import or construct arbitrary objects (INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1–4) and the
/// text-protocol ones are refused by opcode.
///
/// Bounds: every length prefix is checked against the bytes left before anything is allocated; each
/// opcode adds at most one value, so the machine holds O(record size) values; containers nest at most
/// `maxDepth` deep; ints must fit in 64 bits.
struct Unpickler {
    /// Deepest container nesting accepted (a state dict needs 4: dict → tensor args → size tuple).
    static let maxDepth = 64

    let data: UnsafeRawBufferPointer
    let fileName: String
    let record: String

    private var pos = 0
    private var opcodeStart = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [UInt32: PickleValue] = [:]
    private var arena: [AnyObject] = []

    init(_ data: UnsafeRawBufferPointer, fileName: String, record: String) {
        self.data = data
        self.fileName = fileName
        self.record = record
    }

    /// Runs the pickle and returns the state dict it holds: each string key whose value is a tensor (or a
    /// parameter), in the pickle's order. Values that are not tensors are skipped.
    mutating func stateDict() throws(TorchCheckpointError) -> [(String, TensorRef)] {
        defer { tearDown() }
        let top = try run()
        guard case .dict(let dict) = top else {
            throw fail("expected a dict (the state dict) at top level, found a \(top.kindName)")
        }
        var out: [(String, TensorRef)] = []
        var seen: [String: Int] = [:]
        for (key, value) in dict.entries {
            guard case .string(let name) = key else {
                throw fail("state dict key is a \(key.kindName), expected a str")
            }
            guard case .tensor(let t) = value else { continue }
            if let i = seen[name] {
                out[i] = (name, t)
            } else {
                seen[name] = out.count
                out.append((name, t))
            }
        }
        return out
    }

    /// Empties every container iteratively, so that releasing them never recurses (deep or cyclic
    /// structures built through the memo would otherwise overflow the stack or leak).
    private mutating func tearDown() {
        stack.removeAll()
        memo.removeAll()
        for object in arena {
            if let b = object as? PickleBox { b.items.removeAll() }
            if let d = object as? PickleDict { d.entries.removeAll() }
        }
        arena.removeAll()
    }

    private func fail(_ reason: String) -> TorchCheckpointError {
        .invalidPickle(file: fileName, record: record, offset: opcodeStart, reason: reason)
    }

    // MARK: reading

    private mutating func byte() throws(TorchCheckpointError) -> UInt8 {
        guard pos < data.count else { throw fail("reached the end of the record without a STOP opcode") }
        defer { pos += 1 }
        return data[pos]
    }

    private mutating func bytes(_ n: Int) throws(TorchCheckpointError) -> UnsafeRawBufferPointer {
        guard n <= data.count - pos else {
            throw fail("length \(n) exceeds the \(data.count - pos) bytes left in the record")
        }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: data[pos..<(pos + n)])
    }

    private mutating func uint(_ n: Int) throws(TorchCheckpointError) -> UInt64 {
        let b = try bytes(n)
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(b[i]) }
        return v
    }

    /// A length prefix of `n` bytes, checked against the bytes left.
    private mutating func length(_ n: Int) throws(TorchCheckpointError) -> Int {
        let v = try uint(n)
        guard v <= UInt64(data.count - pos) else {
            throw fail("length \(v) exceeds the \(data.count - pos) bytes left in the record")
        }
        return Int(v)
    }

    private mutating func line() throws(TorchCheckpointError) -> String {
        var end = pos
        while end < data.count, data[end] != 0x0A { end += 1 }
        guard end < data.count else { throw fail("GLOBAL name is not terminated by a newline") }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: data[pos..<end]), as: UTF8.self)
        pos = end + 1
        return s
    }

    private mutating func utf8(_ n: Int) throws(TorchCheckpointError) -> String {
        let b = try bytes(n)
        guard let s = String(validating: b, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }

    // MARK: the stack

    private var floor: Int { marks.last ?? 0 }

    private mutating func pop() throws(TorchCheckpointError) -> PickleValue {
        guard stack.count > floor else {
            throw fail("opcode needs a value on the stack, found none above the last mark")
        }
        return stack.removeLast()
    }

    private mutating func popMark() throws(TorchCheckpointError) -> [PickleValue] {
        guard let m = marks.popLast() else { throw fail("opcode needs a mark on the stack, found none") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func container(_ items: [PickleValue], list: Bool) throws(TorchCheckpointError) -> PickleValue {
        let depth = 1 + (items.map(\.depth).max() ?? 0)
        guard depth <= Self.maxDepth else { throw fail("containers nest deeper than \(Self.maxDepth) levels") }
        let box = PickleBox(items, depth: depth)
        arena.append(box)
        return list ? .list(box) : .tuple(box)
    }

    private mutating func newDict() -> PickleDict {
        let d = PickleDict()
        arena.append(d)
        return d
    }

    /// `depth` raised to hold `child` one level down. (Returned rather than updated in place: the child may
    /// be the container itself, appended to itself through the memo.)
    private func grown(_ depth: Int, by child: PickleValue) throws(TorchCheckpointError) -> Int {
        let d = max(depth, child.depth + 1)
        guard d <= Self.maxDepth else { throw fail("containers nest deeper than \(Self.maxDepth) levels") }
        return d
    }

    private func ints(_ v: PickleValue, _ what: String) throws(TorchCheckpointError) -> [Int] {
        guard case .tuple(let b) = v else { throw fail("\(what) is a \(v.kindName), expected a tuple of ints") }
        var out: [Int] = []
        for item in b.items {
            guard case .int(let i) = item else { throw fail("\(what) holds a \(item.kindName), expected ints") }
            out.append(Int(i))
        }
        return out
    }

    // MARK: the machine

    private mutating func run() throws(TorchCheckpointError) -> PickleValue {
        while true {
            opcodeStart = pos
            let op = try byte()
            switch op {
            case 0x80:  // PROTO
                let v = try byte()
                guard v >= 2 && v <= 5 else { throw fail("pickle protocol \(v) is not supported, expected 2 to 5") }
            case 0x95:  // FRAME: a length hint; the bytes that follow are read as usual
                let n = try uint(8)
                guard n <= UInt64(data.count - pos) else {
                    throw fail("frame of \(n) bytes exceeds the \(data.count - pos) bytes left in the record")
                }
            case 0x2E:  // STOP
                let v = try pop()
                return v
            case 0x28: marks.append(stack.count)  // MARK
            case 0x30: _ = try pop()  // POP
            case 0x31: _ = try popMark()  // POP_MARK
            case 0x32:  // DUP
                let v = try pop()
                stack.append(v)
                stack.append(v)
            case 0x4E: stack.append(.none)  // NONE
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case 0x4A: stack.append(.int(Int64(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x4B: stack.append(.int(Int64(try uint(1))))  // BININT1
            case 0x4D: stack.append(.int(Int64(try uint(2))))  // BININT2
            case 0x8A, 0x8B:  // LONG1, LONG4: little-endian two's complement
                let n = try length(op == 0x8A ? 1 : 4)
                guard n <= 8 else { throw fail("integer of \(n) bytes does not fit in 64 bits") }
                var v = try uint(n)
                if n > 0, n < 8, v & (1 << (8 * UInt64(n) - 1)) != 0 { v |= ~0 << (8 * UInt64(n)) }
                stack.append(.int(Int64(bitPattern: v)))
            case 0x47:  // BINFLOAT, big-endian
                let b = try bytes(8)
                var bits: UInt64 = 0
                for i in 0..<8 { bits = bits << 8 | UInt64(b[i]) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x58: stack.append(.string(try utf8(try length(4))))  // BINUNICODE
            case 0x8C: stack.append(.string(try utf8(try length(1))))  // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8(try length(8))))  // BINUNICODE8
            case 0x54, 0x55:  // BINSTRING, SHORT_BINSTRING (Python 2 str): bytes read as Latin-1
                let b = try bytes(try length(op == 0x54 ? 4 : 1))
                stack.append(.string(String(b.map { Character(Unicode.Scalar($0)) })))
            case 0x42: stack.append(.bytes(Array(try bytes(try length(4)))))  // BINBYTES
            case 0x43: stack.append(.bytes(Array(try bytes(try length(1)))))  // SHORT_BINBYTES
            case 0x8E: stack.append(.bytes(Array(try bytes(try length(8)))))  // BINBYTES8
            case 0x29: stack.append(try container([], list: false))  // EMPTY_TUPLE
            case 0x74: stack.append(try container(try popMark(), list: false))  // TUPLE
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                let n = Int(op - 0x84)
                guard stack.count - floor >= n else {
                    throw fail("TUPLE\(n) needs \(n) values on the stack, found \(stack.count - floor)")
                }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                stack.append(try container(items, list: false))
            case 0x5D: stack.append(try container([], list: true))  // EMPTY_LIST
            case 0x6C: stack.append(try container(try popMark(), list: true))  // LIST
            case 0x61, 0x65:  // APPEND, APPENDS
                let items = op == 0x61 ? [try pop()] : try popMark()
                guard case .list(let box) = try pop() else {
                    throw fail("\(op == 0x61 ? "APPEND" : "APPENDS") expects a list on the stack")
                }
                for item in items { box.depth = try grown(box.depth, by: item) }
                box.items += items
                stack.append(.list(box))
            case 0x7D: stack.append(.dict(newDict()))  // EMPTY_DICT
            case 0x64, 0x73, 0x75:  // DICT, SETITEM, SETITEMS
                let items: [PickleValue]
                if op == 0x73 {
                    let v = try pop()
                    let k = try pop()
                    items = [k, v]
                } else {
                    items = try popMark()
                }
                guard items.count % 2 == 0 else { throw fail("odd number of items for a dict's keys and values") }
                let dict: PickleDict
                if op == 0x64 {
                    dict = newDict()
                } else {
                    guard case .dict(let d) = try pop() else {
                        throw fail("\(op == 0x73 ? "SETITEM" : "SETITEMS") expects a dict on the stack")
                    }
                    dict = d
                }
                var i = 0
                while i < items.count {
                    dict.depth = try grown(dict.depth, by: items[i])
                    dict.depth = try grown(dict.depth, by: items[i + 1])
                    dict.entries.append((items[i], items[i + 1]))
                    i += 2
                }
                stack.append(.dict(dict))
            case 0x71, 0x72, 0x94:  // BINPUT, LONG_BINPUT, MEMOIZE
                let key =
                    op == 0x71
                    ? UInt32(try uint(1)) : op == 0x72 ? UInt32(try uint(4)) : UInt32(truncatingIfNeeded: memo.count)
                guard let top = stack.last, stack.count > floor else { throw fail("memo store with an empty stack") }
                memo[key] = top
            case 0x68, 0x6A:  // BINGET, LONG_BINGET
                let key = UInt32(try uint(op == 0x68 ? 1 : 4))
                guard let v = memo[key] else { throw fail("memo has no entry \(key)") }
                stack.append(v)
            case 0x63:  // GLOBAL "module\nname\n"
                let module = try line()
                let name = try line()
                stack.append(.global(try allowed(module, name)))
            case 0x93:  // STACK_GLOBAL
                let n = try pop()
                let m = try pop()
                guard case .string(let module) = m, case .string(let name) = n else {
                    throw fail("STACK_GLOBAL expects two strs, found \(m.kindName) and \(n.kindName)")
                }
                stack.append(.global(try allowed(module, name)))
            case 0x51:  // BINPERSID
                stack.append(try persistentLoad(try pop()))
            case 0x52:  // REDUCE
                let args = try pop()
                let callable = try pop()
                stack.append(try reduce(callable, args))
            case 0x62:  // BUILD: the state of an OrderedDict (its `_metadata`) or tensor is not needed
                let state = try pop()
                let target = try pop()
                switch target {
                case .dict, .tensor: stack.append(target)
                default: throw fail("BUILD on a \(target.kindName) (with a \(state.kindName) state) is not supported")
                }
            default:
                let name = Self.refusedOpcodes[op].map { " (\($0))" } ?? ""
                throw fail("unsupported opcode 0x\(String(op, radix: 16))\(name): not one a state dict uses")
            }
        }
    }

    /// Known opcodes the reader refuses, for clearer errors.
    static let refusedOpcodes: [UInt8: String] = [
        0x69: "INST, imports and calls a class", 0x6F: "OBJ, calls a class", 0x81: "NEWOBJ, calls a class",
        0x92: "NEWOBJ_EX, calls a class", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x50: "PERSID",
        0x49: "INT, text protocol", 0x4C: "LONG, text protocol", 0x46: "FLOAT, text protocol",
        0x53: "STRING, text protocol", 0x56: "UNICODE, text protocol", 0x67: "GET, text protocol",
        0x70: "PUT, text protocol", 0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET",
        0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
    ]

    private func allowed(_ module: String, _ name: String) throws(TorchCheckpointError) -> AllowedGlobal {
        guard let g = AllowedGlobal(module: module, name: name) else {
            throw .forbiddenGlobal(file: fileName, record: record, offset: opcodeStart, module: module, name: name)
        }
        return g
    }

    /// `('storage', StorageType, key, location, numel)` → the storage it names.
    private func persistentLoad(_ pid: PickleValue) throws(TorchCheckpointError) -> PickleValue {
        guard case .tuple(let b) = pid, b.items.count == 5, case .string("storage") = b.items[0] else {
            throw fail("persistent id is not ('storage', type, key, location, numel)")
        }
        guard case .global(.storageType(let dtype)) = b.items[1] else {
            throw fail("persistent id names a \(b.items[1].kindName) where a torch.*Storage class was expected")
        }
        guard case .string(let key) = b.items[2], !key.isEmpty,
            key.utf8.allSatisfy({
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F
            })
        else {
            throw fail("storage key must be a non-empty str of letters, digits and _")
        }
        guard case .string = b.items[3] else { throw fail("storage location must be a str such as 'cpu'") }
        guard case .int(let numel) = b.items[4], numel >= 0 else {
            throw fail("storage element count must be a non-negative int")
        }
        return .storage(StorageRef(dtype: dtype, key: key, numel: Int(numel)))
    }

    /// Calls an allow-listed global: fixed Swift code per global, never anything named by the data.
    private mutating func reduce(_ callable: PickleValue, _ args: PickleValue) throws(TorchCheckpointError)
        -> PickleValue
    {
        guard case .global(let g) = callable else {
            throw fail("REDUCE calls a \(callable.kindName), expected an allowed global")
        }
        guard case .tuple(let a) = args else { throw fail("REDUCE arguments are a \(args.kindName), expected a tuple") }
        let items = a.items
        switch g {
        case .orderedDict:
            guard items.isEmpty else { throw fail("collections.OrderedDict is only accepted with no arguments") }
            return .dict(newDict())
        case .rebuildTensorV2:
            guard items.count == 6 || items.count == 7 else {
                throw fail("_rebuild_tensor_v2 takes 6 or 7 arguments, found \(items.count)")
            }
            guard case .storage(let storage) = items[0] else {
                throw fail("_rebuild_tensor_v2's first argument is a \(items[0].kindName), expected a storage")
            }
            guard case .int(let offset) = items[1] else {
                throw fail("_rebuild_tensor_v2's storage offset is not an int")
            }
            return .tensor(
                TensorRef(
                    storage: storage, offset: Int(offset), shape: try ints(items[2], "size"),
                    strides: try ints(items[3], "stride")))
        case .rebuildParameter:
            guard items.count == 3 || items.count == 4, case .tensor = items[0] else {
                throw fail("_rebuild_parameter expects (tensor, requires_grad, hooks[, state])")
            }
            return items[0]
        case .storageType:
            throw fail("a storage class cannot be called")
        }
    }
}

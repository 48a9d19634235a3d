// libFuzzer harness for the unpickler: arbitrary bytes become `archive/data.pkl` of an otherwise valid
// stored zip archive that also holds a 64-byte storage record `archive/data/0` (and `data/1`, 2 bytes), so
// the fuzzer spends its time in the pickle machine and the view checks rather than in the zip directory.
// Every tensor that opens is read. Run with Tests/Fuzz/run.sh unpickle.
import SafeTensors
import TorchCheckpoint

/// A stored (uncompressed) zip archive of `entries`; CRCs are left 0 (the reader checks them only for
/// deflated entries).
func storedZip(_ entries: [(String, [UInt8])]) -> [UInt8] {
  var out: [UInt8] = [], central: [UInt8] = []
  func le(_ v: Int, _ n: Int, _ into: inout [UInt8]) { for i in 0..<n { into.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
  for (name, data) in entries {
    let offset = out.count, nameBytes = Array(name.utf8)
    le(0x0403_4b50, 4, &out); le(20, 2, &out); le(0, 2, &out); le(0, 2, &out); le(0, 4, &out); le(0, 4, &out)
    le(data.count, 4, &out); le(data.count, 4, &out); le(nameBytes.count, 2, &out); le(0, 2, &out)
    out += nameBytes
    out += data
    le(0x0201_4b50, 4, &central); le(20, 2, &central); le(20, 2, &central); le(0, 2, &central); le(0, 2, &central)
    le(0, 4, &central); le(0, 4, &central); le(data.count, 4, &central); le(data.count, 4, &central)
    le(nameBytes.count, 2, &central); le(0, 2, &central); le(0, 2, &central); le(0, 2, &central); le(0, 2, &central)
    le(0, 4, &central); le(offset, 4, &central)
    central += nameBytes
  }
  let cdOffset = out.count
  out += central
  le(0x0605_4b50, 4, &out); le(0, 2, &out); le(0, 2, &out); le(entries.count, 2, &out); le(entries.count, 2, &out)
  le(central.count, 4, &out); le(cdOffset, 4, &out); le(0, 2, &out)
  return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let pickle = Array(UnsafeBufferPointer(start: data, count: size))
  let archive = storedZip([
    ("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8)),
    ("archive/data/0", [UInt8](repeating: 0x3F, count: 64)), ("archive/data/1", [0x80, 0x3F]),
  ])
  guard let file = try? TorchCheckpointFile(bytes: archive, name: "fuzz.bin") else { return 0 }
  for name in file.tensorNames {
    guard let info = file.info(name) else { continue }
    if info.dtype.isConvertibleToFloat {
      _ = try? file.tensor(name)
    } else if info.dtype.isConvertibleToInt64 {
      _ = try? file.int64s(name)
    }
    _ = try? file.rawBytes(of: name)
  }
  return 0
}

// libFuzzer harness for the PNG decoder. Random mutations almost never keep a chunk's CRC or the zlib
// stream's Adler-32 right, so the decoder would refuse them before reaching the interesting code. The
// first input byte therefore picks a mode:
//   even: the rest is a PNG file; every chunk's CRC is recomputed before decoding (length fields kept).
//   odd:  the rest is IHDR's 13 bytes followed by raw (filtered) scanline bytes; the harness wraps them in
//         a valid zlib stream of stored blocks with the right Adler-32, so unfiltering, interlacing and
//         bit-depth / palette / transparency conversion are all exercised. Byte 14 onward may start with
//         a PLTE / tRNS payload: bytes 14 and 15 give their lengths (mod 769 and mod 257).
// Run with Tests/Fuzz/run.sh png.
import Inflate
import TRIMImage

func chunk(_ type: String, _ payload: [UInt8]) -> [UInt8] {
  let kind = Array(type.utf8)
  let n = UInt32(payload.count)
  var out: [UInt8] = [UInt8(n >> 24), UInt8(n >> 16 & 255), UInt8(n >> 8 & 255), UInt8(n & 255)]
  out += kind + payload
  let crc = Checksum.crc32(kind + payload)
  out += [UInt8(crc >> 24), UInt8(crc >> 16 & 255), UInt8(crc >> 8 & 255), UInt8(crc & 255)]
  return out
}

/// A zlib stream of stored deflate blocks holding `raw`.
func storedZlib(_ raw: [UInt8]) -> [UInt8] {
  var out: [UInt8] = [0x78, 0x01]
  var i = 0
  repeat {
    let n = min(65535, raw.count - i)
    let last: UInt8 = i + n == raw.count ? 1 : 0
    out += [last, UInt8(n & 255), UInt8(n >> 8), UInt8(~n & 255), UInt8((~n >> 8) & 255)]
    out += raw[i..<i + n]
    i += n
  } while i < raw.count
  let a = Checksum.adler32(raw)
  out += [UInt8(a >> 24), UInt8(a >> 16 & 255), UInt8(a >> 8 & 255), UInt8(a & 255)]
  return out
}

let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size >= 1 else { return 0 }
  let input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
  var file: [UInt8]
  if data[0] & 1 == 0 {
    // Fix every CRC that the declared lengths let us find.
    file = input
    var i = 8
    while i + 12 <= file.count {
      let n = Int(file[i]) << 24 | Int(file[i + 1]) << 16 | Int(file[i + 2]) << 8 | Int(file[i + 3])
      guard n <= file.count - i - 12 else { break }
      let crc = Checksum.crc32(file[(i + 4)..<(i + 8 + n)])
      file[i + 8 + n] = UInt8(crc >> 24)
      file[i + 9 + n] = UInt8(crc >> 16 & 255)
      file[i + 10 + n] = UInt8(crc >> 8 & 255)
      file[i + 11 + n] = UInt8(crc & 255)
      i += 12 + n
    }
  } else {
    guard input.count >= 15 else { return 0 }
    var ihdr = Array(input[0..<13])
    // Keep sizes small so the fuzzer spends its time on decoding, not on allocating.
    ihdr[0] = 0; ihdr[1] = 0; ihdr[2] &= 0x01
    ihdr[4] = 0; ihdr[5] = 0; ihdr[6] &= 0x01
    let plteCount = Int(input[13]) * 3 % 769
    let trnsCount = Int(input[14]) % 257
    var rest = Array(input[15...])
    let plte = Array(rest.prefix(plteCount)); rest.removeFirst(min(plteCount, rest.count))
    let trns = Array(rest.prefix(trnsCount)); rest.removeFirst(min(trnsCount, rest.count))
    file = signature + chunk("IHDR", ihdr)
    if !plte.isEmpty { file += chunk("PLTE", plte) }
    if !trns.isEmpty { file += chunk("tRNS", trns) }
    file += chunk("IDAT", storedZlib(rest)) + chunk("IEND", [])
  }
  // Declared sizes above 1 Mi pixels decode correctly but slowly under ASan; stop at the header for them.
  if file.count >= 24, Array(file[12..<16]) == Array("IHDR".utf8) {
    let w = Int(file[16]) << 24 | Int(file[17]) << 16 | Int(file[18]) << 8 | Int(file[19])
    let h = Int(file[20]) << 24 | Int(file[21]) << 16 | Int(file[22]) << 8 | Int(file[23])
    let (pixels, overflow) = w.multipliedReportingOverflow(by: h)
    if overflow || pixels > 1 << 20 { return 0 }
  }
  if let image = try? PNGDecoder.decode(file) {
    precondition(image.pixels.count == image.width * image.height * 3)
  }
  return 0
}

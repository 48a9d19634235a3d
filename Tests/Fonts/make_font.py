#!/usr/bin/env python3
"""Builds Weights/fonts/unifont-subset.bin.gz, the bitmap font heat-map titles use for non-ASCII text.

Input: GNU Unifont's plane-0 `.hex` file (one glyph a line, `XXXX:` code point then 32 hex digits for
an 8 x 16 glyph or 64 for a 16 x 16 one, rows top first, most significant bit leftmost). The bundled file
was made from Debian's `unifont` package 1:15.0.01-2 (GNU Unifont 15.0.01), `/usr/share/unifont/unifont.hex`:

    apt-get download unifont && dpkg-deb -x unifont_*.deb unifont
    python3 Tests/Fonts/make_font.py unifont/usr/share/unifont/unifont.hex Weights/fonts/unifont-subset.bin.gz

Output format (all integers little-endian), gzip-compressed with mtime 0 so the output is reproducible:

    offset 0   4 bytes   magic "TUF1"
    offset 4   u8        version = 1
    offset 5   u8        glyph height in pixels = 16
    offset 6   u16       range count R (1 ... 4096)
    offset 8   R x 8     ranges, in ascending code-point order and not overlapping:
                           u32 first code point, u16 glyph count (>= 1), u8 width (8 or 16), u8 reserved = 0
    then                 the glyphs of every range in order, each `height x width / 8` bytes:
                           one byte (width 8) or two big-endian bytes (width 16) per row, top row first,
                           most significant bit = leftmost pixel

A range is a run of consecutive code points that all have a glyph of the same width; the file ends exactly
after the last glyph. Python 3 standard library only.
"""

import gzip
import struct
import sys

# The Unicode blocks kept (inclusive), chosen for prompts in European and East Asian languages.
BLOCKS = [
    (0x00A0, 0x00FF, "Latin-1 Supplement"),
    (0x0100, 0x017F, "Latin Extended-A"),
    (0x0180, 0x024F, "Latin Extended-B"),
    (0x0250, 0x02AF, "IPA Extensions"),
    (0x02B0, 0x02FF, "Spacing Modifier Letters"),
    (0x0370, 0x03FF, "Greek and Coptic"),
    (0x0400, 0x04FF, "Cyrillic"),
    (0x0500, 0x052F, "Cyrillic Supplement"),
    (0x1100, 0x11FF, "Hangul Jamo"),
    (0x1E00, 0x1EFF, "Latin Extended Additional"),
    (0x1F00, 0x1FFF, "Greek Extended"),
    (0x2000, 0x206F, "General Punctuation"),
    (0x20A0, 0x20CF, "Currency Symbols"),
    (0x2100, 0x214F, "Letterlike Symbols"),
    (0x2190, 0x21FF, "Arrows"),
    (0x3000, 0x303F, "CJK Symbols and Punctuation"),
    (0x3040, 0x309F, "Hiragana"),
    (0x30A0, 0x30FF, "Katakana"),
    (0x3130, 0x318F, "Hangul Compatibility Jamo"),
    (0x31F0, 0x31FF, "Katakana Phonetic Extensions"),
    (0x4E00, 0x9FFF, "CJK Unified Ideographs"),
    (0xAC00, 0xD7A3, "Hangul Syllables"),
    (0xFF00, 0xFFEF, "Halfwidth and Fullwidth Forms"),
]

MAGIC = b"TUF1"
VERSION = 1
HEIGHT = 16
MAX_RANGE = 0xFFFF


def wanted(code):
    return any(lo <= code <= hi for lo, hi, _ in BLOCKS)


def read_hex(path):
    glyphs = {}
    with open(path, encoding="ascii") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            code, _, bits = line.partition(":")
            code = int(code, 16)
            if len(bits) not in (32, 64):
                raise SystemExit(f"{path}:{number}: glyph of {len(bits)} hex digits (expected 32 or 64)")
            if wanted(code):
                glyphs[code] = bytes.fromhex(bits)
    return glyphs


def build(glyphs):
    ranges = []  # [first, count, width]
    for code in sorted(glyphs):
        width = 8 if len(glyphs[code]) == HEIGHT else 16
        last = ranges[-1] if ranges else None
        if last and last[0] + last[1] == code and last[2] == width and last[1] < MAX_RANGE:
            last[1] += 1
        else:
            ranges.append([code, 1, width])
    out = bytearray(MAGIC + struct.pack("<BBH", VERSION, HEIGHT, len(ranges)))
    for first, count, width in ranges:
        out += struct.pack("<IHBB", first, count, width, 0)
    for first, count, _ in ranges:
        for code in range(first, first + count):
            out += glyphs[code]
    return bytes(out), ranges


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: make_font.py unifont.hex OUTPUT.bin.gz")
    glyphs = read_hex(sys.argv[1])
    data, ranges = build(glyphs)
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    with open(sys.argv[2], "wb") as f:
        f.write(packed)
    wide = sum(1 for g in glyphs.values() if len(g) == 2 * HEIGHT)
    print(f"{len(glyphs)} glyphs ({wide} wide) in {len(ranges)} ranges: "
          f"{len(data)} bytes, {len(packed)} gzip-compressed")
    for lo, hi, name in BLOCKS:
        have = sum(1 for c in glyphs if lo <= c <= hi)
        print(f"  U+{lo:04X}-U+{hi:04X} {name}: {have}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Goldens for the Swift `Inflate` module: deflate / zlib / gzip streams made by Python's zlib and gzip,
plus corrupt variants, with what zlib makes of each.

Regenerate (from the package root):
    .venv-ref/bin/python Tests/Goldens/inflate_goldens.py

Writes Tests/Goldens/inflate/cases.json: a list of
    {"name", "format": "raw"|"zlib"|"gzip", "stream": base64,
     "expect": {"size", "crc32"} | {"error": zlib's message},
     "plain": base64 (small cases only) | "generator": {"kind", "seed", "size"} (large cases)}
Corrupt variants carry "base" (the intact case's name) and "edit" instead of "stream" (see corrupt_variant).
Large plaintexts are not stored: they come from a 32-bit LCG that the Swift test reimplements (`lcg_*` below).
The outcome of each stream is decided by zlib itself (wbits -15 / 15 / 31); gzip files are read member by
member like Python's `gzip.decompress` (zero padding between members skipped) but through zlib, which also
verifies the optional header CRC-16. Deterministic: fixed seeds, gzip mtime 0.
"""
import base64
import gzip
import io
import json
import os
import random
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inflate")

WORDS = [b"the", b"cat", b"sat", b"on", b"a", b"mat", b"while", b"dogs", b"bark", b"loudly",
         b"in", b"zurich", b"under", b"grey", b"skies", b"1234"]


def lcg(seed):
    """x <- x * 1664525 + 1013904223 (mod 2^32), yielding successive states."""
    x = seed & 0xFFFFFFFF
    while True:
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        yield x


def lcg_words(seed, size, vocabulary=16):
    """Text-like data: word (x >> 16) % vocabulary of WORDS for each state x, then a newline when bits
    8..10 of x are 0, else a space. `vocabulary` is 16 or 4 (4: more compressible)."""
    out = bytearray()
    for x in lcg(seed):
        if len(out) >= size:
            break
        out += WORDS[(x >> 16) % vocabulary]
        out += b"\n" if (x >> 8) & 7 == 0 else b" "
    return bytes(out[:size])


def lcg_bytes(seed, size):
    """Incompressible data: the top byte of each state."""
    g = lcg(seed)
    return bytes(next(g) >> 24 for _ in range(size))


def raw_deflate(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, wbits=15, mem=8, flushes=()):
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits, mem, strategy)
    out, pos = b"", 0
    for at, mode in flushes:  # emit sync/full flush points inside the stream
        out += c.compress(data[pos:at]) + c.flush(mode)
        pos = at
    return out + c.compress(data[pos:]) + c.flush()


def zlib_stream(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, wbits=15, mem=8):
    c = zlib.compressobj(level, zlib.DEFLATED, wbits, mem, strategy)
    return c.compress(data) + c.flush()


def gzip_member(data, level=9, name=None, comment=None, extra=None, hcrc=False):
    """A gzip member with optional FNAME/FCOMMENT/FEXTRA/FHCRC fields, built around zlib's raw deflate."""
    flags = (8 if name is not None else 0) | (16 if comment is not None else 0) \
        | (4 if extra is not None else 0) | (2 if hcrc else 0)
    head = bytes([0x1F, 0x8B, 8, flags, 0, 0, 0, 0, 2 if level == 9 else 0, 255])
    if extra is not None:
        head += len(extra).to_bytes(2, "little") + extra
    if name is not None:
        head += name + b"\0"
    if comment is not None:
        head += comment + b"\0"
    if hcrc:
        head += (zlib.crc32(head) & 0xFFFF).to_bytes(2, "little")
    body = raw_deflate(data, level)
    return head + body + zlib.crc32(data).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(4, "little")


def python_gzip(data, level=9):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="sample.txt", mode="wb", compresslevel=level, fileobj=buf, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def reference(fmt, stream):
    """What zlib makes of `stream`: ("ok", bytes) or ("error", message)."""
    try:
        if fmt == "raw":
            d = zlib.decompressobj(-15)
            out = d.decompress(stream)
            if not d.eof:
                return "error", "incomplete or truncated stream"
            return "ok", out
        if fmt == "zlib":
            d = zlib.decompressobj(15)
            out = d.decompress(stream)
            if not d.eof:
                return "error", "incomplete or truncated stream"
            return "ok", out
        # gzip: members back to back, zero padding skipped, anything else must be another member.
        out, rest = b"", stream
        if not rest:
            return "error", "empty gzip file"
        while rest:
            d = zlib.decompressobj(31)
            out += d.decompress(rest)
            if not d.eof:
                return "error", "incomplete or truncated stream"
            rest = d.unused_data.lstrip(b"\0")
        return "ok", out
    except zlib.error as e:
        return "error", str(e)


def main():
    rng = random.Random(20251)
    text = ("A photo of a cat sitting on a mat. " * 40 + "Zürich, 東京, Ελλάδα — ünïcödé text!\n" * 20).encode()
    small_random = lcg_bytes(7, 3000)
    words_64k = lcg_words(11, 65536)
    cases = []

    def add(name, fmt, stream, plain=None, generator=None, corrupt=0):
        status, out = reference(fmt, stream)
        assert status == "ok", (name, out)
        case = {"name": name, "format": fmt, "stream": base64.b64encode(stream).decode(),
                "expect": {"size": len(out), "crc32": zlib.crc32(out)}}
        if plain is not None:
            assert out == plain, name
            case["plain"] = base64.b64encode(plain).decode()
        if generator is not None:
            case["generator"] = generator
        cases.append(case)
        for i in range(corrupt):
            bad, edit, how = corrupt_variant(rng, stream, i)
            status, out = reference(fmt, bad)
            c = {"name": f"{name} / corrupt {i}: {how}", "format": fmt, "base": name, "edit": edit}
            c["expect"] = {"size": len(out), "crc32": zlib.crc32(out)} if status == "ok" else {"error": out}
            cases.append(c)

    # Stored, fixed and dynamic blocks, all levels, strategies and window sizes.
    add("raw empty level 6", "raw", raw_deflate(b""), plain=b"", corrupt=2)
    add("raw empty level 0 (one empty stored block)", "raw", raw_deflate(b"", 0), plain=b"")
    add("raw one byte", "raw", raw_deflate(b"x"), plain=b"x", corrupt=3)
    for level in range(10):
        add(f"raw text level {level}", "raw", raw_deflate(text, level), plain=text, corrupt=6)
    add("raw text Z_FIXED (fixed Huffman blocks)", "raw", raw_deflate(text, 9, zlib.Z_FIXED), plain=text, corrupt=8)
    add("raw text Z_HUFFMAN_ONLY", "raw", raw_deflate(text, 9, zlib.Z_HUFFMAN_ONLY), plain=text, corrupt=4)
    add("raw text Z_RLE", "raw", raw_deflate(text, 9, zlib.Z_RLE), plain=text, corrupt=4)
    add("raw text Z_FILTERED", "raw", raw_deflate(text, 9, zlib.Z_FILTERED), plain=text, corrupt=4)
    add("raw text with sync and full flushes (empty stored blocks mid-stream)", "raw",
        raw_deflate(text, 6, flushes=((100, zlib.Z_SYNC_FLUSH), (900, zlib.Z_FULL_FLUSH), (901, zlib.Z_SYNC_FLUSH))),
        plain=text, corrupt=6)
    add("raw small random bytes level 9 (stored by zlib)", "raw", raw_deflate(small_random, 9), plain=small_random,
        corrupt=4)
    add("raw small random bytes Z_FIXED", "raw", raw_deflate(small_random, 9, zlib.Z_FIXED), plain=small_random,
        corrupt=4)
    runs = bytes([0]) * 5000 + bytes(range(256)) * 3 + b"ab" * 700
    add("raw long runs and overlapping matches", "raw", raw_deflate(runs, 9), plain=runs, corrupt=6)
    add("raw 64 KiB words level 1 (many dynamic blocks)", "raw", raw_deflate(words_64k, 1, mem=1),
        generator={"kind": "words", "seed": 11, "size": 65536, "vocabulary": 16}, corrupt=6)
    for wbits in (9, 12, 15):
        add(f"zlib text wbits {wbits}", "zlib", zlib_stream(text, 9, wbits=wbits), plain=text, corrupt=4)
    add("zlib empty", "zlib", zlib.compress(b""), plain=b"", corrupt=3)
    add("zlib text level 0", "zlib", zlib.compress(text, 0), plain=text, corrupt=4)
    add("zlib text level 9 + trailing garbage (ignored)", "zlib", zlib.compress(text, 9) + b"junk", plain=text)
    big = lcg_words(2024, 1 << 20, vocabulary=4)
    add("zlib 1 MiB words level 9", "zlib", zlib.compress(big, 9),
        generator={"kind": "words", "seed": 2024, "size": 1 << 20, "vocabulary": 4}, corrupt=3)
    rnd = lcg_bytes(99, 20000)
    add("zlib 20000 random bytes level 6", "zlib", zlib.compress(rnd, 6),
        generator={"kind": "bytes", "seed": 99, "size": 20000}, corrupt=3)
    add("gzip by Python's gzip module (FNAME)", "gzip", python_gzip(text), plain=text, corrupt=6)
    add("gzip empty member", "gzip", python_gzip(b""), plain=b"", corrupt=3)
    add("gzip with FEXTRA, FNAME, FCOMMENT, FHCRC", "gzip",
        gzip_member(text, 6, name=b"n.txt", comment=b"a comment", extra=b"AB\x02\x00hi", hcrc=True),
        plain=text, corrupt=8)
    multi = gzip_member(b"first member\n", 6) + b"\0\0\0" + python_gzip(text, 1) + gzip_member(b"", 9) + b"\0"
    add("gzip three members with zero padding", "gzip", multi, plain=b"first member\n" + text, corrupt=6)

    # Hand-made invalid streams whose error zlib names.
    for name, fmt, stream in [
        ("raw reserved block type 3", "raw", bytes([0x07, 0x00])),
        ("raw stored block LEN/NLEN mismatch", "raw", bytes([0x01, 0x05, 0x00, 0xFA, 0xFE]) + b"hello"),
        ("raw stored block truncated", "raw", bytes([0x01, 0x05, 0x00, 0xFA, 0xFF]) + b"hel"),
        # Fixed block: length 3 at distance 1 before any output (bits 1,10, 0000001, 00000, 0000000).
        ("raw distance too far back", "raw", bytes([0x03, 0x02, 0x00])),
        ("raw empty input", "raw", b""),
        ("zlib bad method", "zlib", bytes([0x79, 0x9C]) + zlib.compress(b"x")[2:]),
        ("zlib bad header check", "zlib", bytes([0x78, 0x9D]) + zlib.compress(b"x")[2:]),
        ("zlib preset dictionary", "zlib", bytes([0x78, 0xBB, 0, 0, 0, 1]) + zlib.compress(b"x")[2:]),
        ("zlib window size code 8", "zlib", bytes([0x88, 0x1C]) + zlib.compress(b"x")[2:]),
        ("zlib Adler-32 mismatch", "zlib", zlib.compress(text)[:-1] + bytes([zlib.compress(text)[-1] ^ 1])),
        ("gzip bad magic", "gzip", b"\x1f\x8c" + python_gzip(text)[2:]),
        ("gzip reserved flag", "gzip", python_gzip(text)[:3] + bytes([0x20]) + python_gzip(text)[4:]),
        ("gzip trailing garbage", "gzip", python_gzip(text) + b"xyz"),
        ("gzip ISIZE mismatch", "gzip", python_gzip(text)[:-1] + b"\x07"),
        ("gzip empty file", "gzip", b""),
    ]:
        status, out = reference(fmt, stream)
        assert status == "error", (name, status)
        cases.append({"name": name, "format": fmt, "stream": base64.b64encode(stream).decode(),
                      "expect": {"error": out}})

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=0)
        f.write("\n")
    errors = sum("error" in c["expect"] for c in cases)
    print(f"{len(cases)} cases ({errors} expected errors), {os.path.getsize(os.path.join(OUT, 'cases.json'))} bytes")


def corrupt_variant(rng, stream, i):
    """A deterministic damaged copy of `stream`, the edit that makes it from `stream`, and a description.

    Edits (applied by the Swift test to the base case's stream): {"truncate": n} keeps the first n bytes;
    {"xor": [offset, mask]} xors one byte (a flipped bit, or a byte replaced); {"append": byte} adds one."""
    if not stream:
        return b"\x00", {"append": 0}, "a zero byte instead of nothing"
    kind = i % 3
    if kind == 0:
        cut = rng.randrange(0, len(stream))
        return stream[:cut], {"truncate": cut}, f"truncated to {cut} bytes"
    pos = rng.randrange(0, len(stream))
    mask = 1 << rng.randrange(8) if kind == 1 else (0xFF if stream[pos] != 0xFF else 0x0F)
    b = bytearray(stream)
    b[pos] ^= mask
    return bytes(b), {"xor": [pos, mask]}, f"byte {pos} xor {mask:#04x}"


if __name__ == "__main__":
    main()

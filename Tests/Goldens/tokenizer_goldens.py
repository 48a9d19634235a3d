#!/usr/bin/env python3
"""Goldens for the Swift `CLIPTokenizer`: ids from Hugging Face's CLIPTokenizerFast on a hand-written and a
randomized corpus, built offline from the bundled OpenAI vocabulary.

Regenerate (from the package root):
    .venv-ref/bin/python Tests/Goldens/tokenizer_goldens.py [--bench]

The tokenizer is rebuilt here exactly as the openai/clip-vit-large-patch14-336 checkpoint ships it, without
hub access (Docs/SEMANTICS.md §2): vocab.json and merges.txt are derived from Weights/bpe_simple_vocab_16e6.txt.gz, a
tokenizer.json is written from transformers' own CLIPTokenizer construction (NFC, Replace(\\s+ -> " "),
Lowercase; Split on the CLIP regex + ByteLevel; BPE with "</w>", unk <|endoftext|>; RobertaProcessing) with
the two special tokens marked `"normalized": true` as in the checkpoint's tokenizer.json/tokenizer_config.json,
and the directory is loaded with `CLIPTokenizerFast.from_pretrained`. The script asserts that configuration.

Writes into Tests/Goldens/tokenizer/:
  corpus.json       hand-written cases: {"text", "ids" (truncation=True, max_length=77), "ids_full" (no
                    truncation, only when it differs), "normalized" (the backend normalizer's output),
                    "pieces" (pre-tokenizer output, byte-level strings), "decoded" (decode(ids_full or ids)),
                    "ids_built" (only when transformers' plain CLIPTokenizer(vocab, merges), whose special
                    tokens are "normalized": false, disagrees)}
  random.json       randomized texts (seed 20251121): {"text", "ids", "ids_full"?}
  heldout.json      a second randomized corpus (seed 777, other block weights), same shape
  fixture/          a 300-merge vocab.json + merges.txt subset, with the ids a tokenizer built from it gives
With --bench, also times CLIPTokenizerFast on random.json + corpus.json (single calls and one batch call).
With --compare-openai DIR (DIR holding open_clip's tokenizer.py, e.g. unzipped from the open_clip_torch wheel;
needs `pip install ftfy`), prints where OpenAI's original SimpleTokenizer disagrees with CLIPTokenizerFast
(Docs/TOKENIZER.md); nothing is written.
"""
import gzip
import json
import os
import random
import sys
import tempfile
import time
import unicodedata

from transformers import CLIPTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Goldens", "tokenizer")
GZ = os.path.join(ROOT, "Weights", "bpe_simple_vocab_16e6.txt.gz")
CLIP_REGEX = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (printable Latin-1 bytes map to themselves)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def vocab_and_merges():
    """Docs/SEMANTICS.md §2: merges = lines 1…48894; vocab = 256 byte chars, the same with </w>, merges joined, specials."""
    lines = gzip.open(GZ).read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    assert len(merges) == 48894
    chars = list(bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == len(set(vocab)) == 49408
    return {v: i for i, v in enumerate(vocab)}, merges


def write_files(directory, vocab, merges):
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")


def build_reference(tmp):
    """(checkpoint-like CLIPTokenizerFast, transformers' plain CLIPTokenizer(vocab, merges))."""
    vocab, merges = vocab_and_merges()
    write_files(tmp, vocab, merges)
    built = CLIPTokenizerFast(vocab=os.path.join(tmp, "vocab.json"), merges=os.path.join(tmp, "merges.txt"))
    spec = json.loads(built.backend_tokenizer.to_str())
    # What the checkpoint's tokenizer.json has; fail loudly if transformers ever builds something else.
    assert [n["type"] for n in spec["normalizer"]["normalizers"]] == ["NFC", "Replace", "Lowercase"]
    assert spec["normalizer"]["normalizers"][1]["pattern"] == {"Regex": r"\s+"}
    assert spec["normalizer"]["normalizers"][1]["content"] == " "
    split, byte_level = spec["pre_tokenizer"]["pretokenizers"]
    assert split["pattern"] == {"Regex": CLIP_REGEX} and split["behavior"] == "Removed" and split["invert"]
    assert byte_level["type"] == "ByteLevel" and not byte_level["add_prefix_space"] and byte_level["use_regex"]
    m = spec["model"]
    assert (m["type"], m["unk_token"], m["end_of_word_suffix"], m["continuing_subword_prefix"], m["fuse_unk"],
            m["dropout"], m["byte_fallback"]) == ("BPE", "<|endoftext|>", "</w>", "", False, None, False)
    assert spec["post_processor"]["type"] == "RobertaProcessing"
    assert spec["post_processor"]["cls"] == ["<|startoftext|>", 49406]
    assert spec["post_processor"]["sep"] == ["<|endoftext|>", 49407]
    for t in spec["added_tokens"]:
        t["normalized"] = True
    ckpt = os.path.join(tmp, "ckpt")
    os.makedirs(ckpt)
    write_files(ckpt, vocab, merges)
    with open(os.path.join(ckpt, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False)
    special = {"__type": "AddedToken", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    config = {
        "add_prefix_space": False,
        "bos_token": dict(special, content="<|startoftext|>"),
        "eos_token": dict(special, content="<|endoftext|>"),
        "unk_token": dict(special, content="<|endoftext|>"),
        "pad_token": "<|endoftext|>",
        "do_lower_case": True,
        "errors": "replace",
        "model_max_length": 77,
        "tokenizer_class": "CLIPTokenizer",
    }
    with open(os.path.join(ckpt, "tokenizer_config.json"), "w") as f:
        json.dump(config, f)
    ref = CLIPTokenizerFast.from_pretrained(ckpt)
    loaded = json.loads(ref.backend_tokenizer.to_str())
    assert all(t["normalized"] and t["special"] for t in loaded["added_tokens"]), loaded["added_tokens"]
    assert ref("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    return ref, built


# ----------------------------------------------------------------------------------------------------------
# Hand-written corpus

def handwritten():
    t = []
    t += ["", " ", "   \t\n  ", "a", "A", "a photo of a cat", "A photo of a cat.", "What is in the image?",
          "Describe this image in detail.", "USER: <image>\nWhat is shown here? ASSISTANT:",
          "a photo of a dog sitting on a red couch, 4k, highly detailed, trending on artstation"]
    # contractions: all seven, both cases, curly apostrophes, inside punctuation runs, at word starts
    t += ["it's they're we've I'm you'll he'd can't", "IT'S THEY'RE WE'VE I'M YOU'LL HE'D CAN'T",
          "It'S tHeY'rE", "it’s they’re I’m (curly)", "it‘s ‛m ʼs ＇s", "'s 't 're 've 'm 'll 'd",
          "''s '''t !'s ?'re 's's'", "rock'n'roll o'clock y'all ma'am", "'sup 'tis 'twas 'ello",
          "don't won't shan't ain't", "the cat's toy", "James' book", "'", "''", "'s", "'S"]
    # numbers and punctuation runs
    t += ["1234567890", "3.14159 2,718 1e-10 -42 +7 50% $100 €20 £5 ¥1000", "2024-11-21T03:05:00Z",
          "!!!", "?!?!", "...", "…", "—–-", "(a)[b]{c}<d>", "a+b=c; x*y/z", "@user #hashtag $tag %p ^c &a *s",
          "~`!@#$%^&*()_+-={}[]|\\:\";'<>?,./", "----====____", "a.b.c", "e.g. i.e. etc.", "¡¿«»‹›„“”‚‘’",
          "½ ¼ ¾ ² ³ ¹ ⁴ ₅ ⅓ Ⅻ ⅻ ① ⑳ ㊿", "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "๐๑๒๓", "１２３４５", "𝟎𝟏𝟐𝟗",
          "Ⅰ Ⅱ Ⅲ Ⅳ", "10,000,000", "0x1F8B", "v1.2.3-beta+build.5"]
    # HTML entities (HF does not unescape them; OpenAI's SimpleTokenizer does)
    t += ["&amp; &lt; &gt; &quot; &#39; &#x27; &nbsp;", "Tom &amp; Jerry", "&amp;amp;", "<b>bold</b> <br/>",
          "a &lt;tag&gt;", "&#8217;s &eacute;"]
    # whitespace of every kind
    t += ["tab\there", "new\nline", "cr\rlf\r\n", "multiple     spaces", "\tleading tab", "trailing space   ",
          "nbsp\u00a0here", "en\u2002em\u2003thin\u2009hair\u200a", "ideographic\u3000space", "nel\u0085x",
          "ls\u2028ps\u2029", "narrow\u202fnbsp", "mmsp\u205fx", "ogham\u1680x", "vt\x0bff\x0c",
          "zwsp\u200bzwnj\u200czwj\u200dwj\u2060", "bom\ufeffx", "mongolian\u180evs", "\x1c\x1d\x1e\x1f seps"]
    # control characters and odd scalars
    t += ["nul\x00x", "bell\x07x", "esc\x1b[31mred\x1b[0m", "del\x7fx", "c1\x80\x9fx", "\ufffd replacement",
          "\ufffe\uffff nonchar", "\U0010ffff max", "\ue000 private \U000f0000", "soft\u00adhyphen",
          "rtl\u200fmark\u200e", "\u202eoverride\u202c", "a\u034fb cgj", "tag\U000e0041\U000e007f"]
    # accents and combining marks, NFC vs NFD
    for w in ["café", "naïve", "résumé", "Ångström", "Zürich", "São Paulo", "Việt Nam", "Łódź", "Dvořák",
              "crème brûlée", "Ærø", "Øresund", "façade", "piñata", "Søren Kierkegaard"]:
        t += [unicodedata.normalize("NFC", w), unicodedata.normalize("NFD", w)]
    t += ["e\u0301\u0301\u0301", "a\u0323\u0302", "a\u0302\u0323", "q\u0307\u0323", "\u0301leading mark",
          "Z\u0351\u0359\u0354a\u0336\u0318l\u0328g\u034fo zalgo", "\u212b angstrom sign", "\u2126 ohm",
          "\u0958\u0959 devanagari nukta", "\u1e9b\u0323", "i\u0307", "\u0344\u0340\u0341",
          "x\u08d2\u1a60 unicode-14 mark", "x\u0301\u08d2", "a\u1bc9e\u059f", "\U0001109a kaithi"]
    # cases Foundation's string NFC gets wrong (non-starter decompositions, three-part compositions)
    t += ["ಕೋ \u0cca\u0cd5 \u0cc6\u0cc2\u0cd5 \u0cc6\u0cd5\u0cc2", "x\u0353\u0304\u0f73", "\u0f71\u0f72 \u0f73 \u0f75 \u0f81",
          "ཱི͓̄ ʚﬖ̛", "\u0b47\u0b3e \u0b47\u0b56\u0b57 \u0dd9\u0dcf\u0dca", "\u1025\u102e \u1b05\u1b35",
          "\U00011099\U000110ba \U00011131\U00011127 \U00011347\U0001133e", "\u0344 \u0f77 \u0f79"]
    # case mappings: final sigma, Turkish dotted/dotless I, German sharp s, ligatures, title case, others
    t += ["ΟΔΟΣ ὈΔΥΣΣΕΎΣ σοφός", "ΣΊΣΥΦΟΣ", "İstanbul IĞDIR ıi", "İ", "ǅungla ǈ ǋ Ǳ", "STRASSE Straße ẞ ß",
          "ﬁne ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ", "Ǆ ǆ", "ΐ ΰ", "ᾼ ᾈ ῼ", "Ⓐ ⓐ", "Ꭰ ꭰ cherokee", "𐐀 𐐨 deseret", "ᲀ ᲈ",
          "K Kelvin Å", "ǰ ẖ ẗ", "ŉ apostrophe-n", "Ⅻ roman", "ﬓ armenian ligature", "Ꙋ Ᲊ ᲊ"]
    # scripts
    t += ["東京タワーの写真", "一只猫坐在垫子上", "我愛你", "日本語のテキスト、句読点。", "ひらがな カタカナ ｶﾀｶﾅ",
          "𠀀𠀁 ext-b 𪜀 𫝀 𬺰 𰀀 𱍐", "한국어 텍스트", "안녕하세요 세계",
          "\u1100\u1161\u11a8 jamo", "\u1112\u1161\u11ab\u1100\u1173\u11af", "\uac00\u11a8 lv+t", "\uac01\u11a8 lvt+t",
          "\u1104\u116e\u11a7 tbase", "\u115f\u1160 fillers", "ㄱㅏ compat", "\ua960\ud7b0 ext jamo",
          "مرحبا بالعالم", "العربيّة ١٢٣", "שלום עולם", "עִבְרִית", "नमस्ते दुनिया", "क्षत्रिय",
          "হ্যালো বিশ্ব", "สวัสดีชาวโลก", "ภาษาไทย", "ສະບາຍດີ", "བོད་ཡིག", "ქართული", "Հայերեն", "Ελληνικά",
          "Русский язык", "Українська ґ", "ᚠᚢᚦ runes", "ꯃꯩꯇꯩ", "𓀀𓁐 hieroglyphs", "ᏣᎳᎩ", "ⴰⵣⵓⵍ", "ꦧꦱꦗꦮ",
          "𞤀𞤢 adlam", "தமிழ்", "తెలుగు", "ಕನ್ನಡ", "മലയാളം", "සිංහල", "ગુજરાતી", "ਪੰਜਾਬੀ", "ଓଡ଼ିଆ",
          "မြန်မာ", "ខ្មែរ", "ᠮᠣᠩᠭᠣᠯ", "ꆈꌠ", "ᐃᓄᒃᑎᑐᑦ", "Tiếng Việt có dấu"]
    # emoji: plain, skin tones, ZWJ sequences, flags, keycaps, variation selectors
    t += ["😀", "I ❤️ NY", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🏴‍☠️", "🇨🇭🇯🇵🇺🇸", "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
          "1️⃣ #️⃣ *️⃣", "☺ ☺️ ☺︎", "🧑🏿‍🦰", "🫠🫡🪿", "a😀b", "cat🐱dog🐶", "😂😂😂😂😂",
          "❤\ufe0f\u200d🔥", "emoji at end 🎉"]
    # symbols, math, fullwidth, misc
    t += ["∑∫√∞≠≤≥ ∀x∈ℝ", "𝐀𝐁𝐂 𝒜 𝔸 𝕒", "ＡＢＣ ａｂｃ fullwidth", "™ © ® ℠ №", "←↑→↓ ⇒ ⇔", "♠♣♥♦ ♪♫",
          "°C °F µm Ω", "₿ ₹ ₽ ₩ ₪", "⌘⌥⇧", "🄰🅐", "⁰¹²³", "ℌ ℑ ℜ ℨ", "ǂ ǃ click letters", "ʻokina ʼ", "ˈstress ˌx"]
    # long words and texts
    t += ["supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
          "a" * 300, "ab" * 200, "😀" * 40, "東" * 100, "1" * 100, "!" * 200, "x y " * 60,
          "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
          "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip "
          "ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore.",
          " ".join(["word"] * 76), " ".join(["word"] * 75), " ".join(["word"] * 74), " ".join(["word"] * 77),
          "antidisestablishmentarianism " * 30]
    # special-token strings inside text (the checkpoint's tokens are "normalized": true)
    t += ["<|startoftext|>", "<|endoftext|>", "hello<|endoftext|>world", "<|ENDOFTEXT|>", "<|EndOfText|>!!",
          "a <|startoftext|> b <|endoftext|> c", "<|endoftext|>!!", "!<|endoftext|>", "<| endoftext |>",
          "<|endoftext|><|endoftext|>", "<|startoftext|", "<<|endoftext|>>", "x<|endoftext|>'s",
          "<|endof\u200btext|>", "<|endoftext|>\u0301"]
    return t


# ----------------------------------------------------------------------------------------------------------
# Randomized corpora

BLOCKS = [  # (first, last, weight)
    (0x20, 0x7E, 30), (0x09, 0x0D, 3), (0x00, 0x1F, 1), (0x7F, 0x9F, 1), (0xA0, 0xFF, 6), (0x100, 0x24F, 5),
    (0x250, 0x2FF, 2), (0x300, 0x36F, 6), (0x370, 0x3FF, 4), (0x400, 0x4FF, 4), (0x530, 0x58F, 2),
    (0x590, 0x5FF, 2), (0x600, 0x6FF, 4), (0x700, 0x8FF, 2), (0x900, 0x97F, 4), (0x980, 0xDFF, 3),
    (0xE00, 0xE7F, 3), (0xE80, 0xFFF, 2), (0x1000, 0x109F, 2), (0x10A0, 0x10FF, 1), (0x1100, 0x11FF, 4),
    (0x1200, 0x1CFF, 2), (0x1D00, 0x1DFF, 2), (0x1E00, 0x1FFF, 4), (0x2000, 0x206F, 4), (0x2070, 0x21FF, 2),
    (0x2200, 0x2BFF, 2), (0x2C00, 0x2E7F, 2), (0x2E80, 0x2FFF, 1), (0x3000, 0x30FF, 4), (0x3100, 0x33FF, 1),
    (0x3400, 0x4DBF, 1), (0x4E00, 0x9FFF, 5), (0xA000, 0xABFF, 2), (0xAC00, 0xD7A3, 4), (0xD7B0, 0xD7FF, 1),
    (0xE000, 0xF8FF, 1), (0xF900, 0xFAFF, 1), (0xFB00, 0xFB4F, 2), (0xFB50, 0xFDFF, 1), (0xFE00, 0xFE0F, 2),
    (0xFE20, 0xFE6F, 1), (0xFF00, 0xFFEF, 3), (0xFFF0, 0xFFFF, 1), (0x10000, 0x1BCFF, 2),
    (0x1D000, 0x1D7FF, 2), (0x1E000, 0x1EFFF, 1), (0x1F000, 0x1F1FF, 1), (0x1F200, 0x1FAFF, 6),
    (0x20000, 0x323AF, 1), (0xE0000, 0xE01EF, 1), (0xF0000, 0x10FFFF, 1),
]
SNIPPETS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'LL", "’s", " ", "  ", "\n", "\t",
            "\u200d", "\ufe0f", "\U0001f3fd", "<|endoftext|>", "<|startoftext|>", "&amp;", "İ", "Σ", "ẞ", "ǅ",
            "e\u0301", "\u1100\u1161", "\u11a8", "\uac00", "\u0130", "\u00a0", "\u3000", "photo", "THE", "cat"]


def random_corpus(seed, count, block_weights=None, max_len=40):
    rng = random.Random(seed)
    blocks = BLOCKS if block_weights is None else [(a, b, w * block_weights(a)) for a, b, w in BLOCKS]
    weights = [w for _, _, w in blocks]
    texts = []
    for i in range(count):
        n = rng.randrange(0, max_len)
        parts = []
        for _ in range(n):
            if rng.random() < 0.15:
                parts.append(rng.choice(SNIPPETS))
                continue
            a, b, _ = rng.choices(blocks, weights)[0]
            cp = rng.randrange(a, b + 1)
            if 0xD800 <= cp <= 0xDFFF:
                continue
            parts.append(chr(cp))
            if rng.random() < 0.3 and chr(cp).isalpha():  # short runs of the same script
                parts += [chr(min(b, max(a, cp + rng.randrange(-20, 21)))) for _ in range(rng.randrange(1, 6))]
        text = "".join(parts)
        if i % 100 == 0:  # some long texts for truncation
            text = (text + " ") * rng.randrange(3, 8)
        if i % 7 == 0:
            text = unicodedata.normalize(rng.choice(["NFD", "NFKD"]), text)
        texts.append(text)
    return texts


# ----------------------------------------------------------------------------------------------------------

def encode_case(ref, built, text, detail):
    ids = ref(text, truncation=True, max_length=77)["input_ids"]
    full = ref(text)["input_ids"]
    case = {"text": text, "ids": ids}
    if full != ids:
        case["ids_full"] = full
    if detail:
        backend = ref.backend_tokenizer
        normalized = backend.normalizer.normalize_str(text)
        case["normalized"] = normalized
        case["pieces"] = [p for p, _ in backend.pre_tokenizer.pre_tokenize_str(normalized)]
        case["decoded"] = ref.decode(full)
        b = built(text)["input_ids"]
        if b != full:
            case["ids_built"] = b
    return case


def fixture(ref_vocab, merges, directory):
    """A small vocab.json + merges.txt (first 300 merges, so ids differ from the bundled vocabulary) and the
    ids a CLIPTokenizerFast built from exactly those files gives."""
    chars = list(bytes_to_unicode().values())
    sub = merges[:300]
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in sub] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {v: i for i, v in enumerate(vocab)}
    os.makedirs(directory, exist_ok=True)
    write_files(directory, vocab, sub)
    tok = CLIPTokenizerFast(vocab=os.path.join(directory, "vocab.json"), merges=os.path.join(directory, "merges.txt"))
    texts = ["a photo of a cat", "The quick brown fox jumps over the lazy dog!", "héllo wörld 123", "東京"]
    with open(os.path.join(directory, "expected.json"), "w", encoding="utf-8") as f:
        json.dump([{"text": t, "ids": tok(t)["input_ids"]} for t in texts], f, ensure_ascii=False, indent=0)


def dump(path, cases):
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        ref, built = build_reference(tmp)
        os.makedirs(OUT, exist_ok=True)
        hand = [encode_case(ref, built, t, True) for t in handwritten()]
        dump(os.path.join(OUT, "corpus.json"), hand)
        rnd = [encode_case(ref, built, t, False) for t in random_corpus(20251121, 1500)]
        dump(os.path.join(OUT, "random.json"), rnd)
        held = random_corpus(777, 1000, block_weights=lambda a: 3 if a >= 0x1000 else 1, max_len=50)
        dump(os.path.join(OUT, "heldout.json"), [encode_case(ref, built, t, False) for t in held])
        vocab, merges = vocab_and_merges()
        fixture(vocab, merges, os.path.join(OUT, "fixture"))
        diffs = sum("ids_built" in c for c in hand)
        print(f"{len(hand)} hand-written ({diffs} differ with normalized=false specials), {len(rnd)} random, "
              f"{len(held)} held-out")
        if "--bench" in sys.argv:
            bench(ref, [c["text"] for c in rnd] + [c["text"] for c in hand])
        if "--compare-openai" in sys.argv:
            compare_openai(sys.argv[sys.argv.index("--compare-openai") + 1], hand, rnd)


def bench(ref, texts):
    """Median of 5 runs: one batch call on all texts, and one call per text."""
    def timeit(f):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        return sorted(times)[2]
    nbytes = sum(len(t.encode()) for t in texts)
    batch = timeit(lambda: ref(texts, truncation=True, max_length=77))
    single = timeit(lambda: [ref(t, truncation=True, max_length=77) for t in texts])
    backend = ref.backend_tokenizer
    raw = timeit(lambda: backend.encode_batch(texts))
    print(f"{len(texts)} texts, {nbytes} bytes: batch {batch * 1e3:.1f} ms ({len(texts) / batch:.0f} texts/s), "
          f"single calls {single * 1e3:.1f} ms ({len(texts) / single:.0f} texts/s), "
          f"backend encode_batch {raw * 1e3:.1f} ms ({len(texts) / raw:.0f} texts/s)")


def compare_openai(directory, hand, rnd):
    """OpenAI's SimpleTokenizer (open_clip's copy, with OpenAI's special-token spellings restored) against
    the goldens: counts of differing texts and the hand-written examples that differ."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("openai_clip_tokenizer", os.path.join(directory, "tokenizer.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import regex
    tok = module.SimpleTokenizer(bpe_path=GZ)
    for name, i in [("<|startoftext|>", 49406), ("<|endoftext|>", 49407)]:  # open_clip renamed them
        tok.encoder[name] = i
        tok.decoder[i] = name
        tok.cache[name] = name
    tok.pat = regex.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
                            regex.IGNORECASE)

    def openai(text):
        ids = [49406] + tok.encode(text) + [49407]
        if len(ids) > 77:  # clip.tokenize(truncate=True)
            ids = ids[:77]
            ids[-1] = 49407
        return ids

    for label, cases in [("hand-written", hand), ("random", rnd)]:
        differ = [c for c in cases if openai(c["text"]) != c["ids"]]
        print(f"{label}: OpenAI SimpleTokenizer differs from CLIPTokenizerFast on {len(differ)} of {len(cases)} texts")
        if label == "hand-written":
            for c in differ:
                print(f"  {c['text']!r}\n    HF:     {c['ids']}\n    OpenAI: {openai(c['text'])}\n"
                      f"    OpenAI clean: {tok.clean_fn(c['text'])!r}")


if __name__ == "__main__":
    main()

"""A pure-Python statement of rust/sctool-core/src/decontam/decode.rs, byte for byte.

Written from the module's rules with plain loops (no search shortcuts), so the property tests can
compare the native views, their decoder paths and their maps to the document against it.
"""

from __future__ import annotations

MAX_DEPTH = 3
MAX_EXPANSION = 3
MIN_STRING = 24
KINDS = ("strings", "html", "diff", "prefixed")


def _hex(b: bytes, i: int, n: int) -> int | None:
    if i + n > len(b):
        return None
    try:
        s = b[i:i + n].decode("ascii")
        if not all(c in "0123456789abcdefABCDEF" for c in s):
            return None
        return int(s, 16)
    except UnicodeDecodeError:
        return None


def _chr(v: int | None) -> str:
    if v is None or 0xD800 <= v < 0xE000 or v > 0x10FFFF:
        return "\ufffd"
    return chr(v)


def unescape(b: bytes) -> tuple[str, bool]:
    out = bytearray()
    anyesc = False
    i = 0
    n = len(b)
    simple = {ord("n"): b"\n", ord("t"): b"\t", ord("r"): b"\r", ord("b"): b"\x08", ord("f"): b"\x0c",
              ord("0"): b"\x00", ord('"'): b'"', ord("'"): b"'", ord("\\"): b"\\", ord("/"): b"/", ord("`"): b"`"}
    while i < n:
        if b[i] != 0x5C or i + 1 >= n:
            out.append(b[i])
            i += 1
            continue
        c = b[i + 1]
        nxt = i + 2
        if c in simple:
            out += simple[c]
        elif c == 0x0A:
            pass
        elif c == ord("x"):
            v = _hex(b, i + 2, 2)
            if v is None:
                out += b"\\x"
            else:
                out += _chr(v).encode()
                nxt = i + 4
        elif c == ord("u"):
            hi = _hex(b, i + 2, 4)
            if hi is None:
                out += b"\\u"
            else:
                nxt = i + 6
                ch: str
                if 0xD800 <= hi < 0xDC00 and b[i + 6:i + 8] == b"\\u":
                    lo = _hex(b, i + 8, 4)
                    if lo is not None and 0xDC00 <= lo < 0xE000:
                        nxt = i + 12
                        ch = chr(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                    else:
                        ch = "\ufffd"
                else:
                    ch = _chr(hi)
                out += ch.encode()
        else:
            out += b"\\"
            nxt = i + 1
        anyesc = anyesc or nxt != i + 1
        i = nxt
    return out.decode("utf-8", "replace"), anyesc


def _looks_like_code(s: str) -> bool:
    return any(m in s for m in ("return ", "def ", "):\n", "){", ") {"))


class _Builder:
    def __init__(self) -> None:
        self.text = ""
        self.segs: list[tuple[int, int, int]] = []

    def nbytes(self) -> int:
        return len(self.text.encode())

    def begin(self, s: int, e: int) -> None:
        self.segs.append((self.nbytes(), s, e))

    def end_line(self) -> None:
        if self.text and not self.text.endswith("\n"):
            self.text += "\n"


def strings_view(b: bytes) -> _Builder | None:
    out = _Builder()
    n = len(b)
    group: list[tuple[bytes, int, int, bool, bool]] = []

    def flush() -> None:
        text = ""
        segs = []
        escaped = code = False
        for content, s, e, triple, comma in group:
            if comma and text and not text.endswith("\n"):
                text += "\n"
            segs.append((len(text.encode()), s, e))
            dec, esc = unescape(content)
            text += dec
            escaped |= esc
            code |= triple and _looks_like_code(dec)
        if (escaped or code) and len(text.encode()) >= MIN_STRING:
            base = out.nbytes()
            out.segs.extend((base + v, s, e) for v, s, e in segs)
            out.text += text
            out.end_line()
        group.clear()

    i = 0
    prev_end = None
    while i < n:
        if b[i] not in b"\"'":
            i += 1
            continue
        q = i
        c = b[q]
        triple = q + 2 < n and b[q + 1] == c and b[q + 2] == c
        if triple:
            k = b.find(bytes([c]) * 3, q + 3)
            start, end, nxt = (q + 3, k, k + 3) if k >= 0 else (q + 3, n, n)
        else:
            j = q + 1
            while j < n and b[j] != c and b[j] != 0x0A:
                j += 2 if b[j] == 0x5C else 1
            if j >= n or b[j] == 0x0A:
                i = q + 1
                continue
            start, end, nxt = q + 1, j, j + 1
        joiner = b[prev_end:q] if prev_end is not None and prev_end <= q else None
        joined = joiner is not None and all(x in b" \t\n\r\x0b\x0c,+" and x != 0x0B for x in joiner)
        if not joined:
            flush()
        group.append((b[start:end], start, end, triple, joined and b"," in joiner))
        prev_end = nxt
        i = max(nxt, q + 1)
    flush()
    return out if out.text else None


ENT = {"lt": "<", "LT": "<", "gt": ">", "GT": ">", "amp": "&", "AMP": "&", "quot": '"', "QUOT": '"',
       "apos": "'", "#39": "'", "nbsp": " "}
BREAK_TAGS = {"br", "br/", "/p", "/div", "/li", "/tr", "/pre", "/h1", "/h2", "/h3"}


def _entity(name: str) -> str | None:
    if name in ENT:
        return ENT[name]
    if name.startswith(("#x", "#X")):
        digits, radix = name[2:], 16
    elif name.startswith("#"):
        digits, radix = name[1:], 10
    else:
        return None
    if not digits or len(digits) > 7:
        return None
    try:
        v = int(digits, radix)
    except ValueError:
        return None
    if not digits.isascii() or not all(ch in "0123456789abcdefABCDEF"[: radix + (6 if radix == 16 else 0)]
                                       for ch in digits):
        return None
    if v > 0x10FFFF or 0xD800 <= v < 0xE000:
        return None
    return chr(v)


def html_view(b: bytes) -> _Builder | None:
    marks = (b"&lt;", b"&gt;", b"&amp;", b"&quot;", b"&#", b"<pre", b"<code", b"<span", b"<br", b"<div", b"<p>",
             b"<td")
    found = sum(1 for k in range(len(b)) if b[k] in b"&<" and any(b.startswith(m, k) for m in marks))
    if found < max(len(b) // 4096, 2):
        return None
    out = bytearray()
    n = len(b)
    i = 0
    while i < n:
        c = b[i]
        if c == ord("<"):
            nx = b[i + 1:i + 2]
            close = b.find(b">", i, min(i + 512, n))
            if nx and ((nx.isalpha() and nx.isascii()) or nx in (b"/", b"!")) and close >= 0:
                tag = b[i + 1:close]
                name = bytearray()
                for x in tag:
                    if (x < 128 and bytes([x]).isalnum()) or x == ord("/"):
                        name.append(x)
                    else:
                        break
                if name.decode().lower() in BREAK_TAGS:
                    out += b"\n"
                i = close + 1
                continue
        elif c == ord("&"):
            semi = b.find(b";", i + 1, min(i + 10, n))
            if semi >= 0:
                ch = _entity(b[i + 1:semi].decode("utf-8", "replace"))
                if ch is not None:
                    out += ch.encode()
                    i = semi + 1
                    continue
        out.append(c)
        i += 1
    v = _Builder()
    v.segs.append((0, 0, n))
    v.text = out.decode()
    return v


def _lines(b: bytes) -> list[tuple[int, int]]:
    out = []
    s = 0
    while s < len(b):
        e = b.find(b"\n", s)
        e = len(b) if e < 0 else e
        out.append((s, e))
        s = e + 1
    return out


def diff_view(b: bytes) -> _Builder | None:
    if not (b.startswith(b"@@ ") or b"\n@@ " in b):
        return None
    out = _Builder()
    in_hunk = False
    for s, e in _lines(b):
        line = b[s:e]
        if line.startswith(b"@@ "):
            in_hunk = True
            continue
        if not in_hunk:
            continue
        first = line[:1]
        if (first == b"+" and not line.startswith(b"+++ ")) or first in (b" ", b""):
            pass
        elif (first == b"-" and not line.startswith(b"--- ")) or first == b"\\":
            continue
        else:
            in_hunk = False
            continue
        f = min(s + 1, e)
        out.begin(f, max(e, f))
        out.text += b[f:max(e, f)].decode() + "\n"
    return out if out.text else None


PREFIXES = (b"# ", b"// ", b">>> ", b"... ", b"> ")
CODE_STARTS = (b"def ", b"return", b"for ", b"if ", b"while ", b"import ", b"from ", b"class ", b"assert ")


def line_looks_like_code(line: bytes) -> bool:
    t = line.strip(b" \t\n\r\x0c")
    return t.startswith(CODE_STARTS) or t[-1:] in (b":", b";", b"{", b"}") or b" = " in t


def prefixed_view(b: bytes) -> _Builder | None:
    out = _Builder()
    run: list[tuple[int, int]] = []
    run_prefix: bytes | None = None

    def flush() -> None:
        if len(run) >= 3 and (run_prefix == b">>> " or any(line_looks_like_code(b[s:e]) for s, e in run)):
            for s, e in run:
                out.begin(s, e)
                out.text += b[s:e].decode() + "\n"
        run.clear()

    for s, e in _lines(b):
        line = b[s:e]
        indent = len(line) - len(line.lstrip(b" \t"))
        rest = line[indent:]
        pre = next((p for p in PREFIXES if rest.startswith(p)), None)
        if pre == b"... " and run_prefix != b">>> ":
            pre = None  # a continuation line continues a doctest and nothing else
        skip = len(pre) if pre else 0
        if pre is None and rest == b"#":
            pre, skip = b"# ", 1
        same = pre is not None and run_prefix is not None and (pre == run_prefix or (pre == b"... " and run_prefix == b">>> "))
        if not same:
            flush()
            run_prefix = pre
        if pre is not None:
            f = min(s + indent + skip, e)
            run.append((f, e))
    flush()
    return out if out.text else None


def _doc_range(segs: list[tuple[int, int, int]], s: int, e: int) -> tuple[int, int]:
    if not segs:
        return s, e

    def find(p: int) -> int:
        k = 0
        for j, g in enumerate(segs):
            if g[0] <= p:
                k = j
        return k

    a = segs[find(s)]
    z = segs[find(max(e - 1, s) if e > 0 else s)]
    return a[1], max(z[2], a[1])


DECODERS = {"strings": strings_view, "html": html_view, "diff": diff_view, "prefixed": prefixed_view}


def decode_views(text: str) -> list[tuple[str, str, list[tuple[int, int, int]]]]:
    """(path, text, segments) of every view, in the order the native decoder emits them."""
    out: list[tuple[list[str], str, list[tuple[int, int, int]]]] = []
    budget = len(text.encode()) * MAX_EXPANSION
    queue: list[tuple[int | None, int]] = [(None, 0)]
    while queue:
        at, depth = queue.pop()
        if depth >= MAX_DEPTH:
            continue
        if at is None:
            src, path, psegs = text, [], []
        else:
            path, src, psegs = out[at]
        fresh = []
        for kind in KINDS:
            if path and path[-1] == kind and kind != "strings":
                continue
            bld = DECODERS[kind](src.encode())
            if bld is None:
                continue
            size = bld.nbytes()
            if size < MIN_STRING or size > budget:
                continue
            budget -= size
            segs = [(vs, *_doc_range(psegs, ps, pe)) for vs, ps, pe in bld.segs]
            fresh.append(([*path, kind], bld.text, segs))
        for v in fresh:
            out.append(v)
            queue.append((len(out) - 1, depth + 1))
    return [("/".join(p), t, s) for p, t, s in out]

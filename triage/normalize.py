"""Text normalization: pure, idempotent str -> str functions, and byte decoding.

``normalize_text`` is the one entry point every stage uses: NFKC (which also folds full-width
ASCII to half-width), traditional -> simplified Chinese with OpenCC, HTML tags and entities
stripped, control characters removed and whitespace collapsed.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from functools import lru_cache

from triage.errors import DecodeError

_TAG = re.compile(r"<\s*(script|style)\b[^>]*>.*?<\s*/\s*\1\s*>|<!--.*?-->|<[^<>]{0,2000}>",
                  re.I | re.S)
_BLOCK_TAG = re.compile(r"<\s*(br|p|div|li|tr|h\d)\b[^>]*>|<\s*/\s*(p|div|li|tr|h\d)\s*>", re.I)
_CONTROL = re.compile(r"[\ud800-\udfff\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
                      r"\u200b-\u200f"
                      r"\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff\ufffe\uffff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_opencc_lock = threading.Lock()


@lru_cache(maxsize=1)
def _converter():  # type: ignore[no-untyped-def]
    import opencc  # imported lazily: nothing heavy runs on import of triage

    return opencc.OpenCC("tw2s")  # tw2s also fixes 著→着 after verbs


def to_simplified(text: str) -> str:
    """Convert traditional Chinese characters to simplified (OpenCC ``tw2s``).

    Parameters
    ----------
    text : str
        Any text; characters that are already simplified are left alone.

    Returns
    -------
    str
        The text with traditional characters replaced.
    """
    if not text or text.isascii():
        return text
    conv = _converter()
    with _opencc_lock:  # the C++ converter object is shared between threads
        return str(conv.convert(text))


def strip_html(text: str) -> str:
    """Remove HTML tags, comments, scripts and entities, keeping line breaks of block tags."""
    if "<" not in text and "&" not in text:
        return text
    previous = None
    while previous != text:  # entities can hide tags (&lt;b&gt;); repeat until stable
        previous = text
        text = _BLOCK_TAG.sub("\n", text)
        text = _TAG.sub("", text)
        text = html.unescape(text)
    return text


def collapse_whitespace(text: str) -> str:
    """Drop control characters, collapse runs of spaces, keep single line breaks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _NEWLINES.sub("\n", text)
    return text.strip()


def normalize_text(text: str) -> str:
    """Normalize a letter for every later stage.

    Parameters
    ----------
    text : str
        The letter as received.

    Returns
    -------
    str
        NFKC-normalized (full-width ASCII folded to half-width), simplified Chinese, without
        HTML, control characters or repeated whitespace. ``normalize_text(normalize_text(x))
        == normalize_text(x)`` for every string.
    """
    previous = None
    # A fixed point: each step can expose work for another (an entity decoding to a
    # full-width character, NFKC producing '<'), so repeat until nothing changes.
    for _ in range(5):
        if text == previous:
            break
        previous = text
        text = unicodedata.normalize("NFKC", _CONTROL.sub("", text))
        text = strip_html(text)
        text = collapse_whitespace(text)
        text = to_simplified(text)
    return text


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CANDIDATES = ("utf-8", "gb18030", "big5")


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    bad = sum(1 for ch in text if unicodedata.category(ch) in ("Cc", "Co", "Cn", "Cs")
              and ch not in "\n\r\t")
    return bad / len(text) < 0.01 and "\ufffd" not in text


def _cjk_share(text: str) -> float:
    if not text:
        return 0.0
    return sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff") / len(text)


def decode_bytes(data: bytes, source: str = "<input>") -> tuple[str, str]:
    """Decode bytes of a letter: UTF-8, GB18030, Big5 or UTF-16 with a BOM.

    Parameters
    ----------
    data : bytes
        The raw file content.
    source : str
        Where the bytes came from, for the error message.

    Returns
    -------
    tuple of (str, str)
        The decoded text and the name of the encoding used.

    Raises
    ------
    DecodeError
        When no supported encoding gives readable text (binary data, or another encoding).
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError as exc:
                raise DecodeError(f"{source}: starts with a {codec} byte-order mark but is not "
                                  f"valid {codec} ({exc.reason} at byte {exc.start}); re-save "
                                  "the file as UTF-8") from exc
    if b"\x00" in data[:4096]:
        raise DecodeError(f"{source}: contains NUL bytes, so it is binary data (or UTF-16 without "
                          "a byte-order mark), not a letter; save it as UTF-8 text")
    decoded: list[tuple[str, str]] = []
    for codec in _CANDIDATES:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            decoded.append((text, codec))
    if len(decoded) > 1 and decoded[0][1] != "utf-8":
        # GB18030 and Big5 both accept many byte strings; let charset-normalizer decide.
        guess = _guess_with_charset_normalizer(data)
        for text, codec in decoded:
            if guess and codec == guess:
                return text, codec
        decoded.sort(key=lambda tc: -_cjk_share(tc[0]))
    if decoded:
        return decoded[0]
    raise DecodeError(f"{source}: cannot be decoded as UTF-8, GB18030, Big5 or UTF-16 (with BOM); "
                      "it is binary data or another encoding — save it as UTF-8 text and retry")


def _guess_with_charset_normalizer(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=["gb18030", "big5"]).best()
    return None if best is None else str(best.encoding).replace("_", "")

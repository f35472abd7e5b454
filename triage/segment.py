"""Word segmentation with jieba and the domain user dictionary.

One ``jieba.Tokenizer`` per (process, dictionary) is built on first use and shared by the
threads of that process; a forked worker builds its own. Callers pass dictionary *paths*, so
everything that refers to a segmenter pickles (scikit-learn parameters, worker arguments).

Speed: jieba cuts a text into blocks (runs of Han characters, letters and digits) and segments
each block on its own. Blocks of Han characters only — nine tenths of a letter — go to
jieba-rs (the ``rjieba`` package, about ten times faster), built from this tokenizer's own
frequency table and total, so that its dictionary, route and HMM give the same tokens; blocks
that mix in letters or digits stay with Python jieba, whose HMM splits them differently from
jieba-rs (``2025.3.2``). Without ``rjieba``, or with ``TRIAGE_SEGMENTER=python``, every block
goes to Python jieba.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"
DEFAULT_USERDICT = CORPUS_DIR / "userdict.txt"
DEFAULT_STOPWORDS = CORPUS_DIR / "stopwords.txt"

_lock = threading.Lock()
_tokenizers: dict[tuple[int, str], object] = {}
_segmenters: dict[tuple[int, str], Segmenter] = {}
# a block of Han characters only: jieba's finalseg range, so its HMM sees the whole block too
_PURE_HAN = re.compile("[\u4e00-\u9fd5]+")
# a word of jieba-rs's table that no text block reaches; it makes the two totals equal
_PAD_WORD = "\ue000\ue000"


def get_tokenizer(userdict: str | os.PathLike[str] | None = None):  # type: ignore[no-untyped-def]
    """Return the process-wide jieba tokenizer for ``userdict`` (built once, thread-safe).

    Parameters
    ----------
    userdict : path or None
        A jieba user dictionary ("word freq tag" per line); None uses corpus/userdict.txt.

    Returns
    -------
    jieba.Tokenizer
        An initialised tokenizer.
    """
    path = str(userdict or DEFAULT_USERDICT)
    key = (os.getpid(), path)
    tok = _tokenizers.get(key)
    if tok is not None:
        return tok
    with _lock:
        tok = _tokenizers.get(key)
        if tok is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            tok.initialize()
            if Path(path).is_file():
                with open(path, "rb") as fh:  # jieba leaves a path's file open
                    tok.load_userdict(fh)
            _tokenizers[key] = tok
    return tok


class Segmenter:
    """jieba's precise mode with HMM (``Tokenizer.lcut``), Han-only blocks cut by jieba-rs.

    Parameters
    ----------
    tokenizer : jieba.Tokenizer
        An initialised tokenizer with its user dictionary loaded; it must not change later.
    fast : bool
        Use jieba-rs for Han-only blocks when the ``rjieba`` package is installed.
    """

    def __init__(self, tokenizer: Any, fast: bool = True) -> None:
        import jieba
        import jieba.finalseg

        self.tokenizer = tokenizer
        self._finalseg = jieba.finalseg
        self._re_han = jieba.re_han_default
        self._re_skip = jieba.re_skip_default
        self.rust: Any = _rust_twin(tokenizer) if fast else None

    def lcut(self, text: str) -> list[str]:
        """The tokens of ``text``, exactly as ``tokenizer.lcut(text)`` gives them."""
        # a user word of frequency 0 is split by Python jieba's HMM, which jieba-rs ignores
        if self.rust is None or self._finalseg.Force_Split_Words:
            return list(self.tokenizer.lcut(text))
        out: list[str] = []
        for blk in self._re_han.split(text):
            if not blk:
                continue
            if self._re_han.match(blk):
                if _PURE_HAN.fullmatch(blk):
                    out += self.rust.cut(blk)
                else:
                    out += self.tokenizer.lcut(blk)
            else:
                for x in self._re_skip.split(blk):
                    if self._re_skip.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
        return out


def _rust_twin(tokenizer: Any) -> Any:
    """A jieba-rs tokenizer with the same words, frequencies and total as ``tokenizer``.

    jieba-rs counts a re-weighted word's frequency once where Python jieba adds it to the
    total again; a padding word that no block can contain makes up the difference, so that
    every log-probability, and hence every route, is the same. None without ``rjieba``.
    """
    if os.environ.get("TRIAGE_SEGMENTER", "").lower() == "python":
        return None
    try:
        import rjieba
    except ImportError:
        return None
    twin = rjieba.Jieba.empty()
    total = 0
    for word, freq in tokenizer.FREQ.items():
        if freq > 0:  # zero: a prefix of a word, not a word
            twin.add_word(word, freq, None)
            total += freq
    pad = int(tokenizer.total) - total
    if pad < 0:
        return None
    if pad:
        twin.add_word(_PAD_WORD, pad, None)
    return twin


def get_segmenter(userdict: str | os.PathLike[str] | None = None) -> Segmenter:
    """The process-wide :class:`Segmenter` for ``userdict`` (built once, thread-safe)."""
    key = (os.getpid(), str(userdict or DEFAULT_USERDICT))
    seg = _segmenters.get(key)
    if seg is None:
        tok = get_tokenizer(userdict)
        with _lock:
            seg = _segmenters.get(key)
            if seg is None:
                seg = _segmenters[key] = Segmenter(tok)
    return seg


@lru_cache(maxsize=8)
def load_stopwords(path: str | None = None) -> frozenset[str]:
    """Read a stop-word file (one word per line, '#' comments); missing file → empty set."""
    p = Path(path or DEFAULT_STOPWORDS)
    if not p.is_file():
        return frozenset()
    words = (line.strip() for line in p.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in words if w and not w.startswith("#"))


def segment(text: str, userdict: str | None = None) -> list[str]:
    """Split normalized text into words with jieba (precise mode, HMM on).

    Parameters
    ----------
    text : str
        Normalized text (see :func:`triage.normalize.normalize_text`).
    userdict : str or None
        Path of the user dictionary; None uses corpus/userdict.txt.

    Returns
    -------
    list of str
        Every token, whitespace included, in order; ``"".join(tokens) == text``.
    """
    return get_segmenter(userdict).lcut(text)


def tokenize(text: str, userdict: str | None = None, stopwords: str | None = None) -> list[str]:
    """Content words of a text: segmented, lower-cased, without stop words and whitespace.

    This is the tokenizer of the classifier's word features; it is a module-level function
    so that ``functools.partial(tokenize, userdict=...)`` pickles.
    """
    stop = load_stopwords(stopwords)
    return [t.lower() for t in segment(text, userdict) if t.strip() and t not in stop]

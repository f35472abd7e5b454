"""Word segmentation with jieba and the domain user dictionary.

One ``jieba.Tokenizer`` per (process, dictionary) is built on first use and shared by the
threads of that process; a forked worker builds its own. Callers pass dictionary *paths*, so
everything that refers to a segmenter pickles (scikit-learn parameters, worker arguments).
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"
DEFAULT_USERDICT = CORPUS_DIR / "userdict.txt"
DEFAULT_STOPWORDS = CORPUS_DIR / "stopwords.txt"

_lock = threading.Lock()
_tokenizers: dict[tuple[int, str], object] = {}


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
    return list(get_tokenizer(userdict).lcut(text))


def tokenize(text: str, userdict: str | None = None, stopwords: str | None = None) -> list[str]:
    """Content words of a text: segmented, lower-cased, without stop words and whitespace.

    This is the tokenizer of the classifier's word features; it is a module-level function
    so that ``functools.partial(tokenize, userdict=...)`` pickles.
    """
    stop = load_stopwords(stopwords)
    return [t.lower() for t in segment(text, userdict) if t.strip() and t not in stop]

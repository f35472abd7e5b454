"""Segmentation throughput: our segmenter next to plain ``jieba.lcut``, same text, same run.

    .venv/bin/python bench/segment.py [--mb 4] [--repeat 3]

Prints MB/s (UTF-8 bytes of input per second, best of --repeat runs) and the ratio to plain
jieba. Not part of `make test`: speed is never asserted in tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.data import read_corpus  # noqa: E402
from triage.normalize import normalize_text  # noqa: E402
from triage.segment import get_tokenizer, segment, tokenize  # noqa: E402


def sample_text(megabytes: float) -> list[str]:
    letters = [normalize_text(t) for t in read_corpus("train").texts]
    out: list[str] = []
    size = 0
    while size < megabytes * 1e6:
        for t in letters:
            out.append(t)
            size += len(t.encode("utf-8"))
    return out


def best_rate(fn: Callable[[str], object], docs: list[str], repeat: int) -> float:
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for d in docs:
            fn(d)
        best = min(best, time.perf_counter() - start)
    return nbytes / best / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=4.0, help="megabytes of letters to segment")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    docs = sample_text(args.mb)
    import jieba

    jieba.initialize()
    get_tokenizer()  # both dictionaries loaded before timing
    plain = best_rate(jieba.lcut, docs, args.repeat)
    rows = [("plain jieba.lcut", plain),
            ("triage.segment (user dict)", best_rate(segment, docs, args.repeat)),
            ("triage.tokenize (+ stop words)", best_rate(tokenize, docs, args.repeat))]
    print(f"{len(docs)} letters, {sum(len(d.encode()) for d in docs) / 1e6:.1f} MB, "
          f"best of {args.repeat}")
    print(f"{'segmenter':<32} {'MB/s':>7} {'vs plain':>9}")
    for name, rate in rows:
        print(f"{name:<32} {rate:>7.2f} {rate / plain:>8.2f}x")


if __name__ == "__main__":
    main()

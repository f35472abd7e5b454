"""Diversity report of the corpus letters: counts, lengths, noise, flags, openings, n-grams.

Analysts run it after adding a batch (``triage corpus-stats``) to see whether the corpus stays
varied: a falling share of distinct openings or the same top n-grams everywhere means
letters are starting to look alike.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from triage.segment import CORPUS_DIR


def load_letters(split: str, corpus_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every letter object of corpus/letters/<split>/*.jsonl."""
    folder = Path(corpus_dir or CORPUS_DIR) / "letters" / split
    out = []
    for f in sorted(folder.glob("*.jsonl")):
        out += [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    return out


def corpus_stats(letters: list[dict[str, Any]], top: int = 8) -> dict[str, Any]:
    """Figures that show whether a set of letters is large and varied enough."""
    n = len(letters)
    if not n:
        return {"letters": 0}
    lengths = sorted(len(d["text"]) for d in letters)
    openings = Counter(d["text"][:8] for d in letters)
    by_type: dict[str, Counter[str]] = {}
    for d in letters:
        grams = Counter(d["text"][i:i + 4] for i in range(len(d["text"]) - 3))
        # dict.fromkeys, not set: ties in most_common keep first-seen order on every run
        by_type.setdefault(d["issue_type"], Counter()).update(list(dict.fromkeys(grams)))
    return {
        "letters": n,
        "by_type": dict(sorted(Counter(d["issue_type"] for d in letters).items())),
        "by_subtype": dict(sorted(Counter(d["subtype"] for d in letters).items())),
        "length": {"min": lengths[0], "p10": lengths[n // 10],
                   "median": statistics.median(lengths), "p90": lengths[9 * n // 10],
                   "max": lengths[-1], "over_1500": sum(x > 1500 for x in lengths)},
        "share": {"noise": round(sum(bool(d.get("noise")) for d in letters) / n, 3),
                  "two_subjects": round(sum(bool(d.get("two_subjects")) for d in letters) / n,
                                        3),
                  "flagged": round(sum(bool(d.get("flags")) for d in letters) / n, 3),
                  "with_title": round(sum(bool(d.get("title")) for d in letters) / n, 3),
                  "distinct_openings": round(len(openings) / n, 3)},
        "flags": dict(Counter(f for d in letters for f in d.get("flags", []))),
        "nature": dict(Counter(d["nature"] for d in letters)),
        "personas": len({d.get("persona") for d in letters}),
        "most_common_openings": openings.most_common(5),
        "top_4grams_by_type": {t: [g for g, _ in c.most_common(top)]
                               for t, c in sorted(by_type.items())},
    }

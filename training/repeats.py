"""Measure repeat detection on the rewritten letters of corpus/repeats/.

Two sets, never mixed:

- **dev** (thresholds): the store is the training letters less 240 held out; the queries are
  the 60 rewrites of training letters (``dev-*.jsonl``) and the 240 held-out letters, which
  must find nothing. The pair of thresholds with the best F1 here is the one used.
- **test** (the figure): the store is the 457 test letters and the training letters less 800
  held out; the queries are the 200 rewrites of test letters (``test-*.jsonl``) and those 800
  unrelated letters.

A query counts as right when its best match, if it reaches both thresholds (cosine and lead,
see triage/similar.py), is its original (a rewrite), or when nothing reaches them (an unrelated
letter). F1 is over the links. Cosine alone, its threshold chosen the same way, is reported
next to it as the baseline.

    python -m training.repeats            # prints JSON
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

from triage.catalog import load_catalog
from triage.normalize import normalize_text
from triage.segment import CORPUS_DIR
from triage.similar import LetterIndex, background_of, ranked_matches


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _letters(folder: Path, pattern: str) -> list[dict[str, Any]]:
    return [rec for f in sorted(folder.glob(pattern)) for rec in _read(f)]


def _text(rec: dict[str, Any]) -> str:
    return normalize_text("\n".join(p for p in (rec.get("title"), rec["text"]) if p))


def links(index: LetterIndex, queries: list[tuple[str, str | None]],
          ) -> list[tuple[str | None, str | None, float, float]]:
    """(expected id, best match id, its cosine, its lead) for each query, whatever the
    thresholds."""
    sims = index.scores([q for q, _ in queries])
    out: list[tuple[str | None, str | None, float, float]] = []
    for i, (_, expected) in enumerate(queries):
        ranked = ranked_matches(index.ids, sims.getrow(i))
        if ranked:
            best, score = ranked[0]
            out.append((expected, best, score, score - background_of(ranked)))
        else:
            out.append((expected, None, 0.0, 0.0))
    return out


def f1_at(results: list[tuple[str | None, str | None, float, float]], t: float,
          lead: float = 0.0) -> dict[str, float]:
    """Precision, recall and F1 of the links made at cosine ``t`` and lead ``lead``."""
    def linked(s: float, m: float) -> bool:
        return s >= t and m >= lead

    tp = sum(1 for e, g, s, m in results if e is not None and linked(s, m) and g == e)
    fp = sum(1 for e, g, s, m in results if linked(s, m) and g != e)
    fn = sum(1 for e, g, s, m in results if e is not None and not (linked(s, m) and g == e))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4),
            "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "tp": tp, "fp": fp, "fn": fn}


def evaluate(corpus_dir: Path = CORPUS_DIR, seed: int = 0) -> dict[str, Any]:
    train = _letters(corpus_dir / "letters" / "train", "*.jsonl")
    test = _letters(corpus_dir / "letters" / "test", "*.jsonl")
    dev_rw = _letters(corpus_dir / "repeats", "dev-*.jsonl")
    test_rw = _letters(corpus_dir / "repeats", "test-*.jsonl")
    rng = random.Random(seed)
    originals = {r["of"] for r in dev_rw}
    pool = [r for r in train if r["id"] not in originals]
    rng.shuffle(pool)
    test_neg, dev_neg = pool[:800], pool[800:1040]

    dev_ids = {r["id"] for r in dev_neg}
    dev_index = LetterIndex()
    kept = [r for r in train if r["id"] not in dev_ids]
    dev_index.add([r["id"] for r in kept], [_text(r) for r in kept])
    dev = links(dev_index, [(_text(r), r["of"]) for r in dev_rw]
                + [(_text(r), None) for r in dev_neg])
    # best F1 on dev; among equals the stricter pair (higher cosine, then higher lead)
    grid = [(round(t, 2), round(m, 2)) for t in np.arange(0.05, 0.96, 0.01)
            for m in np.arange(0.0, 0.41, 0.01)]
    best_t, best_m = max(grid, key=lambda tm: (f1_at(dev, *tm)["f1"], tm))
    cosine_t = max((t for t, m in grid if m == 0), key=lambda t: (f1_at(dev, t)["f1"], -t))

    neg_ids = {r["id"] for r in test_neg}
    index = LetterIndex(best_t, best_m)
    stored = test + [r for r in train if r["id"] not in neg_ids]
    index.add([r["id"] for r in stored], [_text(r) for r in stored])
    res = links(index, [(_text(r), r["of"]) for r in test_rw]
                + [(_text(r), None) for r in test_neg])
    by_kind: dict[str, Any] = {}
    for kind in sorted({r.get("kind", "") for r in test_rw}):
        sub = [x for x, r in zip(res, test_rw, strict=False) if r.get("kind") == kind]
        by_kind[kind] = f1_at(sub, best_t, best_m)["recall"]
    policy = load_catalog(corpus_dir).policy
    return {"threshold": float(best_t), "lead": float(best_m),
            "policy": {"min_similarity": policy.min_similarity, "min_lead": policy.min_lead},
            "dev": {**f1_at(dev, best_t, best_m), "queries": len(dev)},
            "test": {**f1_at(res, best_t, best_m), "queries": len(res), "store": len(index),
                     "rewrites": len(test_rw), "unrelated": len(test_neg)},
            "test_recall_by_kind": by_kind,
            # the baseline: cosine alone, its threshold chosen on dev the same way
            "cosine_only": {"threshold": float(cosine_t), "dev": f1_at(dev, cosine_t)["f1"],
                            "test": f1_at(res, cosine_t)["f1"]}}


def main() -> int:
    json.dump(evaluate(), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

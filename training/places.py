"""How far the jurisdiction ranker is from what the labels allow.

- ``agreement``: the corpus's place labels against a second, blind labelling of 150 training
  letters (corpus/places/): how often two labellers following corpus/WRITING.md write the same
  string. This is the ceiling that matters for the exact-string aim.
- ``curve``: the ranker's exact-place rate as its training letters grow, by 4-fold
  cross-validation over whole batch files (a batch is one writer's letters, so each fold's
  letters come from writers the ranker never saw): what more letters of the same kind buy.

    python -m training.places agreement     # prints JSON
    python -m training.places curve         # prints JSON (about 5 minutes)
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from training.data import Dataset, read_corpus
from triage.extract import PlaceRanker
from triage.normalize import normalize_text
from triage.segment import CORPUS_DIR

SECOND_LABEL = CORPUS_DIR / "places" / "second-label.jsonl"


def _place(p: str | None) -> str | None:
    return normalize_text(p) if p else None


def agreement(data: Dataset, path: Path = SECOND_LABEL) -> dict[str, Any]:
    """The first labels (``data``) against the second (``path``), letter by letter."""
    first = dict(zip(data.ids, data.extras["place"], strict=True))
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    missing = [r["id"] for r in rows if r["id"] not in first]
    if missing:
        raise ValueError(f"{path}: ids not in the training letters: {', '.join(missing[:5])}")
    same = named = named_same = overlap = sure = sure_same = 0
    differ: list[dict[str, Any]] = []
    for r in rows:
        a, b = _place(first[r["id"]]), _place(r["place"])
        agree = a == b
        same += agree
        if r.get("sure", True):
            sure += 1
            sure_same += agree
        if a is not None:
            named += 1
            named_same += agree
            overlap += b is not None and (a in b or b in a)
        if not agree:
            differ.append({"id": r["id"], "first": a, "second": b, "sure": r.get("sure", True)})

    def rate(k: int, n: int) -> float | None:
        return round(k / n, 4) if n else None

    return {"letters": len(rows), "same": rate(same, len(rows)),
            "naming_a_place": named, "same_where_named": rate(named_same, named),
            "overlap_where_named": rate(overlap, named),
            "sure": sure, "same_where_sure": rate(sure_same, sure), "differ": differ}


def curve(data: Dataset, fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
          folds: int = 4, seed: int = 3) -> list[dict[str, Any]]:
    """Exact-place rate on held-out batches for rankers trained on a fraction of the rest."""
    from training.train import place_inputs, prepare_all

    plain = prepare_all(data, title_repeat=1)
    extractor, bounds, gold = place_inputs(plain, data.extras["place"])
    batch = [i.rsplit("-", 1)[0] for i in data.ids]
    batches = sorted(set(batch))
    random.Random(seed).shuffle(batches)
    out = []
    for frac in fractions:
        right = n = size = 0
        for k in tqdm(range(folds), desc=f"{frac:.0%} of the letters", unit="fold"):
            held = set(batches[k::folds])
            test = [i for i, b in enumerate(batch) if b in held]
            train = [i for i, b in enumerate(batch) if b not in held]
            random.Random(k).shuffle(train)
            train = train[:int(len(train) * frac)]
            size += len(train)
            ranker = PlaceRanker(extractor.rules.places).fit(
                [plain[i] for i in train], [gold[i] for i in train], [bounds[i] for i in train])
            for i in test:
                if gold[i] is None:
                    continue
                n += 1
                top = ranker.options(plain[i], ranker.rank(plain[i], bounds[i]), 1)
                right += bool(top) and top[0][0] == gold[i]
        out.append({"fraction": frac, "training_letters": round(size / folds),
                    "exact": round(right / max(n, 1), 4), "letters_naming_a_place": n})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    what = args[0] if args else ""
    if what == "agreement":
        print(json.dumps(agreement(read_corpus("train")), ensure_ascii=False, indent=1))
    elif what == "curve":
        print(json.dumps(curve(read_corpus("train")), ensure_ascii=False, indent=1))
    else:
        print("usage: python -m training.places agreement|curve", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

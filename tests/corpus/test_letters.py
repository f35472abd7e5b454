"""The corpus is data the model learns from: schema, labels, privacy and test-set independence."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from tests.conftest import ROOT
from triage.catalog import FLAGS, NATURES, load_catalog

LETTERS = ROOT / "corpus" / "letters"
CHANNELS = {"retrial", "enforcement", "police_case", "procuratorate", "admin_review",
            "arbitration", "legal_aid"}
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")


def _load(split: str) -> list[tuple[str, int, dict]]:  # type: ignore[type-arg]
    out = []
    for f in sorted((LETTERS / split).glob("*.jsonl")):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), start=1):
            out.append((f"{f.name}:{n}", n, json.loads(line)))
    return out


TRAIN = _load("train")
TEST = _load("test")
ALL = TRAIN + TEST


def test_corpus_letters_follow_the_schema_and_catalogs() -> None:
    cat = load_catalog()
    problems = []
    for where, _, d in ALL:
        it, st = d.get("issue_type"), d.get("subtype")
        if it not in cat.issue_types:
            problems.append(f"{where}: issue_type {it!r}")
        if st not in cat.subtypes or cat.issue_of(str(st)) != it:
            problems.append(f"{where}: subtype {st!r} not under {it!r}")
        if d.get("agency") not in cat.agencies:
            problems.append(f"{where}: agency {d.get('agency')!r}")
        if d.get("nature") not in NATURES:
            problems.append(f"{where}: nature {d.get('nature')!r}")
        if not isinstance(d.get("litigation_related"), bool):
            problems.append(f"{where}: litigation_related must be true/false")
        if d.get("litigation_related") and d.get("channel") not in CHANNELS:
            problems.append(f"{where}: channel {d.get('channel')!r}")
        if not set(d.get("flags", [])) <= set(FLAGS):
            problems.append(f"{where}: flags {d.get('flags')}")
        if d.get("place") is not None and d["place"] not in d["text"]:
            problems.append(f"{where}: place {d['place']!r} is not in the text")
        if not 30 <= len(d.get("text", "")) <= 3000:
            problems.append(f"{where}: text length {len(d.get('text', ''))}")
    assert not problems, "\n".join(problems[:20])


def test_corpus_ids_are_unique() -> None:
    counts = Counter(d["id"] for _, _, d in ALL)
    assert not [i for i, c in counts.items() if c > 1]


def test_corpus_has_no_real_looking_phone_or_id_numbers() -> None:
    hits = [where for where, _, d in ALL
            if MOBILE.search(d["text"]) or ID_NUMBER.search(d["text"])]
    assert not hits, f"unmasked numbers in {hits[:10]}"


def test_corpus_training_letters_cover_every_type() -> None:
    counts = Counter(d["issue_type"] for _, _, d in TRAIN)
    assert len(TRAIN) >= 1600
    assert set(counts) == set(load_catalog().issue_types)
    assert min(counts.values()) >= 80, counts
    assert all(counts[t] >= 200 for t in ("land", "labour", "litigation")), counts
    lengths = [len(d["text"]) for _, _, d in TRAIN]
    assert 200 <= statistics.median(lengths) <= 600
    assert min(lengths) <= 60 and max(lengths) >= 1500


def test_corpus_litigation_label_matches_issue_type() -> None:
    wrong = [where for where, _, d in ALL
             if d["litigation_related"] != (d["issue_type"] == "litigation")]
    assert not wrong, wrong[:10]


@pytest.mark.skipif(not TEST, reason="no test letters yet")
def test_corpus_test_letters_are_not_near_duplicates_of_training_letters() -> None:
    """Character 5-gram Jaccard < 0.5 for every (test, train) pair."""
    vec = CountVectorizer(analyzer="char", ngram_range=(5, 5), binary=True, lowercase=False)
    A = vec.fit_transform([d["text"] for _, _, d in TEST] + [d["text"] for _, _, d in TRAIN])
    test, train = A[: len(TEST)], A[len(TEST):]
    inter = (test @ train.T).toarray()
    size_test = np.asarray(test.sum(axis=1)).ravel()[:, None]
    size_train = np.asarray(train.sum(axis=1)).ravel()[None, :]
    jaccard = inter / np.maximum(size_test + size_train - inter, 1)
    i, j = np.unravel_index(jaccard.argmax(), jaccard.shape)
    assert jaccard.max() < 0.5, (f"{TEST[i][2]['id']} ~ {TRAIN[j][2]['id']}: "
                                 f"Jaccard {jaccard.max():.2f}")

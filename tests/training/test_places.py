"""The second labelling of places (corpus/places/) and the agreement measured over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.data import read_corpus
from training.places import SECOND_LABEL, agreement

TRAIN = read_corpus("train")
TEXT = dict(zip(TRAIN.ids, TRAIN.texts, strict=True))
FIRST = dict(zip(TRAIN.ids, TRAIN.extras["place"], strict=True))


def _rows(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_second_labels_are_spans_of_training_letters() -> None:
    rows = _rows(SECOND_LABEL)
    assert len(rows) == len({r["id"] for r in rows}) == 150
    wrong = [r["id"] for r in rows
             if r["id"] not in TEXT or (r["place"] is not None and r["place"] not in TEXT[r["id"]])]
    assert not wrong, f"not a span of its training letter: {wrong}"


def test_agreement_counts_the_letters_labelled_alike(tmp_path: Path) -> None:
    named = [i for i, p in FIRST.items() if p][:3]
    f = tmp_path / "second.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"id": named[0], "place": FIRST[named[0]], "sure": True},
        {"id": named[1], "place": FIRST[named[1]][:-1], "sure": False},  # one character short
        {"id": named[2], "place": None, "sure": True},
    ]), encoding="utf-8")
    out = agreement(TRAIN, f)
    assert out["letters"] == 3 and out["naming_a_place"] == 3
    assert out["same"] == pytest.approx(1 / 3, abs=1e-4)
    assert out["overlap_where_named"] == pytest.approx(2 / 3, abs=1e-4)
    assert out["same_where_sure"] == 0.5
    assert [d["id"] for d in out["differ"]] == named[1:]


def test_agreement_names_an_id_that_is_no_training_letter(tmp_path: Path) -> None:
    f = tmp_path / "second.jsonl"
    f.write_text(json.dumps({"id": "t-land-a-0001", "place": None}), encoding="utf-8")
    with pytest.raises(ValueError, match="t-land-a-0001"):
        agreement(TRAIN, f)


def test_sure_margin_is_the_smallest_lead_that_keeps_the_precision() -> None:
    from training.train import sure_margin

    # leads 0.00 … 0.79; the places with a lead under 0.3 are right one time in two
    given = [(k / 100, k >= 30 or k % 2 == 0) for k in range(80)]
    t = sure_margin(given, 0.9)

    def precision(at: float) -> float:
        kept = [ok for m, ok in given if m >= at]
        return sum(kept) / len(kept)

    assert 0 < t < 0.3
    assert precision(t) >= 0.9 > precision(round(t - 0.01, 2))
    assert sure_margin(given, 1.0) == 0.3  # only the leads that were never wrong
    assert sure_margin(given[:40], 0.5) == 0.0  # right more than half the time already
    assert sure_margin(given[:20], 0.9) == 2.0  # too few letters to choose: never sure
    assert sure_margin([(0.9, False)] * 50, 0.9) == 2.0


@pytest.mark.parametrize("value", [0, 1.5, "high", True])
def test_a_bad_sure_precision_names_the_file_and_key(tmp_path: Path, value: object) -> None:
    import yaml

    from triage.catalog import load_catalog
    from triage.errors import CatalogError
    from triage.rules import parse_rules
    from triage.segment import CORPUS_DIR

    data = yaml.safe_load((CORPUS_DIR / "rules.yaml").read_text(encoding="utf-8"))
    data["places"]["sure_precision"] = value
    f = tmp_path / "rules.yaml"
    f.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"rules\.yaml: places\.sure_precision: expected a "
                                           r"number in \(0, 1\]"):
        parse_rules(f, set(load_catalog().agencies))

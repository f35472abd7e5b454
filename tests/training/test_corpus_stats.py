from __future__ import annotations

import pytest

from training.corpus_stats import corpus_stats, load_letters


def _letter(text: str, issue: str = "land", **extra) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return {"text": text, "issue_type": issue, "subtype": f"{issue}.x", "nature": "claim",
            **extra}


def test_corpus_stats_counts_and_shares() -> None:
    letters = [_letter("我们村的征地补偿款没有发", noise=["typos"], flags=["collective"]),
               _letter("我们村的征地补偿款没有发放到位", two_subjects=True),
               _letter("包工头拖欠工资三个月了不给", issue="labour", title="讨薪"),
               _letter("法院判决之后一直不执行" * 3, issue="litigation")]
    s = corpus_stats(letters, top=20)
    assert s["letters"] == 4
    assert s["by_type"] == {"labour": 1, "land": 2, "litigation": 1}
    assert s["share"]["noise"] == 0.25 and s["share"]["flagged"] == 0.25
    assert s["share"]["distinct_openings"] == 0.75  # two letters open with the same 8 chars
    assert s["length"]["max"] == len("法院判决之后一直不执行") * 3
    assert "征地补偿" in s["top_4grams_by_type"]["land"]


def test_corpus_stats_empty() -> None:
    assert corpus_stats([]) == {"letters": 0}


@pytest.mark.parametrize("split", ["train", "test"])
def test_corpus_stats_on_the_real_corpus_is_varied(split: str) -> None:
    s = corpus_stats(load_letters(split))
    assert s["share"]["distinct_openings"] > 0.9
    assert 0.05 <= s["share"]["noise"] <= 0.2
    assert 0.1 <= s["share"]["flagged"] <= 0.25
    assert s["personas"] >= 30

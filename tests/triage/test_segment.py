from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from triage.segment import load_stopwords, segment, tokenize

DOMAIN_TERMS = ["涉法涉诉", "征地补偿", "农民工工资", "宅基地", "息诉罢访", "劳动仲裁", "行政复议",
                "强制执行", "物业费", "人社局"]


@pytest.mark.parametrize("term", DOMAIN_TERMS)
def test_segment_keeps_domain_terms_whole(term: str) -> None:
    text = f"关于{term}的问题我们已经反映多次了"
    assert term in segment(text)


@pytest.mark.parametrize("text", ["", "信访", "我们村的征地补偿款没发 12345 ABC",
                                  "第一行\n第二行  有空格"])
def test_segment_loses_no_character(text: str) -> None:
    assert "".join(segment(text)) == text


def test_tokenize_drops_stop_words_and_spaces() -> None:
    tokens = tokenize("我们 的 工资 ， 被 包工头 拖欠 了")
    assert "工资" in tokens and "包工头" in tokens
    assert not {"的", "我们", "，", " ", "了"} & set(tokens)


def test_load_stopwords_missing_file_is_empty(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert load_stopwords(str(tmp_path / "none.txt")) == frozenset()


LETTERS = [f"第{i}封：包工头拖欠农民工工资{i}万元，申请劳动仲裁，宅基地也被占了" for i in range(40)]


def test_segment_same_under_threads() -> None:
    expected = [segment(t) for t in LETTERS]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(segment, LETTERS)) == expected


def test_segment_same_in_worker_processes() -> None:
    expected = [segment(t) for t in LETTERS]
    with ProcessPoolExecutor(2) as pool:
        assert list(pool.map(segment, LETTERS)) == expected

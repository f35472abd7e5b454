"""Extraction: entity shapes, counts of people, agency mentions, places, the spaCy pipeline."""

from __future__ import annotations

import pytest

from triage.extract import Extractor, chinese_number, gazetteer


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor.load()  # no place ranker: rules and gazetteer only


@pytest.mark.parametrize(("text", "value"), [
    ("三十多户", 30), ("200余名", 200), ("一百二十多户", 120), ("十几个", 10), ("两千", 2000),
    ("5棵", 5), ("1.3万", 13000), ("四十一户", 41), ("一万二千", 12000), ("户", None),
])
def test_chinese_number(text: str, value: int | None) -> None:
    assert chinese_number(text) == value


@pytest.mark.parametrize(("text", "field", "expected"), [
    ("补偿款12万元一直没发", "amounts", ["12万元"]),
    ("欠我工资一万二千元", "amounts", ["一万二千元"]),
    ("一亩只给两万八千块", "amounts", ["两万八千块"]),
    ("2023年3月5日签的合同", "dates", ["2023年3月5日"]),
    ("今年5月12日又去了", "dates", ["今年5月12日"]),
    ("2024-06-01交房", "dates", ["2024-06-01"]),
    ("我们三十多户村民", "people", ["三十多户村民"]),
    ("200余名工人讨薪", "people", ["200余名工人"]),
    ("电话138****0000", "phones", ["138****0000"]),
    ("座机0731-88886666", "phones", ["0731-88886666"]),
    ("身份证号 4301**********1234", "id_numbers", ["4301**********1234"]),
    ("卡号6217********1234", "bank_cards", ["6217********1234"]),
])
def test_entity_shapes(extractor: Extractor, text: str, field: str, expected: list[str]) -> None:
    assert getattr(extractor.extract(text), field) == expected


def test_trees_are_not_people(extractor: Extractor) -> None:
    found = extractor.extract("门口的5棵树被砍了，赔了300元")
    assert found.people == [] and found.max_people == 0
    assert found.amounts == ["300元"]


def test_entities_in_the_suggestion_count_personal_numbers(extractor: Extractor) -> None:
    ent = extractor.extract("电话138****0000，身份证号 4301**********1234，欠款3万元").entities()
    assert ent["phones"] == 1 and ent["id_numbers"] == 1 and ent["amounts"] == ["3万元"]
    assert "138" not in str(ent)  # numbers are counted, never copied into the suggestion


def test_agency_mentions_by_alias(extractor: Extractor) -> None:
    found = extractor.extract("我去了县人社局和劳动监察大队，又找了派出所，都说不归他们管")
    assert found.agencies == ["hrss", "police"]


def test_tokens_cover_the_text_exactly(extractor: Extractor) -> None:
    text = "我叫王某，电话138****0000，住青禾县柳林镇石桥村三组，欠款12万元。\n第二行"
    doc = extractor.nlp(text)
    assert doc.text == text
    assert "138****0000" in [t.text for t in doc]  # an entity is one token


@pytest.mark.skipif(not gazetteer(), reason="the gazetteer package (cpca) is not installed")
def test_gazetteer_places(extractor: Extractor) -> None:
    assert "武侯区" in gazetteer()
    found = extractor.extract("我住在成都市武侯区，楼下餐馆油烟太大")
    assert any("武侯区" in p for p in found.places)


def test_empty_and_odd_text(extractor: Extractor) -> None:
    assert extractor.extract("").places == []
    found = extractor.extract("\u0000\ufffd" * 10 + "<script>alert(1)</script>")
    assert found.amounts == []


def test_place_ranker_scores_as_its_logistic_regression(triage) -> None:  # type: ignore[no-untyped-def]
    """The ranker sums its feature weights itself instead of building a matrix; its
    probabilities must be the fitted model's own, candidate for candidate."""
    import pickle

    import numpy as np

    from training.data import read_corpus

    ranker = triage.place_ranker
    extractor = Extractor.load()
    texts = read_corpus("test").texts[::40]
    for text in texts:
        bounds = extractor.bounds(text)
        cands = ranker.candidates(text, bounds)
        want = ranker.model.predict_proba(
            ranker.vectorizer.transform(ranker.features(text, bounds, cands)))[:, 1]
        got = {(s, e): p for s, e, p in ranker.rank(text, bounds)}
        assert len(got) == len(cands)
        np.testing.assert_allclose([got[c] for c in cands], want, rtol=1e-9, atol=1e-12)
    # the weights it keeps are not saved with it (they are rebuilt from the model)
    assert "_weights" in ranker.__dict__
    assert "_weights" not in pickle.loads(pickle.dumps(ranker)).__dict__


@pytest.mark.parametrize(("text", "whole", "parts"), [
    ("东坪村和西坪村的地被占了", "东坪村和西坪村", ["东坪村", "西坪村"]),
    ("从石门镇到上庄村的路修了三年", "石门镇到上庄村", ["石门镇", "上庄村"]),
    ("梨树湾村至白果村这段路", "梨树湾村至白果村", ["梨树湾村", "白果村"]),
])
def test_no_place_candidate_runs_across_a_list_or_a_range(extractor: Extractor, text: str,
                                                        whole: str, parts: list[str]) -> None:
    from triage.extract import PlaceRanker

    ranker = PlaceRanker(extractor.rules.places)
    spans = {text[s:e] for s, e in ranker.candidates(text, extractor.bounds(text))}
    assert whole not in spans
    assert all(p in spans for p in parts)


def test_a_place_named_again_in_short_is_completed_to_its_full_form(
        extractor: Extractor) -> None:
    from triage.extract import PlaceRanker

    text = "我是青禾县柳林镇石桥村村民。去年石桥村修路，石桥村的地被占了两亩。"
    ranker = PlaceRanker(extractor.rules.places)
    cands = ranker.candidates(text, extractor.bounds(text))
    later = text.rindex("石桥村")
    s, e = ranker.complete_fully(text, later, later + 3, cands)
    assert text[s:e] == "青禾县柳林镇石桥村"
    assert ranker.complete(text, later, later + 3, cands) == (later, later + 3)  # alone: short

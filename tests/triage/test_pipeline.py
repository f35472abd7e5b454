from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage import LetterError, ModelError, Triage
from triage.normalize import decode_bytes

LAND = ("我们是青禾县柳林镇东坪村的村民，2023年村里二百多亩地被征收修物流园，"
        "到现在每户的征地补偿款和青苗费都没有发到手，村委会说钱被镇里扣着，请求自然资源局督促落实补偿。")
LAND_TRADITIONAL = ("我們是青禾縣柳林鎮東坪村的村民，2023年村裡二百多畝地被徵收修物流園，"
                    "到現在每戶的徵地補償款和青苗費都沒有發到手，村委會說錢被鎮裡扣著，請求自然資源局督促落實補償。")
ENFORCE = ("我在2022年起诉欠款人，法院判决他还我八万元，判决早就生效了，我申请了强制执行，"
           "可执行法官一直说找不到财产，案子被终本了，可他天天开着新车，请求法院恢复执行。")


def test_suggest_returns_the_contract_json(triage: Triage) -> None:
    out = triage.suggest(LAND).model_dump(mode="json")
    for key in ("model_version", "issue_type", "litigation_related", "nature", "agency",
                "flags", "deadlines", "entities", "explanation", "needs_review"):
        assert key in out
    assert out["issue_type"][0]["id"] == "land"
    assert out["issue_type"][0]["subtype"].startswith("land.")
    assert out["agency"][0]["id"] == "natural_resources"
    assert out["nature"]["id"] in ("claim", "proposal", "accusation")
    assert out["litigation_related"]["value"] is False
    scores = [i["score"] for i in out["issue_type"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    assert out["explanation"]["issue_type"]
    json.dumps(out, ensure_ascii=False)


def test_suggest_litigation_goes_to_legal_channel(triage: Triage) -> None:
    out = triage.suggest(ENFORCE)
    assert out.issue_type[0].id == "litigation"
    assert out.litigation_related is not None and out.litigation_related.value
    assert out.agency[0].id in {"court", "procuratorate", "police", "justice"}


def test_suggest_traditional_equals_simplified(triage: Triage) -> None:
    a = triage.suggest(LAND).model_dump()
    b = triage.suggest(LAND_TRADITIONAL).model_dump()
    assert a == b


def test_suggest_html_equals_plain_text(triage: Triage) -> None:
    html = "<html><body><p>" + LAND.replace("，", "，<br/>") + "</p>&nbsp;</body></html>"
    a, b = triage.suggest(html), triage.suggest(LAND)
    # line breaks from <br> change some character n-grams, not the decision
    assert (a.issue_type[0].id, a.issue_type[0].subtype) == (b.issue_type[0].id,
                                                             b.issue_type[0].subtype)
    assert a.agency[0].id == b.agency[0].id
    assert a.issue_type[0].score == pytest.approx(b.issue_type[0].score, abs=0.05)


def test_suggest_handles_a_100kb_letter(triage: Triage) -> None:
    big = (LAND * 500)[:36000]  # > 100 KB in UTF-8
    assert len(big.encode("utf-8")) >= 100_000
    out = triage.suggest(big)
    assert out.issue_type[0].id == "land"


def test_suggest_gb18030_file_same_as_utf8(triage: Triage, tmp_path: Path) -> None:
    f = tmp_path / "letter.txt"
    f.write_bytes(LAND.encode("gb18030"))
    text, codec = decode_bytes(f.read_bytes())
    assert codec == "gb18030"
    assert triage.suggest(text).model_dump() == triage.suggest(LAND).model_dump()


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"), ("   \n\t ", "empty"), ("<p></p>&nbsp;", "empty"),
    (None, "expected a string"), (b"bytes", "expected a string"),
    ("信" * 900_001, "limit"),
])
def test_suggest_rejects_bad_letters_clearly(triage: Triage, text, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LetterError, match=message):
        triage.suggest(text)


def test_suggest_many_matches_suggest(triage: Triage) -> None:
    many = triage.suggest_many([LAND, ENFORCE], ["征地补偿款未发", None])
    assert many[0] == triage.suggest(LAND, title="征地补偿款未发")
    assert many[1] == triage.suggest(ENFORCE)


def test_load_refuses_tampered_model(store_copy: Path) -> None:
    manifest = json.loads((store_copy / "manifest.json").read_text())
    model = store_copy / manifest["current"] / "model.joblib"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the manifest"):
        Triage.load(store_copy)


def test_load_refuses_version_not_in_manifest(store_copy: Path) -> None:
    manifest = json.loads((store_copy / "manifest.json").read_text())
    version = manifest["current"]
    (store_copy / version).rename(store_copy / "20990101-000000-evil00")
    with pytest.raises(ModelError, match="not in"):
        Triage.load(store_copy / "20990101-000000-evil00")


def test_load_without_a_model_says_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="triage train"):
        Triage.load(tmp_path)


# -- beyond the label: channel, jurisdiction, flags, deadlines, entities -----------------------
DANGER = ("我叫某某某，青禾县柳林镇石桥村村民。村里修路占了我家两亩地，补偿款一分没给，"
          "我找了镇里七八次都没人管。这个月底再不给钱，我就拿瓶农药到镇政府门口喝了。")
HOME_AWAY = ("我家住在城关镇幸福小区，可我承包的地在沅水县白鹤乡枫树村，"
             "今年村委会把我家那五亩地转包给了外地老板，没人跟我商量，请求帮我把地要回来。")


def test_litigation_letter_gets_its_legal_channel_and_notice(triage: Triage) -> None:
    out = triage.suggest(ENFORCE)
    assert out.legal_channel is not None
    assert out.legal_channel.id == "enforcement"
    assert out.legal_channel.agency == "court"
    assert "执行" in out.legal_channel.notice
    assert triage.suggest(LAND).legal_channel is None  # not litigation-related: no channel


def test_danger_flag_with_evidence_forces_review(triage: Triage) -> None:
    out = triage.suggest(DANGER)
    danger = [f for f in out.flags if f.id == "danger"]
    assert danger and "农药" in danger[0].evidence
    assert out.needs_review is True


def test_jurisdiction_is_where_the_matter_is_and_goes_on_each_agency(triage: Triage) -> None:
    out = triage.suggest(DANGER)
    assert out.jurisdiction is not None and out.jurisdiction.source == "text"
    assert "石桥村" in out.jurisdiction.place
    assert all(a.jurisdiction == out.jurisdiction.place for a in out.agency)


def test_jurisdiction_offers_the_other_places_the_matter_may_be_in(triage: Triage) -> None:
    """A letter naming the writer's home and the land the matter is about: whichever the
    ranker puts first, the clerk is offered the other, with its score."""
    out = triage.suggest(HOME_AWAY)
    assert out.jurisdiction is not None and out.jurisdiction.source == "text"
    offered = [out.jurisdiction.place, *(o.place for o in out.jurisdiction.alternatives)]
    assert "沅水县白鹤乡枫树村" in offered and "城关镇幸福小区" in offered
    assert len(set(offered)) == len(offered)  # each place once
    scores = [o.score for o in out.jurisdiction.alternatives]
    assert scores == sorted(scores, reverse=True)
    assert all(triage.rules.places.alternative_min_score <= sc <= out.jurisdiction.score
               for sc in scores)
    assert len(scores) <= triage.rules.places.alternatives


def test_jurisdiction_is_sure_only_when_the_place_stands_out(triage: Triage) -> None:
    """One place named: sure. The writer's home and the land both scoring high: the clerk is
    told to check. No place named: never sure of the office's own area."""
    one = triage.suggest(LAND).jurisdiction
    assert one is not None and one.source == "text" and one.sure
    two = triage.suggest(HOME_AWAY).jurisdiction
    assert two is not None and two.source == "text" and not two.sure
    assert two.alternatives and two.score - two.alternatives[0].score < 0.2
    none = triage.suggest("工资拖了三个月没发，老板说再等等，请帮忙讨薪。").jurisdiction
    assert none is not None and none.source == "office" and not none.sure


def test_jurisdiction_falls_back_to_the_office_area(triage: Triage) -> None:
    out = triage.suggest("工资拖了三个月没发，老板说再等等，请帮忙讨薪。")
    assert out.jurisdiction is not None
    assert out.jurisdiction.source == "office"
    assert out.jurisdiction.place == triage.rules.office_area


def test_deadlines_from_the_received_date(triage: Triage) -> None:
    import datetime as dt

    out = triage.suggest(LAND, received=dt.date(2026, 11, 22)).model_dump(mode="json")
    assert out["deadlines"]["received"] == "2026-11-22"
    assert out["deadlines"]["acceptance_due"] == "2026-12-07"
    assert "handling_due" in out["deadlines"] and "extended_due" in out["deadlines"]
    assert triage.suggest(LAND).deadlines == {}


def test_entities_in_the_suggestion(triage: Triage) -> None:
    out = triage.suggest(LAND + "联系电话138****0000，涉及补偿款12万元。")
    ent = out.entities
    assert ent["phones"] == 1 and "12万元" in ent["amounts"]
    assert any("东坪村" in p for p in ent["places"])


def test_similar_letters_link_a_repeat(triage: Triage) -> None:
    from training.data import read_corpus
    from triage.similar import LetterIndex

    data = read_corpus("train")
    index = LetterIndex(triage.catalog.policy.min_similarity, triage.catalog.policy.min_lead)
    index.add(data.ids[::20] + ["earlier-1"], data.texts[::20] + [LAND])
    triage.index = index
    try:
        again = ("东坪村村民再次反映：2023年村里二百多亩地被征收修物流园，征地补偿款和青苗费"
                 "至今没有发到每户手里，村委会称钱被镇里扣着，请自然资源局督促。")
        out = triage.suggest(again)
        assert out.similar and out.similar[0].id == "earlier-1"
        assert any(f.id == "repeat" for f in out.flags)
        assert not triage.suggest(ENFORCE).similar
    finally:
        triage.index = None


def test_letter_text_never_logged_at_info_and_redacted_at_debug(
        triage: Triage, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    letter = "我叫王小明，电话13812345678，工资被拖欠了三个月，请劳动监察大队帮忙。"
    with caplog.at_level(logging.INFO):
        triage.suggest(letter)
    assert "工资被拖欠" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="triage"):
        triage.suggest(letter)
    assert "工资被拖欠" in caplog.text  # the debug line shows the letter …
    assert "王小明" not in caplog.text and "13812345678" not in caplog.text  # … redacted

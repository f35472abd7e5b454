"""Hotspots: places cut to a level, clusters ranked by count."""

from __future__ import annotations

import pytest

from triage.hotspots import hotspots, place_at_level
from triage.suggestion import Explanation, Flag, IssueScore, Jurisdiction, Suggestion


@pytest.mark.parametrize(("place", "level", "expected"), [
    ("青禾县柳林镇石桥村三组", "county", "青禾县"),
    ("青禾县柳林镇石桥村三组", "town", "青禾县柳林镇"),
    ("青禾县柳林镇石桥村三组", "village", "青禾县柳林镇石桥村"),
    ("青禾县柳林镇石桥村三组", "place", "青禾县柳林镇石桥村三组"),
    ("A市A2区幸福路12号", "county", "A市A2区"),
    ("柳林镇", "village", "柳林镇"),       # no village: the deepest level it has
    ("金桂花园小区", "county", "金桂花园小区"),
    (None, "town", None),
])
def test_place_at_level(place: str | None, level: str, expected: str | None) -> None:
    assert place_at_level(place, level) == expected


def _s(place: str | None, issue: str, flags: tuple[str, ...] = ()) -> Suggestion:
    return Suggestion(model_version="t", needs_review=False,
                      issue_type=[IssueScore(id=issue,
                                             name={"land": "土地", "labour": "劳动"}[issue],
                                             subtype_name="征地补偿" if issue == "land" else "欠薪",
                                             score=0.9)],
                      jurisdiction=Jurisdiction(place=place, source="text") if place else None,
                      flags=[Flag(id=f) for f in flags],
                      explanation=Explanation(issue_type=["补偿款", "征收"]))


def test_clusters_ranked_by_count_with_labels_and_dates() -> None:
    sugg = ([_s("青禾县柳林镇石桥村", "land", ("collective",))] * 3
            + [_s("青禾县柳林镇东坪村", "land")] * 2
            + [_s("青禾县白沙镇", "labour")] * 2 + [_s(None, "labour")])
    ids = [f"L{i}" for i in range(len(sugg))]
    days = ["2026-10-0" + str(i + 1) for i in range(len(sugg))]
    out = hotspots(sugg, ids, days, level="town")
    assert [(h["place"], h["issue_type"], h["count"]) for h in out] == [
        ("青禾县柳林镇", "land", 5), ("青禾县白沙镇", "labour", 2)]
    top = out[0]
    assert top["label"] == "青禾县柳林镇 · 土地（征地补偿）"
    assert top["flags"] == {"collective": 3} and top["first"] == "2026-10-01"
    assert top["last"] == "2026-10-05" and top["examples"][:2] == ["L0", "L1"]
    village = hotspots(sugg, ids, days, level="village")
    assert village[0]["place"] == "青禾县柳林镇石桥村" and village[0]["count"] == 3
    assert hotspots(sugg, ids, level="town", min_count=1)[-1]["place"] == "（未写明地点）"


def test_bad_level() -> None:
    with pytest.raises(ValueError, match="level"):
        hotspots([], [], level="province")

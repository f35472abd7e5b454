"""Hotspots: a period's letters grouped by place and issue into ranked clusters.

What offices report upward each month: "青禾县柳林镇 · 土地（征地补偿）: 14 letters, 2 collective".
The place is the suggestion's jurisdiction cut to the chosen administrative level; letters
that name no place fall under the office's own area.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from triage.suggestion import Suggestion

LEVELS = ("county", "town", "village", "place")
_LEVEL_RX = {
    "county": re.compile(r"^(?:[^县区市]{1,8}(?:市|州|盟))?[^县区市旗]{1,8}(?:县|区|市|旗)"),
    "town": re.compile(r"^.{0,16}?(?:镇|乡|街道|开发区|工业园)"),
    "village": re.compile(r"^.{0,24}?(?:村|社区|居委会|小区)"),
}


def place_at_level(place: str | None, level: str) -> str | None:
    """Cut a place to an administrative level (``青禾县柳林镇石桥村``, county → ``青禾县``).

    A place that does not reach the level (a town asked at village level) is kept whole at
    the deepest level it has.
    """
    if not place or level == "place":
        return place or None
    order = ["county", "town", "village"][: ["county", "town", "village"].index(level) + 1]
    for lv in reversed(order):
        m = _LEVEL_RX[lv].match(place)
        if m:
            return m.group(0)
    return place


@dataclass
class Cluster:
    place: str
    issue_type: str
    issue_name: str
    count: int = 0
    subtypes: Counter[str] = field(default_factory=Counter)
    terms: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    ids: list[str] = field(default_factory=list)
    first: str | None = None
    last: str | None = None

    def as_dict(self, examples: int = 5) -> dict[str, Any]:
        sub = self.subtypes.most_common(1)[0][0] if self.subtypes else ""
        terms = [t for t, _ in self.terms.most_common(4)]
        label = f"{self.place} · {self.issue_name}" + (f"（{sub}）" if sub else "")
        return {"label": label, "place": self.place, "issue_type": self.issue_type,
                "subtype": sub, "count": self.count, "terms": terms,
                "flags": dict(self.flags), "first": self.first, "last": self.last,
                "examples": self.ids[:examples]}


def hotspots(suggestions: Sequence[Suggestion], ids: Sequence[str],
             received: Sequence[str | None] | None = None, level: str = "town",
             top: int = 10, min_count: int = 2) -> list[dict[str, Any]]:
    """Rank (place, issue type) clusters by the number of letters.

    Parameters
    ----------
    suggestions : the letters' suggestions (their jurisdiction, issue type, flags, terms)
    ids : the letters' ids, to list examples
    received : ISO dates, for each cluster's first and last letter
    level : ``county``, ``town``, ``village`` or ``place`` (the whole place string)
    top : how many clusters to return
    min_count : smallest cluster worth reporting
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    dates = list(received) if received is not None else [None] * len(suggestions)
    clusters: dict[tuple[str, str], Cluster] = {}
    for s, lid, day in zip(suggestions, ids, dates, strict=True):
        if not s.issue_type:
            continue
        place = place_at_level(s.jurisdiction.place if s.jurisdiction else None, level)
        place = place or "（未写明地点）"
        top_issue = s.issue_type[0]
        key = (place, top_issue.id)
        c = clusters.get(key)
        if c is None:
            c = clusters[key] = Cluster(place, top_issue.id, top_issue.name)
        c.count += 1
        if top_issue.subtype_name:
            c.subtypes[top_issue.subtype_name] += 1
        c.terms.update(s.explanation.issue_type[:3])
        c.flags.update(f.id for f in s.flags)
        c.ids.append(lid)
        if day:
            c.first = min(c.first or day, day)
            c.last = max(c.last or day, day)
    ranked = sorted((c for c in clusters.values() if c.count >= min_count),
                    key=lambda c: (-c.count, -sum(c.flags.values()), c.place, c.issue_type))
    return [c.as_dict() for c in ranked[:top]]


def by_issue(suggestions: Sequence[Suggestion]) -> dict[str, int]:
    """Letters per top issue type (for a summary line)."""
    out: dict[str, int] = defaultdict(int)
    for s in suggestions:
        if s.issue_type:
            out[s.issue_type[0].id] += 1
    return dict(out)

"""Deadlines of a petition (信访工作条例): acceptance notice, handling, extension, 复查, 复核.

The periods and the day-counting rule live in corpus/deadlines.yaml:

- ``counting``: ``calendar`` (every day counts) or ``working`` (Monday–Friday less holidays,
  plus make-up working days);
- ``start_next_day``: the day of the event itself is not counted;
- ``roll_forward_off_days``: a due date on a weekend or holiday moves to the next working day.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from triage.catalog import _need, _read_yaml
from triage.errors import CatalogError
from triage.segment import CORPUS_DIR

PERIODS = ("acceptance", "handling", "extension", "review_request", "review_answer",
           "re_review_request", "re_review_answer")


@dataclass(frozen=True)
class DeadlineRules:
    counting: str
    start_next_day: bool
    roll_forward_off_days: bool
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    periods: dict[str, int]

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add(self, start: dt.date, days: int) -> dt.date:
        """The due date ``days`` after ``start`` under these rules."""
        if days < 0:
            raise ValueError("a period cannot be negative")
        day = start if self.start_next_day else start - dt.timedelta(days=1)
        if self.counting == "calendar":
            day += dt.timedelta(days=days)
        else:
            left = days
            while left:
                day += dt.timedelta(days=1)
                if self.is_working_day(day):
                    left -= 1
        if self.roll_forward_off_days:
            while not self.is_working_day(day):
                day += dt.timedelta(days=1)
        return day


def _dates(path: Path, key: str, values: Any) -> frozenset[dt.date]:
    out = set()
    for i, v in enumerate(values or []):
        try:
            out.add(v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)))
        except ValueError as exc:
            raise CatalogError(f"{path}: {key}[{i}]: {v!r} is not a date (YYYY-MM-DD)") from exc
    return frozenset(out)


def parse_deadline_rules(path: Path) -> DeadlineRules:
    data = _read_yaml(path)
    counting = data.get("counting", "calendar")
    if counting not in ("calendar", "working"):
        raise CatalogError(f"{path}: counting: expected 'calendar' or 'working', got "
                           f"{counting!r}")
    periods_node = _need(path, "", data, "periods", dict)
    periods: dict[str, int] = {}
    for name in PERIODS:
        value = periods_node.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CatalogError(f"{path}: periods.{name}: expected a number of days, got "
                               f"{value!r}")
        periods[name] = value
    return DeadlineRules(counting=counting,
                         start_next_day=bool(data.get("start_next_day", True)),
                         roll_forward_off_days=bool(data.get("roll_forward_off_days", True)),
                         holidays=_dates(path, "holidays", data.get("holidays")),
                         workdays=_dates(path, "workdays", data.get("workdays")),
                         periods=periods)


def load_deadline_rules(corpus_dir: str | os.PathLike[str] | None = None) -> DeadlineRules:
    return _load(str(Path(corpus_dir or CORPUS_DIR).resolve()))


@lru_cache(maxsize=4)
def _load(folder: str) -> DeadlineRules:
    return parse_deadline_rules(Path(folder) / "deadlines.yaml")


def compute(received: dt.date, rules: DeadlineRules, accepted: dt.date | None = None,
            replied: dt.date | None = None, reviewed: dt.date | None = None,
            ) -> dict[str, str]:
    """Due dates, ISO formatted, for what is known of a letter so far.

    Parameters
    ----------
    received : date
        The day the letter arrived.
    accepted : date, optional
        The day it was accepted; until then handling is counted from the acceptance due date
        (the latest it can start).
    replied : date, optional
        The day the answer was given: opens the 复查 window.
    reviewed : date, optional
        The day the 复查 answer was given: opens the 复核 window.

    Returns
    -------
    dict
        ``received``, ``acceptance_due``, ``handling_due``, ``extended_due`` and, when the
        dates are known, ``review_request_due`` and ``re_review_request_due``.
    """
    p = rules.periods
    acceptance_due = rules.add(received, p["acceptance"])
    start = accepted or acceptance_due
    handling_due = rules.add(start, p["handling"])
    out = {"received": received.isoformat(), "acceptance_due": acceptance_due.isoformat(),
           "handling_due": handling_due.isoformat(),
           "extended_due": rules.add(handling_due, p["extension"]).isoformat()}
    if accepted:
        out["accepted"] = accepted.isoformat()
    if replied:
        out["review_request_due"] = rules.add(replied, p["review_request"]).isoformat()
    if reviewed:
        out["re_review_request_due"] = rules.add(reviewed, p["re_review_request"]).isoformat()
    return out

"""Deadlines across month ends, leap years, weekends and holidays."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from triage.deadlines import compute, load_deadline_rules, parse_deadline_rules
from triage.errors import CatalogError

D = dt.date
RULES = replace(load_deadline_rules(), roll_forward_off_days=False)


@pytest.mark.parametrize(("received", "due"), [
    (D(2026, 11, 22), D(2026, 12, 7)),   # the design's example
    (D(2026, 1, 20), D(2026, 2, 4)),     # across a month end
    (D(2026, 12, 20), D(2027, 1, 4)),    # across a year end
    (D(2024, 2, 20), D(2024, 3, 6)),     # leap year: 29 February counts
    (D(2025, 2, 20), D(2025, 3, 7)),     # not a leap year
    (D(2024, 2, 29), D(2024, 3, 15)),    # received on the leap day
])
def test_acceptance_due_is_15_calendar_days_after_receipt(received: dt.date,
                                                           due: dt.date) -> None:
    assert compute(received, RULES)["acceptance_due"] == due.isoformat()


def test_handling_counts_60_days_from_acceptance_and_one_30_day_extension() -> None:
    out = compute(D(2024, 1, 1), RULES, accepted=D(2024, 1, 10))
    assert out["handling_due"] == "2024-03-10"      # 2024 is a leap year: Jan 21 + Feb 29
    assert out["extended_due"] == "2024-04-09"
    # without an acceptance date, handling runs from the latest acceptance allowed
    out = compute(D(2025, 1, 1), RULES)
    assert out["acceptance_due"] == "2025-01-16"
    assert out["handling_due"] == "2025-03-17"


def test_review_windows_of_30_days() -> None:
    out = compute(D(2026, 1, 5), RULES, replied=D(2026, 1, 31), reviewed=D(2026, 3, 31))
    assert out["review_request_due"] == "2026-03-02"
    assert out["re_review_request_due"] == "2026-04-30"


def test_due_date_on_a_weekend_or_holiday_rolls_forward() -> None:
    rules = replace(RULES, roll_forward_off_days=True,
                    holidays=frozenset({D(2026, 10, 1), D(2026, 10, 2), D(2026, 10, 5)}))
    # 2026-09-16 + 15 = 2026-10-01, a holiday; 3–4 October a weekend; 5 October a holiday
    assert compute(D(2026, 9, 16), rules)["acceptance_due"] == "2026-10-06"
    # 2026-11-06 + 15 = 2026-11-21, a Saturday
    assert compute(D(2026, 11, 6), rules)["acceptance_due"] == "2026-11-23"


def test_working_day_counting_skips_weekends_and_holidays_but_not_makeup_days() -> None:
    rules = replace(RULES, counting="working", holidays=frozenset({D(2026, 12, 25)}),
                    workdays=frozenset({D(2026, 12, 27)}))
    # from Friday 2026-12-18: 21 22 23 24 (25 holiday) 27 (Sunday, make-up day) 28 29 30 31
    # 2027-01-01 … 15 working days
    due = rules.add(D(2026, 12, 18), 15)
    days = [D(2026, 12, 18) + dt.timedelta(n) for n in range(1, (due - D(2026, 12, 18)).days + 1)]
    assert sum(rules.is_working_day(d) for d in days) == 15
    assert D(2026, 12, 27) in days and rules.is_working_day(D(2026, 12, 27))
    assert not rules.is_working_day(D(2026, 12, 25))


def test_start_day_counted_when_configured() -> None:
    rules = replace(RULES, start_next_day=False)
    assert compute(D(2026, 11, 22), rules)["acceptance_due"] == "2026-12-06"


def test_bad_config_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "deadlines.yaml"
    path.write_text("counting: lunar\nperiods: {acceptance: 15}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"deadlines.yaml: counting"):
        parse_deadline_rules(path)
    path.write_text("periods: {acceptance: 15, handling: -1}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"periods.handling"):
        parse_deadline_rules(path)
    path.write_text("periods: {acceptance: 15, handling: 60, extension: 30, review_request: 30,"
                    " review_answer: 30, re_review_request: 30, re_review_answer: 30}\n"
                    "holidays: ['2026-13-01']\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"holidays\[0\]"):
        parse_deadline_rules(path)
    path.write_text(path.read_text(encoding="utf-8").replace("'", ""), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"deadlines.yaml: not valid YAML: month"):
        parse_deadline_rules(path)

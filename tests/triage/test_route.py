from __future__ import annotations

import pytest

from triage.catalog import load_catalog
from triage.route import catalog_prior, rank_agencies

CAT = load_catalog()


@pytest.mark.parametrize(("subtypes", "agencies", "litigation", "expected_top"), [
    ({"land.expropriation": 1.0}, {}, False, "natural_resources"),
    ({"labour.wage_arrears": 0.9, "land.contract": 0.1}, {}, False, "hrss"),
    ({"litigation.enforcement": 1.0}, {}, True, "court"),
    ({"conduct.corruption": 1.0}, {"discipline": 0.9, "township": 0.1}, False, "discipline"),
    # the model's agency head can overrule the catalog's first choice
    ({"land.expropriation": 1.0}, {"township": 1.0}, False, "township"),
])
def test_rank_agencies_top_choice(subtypes, agencies, litigation, expected_top) -> None:  # type: ignore[no-untyped-def]
    ranked = rank_agencies(CAT, agencies, subtypes, litigation)
    assert ranked[0][0] == expected_top
    assert len(ranked) <= 3
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)


def test_rank_agencies_litigation_goes_to_legal_channel_only() -> None:
    # a wage letter that is litigation-related (award not enforced) must not go to 人社局
    ranked = rank_agencies(CAT, {"hrss": 0.8, "court": 0.2}, {"labour.wage_arrears": 1.0}, True)
    assert {a for a, _ in ranked} <= {"police", "court", "procuratorate", "justice"}
    assert ranked[0][0] == "court"


def test_catalog_prior_follows_rank_weights() -> None:
    prior = catalog_prior(CAT, {"land.expropriation": 1.0})
    assert prior["natural_resources"] > prior["township"] > 0
    assert sum(prior.values()) == pytest.approx(1.0)


def test_rank_agencies_empty_without_any_evidence() -> None:
    assert rank_agencies(CAT, {}, {"unknown.subtype": 1.0}, False) == []

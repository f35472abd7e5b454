"""Resource limits: body size, letter length, request time — all configurable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.conftest import Service, _start

LETTER = "老板拖欠我们十几个农民工的工资，一共六万多块，年底了还不给。"


@pytest.fixture()
def svc_limits(model_store: Path, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    monkeypatch.setenv("TRIAGE_MAX_BODY_BYTES", "5000")
    monkeypatch.setenv("TRIAGE_REQUEST_TIMEOUT", "0.000001")
    yield from _start(model_store, f"sqlite:///{tmp_path / 'triage.db'}", monkeypatch)


def test_configured_limits_refuse_with_reason(svc_limits: Service) -> None:
    c, auth = svc_limits.client, svc_limits.clerk
    res = c.post("/letters", json={"text": "信" * 3000}, headers=auth)
    assert res.status_code == 413 and "5000" in res.json()["detail"]
    res = c.post("/letters", json={"text": LETTER}, headers=auth)
    assert res.status_code == 504 and "Idempotency-Key" in res.json()["detail"]


def test_letter_longer_than_policy_is_400(svc_sqlite: Service) -> None:
    from triage.catalog import load_catalog

    limit = load_catalog().policy.max_letter_chars
    res = svc_sqlite.client.post("/suggest", json={"text": "工资" * (limit // 2 + 10)},
                                 headers=svc_sqlite.clerk)
    assert res.status_code in (400, 413)
    assert str(limit) in res.json()["detail"] or "limit" in res.json()["detail"]

"""A service per test: the session's model store, a fresh database, an admin and a clerk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient


@dataclass
class Service:
    client: TestClient
    admin: dict[str, str]  # Authorization headers
    clerk: dict[str, str]
    url: str  # database URL

    def store(self):  # type: ignore[no-untyped-def]
        from service.deps import get_store

        return get_store()


def _start(model_store: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    from service import deps

    monkeypatch.setenv("TRIAGE_MODEL_STORE", str(model_store))
    monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
    deps.reset()
    from service.app import create_app
    from service.store import Store

    store = Store(url)
    store.add_user("amy", "admin-pass-1", "admin")
    store.add_user("carl", "clerk-pass-1", "clerk")
    admin = {"Authorization": f"Bearer {store.create_token('amy')}"}
    clerk = {"Authorization": f"Bearer {store.create_token('carl')}"}
    store.close()
    with TestClient(create_app()) as c:
        yield Service(c, admin, clerk, url)
    deps.reset()


@pytest.fixture()
def svc(model_store: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """The service on SQLite and on PostgreSQL (two runs of each test)."""
    yield from _start(model_store, db_url, monkeypatch)


@pytest.fixture()
def svc_sqlite(model_store: Path, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """The service on a SQLite file only (tests of the letter path, not of storage)."""
    yield from _start(model_store, f"sqlite:///{tmp_path / 'triage.db'}", monkeypatch)

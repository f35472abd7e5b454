"""A model promoted from the command line is picked up by the running service without a
restart, and no request fails while it switches; a tampered version is refused and the current
one keeps serving."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.service.conftest import Service, _start

LETTER = "老板拖欠我们十几个农民工的工资，一共六万多块，年底了还不给。"


def _second_version(store: Path) -> tuple[str, str]:
    """Copy the current version under a new name and register it (not current)."""
    manifest = json.loads((store / "manifest.json").read_text(encoding="utf-8"))
    first = manifest["current"]
    second = first + "-b"
    shutil.copytree(store / first, store / second)
    meta = json.loads((store / second / "metadata.json").read_text(encoding="utf-8"))
    meta["version"] = second
    (store / second / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    manifest["versions"][second] = dict(manifest["versions"][first])
    (store / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return first, second


@pytest.fixture()
def svc_copy(store_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    yield from _start(store_copy, f"sqlite:///{tmp_path / 'triage.db'}", monkeypatch)


def test_promotion_is_picked_up_live_without_failed_requests(svc_copy: Service,
                                                             store_copy: Path) -> None:
    from triage.modelstore import promote_version

    first, second = _second_version(store_copy)
    c, auth = svc_copy.client, svc_copy.clerk
    assert c.post("/suggest", json={"text": LETTER}, headers=auth).json()["model_version"] == first
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            res = c.post("/suggest", json={"text": LETTER}, headers=auth)
            seen.append((res.status_code, res.json().get("model_version")))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    promote_version(store_copy, second)  # what `triage models promote` does
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(v == second for _, v in seen[-3:]):
        time.sleep(0.2)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert all(code == 200 for code, _ in seen), {code for code, _ in seen}
    versions = [v for _, v in seen]
    assert first in versions and versions[-1] == second
    # once switched, it stays switched
    switched = versions.index(second)
    assert all(v == second for v in versions[switched + 3:])


def test_tampered_version_is_refused_and_current_keeps_serving(svc_copy: Service,
                                                               store_copy: Path) -> None:
    from triage.modelstore import promote_version

    first, second = _second_version(store_copy)
    c, auth = svc_copy.client, svc_copy.clerk
    assert c.post("/suggest", json={"text": LETTER}, headers=auth).status_code == 200
    model = next((store_copy / second).glob("*.joblib"))
    with model.open("r+b") as f:  # flip bytes in the middle of the file
        f.seek(model.stat().st_size // 2)
        f.write(b"\x00" * 64)
    promote_version(store_copy, second)
    time.sleep(1.5)
    for _ in range(3):
        res = c.post("/suggest", json={"text": LETTER}, headers=auth)
        assert res.status_code == 200 and res.json()["model_version"] == first
    assert c.get("/healthz").json()["model_version"] == first

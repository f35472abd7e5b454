"""Database faults: a locked file, a read-only filesystem, a full disk. Each gives a clear 503
(nothing half-written), and the service recovers when the fault goes away."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.conftest import Service, _start

LETTER = "老板拖欠我们十几个农民工的工资，一共六万多块，年底了还不给。"


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture()
def svc_fast_lock(model_store: Path, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    monkeypatch.setenv("TRIAGE_DATABASE_BUSY_TIMEOUT", "0.5")
    yield from _start(model_store, f"sqlite:///{tmp_path / 'triage.db'}", monkeypatch)


def test_locked_database_is_a_clear_503_and_the_retry_records_once(
        svc_fast_lock: Service, tmp_path: Path) -> None:
    svc = svc_fast_lock
    lid = svc.client.post("/letters", json={"text": LETTER}, headers=svc.clerk).json()["id"]
    holder = sqlite3.connect(tmp_path / "triage.db", timeout=0.1)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    try:
        key = {"Idempotency-Key": "locked-1", **svc.clerk}
        res = svc.client.post(f"/letters/{lid}/decision", json={"action": "confirm"},
                              headers=key)
        assert res.status_code == 503
        assert "locked" in res.json()["detail"] and "not saved" in res.json()["detail"]
    finally:
        holder.rollback()
        holder.close()
    res = svc.client.post(f"/letters/{lid}/decision", json={"action": "confirm"}, headers=key)
    assert res.status_code == 201
    again = svc.client.post(f"/letters/{lid}/decision", json={"action": "confirm"}, headers=key)
    assert again.status_code == 200
    assert svc.store().count_decisions() == 1
    assert _integrity(tmp_path / "triage.db") == "ok"


def _can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    probe = Path(tempfile.mkdtemp(prefix="triage-mount-probe-"))
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    finally:
        probe.rmdir()


@pytest.fixture()
def tiny_fs() -> Iterator[Path]:
    """A 2 MB tmpfs mounted for the test (root only; skipped elsewhere)."""
    if not _can_mount():
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN); the disk-full "
                    "and read-only filesystem tests need one")
    mnt = Path(tempfile.mkdtemp(prefix="triage-tinyfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        mnt.rmdir()


def test_full_disk_is_a_503_and_recovers_without_loss(model_store: Path, tiny_fs: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    db = tiny_fs / "triage.db"
    gen = _start(model_store, f"sqlite:///{db}", monkeypatch)
    svc = next(gen)
    try:
        stored = []
        for i in range(3):
            res = svc.client.post("/letters", json={"text": f"{LETTER} 第{i}封"},
                                  headers=svc.clerk)
            assert res.status_code == 201
            stored.append(res.json()["id"])
        # fill the filesystem to the last byte
        filler = tiny_fs / "filler"
        with filler.open("wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        big = LETTER * 400  # ~12,000 characters: needs new pages
        codes = [svc.client.post("/letters", json={"text": big}, headers=svc.clerk)
                 for _ in range(5)]
        refused = [r for r in codes if r.status_code == 503]
        assert refused, [r.status_code for r in codes]
        assert "full" in refused[0].json()["detail"] and "not saved" in refused[0].json()["detail"]
        assert all(r.status_code in (201, 503) for r in codes)
        filler.unlink()  # the operator frees space
        res = svc.client.post("/letters", json={"text": big}, headers=svc.clerk)
        assert res.status_code == 201
        for lid in stored:
            assert svc.client.get(f"/letters/{lid}", headers=svc.clerk).status_code == 200
    finally:
        next(gen, None)
    assert _integrity(db) == "ok"


def test_read_only_filesystem_is_a_503_and_recovers(model_store: Path, tiny_fs: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    db = tiny_fs / "triage.db"
    gen = _start(model_store, f"sqlite:///{db}", monkeypatch)
    svc = next(gen)
    try:
        lid = svc.client.post("/letters", json={"text": LETTER}, headers=svc.clerk).json()["id"]
        svc.store().engine.dispose()  # no file open for writing, so the remount can happen
        subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
        try:
            res = svc.client.post(f"/letters/{lid}/decision", json={"action": "confirm"},
                                  headers=svc.clerk)
            assert res.status_code == 503
            assert "not saved" in res.json()["detail"]
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)
        res = svc.client.post(f"/letters/{lid}/decision", json={"action": "confirm"},
                              headers=svc.clerk)
        assert res.status_code == 201
        assert svc.store().count_decisions() == 1
    finally:
        next(gen, None)
    assert _integrity(db) == "ok"

"""A decision that got a 2xx survives SIGKILL of the server, and none is stored twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.support.server import free_port, wait_healthy

N = 200
WORKERS = 4
KILL_AFTER = 80



@contextmanager
def server(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`triage serve` on loopback, up and healthy; stopped (if still alive) at the end."""
    log = open(Path(env["TRIAGE_TEST_LOG"]), "ab")  # noqa: SIM115 — closed below
    proc = subprocess.Popen([sys.executable, "-m", "training.cli", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=log,
                            start_new_session=True)
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}", Path(env["TRIAGE_TEST_LOG"]))
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        log.close()


def test_sigkill_during_decisions_loses_nothing_acknowledged(model_store: Path, db_url: str,
                                                            tmp_path: Path, triage) -> None:  # type: ignore[no-untyped-def]
    from service.store import Store

    store = Store(db_url)
    store.add_user("amy", "admin-pass-1", "admin")
    clerk = store.add_user("carl", "clerk-pass-1", "clerk")
    token = store.create_token("carl")
    letter = "老板拖欠工资三个月，一共两万多块，请劳动监察帮忙。"
    sugg = triage.suggest(letter).model_dump(mode="json")
    ids = [store.add_letter(f"第{i}封：老板拖欠工资三个月。", None, None, sugg, clerk)
           for i in range(N)]
    store.close()
    env = {**os.environ, "TRIAGE_MODEL_STORE": str(model_store), "TRIAGE_DATABASE_URL": db_url,
           "TRIAGE_TEST_LOG": str(tmp_path / "server.log")}
    headers = {"Authorization": f"Bearer {token}"}
    port = free_port()
    acked: dict[int, int] = {}  # letter id -> decision id, for every 2xx
    lock = threading.Lock()
    todo = list(ids)

    with server(env, port) as proc:
        def worker() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers,
                              timeout=10) as c:
                while True:
                    with lock:
                        if not todo:
                            return
                        lid = todo.pop(0)
                    try:
                        res = c.post(f"/letters/{lid}/decision", json={"action": "confirm"},
                                     headers={"Idempotency-Key": f"durable-{lid}"})
                    except httpx.HTTPError:
                        continue  # the server died under this request: not acknowledged
                    if res.status_code // 100 == 2:
                        with lock:
                            acked[lid] = res.json()["id"]
                            if len(acked) == KILL_AFTER:
                                # the whole server: master and worker processes
                                os.killpg(proc.pid, signal.SIGKILL)

        threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    assert KILL_AFTER <= len(acked) < N  # the kill came mid-way

    # restart over the killed database; the client retries everything with the same keys
    store = Store(db_url)
    port2 = free_port()
    try:
        with server(env, port2), httpx.Client(base_url=f"http://127.0.0.1:{port2}",
                                              headers=headers, timeout=30) as c:
            standing = {d["letter_id"]: d for d in store.decisions()}
            for lid, did in acked.items():
                assert lid in standing, f"acknowledged decision for letter {lid} is lost"
                assert standing[lid]["id"] == did
            assert store.count_decisions() == len(standing)  # none twice
            codes = [c.post(f"/letters/{lid}/decision", json={"action": "confirm"},
                            headers={"Idempotency-Key": f"durable-{lid}"}).status_code
                     for lid in ids]
        assert codes.count(200) == len(standing) and codes.count(201) == N - len(standing)
        assert store.count_decisions() == N
        assert len(store.decisions()) == N
    finally:
        store.close()

"""The HTTP service, in process (TestClient) and as a real server process on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import ROOT
from tests.support.server import free_port, wait_healthy

LETTER = "老板拖欠我们十几个农民工的工资，一共六万多块，年底了还不给，劳动监察大队去了也没用。"


@pytest.fixture()
def client(svc_sqlite) -> TestClient:  # type: ignore[no-untyped-def]
    """A client that sends the clerk's token with every request."""
    svc_sqlite.client.headers.update(svc_sqlite.clerk)
    return svc_sqlite.client


def test_post_suggest_returns_suggestion(client: TestClient) -> None:
    res = client.post("/suggest", json={"text": LETTER, "title": "讨薪"})
    assert res.status_code == 200
    body = res.json()
    assert body["issue_type"][0]["id"] == "labour"
    assert body["agency"][0]["id"] == "hrss"
    assert body["model_version"]


def test_post_suggest_accepts_curl_form_default(client: TestClient) -> None:
    # `curl -d '{"text": …}'` sends application/x-www-form-urlencoded
    res = client.post("/suggest", content=json.dumps({"text": LETTER}).encode(),
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert res.status_code == 200
    assert res.json()["issue_type"][0]["id"] == "labour"


@pytest.mark.parametrize(("payload", "status", "message"), [
    ({"text": "   "}, 400, "empty"),
    ({"text": "<p>&nbsp;</p>"}, 400, "empty"),
    ({"title": "只有标题"}, 422, "text"),
    ({"text": 123}, 422, "text"),
])
def test_post_suggest_bad_input_is_4xx_with_reason(client: TestClient, payload, status,  # type: ignore[no-untyped-def]
                                                   message: str) -> None:
    res = client.post("/suggest", json=payload)
    assert res.status_code == status
    assert message in res.json()["detail"]


def test_post_suggest_refuses_oversized_body(client: TestClient) -> None:
    res = client.post("/suggest", json={"text": "信" * 1_000_000})
    assert res.status_code == 413
    assert "limit" in res.json()["detail"]


def test_post_suggest_not_json_is_422(client: TestClient) -> None:
    res = client.post("/suggest", content=b"\xff\xfe\x00garbage",
                      headers={"content-type": "application/json"})
    assert res.status_code == 422


def test_healthz_reports_model(client: TestClient) -> None:
    res = client.get("/healthz")
    assert res.status_code == 200
    assert res.json()["status"] == "ok" and res.json()["model_version"]


def test_healthz_without_model_is_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from service import deps
    from service.store import Store

    monkeypatch.setenv("TRIAGE_MODEL_STORE", str(tmp_path))
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    deps.reset()
    from service.app import create_app

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.add_user("carl", "clerk-pass-1")
    token = store.create_token("carl")
    with TestClient(create_app()) as c:
        assert c.get("/healthz").status_code == 503
        res = c.post("/suggest", json={"text": LETTER},
                     headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == 503 and "triage train" in res.json()["detail"]
    deps.reset()



def test_triage_serve_answers_on_loopback(model_store: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TRIAGE_MODEL_STORE": str(model_store),
           "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    proc = subprocess.Popen([sys.executable, "-m", "training.cli", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}")
        # no credentials: refused; the first admin's password was printed and saved
        res = httpx.post(f"http://127.0.0.1:{port}/suggest", json={"text": LETTER}, timeout=30)
        assert res.status_code == 401
        saved = tmp_path / "first-admin.txt"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as web:
            page = web.get("/login")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            password = _first_password(proc, saved)
            res = web.post("/login", data={"username": "admin", "password": password,
                                           "csrf": csrf})
            assert res.status_code == 303, res.text
            res = web.get("/ui/queue")
            assert res.status_code == 200
        assert password in saved.read_text(encoding="utf-8")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        assert proc.stderr is not None
        proc.stderr.close()


def _first_password(proc: subprocess.Popen[str], saved: Path) -> str:
    """The password `triage serve` printed for the first admin (from its stderr)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "password" in line and "as 'admin'" in line:
            return line.rsplit("password ", 1)[1].split()[0]
    raise AssertionError(f"no first-admin password printed (see {saved})")

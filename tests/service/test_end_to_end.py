"""The retraining loop end to end: 30 letters registered through the API, 20 confirmed and 10
corrected, a model retrained from those decisions, promoted through the admin API, and the
running service's next suggestions come from the new version — no restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture()
def live(store_copy: Path, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    from service import deps
    from service.app import create_app
    from service.store import Store

    url = f"sqlite:///{tmp_path / 'triage.db'}"
    monkeypatch.setenv("TRIAGE_MODEL_STORE", str(store_copy))
    monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
    deps.reset()
    store = Store(url)
    store.add_user("amy", "admin-pass-1", "admin")
    headers = {"Authorization": f"Bearer {store.create_token('amy')}"}
    store.close()
    with TestClient(create_app()) as c:
        yield c, headers, url
    deps.reset()


def test_register_decide_retrain_promote_serves_new_version(live, store_copy: Path) -> None:  # type: ignore[no-untyped-def]
    from training.data import read_corpus

    client, auth, url = live
    # new letters: rewrites of training letters (corpus/repeats/dev-*), labelled like those
    train = read_corpus("train")
    label_of = {lid: i for i, lid in enumerate(train.ids)}
    rewrites = [json.loads(line) for f in sorted((ROOT / "corpus" / "repeats").glob("dev-*.jsonl"))
                for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    rewrites = [r for r in rewrites if r["of"] in label_of][:30]
    assert len(rewrites) == 30
    texts = [r["text"] for r in rewrites]
    titles = [r.get("title") for r in rewrites]
    labels = {h: [train.labels[h][label_of[r["of"]]] for r in rewrites]
              for h in ("issue_type", "subtype", "agency", "nature")}
    picks = list(range(30))
    first = client.get("/healthz").json()["model_version"]
    ids = []
    for i in picks:
        res = client.post("/letters", headers=auth, json={
            "text": texts[i], "title": titles[i]})
        assert res.status_code == 201, res.text
        assert res.json()["suggestion"]["model_version"] == first
        ids.append(res.json()["id"])
    for n, (lid, i) in enumerate(zip(ids, picks, strict=True)):
        key = {"Idempotency-Key": f"e2e-{lid}", **auth}
        if n < 20:
            body = {"action": "confirm"}
        else:  # the clerk corrects to the letter's true labels
            body = {"action": "correct", "issue_type": labels["issue_type"][i],
                    "subtype": labels["subtype"][i], "agency": labels["agency"][i],
                    "nature": labels["nature"][i], "comment": "按实际情况更正"}
        res = client.post(f"/letters/{lid}/decision", headers=key, json=body)
        assert res.status_code == 201, res.text
    assert client.get("/queue", headers=auth).json()["total"] == 0
    stats = client.get("/stats", headers=auth).json()
    assert stats["decisions"] == 30 and stats["agreement"] == pytest.approx(20 / 30, abs=1e-3)

    # retrain from the decisions (the CLI a supervisor runs), without promoting
    env = {**os.environ, "TRIAGE_MODEL_STORE": str(store_copy), "TRIAGE_DATABASE_URL": url,
           "PYTHONIOENCODING": "utf-8"}
    run = subprocess.run([sys.executable, "-m", "training.cli", "train", "--from-decisions",
                          "--no-promote", "--json", "--actor", "amy"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)
    new = result["version"]
    assert new != first and not result["promoted"]
    assert result["letters"]["decisions_held_out"] == 6  # the newest 20 % it did not train on
    assert result["letters"]["decisions_trained"] == 24
    held = result["evaluation"]["decisions"]
    assert held["issue_type"]["n"] == 6 and 0 <= held["issue_type"]["accuracy"] <= 1
    # still the old model until promoted
    letter = texts[0]
    assert client.post("/suggest", headers=auth,
                       json={"text": letter}).json()["model_version"] == first

    res = client.post(f"/admin/models/{new}/promote", headers=auth, json={"force": False})
    assert res.status_code == 200, res.text
    assert res.json()["serving"] == new
    after = client.post("/suggest", headers=auth, json={"text": letter}).json()
    assert after["model_version"] == new
    reg = client.post("/letters", headers=auth, json={"text": letter}).json()
    assert reg["suggestion"]["model_version"] == new
    assert client.get("/admin/models", headers=auth).json()["current"] == new

    # who did what is in the audit: the training run, the promotion, every decision
    from service.store import Store

    store = Store(url)
    try:
        events = list(store.audit_events())
    finally:
        store.close()
    actions = [e["action"] for e in events]
    assert actions.count("decision.confirm") == 20 and actions.count("decision.correct") == 10
    assert "model.train" in actions
    promo = [e for e in events if e["action"] == "model.promote"]
    assert promo and promo[-1]["actor"] == "amy" and promo[-1]["after"]["to"] == new
    # and a rollback goes back to the first version, live
    res = client.post("/admin/models/rollback", headers=auth)
    assert res.status_code == 200 and res.json()["serving"] == first
    assert client.post("/suggest", headers=auth,
                       json={"text": letter}).json()["model_version"] == first

"""The clerk API against SQLite and PostgreSQL: letters, queue, decisions, stats, admin, audit."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.service.conftest import Service

WAGES = "老板拖欠我们十几个农民工的工资，一共六万多块，年底了还不给，劳动监察大队去了也没用。"
LAND = "我们村的地被征收了，补偿款三年没发，村干部说钱早就拨下来了，请领导查一查。"
DANGER = "工资拖了一年，再不给钱我就从工地的塔吊上跳下去，死给他们看。"


def _post(svc: Service, text: str, **extra: object) -> dict:  # type: ignore[type-arg]
    res = svc.client.post("/letters", json={"text": text, **extra}, headers=svc.clerk)
    assert res.status_code == 201, res.text
    return res.json()  # type: ignore[no-any-return]


def test_register_get_and_queue_order(svc: Service) -> None:
    today = dt.date.today()
    old = _post(svc, LAND, received=(today - dt.timedelta(days=12)).isoformat())
    new = _post(svc, WAGES, received=today.isoformat())
    danger = _post(svc, DANGER, received=today.isoformat())
    got = svc.client.get(f"/letters/{new['id']}", headers=svc.clerk).json()
    assert got["text"] == WAGES
    assert got["suggestion"]["issue_type"][0]["id"] == "labour"
    assert got["suggestion"]["model_version"] == got["model_version"]
    queue = svc.client.get("/queue", headers=svc.clerk).json()
    # danger first, then the nearest acceptance deadline
    assert [x["id"] for x in queue["items"]] == [danger["id"], old["id"], new["id"]]
    assert queue["items"][0]["danger"] is True
    labour = svc.client.get("/queue", params={"issue_type": "labour"}, headers=svc.clerk).json()
    assert {x["id"] for x in labour["items"]} == {new["id"], danger["id"]}


def test_upload_txt_in_gb18030_and_big5(svc: Service) -> None:
    big5 = "我們村的地被徵收了，補償款三年沒發，請領導查一查。"
    for enc, text in (("gb18030", LAND), ("big5", big5)):
        res = svc.client.post("/letters", headers=svc.clerk,
                              files={"file": ("letter.txt", text.encode(enc), "text/plain")})
        assert res.status_code == 201, res.text
        assert res.json()["suggestion"]["issue_type"][0]["id"] == "land"
    bad = svc.client.post("/letters", headers=svc.clerk,
                          files={"file": ("x.bin", bytes(range(256)) * 4, "text/plain")})
    assert bad.status_code == 400 and bad.json()["detail"]


def test_confirm_correct_idempotency_undo_and_stats(svc: Service) -> None:
    a = _post(svc, WAGES)["id"]
    b = _post(svc, LAND)["id"]
    key = {"Idempotency-Key": "confirm-a-1", **svc.clerk}
    first = svc.client.post(f"/letters/{a}/decision", json={"action": "confirm"}, headers=key)
    again = svc.client.post(f"/letters/{a}/decision", json={"action": "confirm"}, headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["issue_type"] == "labour" and first.json()["agency"] == "hrss"
    corr = svc.client.post(f"/letters/{b}/decision", headers=svc.clerk, json={
        "action": "correct", "issue_type": "rural", "subtype": "rural.village_affairs",
        "comment": "村务问题"})
    assert corr.status_code == 201, corr.text
    assert corr.json()["issue_type"] == "rural"
    assert svc.client.get("/queue", headers=svc.clerk).json()["total"] == 0
    stats = svc.client.get("/stats", headers=svc.clerk).json()
    assert stats["decided"] == 2 and stats["agreement"] == 0.5
    # undo the correction: b is back in the queue
    undone = svc.client.post("/decisions/undo", headers=svc.clerk)
    assert undone.status_code == 200 and undone.json()["letter_id"] == b
    assert [x["id"] for x in svc.client.get("/queue", headers=svc.clerk).json()["items"]] == [b]
    store = svc.store()
    assert len(store.decisions()) == 1
    actions = [e["action"] for e in store.audit_events()]
    assert actions.count("decision.confirm") == 1  # the repeated key recorded nothing
    assert "decision.correct" in actions and "decision.undo" in actions


@pytest.mark.parametrize(("body", "message"), [
    ({"action": "correct"}, "at least one"),
    ({"action": "correct", "issue_type": "weather"}, "unknown issue_type"),
    ({"action": "correct", "issue_type": "land", "subtype": "labour.wage_arrears"},
     "not a subtype"),
    ({"action": "correct", "agency": "ministry_of_magic"}, "unknown agency"),
    ({"action": "confirm", "issue_type": "land"}, "takes no labels"),
    ({"action": "maybe"}, "action"),
])
def test_bad_decisions_are_refused_with_reason(svc_sqlite: Service, body: dict,  # type: ignore[type-arg]
                                               message: str) -> None:
    lid = _post(svc_sqlite, WAGES)["id"]
    res = svc_sqlite.client.post(f"/letters/{lid}/decision", json=body, headers=svc_sqlite.clerk)
    assert res.status_code in (400, 422)
    assert message in res.json()["detail"]
    assert svc_sqlite.client.get("/queue", headers=svc_sqlite.clerk).json()["total"] == 1


def test_unknown_letter_is_404(svc_sqlite: Service) -> None:
    res = svc_sqlite.client.get("/letters/4242", headers=svc_sqlite.clerk)
    assert res.status_code == 404 and "4242" in res.json()["detail"]
    res = svc_sqlite.client.post("/letters/4242/decision", json={"action": "confirm"},
                                 headers=svc_sqlite.clerk)
    assert res.status_code == 404


def test_sql_and_markup_are_stored_verbatim(svc: Service) -> None:
    text = "'; DROP TABLE letters; -- <script>alert(1)</script> ../../etc/passwd 工资拖欠三个月"
    lid = _post(svc, text)["id"]
    assert svc.client.get(f"/letters/{lid}", headers=svc.clerk).json()["text"] == text
    assert svc.client.get("/queue", headers=svc.clerk).json()["total"] == 1


def test_admin_users_tokens_and_disable(svc: Service) -> None:
    res = svc.client.post("/admin/users", headers=svc.admin,
                          json={"username": "dora", "password": "dora-pass-1", "role": "clerk"})
    assert res.status_code == 201
    token = svc.client.post("/admin/users/dora/tokens", headers=svc.admin).json()["token"]
    dora = {"Authorization": f"Bearer {token}"}
    assert svc.client.get("/queue", headers=dora).status_code == 200
    assert svc.client.post("/admin/users/dora/disable", headers=svc.admin).status_code == 200
    assert svc.client.get("/queue", headers=dora).status_code == 401
    names = [u["username"] for u in svc.client.get("/admin/users", headers=svc.admin).json()]
    assert names == ["amy", "carl", "dora"]
    dup = svc.client.post("/admin/users", headers=svc.admin,
                          json={"username": "dora", "password": "dora-pass-2"})
    assert dup.status_code == 400 and "already exists" in dup.json()["detail"]
    # secrets are hashed at rest
    from sqlalchemy import text

    with svc.store().engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("select token_hash from api_tokens"))]
        pw = [r[0] for r in conn.execute(text("select password_hash from users"))]
    assert token not in stored and all(p.startswith("scrypt$") for p in pw)
    assert not any("dora-pass-1" in p for p in pw)


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in the metrics")


def test_metrics_and_health(svc_sqlite: Service) -> None:
    get = svc_sqlite.client.get
    before = _metric(get("/metrics", headers=svc_sqlite.clerk).text,
                     "triage_letters_registered_total")
    _post(svc_sqlite, WAGES)
    text = get("/metrics", headers=svc_sqlite.clerk).text
    assert _metric(text, "triage_letters_registered_total") == before + 1
    assert _metric(text, "triage_queue_open_letters") == 1
    assert 'route="/letters",status="2xx"' in text
    health = get("/healthz").json()
    assert health["status"] == "ok" and health["database"] == "ok"


def test_concurrent_suggestions_are_batched_and_equal_single_ones(svc_sqlite: Service,
                                                                  triage) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    from service.deps import get_batcher
    from training.data import read_corpus

    texts = read_corpus("test").texts[:24] + ["", "   "]
    batcher = get_batcher()
    letters0, batches0 = batcher.letters, batcher.batches  # the warm-up at start is one
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda t: svc_sqlite.client.post(
            "/suggest", json={"text": t}, headers=svc_sqlite.clerk), texts))
    for text, res in zip(texts, answers, strict=True):
        if not text.strip():
            assert res.status_code == 400 and "empty" in res.json()["detail"]
            continue
        assert res.status_code == 200
        alone = triage.suggest(text).model_dump(mode="json")
        got = res.json()
        assert got["issue_type"] == alone["issue_type"] and got["agency"] == alone["agency"]
        assert got["flags"] == alone["flags"] and got["jurisdiction"] == alone["jurisdiction"]
    assert batcher.letters - letters0 == 24
    assert batcher.batches - batches0 < 24  # some went together

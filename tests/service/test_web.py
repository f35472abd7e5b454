"""The clerk web page in process (TestClient): login, sessions, CSRF, escaping, decisions,
undo, registering letters, stats."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service import auth

WAGES = "老板拖欠我们十几个农民工的工资，一共六万多块，年底了还不给，劳动监察大队去了也没用。"
DANGER = WAGES + "如果再不解决我就从楼上跳下去。"
XSS = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def fresh_limiter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed logins of one test must not lock out the next (the limiter is process-wide)."""
    monkeypatch.setattr(auth, "limiter", auth.LoginLimiter())


def hidden(page: str, form_id: str | None = None) -> dict[str, str]:
    """The hidden inputs of a form (by id) of a page, or of the page's first form."""
    if form_id is not None:
        m = re.search(rf'<form[^>]*id="{form_id}"[^>]*>(.*?)</form>', page, re.S)
        assert m, f"no form #{form_id}"
        page = m.group(1)
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))


def login(client: TestClient, username: str = "carl",
          password: str = "clerk-pass-1") -> httpx.Response:
    page = client.get("/login")
    assert page.status_code == 200
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf": csrf}, follow_redirects=False)


def logged_in(svc: Any) -> TestClient:
    res = login(svc.client)
    assert res.status_code == 303, res.text
    return svc.client  # type: ignore[no-any-return]


def add_letter(svc: Any, text: str, title: str | None = None) -> int:
    res = svc.client.post("/letters", json={"text": text, "title": title,
                                            "received": "2026-11-20"}, headers=svc.clerk)
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


def decisions_of(svc: Any, letter_id: int) -> list[dict[str, Any]]:
    res = svc.client.get(f"/letters/{letter_id}", headers=svc.clerk)
    assert res.status_code == 200
    return res.json()["decisions"]  # type: ignore[no-any-return]


def csrf_of(client: TestClient) -> str:
    return hidden(client.get("/ui/new").text)["csrf"]


# -- login ----------------------------------------------------------------------------------

def test_login_wrong_password_is_401_with_message(svc_sqlite: Any) -> None:
    res = login(svc_sqlite.client, password="wrong-password")
    assert res.status_code == 401
    assert "用户名或密码错误" in res.text
    assert 'value="carl"' in res.text  # the name is kept in the form
    assert auth.COOKIE not in svc_sqlite.client.cookies
    assert svc_sqlite.client.get("/ui/queue", follow_redirects=False).status_code == 303


def test_login_sets_strict_httponly_cookie_and_redirects_to_queue(svc_sqlite: Any) -> None:
    client = svc_sqlite.client
    res = login(client)
    assert res.status_code == 303
    assert res.headers["location"] == "/ui/queue"
    cookie = next(c for c in res.headers.get_list("set-cookie")
                  if c.startswith(f"{auth.COOKIE}="))
    flags = [p.strip().lower() for p in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags
    assert "secure" not in flags  # settings.cookie_secure is off by default
    page = client.get("/ui/queue")
    assert page.status_code == 200 and "待办队列" in page.text and "carl" in page.text
    # logged in: / and /login lead to the queue
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/queue"
    assert client.get("/login", follow_redirects=False).headers["location"] == "/ui/queue"


def test_login_cookie_is_secure_when_configured(svc_sqlite: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import get_settings

    monkeypatch.setenv("TRIAGE_COOKIE_SECURE", "true")
    get_settings.cache_clear()
    try:
        page = svc_sqlite.client.get("/login")
        csrf = hidden(page.text)["csrf"]
        # a Secure cookie is not sent back over http by the client: send it by hand
        res = svc_sqlite.client.post(
            "/login", data={"username": "carl", "password": "clerk-pass-1", "csrf": csrf},
            headers={"cookie": f"triage_login_csrf={csrf}"}, follow_redirects=False)
        assert res.status_code == 303
        cookie = next(c for c in res.headers.get_list("set-cookie")
                      if c.startswith(f"{auth.COOKIE}="))
        assert "secure" in [p.strip().lower() for p in cookie.split(";")]
    finally:
        get_settings.cache_clear()


def test_login_form_without_its_csrf_is_403(svc_sqlite: Any) -> None:
    client = svc_sqlite.client
    client.get("/login")
    res = client.post("/login", data={"username": "carl", "password": "clerk-pass-1",
                                      "csrf": "forged"}, follow_redirects=False)
    assert res.status_code == 403 and "CSRF" in res.text
    res = client.post("/login", data={"username": "carl", "password": "clerk-pass-1"},
                      follow_redirects=False)
    assert res.status_code == 403
    assert auth.COOKIE not in client.cookies


def test_login_returns_to_the_page_asked_for(svc_sqlite: Any) -> None:
    client = svc_sqlite.client
    lid = add_letter(svc_sqlite, WAGES)
    # never to another site
    for evil in ("//evil.example/ui/x", "https://evil.example/", "/ui/../../x\\y"):
        page = client.get("/login", params={"next": evil})
        assert 'name="next" value=""' in page.text
    res = client.get(f"/ui/letters/{lid}", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/login?next=")
    page = client.get(res.headers["location"])
    form = hidden(page.text)
    assert form["next"] == f"/ui/letters/{lid}"
    res = client.post("/login", data={"username": "carl", "password": "clerk-pass-1",
                                      **form}, follow_redirects=False)
    assert res.headers["location"] == f"/ui/letters/{lid}"
    res = client.get("/login", params={"next": "//evil.example/ui/x"}, follow_redirects=False)
    assert res.headers["location"] == "/ui/queue"


def test_login_rate_limit_is_429_with_retry_after(svc_sqlite: Any) -> None:
    client = svc_sqlite.client
    for _ in range(auth.limiter.attempts):
        assert login(client, password="wrong-password").status_code == 401
    res = login(client, password="wrong-password")
    assert res.status_code == 429
    assert int(res.headers["retry-after"]) > 0
    assert "过多" in res.text
    # the right password does not help while the limit holds
    assert login(client).status_code == 429


def test_logout_ends_the_session(svc_sqlite: Any) -> None:
    client = logged_in(svc_sqlite)
    sid = client.cookies[auth.COOKIE]
    res = client.post("/logout", data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/login"
    assert client.get("/ui/queue", follow_redirects=False).status_code == 303
    assert svc_sqlite.store().session_user(sid) is None


# -- sessions and CSRF --------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/ui/queue", "/ui/letters/1", "/ui/new", "/ui/stats",
                                  "/ui/stats/by_type.png"])
def test_ui_pages_redirect_to_login_without_session(svc_sqlite: Any, path: str) -> None:
    res = svc_sqlite.client.get(path, follow_redirects=False)
    assert res.status_code == 303
    assert res.headers["location"].startswith("/login")


@pytest.mark.parametrize("path", ["/ui/undo", "/ui/new", "/ui/letters/1/decision", "/logout"])
def test_ui_posts_without_session_redirect_to_login(svc_sqlite: Any, path: str) -> None:
    res = svc_sqlite.client.post(path, data={"csrf": "x"}, follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/login"


def test_posts_without_or_with_wrong_csrf_are_403(svc_sqlite: Any) -> None:
    lid = add_letter(svc_sqlite, WAGES)
    client = logged_in(svc_sqlite)
    key = hidden(client.get(f"/ui/letters/{lid}").text, "confirm-form")["key"]
    for data in ({"action": "confirm", "key": key},
                 {"action": "confirm", "key": key, "csrf": "wrong"}):
        res = client.post(f"/ui/letters/{lid}/decision", data=data, follow_redirects=False)
        assert res.status_code == 403, res.text
        assert "CSRF" in res.text
    for path in ("/ui/undo", "/ui/new", "/logout"):
        assert client.post(path, data={"csrf": "wrong"}).status_code == 403
        assert client.post(path, data={}).status_code == 403
    assert decisions_of(svc_sqlite, lid) == []
    assert client.get("/ui/queue").status_code == 200  # still logged in


# -- pages -----------------------------------------------------------------------------------------

def test_letter_view_escapes_the_letter(svc_sqlite: Any) -> None:
    lid = add_letter(svc_sqlite, f"{WAGES}{XSS}<img src=x onerror=alert(2)>", title=XSS)
    client = logged_in(svc_sqlite)
    page = client.get(f"/ui/letters/{lid}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;img src=x onerror=alert(2)&gt;" in page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    queue = client.get("/ui/queue").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in queue and "<script>alert" not in queue


def test_letter_view_shows_suggestion_evidence_and_notice(svc_sqlite: Any) -> None:
    lid = add_letter(svc_sqlite, DANGER, title="讨薪")
    land = add_letter(svc_sqlite, "我们村的地被征收了，补偿款三年没发，已经向法院起诉了，"
                                  "法院判决我们败诉，我们不服。")
    client = logged_in(svc_sqlite)
    page = client.get(f"/ui/letters/{lid}").text
    assert "劳动和社会保障" in page and "人力资源和社会保障局" in page
    # the danger flag, its evidence highlighted in the text (matched across the full-width
    # punctuation that normalization folds)
    assert "危险（极端言行）" in page
    assert '<mark class="evidence">如果再不解决我就从楼上跳下去。</mark>' in page
    assert '<mark class="term">' in page
    assert "受理告知期限" in page and "2026-12-07" in page
    assert 'list="issue-options"' in page and "噪声扰民 [environment.noise]" in page
    assert "快捷键" in page
    api = svc_sqlite.client.get(f"/letters/{land}", headers=svc_sqlite.clerk).json()
    channel = api["suggestion"]["legal_channel"]
    if channel:  # litigation-related: the legal channel and its notice are shown
        assert channel["notice"] in client.get(f"/ui/letters/{land}").text


def test_letter_page_offers_the_other_places(svc_sqlite: Any) -> None:
    from tests.triage.test_pipeline import HOME_AWAY

    client = logged_in(svc_sqlite)
    lid = add_letter(svc_sqlite, HOME_AWAY)
    juris = svc_sqlite.client.get(f"/letters/{lid}", headers=svc_sqlite.clerk).json()[
        "suggestion"]["jurisdiction"]
    assert juris["alternatives"]
    page = client.get(f"/ui/letters/{lid}").text
    shown = re.search(r'id="place-alternatives">(.*?)</span>', page, re.S)
    assert shown and all(o["place"] in shown.group(1) for o in juris["alternatives"])
    # home and land score alike: the clerk is asked to check the place
    assert not juris["sure"] and 'id="place-check"' in page


def test_letter_page_asks_to_check_only_a_place_that_is_not_sure(svc_sqlite: Any) -> None:
    from tests.triage.test_pipeline import LAND

    client = logged_in(svc_sqlite)
    lid = add_letter(svc_sqlite, LAND)
    juris = svc_sqlite.client.get(f"/letters/{lid}", headers=svc_sqlite.clerk).json()[
        "suggestion"]["jurisdiction"]
    assert juris["source"] == "text" and juris["sure"]
    page = client.get(f"/ui/letters/{lid}").text
    assert juris["place"] in page and 'id="place-check"' not in page


def test_unknown_letter_is_a_404_page(svc_sqlite: Any) -> None:
    client = logged_in(svc_sqlite)
    for path in ("/ui/letters/999", "/ui/letters/abc"):
        res = client.get(path)
        assert res.status_code == 404
        assert res.headers["content-type"].startswith("text/html")
        assert "来信" in res.text


def test_queue_filters_and_pages(svc_sqlite: Any) -> None:
    wages = add_letter(svc_sqlite, WAGES, title="讨薪")
    noise = add_letter(svc_sqlite, "我家楼下的饭店每天夜里排油烟、噪音很大，油烟直接熏到我家，"
                                   "多次向环保局反映都没有处理。", title="油烟噪音")
    client = logged_in(svc_sqlite)
    page = client.get("/ui/queue").text
    assert f'href="/ui/letters/{wages}"' in page and f'href="/ui/letters/{noise}"' in page
    assert "共 2 封" in page
    page = client.get("/ui/queue", params={"issue_type": "labour"}).text
    assert f'href="/ui/letters/{wages}"' in page and f'href="/ui/letters/{noise}"' not in page
    page = client.get("/ui/queue", params={"agency": "hrss", "page": "x"}).text
    assert f'href="/ui/letters/{wages}"' in page
    page = client.get("/ui/queue", params={"place": "没有这个地方"}).text
    assert "没有符合筛选条件" in page


# -- decisions --------------------------------------------------------------------------------

def test_confirm_submitted_twice_with_one_key_records_once(svc_sqlite: Any) -> None:
    lid = add_letter(svc_sqlite, WAGES)
    other = add_letter(svc_sqlite, "我们村的地被征收了，补偿款三年没发。")
    client = logged_in(svc_sqlite)
    form = hidden(client.get(f"/ui/letters/{lid}").text, "confirm-form")
    assert form["action"] == "confirm" and form["key"]
    first = client.post(f"/ui/letters/{lid}/decision", data=form, follow_redirects=False)
    again = client.post(f"/ui/letters/{lid}/decision", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == f"/ui/letters/{other}"  # the next letter of the queue
    found = decisions_of(svc_sqlite, lid)
    assert len(found) == 1 and found[0]["action"] == "confirm"
    assert found[0]["issue_type"] == "labour" and found[0]["by"] == "carl"
    page = client.get(again.headers["location"]).text
    assert "没有重复记录" in page
    page = client.get(f"/ui/letters/{lid}").text
    assert "已决定" in page and "确认：劳动和社会保障" in page


def test_decision_flash_says_what_was_recorded_and_offers_undo(svc_sqlite: Any) -> None:
    lid = add_letter(svc_sqlite, WAGES)
    client = logged_in(svc_sqlite)
    form = hidden(client.get(f"/ui/letters/{lid}").text, "confirm-form")
    res = client.post(f"/ui/letters/{lid}/decision", data=form)
    assert res.url.path == "/ui/queue"  # the queue is empty now
    assert f"已确认来信 #{lid}：劳动和社会保障" in res.text
    assert 'id="flash-undo"' in res.text
    assert "已确认来信" not in client.get("/ui/queue").text  # shown once


def test_correct_with_picker_then_undo(svc_sqlite: Any) -> None:
    lid = add_letter(svc_sqlite, WAGES)
    client = logged_in(svc_sqlite)
    form = hidden(client.get(f"/ui/letters/{lid}").text, "correct-form")
    res = client.post(f"/ui/letters/{lid}/decision", data={
        **form, "pick": "社会保险缴纳", "agency": "社保局", "nature": "accusation",
        "comment": "其实是社保<b>问题</b>"})
    assert res.status_code == 200
    assert "已更正来信" in res.text and "社会保险缴纳" in res.text
    [d] = decisions_of(svc_sqlite, lid)
    assert (d["action"], d["issue_type"], d["subtype"], d["agency"], d["nature"]) == (
        "correct", "labour", "labour.social_insurance", "hrss", "accusation")
    assert "其实是社保&lt;b&gt;问题&lt;/b&gt;" in client.get(f"/ui/letters/{lid}").text

    res = client.post("/ui/undo", data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == f"/ui/letters/{lid}"
    page = client.get(res.headers["location"]).text
    assert "已撤销" in page and "已回到待办队列" in page and "待决定" in page
    [d] = decisions_of(svc_sqlite, lid)
    assert d["undone"]
    assert f'href="/ui/letters/{lid}"' in client.get("/ui/queue").text
    # nothing left to undo
    res = client.post("/ui/undo", data={"csrf": csrf_of(client)})
    assert res.url.path == "/ui/queue" and "没有可撤销的决定" in res.text

    # pickers take the datalist's text, an id, or a type alone
    form = hidden(client.get(f"/ui/letters/{lid}").text, "correct-form")
    res = client.post(f"/ui/letters/{lid}/decision",
                      data={**form, "pick": "环境保护 / 噪声扰民 [environment.noise]",
                            "agency": "生态环境局 [ecology]"}, follow_redirects=False)
    assert res.status_code == 303
    d = decisions_of(svc_sqlite, lid)[0]
    assert (d["issue_type"], d["subtype"], d["agency"]) == ("environment", "environment.noise",
                                                            "ecology")


@pytest.mark.parametrize(("fields", "message"), [
    ({"pick": "没有这种类别"}, "没有名为「没有这种类别」的问题类别"),
    ({"pick": "土地"}, None),  # a type alone is fine
    ({"pick": "补偿"}, None),  # one subtype's name contains it: fine
    ({"pick": "管理"}, "对应多个选项"),
    ({"agency": "火星局"}, "没有名为「火星局」的承办机关"),
    ({"nature": "chat"}, "来信性质"),
    ({}, "至少要选定"),
])
def test_bad_correction_shows_the_page_with_the_reason(svc_sqlite: Any, fields: dict[str, str],
                                                       message: str | None) -> None:
    lid = add_letter(svc_sqlite, WAGES)
    client = logged_in(svc_sqlite)
    form = hidden(client.get(f"/ui/letters/{lid}").text, "correct-form")
    res = client.post(f"/ui/letters/{lid}/decision", data={**form, **fields},
                      follow_redirects=False)
    if message is None:
        assert res.status_code == 303
        return
    assert res.status_code == 400
    assert "没有记录" in res.text and message in res.text
    assert 'id="correct-form"' in res.text  # the form again, with what was typed
    if "pick" in fields:
        assert f'value="{fields["pick"]}"' in res.text
    assert decisions_of(svc_sqlite, lid) == []


def test_decision_on_unknown_letter_is_404(svc_sqlite: Any) -> None:
    client = logged_in(svc_sqlite)
    res = client.post("/ui/letters/999/decision", data={"csrf": csrf_of(client),
                                                        "action": "confirm"})
    assert res.status_code == 404 and "没有编号为 999 的来信" in res.text


# -- registering letters ---------------------------------------------------------------------------

def test_register_letter_by_form_and_by_upload(svc_sqlite: Any) -> None:
    client = logged_in(svc_sqlite)
    csrf = csrf_of(client)
    res = client.post("/ui/new", data={"csrf": csrf, "title": "讨薪", "received": "2026-11-20",
                                       "text": WAGES}, follow_redirects=False)
    assert res.status_code == 303
    lid = int(res.headers["location"].rsplit("/", 1)[1])
    page = client.get(res.headers["location"]).text
    assert f"已登记来信 #{lid}" in page and "劳动和社会保障" in page
    res = client.post("/ui/new", data={"csrf": csrf, "title": "", "received": ""},
                      files={"file": ("letter.txt", WAGES.encode("gb18030"), "text/plain")},
                      follow_redirects=False)
    assert res.status_code == 303
    upload = int(res.headers["location"].rsplit("/", 1)[1])
    assert svc_sqlite.client.get(f"/letters/{upload}",
                                 headers=svc_sqlite.clerk).json()["text"] == WAGES


@pytest.mark.parametrize(("data", "message"), [
    ({"text": "   "}, "请粘贴来信正文"),
    ({"text": WAGES, "received": "2026-13-40"}, "YYYY-MM-DD"),
    ({"text": "<p>&nbsp;</p>"}, "来信没有登记"),
])
def test_register_bad_letter_shows_the_form_with_the_reason(svc_sqlite: Any,
                                                           data: dict[str, str],
                                                           message: str) -> None:
    client = logged_in(svc_sqlite)
    res = client.post("/ui/new", data={"csrf": csrf_of(client), **data})
    assert res.status_code == 400 and message in res.text


# -- stats -----------------------------------------------------------------------------------------

def test_stats_page_and_charts(svc_sqlite: Any) -> None:
    lid = add_letter(svc_sqlite, WAGES)
    add_letter(svc_sqlite, "我们村的地被征收了，补偿款三年没发。")
    client = logged_in(svc_sqlite)
    empty_chart = client.get("/ui/stats/agreement.png")  # no decisions yet
    assert empty_chart.status_code == 200
    form = hidden(client.get(f"/ui/letters/{lid}").text, "confirm-form")
    client.post(f"/ui/letters/{lid}/decision", data=form)
    page = client.get("/ui/stats").text
    assert re.search(r'id="stat-letters">2<', page)
    assert re.search(r'id="stat-decided">1<', page)
    assert re.search(r'id="stat-agreement">100.0%<', page)
    assert "劳动和社会保障" in page and "人力资源和社会保障局" in page
    for name in ("by_type", "by_agency", "by_week", "agreement"):
        assert f'src="/ui/stats/{name}.png' in page
        res = client.get(f"/ui/stats/{name}.png")
        assert res.status_code == 200 and res.headers["content-type"] == "image/png"
        assert res.content.startswith(b"\x89PNG\r\n\x1a\n") and len(res.content) > 1000
    assert client.get("/ui/stats/nope.png").status_code == 404


def test_static_files_are_local(svc_sqlite: Any) -> None:
    client = svc_sqlite.client
    page = client.get("/login").text
    js = re.search(r'<script src="(/static/app\.js\?v=\w+)"', page)
    css = re.search(r'href="(/static/style\.css\?v=\w+)"', page)
    assert js and css and "http" not in js.group(1)
    res = client.get(js.group(1))
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/javascript")
    assert "keydown" in res.text
    assert client.get(css.group(1)).status_code == 200
    assert res.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/..%2Fweb.py").status_code == 404
    assert client.get("/static/../web.py").status_code == 404
    assert client.get("/static/web.py").status_code == 404
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


# -- highlighting (pure) ---------------------------------------------------------------------------

def test_highlight_escapes_first_and_never_splits_an_entity() -> None:
    from service.web import highlight

    out = str(highlight('a<b>&"x" 工资<script>', {"lt": "term", "amp": "term", "工资": "term",
                                                  "<script>": "evidence", "x": "term"}))
    assert out == ('a&lt;b&gt;&amp;&quot;x&quot; <mark class="term">工资</mark>'
                   '<mark class="evidence">&lt;script&gt;</mark>')
    # terms match across full-width / half-width punctuation (evidence is normalized text)
    out = str(highlight("我们村的地被征收了，补偿款没发。", {"地被征收了,补偿款": "evidence"}))
    assert out == '我们村的<mark class="evidence">地被征收了，补偿款</mark>没发。'
    # a term cannot inject markup either
    out = str(highlight("x<i>y", {"<i>": "term"}))
    assert out == 'x<mark class="term">&lt;i&gt;</mark>y'

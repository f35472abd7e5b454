"""The clerk web page in a real headless Chromium against a real server process.

Uses the ``page`` fixture of tests/support/browser.py (skips when Chromium is absent). The
server is `uvicorn service.app:create_app` on a free loopback port, on the session's model
store and a SQLite file of its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT
from tests.support.server import free_port, wait_healthy

PASSWORD = "clerk-pass-1"
DANGER = ("老板拖欠我们十几个农民工的工资，一共六万多块，年底了还不给，劳动监察大队去了也没用。"
          "如果再不解决我就从楼上跳下去。")
SCRIPT = "<script>window.__pwned=1;alert('x')</script>"
NOISE = f"我家楼下的饭店每天夜里排油烟、噪音很大，吵得老人孩子睡不着。{SCRIPT}多次打电话都没人管。"
WELFARE = "村里的低保评定不公平，村干部把低保名额给了自己的亲戚，真正困难的人家却评不上。"
LAND = "我们村的地被征收了，补偿款三年没发，已经向法院起诉了，法院判决我们败诉，我们不服。"


@dataclass
class Server:
    url: str
    token: str
    letters: dict[str, int]  # name -> id

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {self.token}"})

    def letter(self, name: str) -> dict[str, Any]:
        with self.api() as api:
            res = api.get(f"/letters/{self.letters[name]}")
        assert res.status_code == 200, res.text
        return res.json()  # type: ignore[no-any-return]



def _wait_up(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    wait_healthy(proc, url, log)


@pytest.fixture(scope="module")
def server(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from service.store import Store

    tmp = tmp_path_factory.mktemp("browser-server")
    db = f"sqlite:///{tmp / 'triage.db'}"
    store = Store(db)
    store.add_user("carl", PASSWORD, "clerk")
    token = store.create_token("carl")
    store.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TRIAGE_MODEL_STORE": str(model_store), "TRIAGE_DATABASE_URL": db}
    log = tmp / "server.log"
    with log.open("wb") as out:  # a file, not a pipe: nothing to drain, nothing left open
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "service.app:create_app",
                                 "--factory", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_up(proc, url, log)
        letters = {}
        with httpx.Client(base_url=url, timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as api:
            for name, text, title in (("danger", DANGER, "讨薪"),
                                      ("script", NOISE, "<b>油烟</b>噪音"),
                                      ("welfare", WELFARE, "低保不公"),
                                      ("land", LAND, "征地补偿")):
                res = api.post("/letters", json={"text": text, "title": title,
                                                 "received": "2026-11-20"})
                assert res.status_code == 201, res.text
                letters[name] = int(res.json()["id"])
        yield Server(url, token, letters)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def log_in(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/ui/queue")  # no session: the login page
    assert "/login" in page.url
    page.fill("input[name=username]", "carl")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/ui/queue")


def test_clerk_confirms_corrects_undoes_and_reads_stats(page: Any, server: Server,
                                                        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    ids = server.letters
    log_in(page, server)

    # the queue: four letters, the dangerous one first and marked; j/k move, Enter opens
    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_have_attribute("data-id", str(ids["danger"]))
    expect(rows.first.locator(".badge.danger")).to_have_text("危险")
    expect(page.get_by_text("<b>油烟</b>噪音")).to_be_visible()  # a title shown as text
    expect(rows.first).to_have_class(re.compile(r"\bdanger\b.*\bcurrent\b"))
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/ui/letters/{ids['danger']}")

    # the letter: text with its evidence marked, ranked suggestions, flags, deadlines
    evidence = "如果再不解决我就从楼上跳下去。"
    # every flag's evidence is marked (this letter may also read as collective: 十几个农民工)
    expect(page.locator("#letter-text mark.evidence", has_text=evidence)).to_have_text(evidence)
    expect(page.locator("#flags")).to_contain_text("危险（极端言行）")
    expect(page.locator("#flags")).to_contain_text("如果再不解决我就从楼上跳下去")
    top = page.locator("#issue-suggestions li").first
    expect(top).to_contain_text("劳动和社会保障")
    expect(top).to_be_visible()
    expect(page.locator("#agency-suggestions li").first).to_contain_text("人力资源和社会保障局")
    expect(page.locator("#deadlines")).to_contain_text("2026-12-07")
    expect(page.locator("aside.keys")).to_contain_text("快捷键")
    shot = tmp_path / "letter.png"
    page.screenshot(path=shot, full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000

    # j / k walk the queue from the letter page
    following = page.locator("#next-letter").get_attribute("href")
    assert following and following != f"/ui/letters/{ids['danger']}"
    page.keyboard.press("j")
    page.wait_for_url(f"{server.url}{following}")
    page.keyboard.press("k")
    page.wait_for_url(f"{server.url}/ui/letters/{ids['danger']}")

    # Enter confirms; the next letter opens with a note of what was recorded
    page.keyboard.press("Enter")
    flash = page.locator("#flash")
    expect(flash).to_contain_text(f"已确认来信 #{ids['danger']}：劳动和社会保障 / 欠薪")
    assert not page.url.endswith(f"/ui/letters/{ids['danger']}")
    [d] = server.letter("danger")["decisions"]
    assert (d["action"], d["issue_type"], d["by"]) == ("confirm", "labour", "carl")

    # a wrong suggestion: 1-3 pick a ranked one, e focuses the picker, type and submit
    page.goto(f"{server.url}/ui/letters/{ids['welfare']}")
    suggested = server.letter("welfare")["suggestion"]["issue_type"]
    target, target_id = (("低保与社会救助", "civil_affairs.assistance")
                         if suggested[0].get("subtype") == "conduct.abuse_of_power"
                         else ("滥用职权", "conduct.abuse_of_power"))
    picker = page.locator("#pick")
    page.keyboard.press("2")
    expect(picker).to_have_value(page.locator("#issue-suggestions li").nth(1)
                                 .get_attribute("data-pick") or "")
    expect(picker).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    expect(picker).to_be_focused()
    picker.fill("")
    picker.press_sequentially(target)
    page.click("#correct-button")
    expect(page.locator("#flash")).to_contain_text(f"已更正来信 #{ids['welfare']}")
    expect(page.locator("#flash")).to_contain_text(target)
    d = server.letter("welfare")["decisions"][0]
    assert (d["action"], d["subtype"], d["undone"]) == ("correct", target_id, False)

    # u undoes it: back on that letter, in the queue again
    page.keyboard.press("u")
    page.wait_for_url(f"{server.url}/ui/letters/{ids['welfare']}")
    expect(page.locator("#flash")).to_contain_text(f"已撤销对来信 #{ids['welfare']} 的更正")
    expect(page.locator("h1 .badge.open")).to_have_text("待决定")
    welfare = server.letter("welfare")
    assert not welfare["decided"] and welfare["decisions"][0]["undone"]

    # and redo the correction
    page.keyboard.press("e")
    page.keyboard.type(target)
    page.click("#correct-button")
    expect(page.locator("#flash")).to_contain_text(f"已更正来信 #{ids['welfare']}")
    welfare = server.letter("welfare")
    assert welfare["decided"]
    assert [(x["subtype"], x["undone"]) for x in welfare["decisions"]] == [
        (target_id, False), (target_id, True)]

    # stats: the numbers on screen, and the charts loaded
    page.goto(f"{server.url}/ui/stats")
    expect(page.locator("#stat-letters")).to_have_text("4")
    expect(page.locator("#stat-decided")).to_have_text("2")
    expect(page.locator("#stat-open")).to_have_text("2")
    expect(page.locator("#stat-agreement")).to_have_text("50.0%")
    expect(page.locator("#table-by-type")).to_contain_text("劳动和社会保障")
    page.wait_for_function("() => [...document.querySelectorAll('.charts img')]"
                           ".every(i => i.complete)")
    widths = page.eval_on_selector_all(".charts img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 4 and all(w > 0 for w in widths), widths
    assert dialogs == []


def test_letter_text_is_shown_never_run(page: Any, server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, server)
    page.goto(f"{server.url}/ui/letters/{server.letters['script']}")
    text = page.locator("#letter-text")
    expect(text).to_contain_text(SCRIPT)  # the literal characters, on screen
    expect(page.get_by_text("window.__pwned=1", exact=False)).to_be_visible()
    expect(page.locator("#letter-title")).to_have_text("<b>油烟</b>噪音")
    assert page.locator("#letter-text script, #letter-title b").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # the page's own script did run (shortcuts work), only the letter's did not
    page.keyboard.press("1")
    expect(page.locator("#pick")).not_to_have_value("")
    page.screenshot(path=tmp_path / "script-letter.png", full_page=True)
    assert (tmp_path / "script-letter.png").stat().st_size > 0
    assert dialogs == []

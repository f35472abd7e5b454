"""Self-tests of the test infrastructure: real databases (tests/support/pg.py) and a real
headless Chromium (tests/support/browser.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select

TEXT = "征地补偿款"

PAGE = """<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>信访登记</title></head>
<body style="font-size: 28px; margin: 40px">
  <h1>来信：征地补偿款三年未发放</h1>
  <p id="status">待处理</p>
  <button id="accept" type="button"
          onclick="document.getElementById('status').textContent = '已受理，转交县自然资源局'">
    受理
  </button>
</body>
</html>
"""


def test_database_roundtrip_of_chinese_text(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        letters = Table("letters", MetaData(), Column("id", Integer, primary_key=True),
                        Column("body", Text, nullable=False))
        letters.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(letters).values(id=1, body=TEXT))
        with engine.connect() as conn:
            body = conn.execute(select(letters.c.body).where(letters.c.id == 1)).scalar_one()
        assert body == TEXT
        assert engine.dialect.name == db_url.split(":")[0].split("+")[0]
    finally:
        engine.dispose()


class _PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        body = PAGE.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep output quiet
        pass


@contextmanager
def _serve_page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_browser_clicks_and_screenshots_chinese_page(page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with _serve_page() as url:
        page.goto(url)
        status = page.locator("#status")
        expect(status).to_have_text("待处理")
        page.get_by_role("button", name="受理").click()
        expect(status).to_have_text("已受理，转交县自然资源局")
        assert status.inner_text() == "已受理，转交县自然资源局"
        shot = tmp_path / "page.png"
        page.screenshot(path=str(shot), full_page=True)
    assert shot.is_file()
    assert shot.stat().st_size > 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

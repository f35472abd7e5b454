from __future__ import annotations

import random

import pytest

from triage.errors import DecodeError
from triage.normalize import decode_bytes, normalize_text

CASES = [
    ("full-width ASCII", "ＡＢＣ１２３，ｔｅｓｔ", "ABC123,test"),
    ("traditional", "我們村的土地被徵收了，補償款沒有發", "我们村的土地被征收了,补偿款没有发"),
    ("html tags", "<p>反映<b>拖欠工资</b>问题</p>", "反映拖欠工资问题"),
    ("html entities", "工资&nbsp;三万元&lt;未付&gt;", "工资 三万元"),
    ("script removed", "你好<script>alert(1)</script>领导", "你好领导"),
    ("control chars", "补偿\x00款\x07没\u200b发", "补偿款没发"),
    ("whitespace", "  第一行 \r\n\r\n   第二行\t\t结束  ", "第一行\n第二行 结束"),
    ("ideographic space", "村民\u3000\u3000反映", "村民 反映"),
    ("br to newline", "第一段<br/>第二段", "第一段\n第二段"),
]


@pytest.mark.parametrize(("name", "raw", "expected"), CASES, ids=[c[0] for c in CASES])
def test_normalize_text_cleans(name: str, raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


WEIRD = ["", " ", "&amp;lt;b&amp;gt;", "＜ｂ＞粗体＜／ｂ＞", "ﬁ①㈱", "\ufeff信访", "<<>>",
         "&#0;&#x110000;",
         "臺灣的資料&amp;", "a\u0301", "<" * 50 + "信" + ">" * 50]


@pytest.mark.parametrize("raw", [c[1] for c in CASES] + WEIRD)
def test_normalize_text_is_idempotent(raw: str) -> None:
    once = normalize_text(raw)
    assert normalize_text(once) == once


def test_normalize_text_is_idempotent_on_random_unicode() -> None:
    rng = random.Random(7)
    for _ in range(300):
        raw = "".join(chr(rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0x4E00, 0x9FFF),
                                      rng.randrange(0xFF00, 0xFFEF), rng.randrange(0, 0x2FFFF)]))
                      for _ in range(rng.randrange(0, 40)))
        once = normalize_text(raw)
        assert normalize_text(once) == once, repr(raw)


LETTER_SIMPLIFIED = "我们村的土地被征收了，补偿款到现在还没有发下来，请领导帮忙解决。"
LETTER_TRADITIONAL = "我們村的土地被徵收了，補償款到現在還沒有發下來，請領導幫忙解決。"


@pytest.mark.parametrize(("encoding", "text", "expected_codec"), [
    ("utf-8", LETTER_SIMPLIFIED, "utf-8"),
    ("utf-8-sig", LETTER_SIMPLIFIED, "utf-8-sig"),
    ("gb18030", LETTER_SIMPLIFIED, "gb18030"),
    ("big5", LETTER_TRADITIONAL, "big5"),
    ("utf-16", LETTER_SIMPLIFIED, "utf-16"),
])
def test_decode_bytes_detects_encoding(encoding: str, text: str, expected_codec: str) -> None:
    decoded, codec = decode_bytes(text.encode(encoding))
    assert decoded == text
    assert codec == expected_codec


def test_decode_bytes_refuses_binary_with_reason() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    with pytest.raises(DecodeError, match="binary"):
        decode_bytes(png, "scan.png")


def test_decode_bytes_refuses_random_garbage() -> None:
    rng = random.Random(3)
    for _ in range(20):
        data = bytes(rng.randrange(1, 256) for _ in range(3000))
        with pytest.raises(DecodeError, match="save it as UTF-8"):
            decode_bytes(data, "garbage.bin")

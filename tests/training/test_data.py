from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from training.data import read_corpus, read_labelled
from triage.errors import DataError

ROWS = [("1", "工资拖欠", "包工头拖欠工资三个月", "labour"),
        ("2", "征地", "征地补偿款没有发", "land"),
        ("3", "", "", "land"),  # no text: skipped
        ("4", "法院", "法院判决不执行", ""),  # no label: skipped
        ("5", "宅基地", "宅基地被邻居占用", "land")]


def _csv(path: Path, encoding: str, delimiter: str = ",") -> Path:
    lines = [delimiter.join(["id", "title", "text", "label"])]
    lines += [delimiter.join(r) for r in ROWS]
    path.write_bytes("\n".join(lines).encode(encoding))
    return path


def _jsonl(path: Path) -> Path:
    objs = [json.dumps(dict(zip(["id", "title", "text", "label"], r, strict=True)),
                       ensure_ascii=False) for r in ROWS]
    path.write_text("\n".join(objs[:2] + ["{not json"] + objs[2:]), encoding="utf-8")
    return path


def _xlsx(path: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(["id", "title", "text", "label"])
    for r in ROWS:
        ws.append(list(r))
    wb.save(path)
    return path


@pytest.mark.parametrize(("name", "make"), [
    ("utf8.csv", lambda p: _csv(p, "utf-8")),
    ("gb18030.csv", lambda p: _csv(p, "gb18030")),
    ("utf16.csv", lambda p: _csv(p, "utf-16")),
    ("tabs.tsv", lambda p: _csv(p, "utf-8", "\t")),
    ("rows.jsonl", _jsonl),
    ("sheet.xlsx", _xlsx),
])
def test_read_labelled_formats_and_skips_bad_rows(tmp_path: Path, name: str, make,  # type: ignore[no-untyped-def]
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = make(tmp_path / name)
    data = read_labelled(path, title_col="title", label_cols={"issue_type": "label"},
                         id_col="id")
    assert data.texts == ["包工头拖欠工资三个月", "征地补偿款没有发", "宅基地被邻居占用"]
    assert data.labels["issue_type"] == ["labour", "land", "land"]
    assert data.titles[0] == "工资拖欠"
    assert len(data.skipped) == (3 if name.endswith(".jsonl") else 2)
    err = capsys.readouterr().err
    assert "is empty; skipped" in err and "row " in err


def test_read_labelled_names_missing_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path / "a.csv", "utf-8")
    with pytest.raises(DataError, match=r"no column \['content'\].*--text-col"):
        read_labelled(path, text_col="content")


@pytest.mark.parametrize(("content", "message"), [
    (None, "file not found"),
    (b"\x00\x01\x02binary" * 50, "binary"),
    (b"id,text,label\n1,,x\n", "no usable rows"),
])
def test_read_labelled_unusable_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_labelled(path, warn=False)


def test_read_corpus_has_every_head() -> None:
    data = read_corpus("train")
    assert len(data) >= 1000
    assert set(data.labels) == {"issue_type", "subtype", "agency", "nature",
                                "litigation_related", "channel", "flag_collective",
                                "flag_skip_level", "flag_repeat", "flag_danger"}
    assert not data.skipped
    # the channel is "none" exactly for letters that are not litigation-related
    for lit, ch in zip(data.labels["litigation_related"], data.labels["channel"], strict=True):
        assert (ch == "none") == (lit != "True")
    assert set(data.labels["flag_danger"]) == {"True", "False"}
    assert len(data.extras["place"]) == len(data)
    assert sum(p is not None for p in data.extras["place"]) > len(data) // 2

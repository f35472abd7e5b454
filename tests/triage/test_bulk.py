"""Bulk runs as a user sees them: files in real encodings and formats in, one row per letter
out, equal to one-by-one suggestions; bad rows reported with their row number; resumable."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from triage import Triage
from triage.bulk import BulkJob, run_bulk
from triage.errors import DataError
from triage.writers import COLUMNS, suggestion_row


def corpus_letters(n: int) -> list[dict[str, str]]:
    """The first n letters of the corpus test set: id, title, text."""
    out = []
    for f in sorted((ROOT / "corpus" / "letters" / "test").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip() and len(out) < n:
                r = json.loads(line)
                out.append({"id": r["id"], "title": r.get("title") or "", "text": r["text"]})
    return out


def write_csv(path: Path, rows: list[dict[str, Any]], encoding: str = "utf-8",
              delimiter: str = ",") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        out.writeheader()
        out.writerows(rows)
    return path


def read_output(path: Path) -> list[dict[str, Any]]:
    """Output rows as strings, whatever the format."""
    fmt = path.suffix
    if fmt in (".csv", ".tsv"):
        with open(path, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh, delimiter="\t" if fmt == ".tsv" else ","))
    if fmt == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    elif fmt == ".xlsx":
        from openpyxl import load_workbook

        ws = load_workbook(path, read_only=True).active
        values = list(ws.iter_rows(values_only=True))
        rows = [dict(zip(values[0], v, strict=True)) for v in values[1:]]
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    return [{k: _text(v) for k, v in r.items()} for r in rows]


def _text(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(v)
    return "" if v is None else str(v)


def read_errors(output: Path) -> list[dict[str, str]]:
    with open(f"{output}.errors.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def bulk(model_store: Path, src: Path, out: Path, **kw: Any) -> Any:
    job = BulkJob(input=src, output=out, model=model_store, jobs=kw.pop("jobs", 1), **kw)
    return run_bulk(job, log=lambda _: None)


def test_bulk_rows_equal_one_by_one_suggestions(model_store: Path, triage: Triage,
                                                tmp_path: Path) -> None:
    letters = corpus_letters(24)
    src = write_csv(tmp_path / "in.csv", letters)
    out = tmp_path / "out.csv"
    summary = bulk(model_store, src, out, title_col="title", chunk_size=7)
    rows = read_output(out)
    assert [r["id"] for r in rows] == [x["id"] for x in letters]  # input order, ids kept
    for x, row in zip(letters, rows, strict=True):
        expected = suggestion_row(triage.suggest(x["text"], title=x["title"] or None))
        assert {c: row[c] for c in COLUMNS} == {c: _text(v) for c, v in expected.items()}
    # which places to check: some stand out, some do not
    assert {r["jurisdiction_sure"] for r in rows} == {"True", "False"}
    assert summary.classified == 24 and summary.errors == 0
    assert not Path(f"{out}.parts").exists()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".xlsx", ".parquet", "folder"])
def test_bulk_reads_every_input_format(model_store: Path, tmp_path: Path, suffix: str) -> None:
    letters = corpus_letters(6)
    src = tmp_path / f"in{suffix}"
    if suffix in (".csv", ".tsv"):
        write_csv(src, letters, delimiter="\t" if suffix == ".tsv" else ",")
    elif suffix == ".jsonl":
        src.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in letters),
                       encoding="utf-8")
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        wb.active.append(["id", "title", "text"])
        for x in letters:
            wb.active.append([x["id"], x["title"], x["text"]])
        wb.save(src)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(letters), src)
    else:
        src.mkdir()
        for x in letters:
            (src / f"{x['id']}.txt").write_text(x["text"], encoding="utf-8")
    out = tmp_path / "out.jsonl"
    bulk(model_store, src, out)
    rows = read_output(out)
    expected_ids = [x["id"] + (".txt" if suffix == "folder" else "") for x in letters]
    assert sorted(r["id"] for r in rows) == sorted(expected_ids)
    assert all(r["issue_type"] and r["agency"] and r["model_version"] for r in rows)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".xlsx", ".parquet"])
def test_bulk_writes_the_format_the_extension_names(model_store: Path, tmp_path: Path,
                                                    suffix: str) -> None:
    letters = corpus_letters(5)
    src = write_csv(tmp_path / "in.csv", letters)
    reference, out = tmp_path / "ref.csv", tmp_path / f"out{suffix}"
    bulk(model_store, src, reference)
    bulk(model_store, src, out)
    assert read_output(out) == read_output(reference)


def test_bulk_gb18030_csv_with_broken_rows(model_store: Path, tmp_path: Path) -> None:
    letters = corpus_letters(5)
    src = tmp_path / "gb.csv"
    lines = ["id,text"] + [f"{x['id']},{x['text'].replace(chr(10), '')}" for x in letters]
    data = "\r\n".join(lines).encode("gb18030")
    data += b"\r\nbroken,\xe6\x88\x91\xff\xfe\xb5\xc4\xb5\xd8\r\nempty,\r\n"  # bad bytes; no text
    src.write_bytes(data)
    out = tmp_path / "out.csv"
    summary = bulk(model_store, src, out)
    assert [r["id"] for r in read_output(out)] == [x["id"] for x in letters]
    errors = {e["id"]: e for e in read_errors(out)}
    assert errors["broken"]["row"] == "7" and "not valid GB18030" in errors["broken"]["reason"]
    assert errors["empty"]["row"] == "8" and "is empty" in errors["empty"]["reason"]
    assert (summary.classified, summary.errors) == (5, 2)


BIG5_LETTERS = {
    "a.txt": "我們村的土地被鎮政府徵收了，補償款三年沒有發放，請求有關部門調查處理。",
    "sub/b.txt": "公司拖欠我們工人的工資已經半年，勞動監察大隊也不管，請求幫助討薪。",
    "sub/c.txt": "小區物業費年年漲，電梯壞了三個月沒人修，請住建局查一查物業公司。",
}


def test_bulk_big5_folder_with_broken_files(model_store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "letters"
    for name, text in BIG5_LETTERS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text.encode("big5"))
    (folder / "sub" / "d.txt").write_bytes(bytes(range(128, 256)) * 4)  # no encoding reads it
    (folder / "z.txt").write_bytes(b"  \n ")
    (folder / "notes.md").write_text("not a letter", encoding="utf-8")
    out = tmp_path / "out.csv"
    summary = bulk(model_store, folder, out)
    rows = {r["id"]: r for r in read_output(out)}
    assert set(rows) == set(BIG5_LETTERS)
    assert rows["a.txt"]["issue_type"] == "land"
    assert rows["sub/b.txt"]["issue_type"] == "labour"
    errors = {e["id"]: e["reason"] for e in read_errors(out)}
    assert set(errors) == {"sub/d.txt", "z.txt"}
    assert "cannot be decoded" in errors["sub/d.txt"] and "is empty" in errors["z.txt"]
    assert summary.errors == 2


def test_bulk_xlsx_with_broken_rows(model_store: Path, tmp_path: Path) -> None:
    from openpyxl import Workbook

    letters = corpus_letters(4)
    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "标题", "内容"])
    for x in letters[:2]:
        ws.append([x["id"], x["title"], x["text"]])
    ws.append(["no-text", "标题", None])
    ws.append(["number", "标题", 12345])
    ws.append(["excel-error", "标题", "#N/A"])
    for x in letters[2:]:
        ws.append([x["id"], x["title"], x["text"]])
    src = tmp_path / "letters.xlsx"
    wb.save(src)
    out = tmp_path / "out.xlsx"
    bulk(model_store, src, out, text_col="内容", title_col="标题", id_col="编号")
    rows = read_output(out)
    assert [r["编号"] for r in rows] == [x["id"] for x in letters]
    errors = {e["id"]: e for e in read_errors(out)}
    assert {k: errors[k]["row"] for k in errors} == {"no-text": "4", "number": "5",
                                                     "excel-error": "6"}
    assert "is empty" in errors["no-text"]["reason"]
    assert "number" in errors["number"]["reason"]
    assert "#N/A" in errors["excel-error"]["reason"]


def test_bulk_reports_oversized_and_markup_only_rows(model_store: Path, tmp_path: Path) -> None:
    letters = corpus_letters(2)
    rows = [*letters, {"id": "huge", "title": "", "text": "征地" * 450_000},
            {"id": "markup", "title": "", "text": "<p> </p>"}]
    out = tmp_path / "out.csv"
    bulk(model_store, write_csv(tmp_path / "in.csv", rows, encoding="utf-16"), out)
    assert [r["id"] for r in read_output(out)] == [x["id"] for x in letters]
    errors = {e["id"]: e["reason"] for e in read_errors(out)}
    assert "the limit is 200,000" in errors["huge"]
    assert "empty" in errors["markup"]


def test_bulk_report_summarises_the_run(model_store: Path, tmp_path: Path) -> None:
    letters = corpus_letters(12)
    src = write_csv(tmp_path / "in.csv", [*letters, {"id": "e", "title": "", "text": ""}])
    out = tmp_path / "out.parquet"
    summary = bulk(model_store, src, out)
    page = Path(f"{out}.report.html").read_text(encoding="utf-8")
    types = {r["issue_type"] for r in read_output(out)}
    for heading in ("Issue types", "Agencies", "Places", "Flags", "Top issue-type score",
                    "Bad rows by kind", "Time by stage", "need review"):
        assert heading in page
    assert all(f"({t})" in page for t in types)
    assert f"Slowest stage: <b>{summary.slowest_stage}</b>" in page
    assert "13 letters: 12 classified, 1 bad rows" in page


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: BulkJob(p / "missing.csv", p / "o.csv"), "no such file"),
    (lambda p: BulkJob(p / "in.csv", p / "o.txt"), "cannot write .txt"),
    (lambda p: BulkJob(p / "in.csv", p / "o.csv", text_col="body"), "no column ['body']"),
    (lambda p: BulkJob(p / "in.csv", p / "o.csv", id_col="nr", id_required=True),
     "no column ['nr']"),
    (lambda p: BulkJob(p / "in.pdf", p / "o.csv"), "cannot read .pdf"),
])
def test_bulk_input_errors_say_what_to_fix(model_store: Path, tmp_path: Path, setup: Any,
                                           message: str) -> None:
    write_csv(tmp_path / "in.csv", corpus_letters(2))
    (tmp_path / "in.pdf").write_bytes(b"%PDF-1.4")
    job = setup(tmp_path)
    job.model = model_store
    with pytest.raises(DataError) as err:
        run_bulk(job, log=lambda _: None)
    assert message in str(err.value)


def test_bulk_keeps_unfinished_parts_until_resumed(model_store: Path, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", corpus_letters(3))
    out = tmp_path / "out.csv"
    parts = Path(f"{out}.parts")
    parts.mkdir()
    (parts / "job.json").write_text(json.dumps({"settings": {}, "input": {},
                                                "model_version": "x"}), encoding="utf-8")
    (parts / "chunk-0000000.jsonl").write_text("{}\n", encoding="utf-8")
    with pytest.raises(DataError, match="add --resume"):
        bulk(model_store, src, out)
    with pytest.raises(DataError, match="the interrupted run used text_col=None"):
        bulk(model_store, src, out, resume=True)


def test_bulk_empty_input_is_an_error_not_a_run(model_store: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,text\n", encoding="utf-8")
    with pytest.raises(DataError, match="no letters in it"):
        bulk(model_store, src, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv.parts").exists()


def test_bulk_pool_of_workers_equals_one_process(model_store: Path, tmp_path: Path) -> None:
    letters = corpus_letters(40)
    src = write_csv(tmp_path / "in.csv", letters)
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    bulk(model_store, src, one, chunk_size=9)
    bulk(model_store, src, two, chunk_size=9, jobs=2)
    assert read_output(two) == read_output(one)


def test_bulk_segmenter_gives_jiebas_tokens() -> None:
    """The faster segmenter splits every text as Python jieba with the user dictionary does,
    so the model sees the words it was trained on."""
    from triage.segment import get_segmenter

    seg = get_segmenter()
    texts = [x["text"] for x in corpus_letters(200)]
    rng = random.Random(7)
    pool = "".join(texts) + "abcXYZ0123456789+#&._%-，。 \n（）“”《》：；—①Ａ\u3400𠀀"
    texts += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 60))) for _ in range(3000)]
    texts += ["2025.3.2 打119才弄出来的 1.0mm 钢板 QQ号 3D打印 T恤 A股 e-mail 50%"]
    assert all(seg.lcut(t) == list(seg.tokenizer.lcut(t)) for t in texts)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the point
def test_a_ctrl_c_that_lands_in_a_finalizer_is_not_lost() -> None:
    """Python reports a KeyboardInterrupt raised inside a finalizer as "ignored" and goes on;
    a bulk run must still stop (the run's loop checks what ``_ctrl_c`` remembers)."""
    import gc
    import os
    import signal

    from triage.bulk import _ctrl_c

    class Slow:
        def __del__(self) -> None:  # Ctrl-C arrives while the garbage collector runs this
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(100_000):  # bytecodes: the handler runs here, inside __del__
                pass

    # as in a terminal, whatever pytest was started with (in the background SIGINT is ignored)
    original = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with _ctrl_c() as stopped:
            Slow()  # dropped at once: __del__ runs and swallows the KeyboardInterrupt
            gc.collect()
            assert stopped.is_set()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, original)


def test_a_run_started_with_ctrl_c_ignored_keeps_ignoring_it() -> None:
    """``triage bulk … &`` in a script starts with SIGINT ignored; the run leaves it so."""
    import os
    import signal

    from triage.bulk import _ctrl_c

    original = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _ctrl_c() as stopped:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)  # dropped by the kernel: nothing happens
            assert not stopped.is_set()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, original)

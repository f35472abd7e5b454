"""Reading labelled letters: CSV / TSV / JSONL / XLSX files and the corpus.

A bad row (no text, no label) is reported with its row number and skipped; the others go on.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.errors import DataError, LetterError
from triage.normalize import decode_bytes
from triage.pipeline import HEADS
from triage.segment import CORPUS_DIR


@dataclass
class Dataset:
    """Letters with their labels; ``labels[head][i]`` is the label of letter i."""

    texts: list[str]
    titles: list[str | None]
    labels: dict[str, list[str]]
    ids: list[str]
    source: str
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        rows = wb.active.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        for n, values in enumerate(rows, start=2):
            yield n, dict(zip(header, values, strict=False))
        wb.close()
        return
    text, _ = decode_bytes(path.read_bytes(), str(path))
    if suffix in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, {"__error__": f"not valid JSON ({exc.msg} at column {exc.colno})"}
                continue
            yield n, obj if isinstance(obj, dict) else {"__error__": "not a JSON object"}
        return
    delimiter = "\t" if suffix in (".tsv", ".tab") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    for record in reader:
        yield reader.line_num, record


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    return str(value).strip()


def read_labelled(path: str | Path, *, text_col: str = "text", title_col: str | None = None,
                  label_cols: dict[str, str] | None = None, id_col: str | None = None,
                  warn: bool = True, title_optional: bool = False) -> Dataset:
    """Read a labelled file.

    Parameters
    ----------
    path : path
        CSV, TSV, JSONL or XLSX; text files in UTF-8, GB18030, Big5 or UTF-16 (BOM).
    text_col, title_col, id_col : str
        Column names of the letter text, its optional title and id.
    label_cols : dict of head name to column name
        Which column holds each head's label, e.g. ``{"issue_type": "label"}``.
    warn : bool
        Print one line per skipped row to stderr.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        The file is missing or unreadable, a named column does not exist, or no row is usable.
    """
    path = Path(path)
    label_cols = label_cols or {"issue_type": "label"}
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        rows = list(_rows(path))
    except LetterError as exc:
        raise DataError(str(exc)) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: cannot read it as {path.suffix or 'CSV'} ({exc})") from exc
    data = Dataset([], [], {h: [] for h in label_cols}, [], str(path))
    seen_cols: set[str] = set()
    for _, rec in rows:
        seen_cols.update(k for k in rec if k != "__error__")
    needed = [text_col, *label_cols.values()]
    if title_col and not title_optional:
        needed.append(title_col)
    missing = [c for c in needed if seen_cols and c not in seen_cols]
    if missing:
        raise DataError(f"{path}: no column {missing}; the file has {sorted(seen_cols)} — "
                        "choose columns with --text-col / --title-col / --label-col")
    for n, rec in rows:
        reason = rec.get("__error__")
        text = _cell(rec.get(text_col))
        labels = {h: _cell(rec.get(c)) for h, c in label_cols.items()}
        if not reason and not text:
            reason = f"column '{text_col}' is empty"
        if not reason:
            empty = [label_cols[h] for h, v in labels.items() if not v]
            reason = f"label column {empty} is empty" if empty else None
        if reason:
            data.skipped.append(f"{path}: row {n}: {reason}; skipped")
            continue
        data.texts.append(text)
        data.titles.append(_cell(rec.get(title_col)) or None if title_col else None)
        for h, v in labels.items():
            data.labels[h].append(v)
        data.ids.append(_cell(rec.get(id_col)) if id_col else str(n))
    if warn:
        for line in data.skipped:
            print(line, file=sys.stderr)
    if not data.texts:
        raise DataError(f"{path}: no usable rows ({len(data.skipped)} skipped)")
    return data


CORPUS_LABELS = {h: h for h in HEADS}


def read_corpus(split: str = "train", corpus_dir: str | Path | None = None) -> Dataset:
    """All letters of ``corpus/letters/<split>/*.jsonl`` with every head's labels."""
    folder = Path(corpus_dir or CORPUS_DIR) / "letters" / split
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise DataError(f"{folder}: no *.jsonl letter files; the corpus lives in "
                        "corpus/letters/train and corpus/letters/test")
    parts = [read_labelled(f, title_col="title", label_cols=CORPUS_LABELS, id_col="id",
                           title_optional=True) for f in files]
    try:
        shown = str(folder.resolve().relative_to(CORPUS_DIR.resolve().parent))
    except ValueError:
        shown = str(folder)
    out = Dataset([], [], {h: [] for h in HEADS}, [], shown)
    for p in parts:
        out.texts += p.texts
        out.titles += p.titles
        out.ids += p.ids
        out.skipped += p.skipped
        for h in HEADS:
            out.labels[h] += p.labels[h]
    return out

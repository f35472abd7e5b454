"""The letters of a bulk run's input: a table file's rows or a folder's .txt files, streamed,
each checked on the way (empty, a spreadsheet error, not text, undecodable, far too long).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage.errors import DataError, DecodeError
from triage.normalize import decode_bytes
from triage.readers import (
    ERROR_KEY,
    count_rows,
    detect_encoding,
    iter_rows,
    read_columns,
    table_format,
    walk_text_files,
)

EXCEL_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A",
                          "#GETTING_DATA", "#SPILL!", "#CALC!"})


@dataclass(frozen=True)
class RawLetter:
    """One letter of an input as read: its row, id and text, or why it cannot be used."""

    row: int
    id: str
    text: str
    title: str | None = None
    error: str | None = None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false value"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dt.date | dt.time):
        return "date or time"
    return type(value).__name__


def check_text(value: Any, what: str, codec: str, max_chars: int) -> tuple[str, str | None]:
    """The letter text of a cell or file (``what`` names it in messages, e.g. "column
    'text'"), or why it cannot be used: empty, a spreadsheet error, not text, undecodable
    bytes, or far too long."""
    if isinstance(value, str):
        if not value.strip():
            return "", f"{what} is empty"
        if value.strip() in EXCEL_ERRORS:
            return "", f"{what} holds the spreadsheet error {value.strip()}"
        if "\ufffd" in value:
            return "", (f"{what} has bytes that are not valid {codec} (shown as U+FFFD); "
                        "correct the row or save the file as UTF-8")
        if len(value) > 4 * max_chars:  # refused before it is sent anywhere
            return "", (f"the letter has {len(value):,} characters; the limit is "
                        f"{max_chars:,} (split it, or raise limits.max_letter_chars)")
        return value, None
    if value is None:
        return "", f"{what} is empty"
    return "", f"{what} holds a {_kind(value)} ({value!r:.40}), not a letter's text"


class LetterSource:
    """The letters of a CSV / TSV / JSONL / XLSX / Parquet file or a folder of .txt files,
    streamed in file order.

    Parameters
    ----------
    path : path
        The file, or a folder whose .txt files (in any supported encoding, each detected on
        its own) are one letter each; their id is the path inside the folder.
    text_col, title_col, id_col : str
        Columns of the text, the optional title and the id (absent id column: row numbers).
    id_required : bool
        The id column was asked for by name: its absence is an error.
    max_chars : int
        The policy's longest letter; a cell four times longer is refused unread.

    Raises
    ------
    DataError
        The input is missing, of an unknown kind, unreadable, or lacks a named column.
    """

    def __init__(self, path: str | os.PathLike[str], *, text_col: str = "text",
                 title_col: str | None = None, id_col: str | None = "id",
                 id_required: bool = False, max_chars: int = 200_000) -> None:
        self.path = Path(path)
        self.text_col, self.title_col, self.max_chars = text_col, title_col, max_chars
        self.progress = [0.0]
        self.seen = 0
        if self.path.is_dir():
            self.codec = "per file"
            self.id_col: str | None = None
            return
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such file or folder")
        self.format = table_format(self.path)
        cols = read_columns(self.path)
        self.codec = "UTF-8" if self.format in ("xlsx", "parquet") else \
            detect_encoding(self.path).replace("-sig", "").upper()
        missing = [c for c in (text_col, title_col, id_col if id_required else None)
                   if c and c not in cols]
        if missing:
            raise DataError(f"{self.path}: no column {missing}; the file has {cols} — choose "
                            "columns with --text-col / --title-col / --id-col")
        self.id_col = id_col if id_col in cols else None

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the input for a resumed run: the file's name, size and time of
        change, or a folder's number and total size of .txt files."""
        if self.path.is_dir():
            files = size = 0
            for f in walk_text_files(self.path):
                files, size = files + 1, size + f.stat().st_size
            return {"name": self.path.name, "files": files, "bytes": size}
        st = self.path.stat()
        return {"name": self.path.name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}

    def total(self) -> int | None:
        """How many letters there are: exact for folders, Parquet and XLSX, else an estimate
        from the share of the file read so far (None before any)."""
        if not hasattr(self, "_total"):
            self._total = (sum(1 for _ in walk_text_files(self.path)) if self.path.is_dir()
                           else count_rows(self.path))
        if self._total is not None:
            return self._total
        share = self.progress[0]
        return max(self.seen, round(self.seen / share)) if share > 0.01 else None

    def __iter__(self) -> Iterator[RawLetter]:
        source = self._files() if self.path.is_dir() else self._rows()
        for letter in source:
            self.seen += 1
            yield letter

    def _rows(self) -> Iterator[RawLetter]:
        cols = [c for c in (self.text_col, self.title_col, self.id_col) if c]
        try:
            for n, rec in iter_rows(self.path, cols, self.progress):
                value = rec.get(self.id_col) if self.id_col else None
                lid = ("" if value is None else str(value).strip()) or str(n)
                if rec.get(ERROR_KEY):
                    yield RawLetter(n, lid, "", error=str(rec[ERROR_KEY]))
                    continue
                text, error = check_text(rec.get(self.text_col), f"column '{self.text_col}'",
                                         self.codec, self.max_chars)
                title = rec.get(self.title_col) if self.title_col else None
                if title is not None and not isinstance(title, str):
                    title = str(title)
                if error is None and title and "\ufffd" in title:
                    error = f"column '{self.title_col}' has bytes that are not valid {self.codec}"
                yield RawLetter(n, lid, text, title or None, error)
        except (OSError, ValueError, KeyError, csv.Error) as exc:
            raise DataError(f"{self.path}: reading stopped after {self.seen:,} letters: "
                            f"{exc}; check the file (an unclosed quote?) or convert it to "
                            "UTF-8 CSV") from exc

    def _files(self) -> Iterator[RawLetter]:
        limit = 16 * self.max_chars  # bytes: four bytes a character at most, four times over
        for n, f in enumerate(walk_text_files(self.path), start=1):
            lid = f.relative_to(self.path).as_posix()
            try:
                if f.stat().st_size > limit:
                    yield RawLetter(n, lid, "", error=f"{lid}: {f.stat().st_size:,} bytes is "
                                    "far longer than a letter; split it")
                    continue
                text, _ = decode_bytes(f.read_bytes(), lid)
            except (DecodeError, OSError) as exc:
                yield RawLetter(n, lid, "", error=str(exc))
                continue
            text, error = check_text(text, f"the file {lid}", "its encoding", self.max_chars)
            yield RawLetter(n, lid, text, None, error)

"""Reading letters from files, streamed: CSV / TSV / JSONL / XLSX / Parquet tables and folders
of .txt files.

Text files are read in the encoding ``decode_bytes`` finds (UTF-8, GB18030, Big5, UTF-16 with a
byte-order mark), chosen per file from samples of its start, middle and end, so that a file of
any size is read in one pass with little memory. A row whose bytes do not decode is reported,
not fatal: it arrives with U+FFFD in its text, which no letter that decoded cleanly contains.

``iter_rows`` yields ``(row number, {column: value})`` with the key ``__error__`` for a row that
cannot be read, as ``training.data`` reads labelled files; ``triage.sources`` turns rows and
.txt files into the letters of a bulk run.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from triage.errors import DataError, DecodeError
from triage.normalize import decode_bytes

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet",
           ".pq": "parquet"}
ERROR_KEY = "__error__"
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_CODECS = ("utf-8", "gb18030", "big5")
# a CSV field may be this long before the csv module gives up (letters longer than the
# policy's limit are reported as rows; only a runaway quote reaches this)
FIELD_LIMIT = 1 << 26


def table_format(path: Path) -> str:
    """``csv``, ``tsv``, ``jsonl``, ``xlsx`` or ``parquet`` from a file name; DataError else."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: cannot read {path.suffix or 'files without an extension'}; "
                        f"expected one of {', '.join(sorted(FORMATS))}, or a folder of .txt "
                        "files")
    return fmt


def _sample(fh: IO[bytes], size: int, window: int) -> bytes:
    """Whole lines from the start, middle and end of a file (all of a small file)."""
    if size <= 4 * window:
        fh.seek(0)
        return fh.read()
    parts = []
    for start in (0, size // 3, 2 * size // 3, size - window):
        fh.seek(start)
        block = fh.read(window)
        if start:  # drop the partial first line; b"\n" is never inside a GB18030/Big5 character
            block = block[block.find(b"\n") + 1:]
        parts.append(block[:block.rfind(b"\n") + 1] or block)
    return b"".join(parts)


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path, window: int = 1 << 18) -> str:
    """The codec to read a text file with: its byte-order mark, else ``decode_bytes`` on a
    sample; when some sampled lines are broken, the codec that reads the most of them.

    Raises
    ------
    DecodeError
        No supported encoding reads the sample (binary data, or another encoding).
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
        for bom, codec in _BOMS:
            if head.startswith(bom):
                return codec
        sample = _sample(fh, os.fstat(fh.fileno()).st_size, window)
    try:
        return decode_bytes(sample, str(path))[1]
    except DecodeError:
        pass
    lines = [line for line in sample.split(b"\n") if line.strip()]
    counts = {c: sum(_decodes(line, c) for line in lines) for c in _CODECS}
    most = max(counts.values())
    if not lines or most < len(lines) / 2:
        raise DecodeError(f"{path}: cannot be decoded as UTF-8, GB18030, Big5 or UTF-16 (with "
                          "BOM); it is binary data or another encoding — save it as UTF-8 text")
    top = [c for c in _CODECS if counts[c] == most]
    if "utf-8" in top:
        return "utf-8"
    good = b"\n".join(line for line in lines if all(_decodes(line, c) for c in top))
    try:
        return decode_bytes(good, str(path))[1]
    except DecodeError:
        return top[0]


def _open_text(path: Path, codec: str) -> IO[str]:
    return open(path, encoding=codec, errors="replace", newline="")


def read_columns(path: Path) -> list[str]:
    """Column names of a table file: its header row, Parquet schema, or the keys of the first
    1,000 JSON objects. DataError when the file cannot be read."""
    fmt = table_format(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
        if fmt == "xlsx":
            return _xlsx_header(path)
        if fmt == "jsonl":
            keys: dict[str, None] = {}
            for i, (_, rec) in enumerate(iter_rows(path)):
                keys.update(dict.fromkeys(k for k in rec if k != ERROR_KEY))
                if i >= 1000:
                    break
            return list(keys)
        with _open_text(path, detect_encoding(path)) as fh:
            return next(csv.reader(fh, delimiter="\t" if fmt == "tsv" else ","), [])
    except DecodeError as exc:
        raise DataError(str(exc)) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: cannot read it as {fmt.upper()} ({exc})") from exc


def iter_rows(path: Path, columns: list[str] | None = None,
              progress: list[float] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of a table file as ``(row number, {column: value})``, streamed.

    Row numbers are what a person finds in the file: the line of a CSV / TSV / JSONL record
    (the last line of a quoted multi-line record), the sheet row of an XLSX file (from 2: the
    header is row 1), the 1-based record of a Parquet
    file. A line that is not JSON, or not an object, comes with ``__error__`` set.

    Parameters
    ----------
    columns : list of str, optional
        Parquet only: read just these columns.
    progress : list of one float, optional
        Set to the share of the file read so far, for progress estimates.
    """
    fmt = table_format(path)
    if fmt == "xlsx":
        yield from _xlsx_rows(path)
        return
    if fmt == "parquet":
        yield from _parquet_rows(path, columns)
        return
    codec = detect_encoding(path)
    size = max(path.stat().st_size, 1)
    with _open_text(path, codec) as fh:
        raw = fh.buffer  # type: ignore[attr-defined]

        def mark() -> None:
            if progress is not None:
                progress[0] = min(raw.tell() / size, 1.0)

        if fmt == "jsonl":
            for n, line in enumerate(fh, start=1):
                if n % 256 == 0:
                    mark()
                if line.strip():
                    yield n, _json_record(line)
            return
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        reader = csv.DictReader(fh, delimiter="\t" if fmt == "tsv" else ",")
        for record in reader:
            if reader.line_num % 256 < 2:
                mark()
            yield reader.line_num, {k: v for k, v in record.items() if k is not None}


def _json_record(line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return {ERROR_KEY: f"not valid JSON ({exc.msg} at column {exc.colno})"}
    return obj if isinstance(obj, dict) else {ERROR_KEY: "not a JSON object"}


def _xlsx_header(path: Path) -> list[str]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        first = next(wb.active.iter_rows(values_only=True), ())
        return [str(h).strip() if h is not None else "" for h in first]
    finally:
        wb.close()


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = wb.active.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        for n, values in enumerate(rows, start=2):
            yield n, dict(zip(header, values, strict=False))
    finally:
        wb.close()


def _parquet_rows(path: Path, columns: list[str] | None) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = set(pf.schema_arrow.names)
    wanted = [c for c in columns if c in names] if columns else None
    n = 0
    for batch in pf.iter_batches(batch_size=4096, columns=wanted):
        for rec in batch.to_pylist():
            n += 1
            yield n, rec


def count_rows(path: Path) -> int | None:
    """The number of letters in a table without reading it (Parquet, XLSX); None otherwise."""
    fmt = table_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt == "xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        try:
            rows = wb.active.max_row
        finally:
            wb.close()
        return max(int(rows) - 1, 0) if rows else None
    return None


def walk_text_files(folder: Path) -> Iterator[Path]:
    """The .txt files under a folder, depth first, each folder's entries sorted by name; one
    folder's listing in memory at a time."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from walk_text_files(Path(entry.path))
        elif entry.name.lower().endswith(".txt") and entry.is_file():
            yield Path(entry.path)


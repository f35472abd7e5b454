"""Writing bulk results: one row per letter in CSV / TSV / JSONL / XLSX / Parquet, streamed.

The row of a letter is its id and the suggestion's headline (:func:`suggestion_row`); the
format is the output file's extension. Writers take rows in batches and hold at most one
Parquet row group in memory.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Any

from triage.errors import DataError
from triage.suggestion import Suggestion

COLUMNS = ("issue_type", "issue_type_name", "issue_score", "subtype", "litigation_related",
           "agency", "agency_name", "jurisdiction", "jurisdiction_sure", "nature", "flags",
           "needs_review", "model_version")
OUTPUT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                  ".xlsx": "xlsx", ".parquet": "parquet"}
XLSX_MAX_ROWS = 1_048_575  # a sheet's rows less the header


def suggestion_row(s: Suggestion) -> dict[str, Any]:
    """The headline of a suggestion: top issue type and score, its subtype, litigation-related,
    top agency and where (属地) with whether that place is sure (false: check it), nature, flag
    ids, needs_review and the model version."""
    top = s.issue_type[0] if s.issue_type else None
    agency = s.agency[0] if s.agency else None
    place = agency.jurisdiction if agency and agency.jurisdiction else (
        s.jurisdiction.place if s.jurisdiction else None)
    return {"issue_type": top.id if top else None, "issue_type_name": top.name if top else None,
            "issue_score": top.score if top else None, "subtype": top.subtype if top else None,
            "litigation_related": s.litigation_related.value if s.litigation_related else None,
            "agency": agency.id if agency else None,
            "agency_name": agency.name if agency else None, "jurisdiction": place,
            "jurisdiction_sure": s.jurisdiction.sure if s.jurisdiction else None,
            "nature": s.nature.id if s.nature else None, "flags": [f.id for f in s.flags],
            "needs_review": s.needs_review, "model_version": s.model_version}


def output_format(path: Path) -> str:
    """The format of an output file from its extension; DataError for an unknown one."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: cannot write {path.suffix or 'a file without an extension'};"
                        f" name the output with one of {', '.join(sorted(OUTPUT_FORMATS))}")
    return fmt


def _flat(value: Any) -> Any:
    """A cell of a text table: flags joined by commas, None as empty."""
    if isinstance(value, list):
        return ",".join(value)
    return "" if value is None else value


class TableWriter:
    """Writes rows (dicts with ``id_col`` and :data:`COLUMNS`) to ``path`` in its format.

    Use as a context manager; ``write`` takes a list of rows.
    """

    def __init__(self, path: Path, id_col: str = "id") -> None:
        self.path, self.fmt = path, output_format(path)
        self.columns = [id_col, *COLUMNS]
        self.id_col = id_col
        self._fh: IO[str] | None = None
        self._pending: list[dict[str, Any]] = []
        self._sink: Any = None

    def __enter__(self) -> TableWriter:
        if self.fmt in ("csv", "tsv", "jsonl"):
            self._fh = open(self.path, "w", encoding="utf-8", newline="")
            if self.fmt != "jsonl":
                self._sink = csv.writer(self._fh, delimiter="\t" if self.fmt == "tsv" else ",")
                self._sink.writerow(self.columns)
        elif self.fmt == "xlsx":
            from openpyxl import Workbook

            self._sink = Workbook(write_only=True)
            self._sheet = self._sink.create_sheet("letters")
            self._sheet.append(self.columns)
        return self

    def write(self, rows: list[dict[str, Any]]) -> None:
        if self.fmt == "jsonl" and self._fh is not None:
            self._fh.writelines(json.dumps({c: r.get(c) for c in self.columns},
                                           ensure_ascii=False) + "\n" for r in rows)
        elif self.fmt in ("csv", "tsv"):
            self._sink.writerows([_flat(r.get(c)) for c in self.columns] for r in rows)
        elif self.fmt == "xlsx":
            for r in rows:
                self._sheet.append([_flat(r.get(c)) if c == "flags" else r.get(c)
                                    for c in self.columns])
        else:
            self._pending += rows
            if len(self._pending) >= 65_536:
                self._flush_parquet()

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([(self.id_col, pa.string()), ("issue_type", pa.string()),
                            ("issue_type_name", pa.string()), ("issue_score", pa.float64()),
                            ("subtype", pa.string()), ("litigation_related", pa.bool_()),
                            ("agency", pa.string()), ("agency_name", pa.string()),
                            ("jurisdiction", pa.string()), ("jurisdiction_sure", pa.bool_()),
                            ("nature", pa.string()),
                            ("flags", pa.list_(pa.string())), ("needs_review", pa.bool_()),
                            ("model_version", pa.string())])
        if self._sink is None:
            self._sink = pq.ParquetWriter(self.path, schema)
        table = pa.Table.from_pylist([{c: r.get(c) for c in self.columns}
                                      for r in self._pending], schema=schema)
        self._sink.write_table(table)
        self._pending = []

    def __exit__(self, *exc: object) -> None:
        if self.fmt == "parquet":
            if self._pending or self._sink is None:
                self._flush_parquet()
            self._sink.close()
        elif self.fmt == "xlsx":
            self._sink.save(self.path)
        elif self._fh is not None:
            self._fh.close()


class ErrorWriter:
    """The rows that could not be used, as CSV: ``row, id, reason`` (a header alone when
    every row was used). A context manager; ``write`` takes a list of bad rows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> ErrorWriter:
        self._fh = open(self.path, "w", encoding="utf-8", newline="")
        self._out = csv.writer(self._fh)
        self._out.writerow(["row", "id", "reason"])
        return self

    def write(self, errors: list[dict[str, Any]]) -> None:
        self._out.writerows([e["row"], e["id"], e["reason"]] for e in errors)

    def __exit__(self, *exc: object) -> None:
        self._fh.close()

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
from typing import TYPE_CHECKING, Any

from triage.catalog import FLAGS, Catalog
from triage.errors import DataError, LetterError
from triage.normalize import decode_bytes
from triage.pipeline import HEADS
from triage.segment import CORPUS_DIR

if TYPE_CHECKING:
    from service.store import Store


@dataclass
class Dataset:
    """Letters with their labels; ``labels[head][i]`` is the label of letter i."""

    texts: list[str]
    titles: list[str | None]
    labels: dict[str, list[str]]
    ids: list[str]
    source: str
    skipped: list[str] = field(default_factory=list)
    # per-letter values that are not classifier labels (the corpus' labelled ``place``)
    extras: dict[str, list[Any]] = field(default_factory=dict)

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


def _read_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], set[str]]:
    """All rows of a table file and the column names seen; DataError when unreadable."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        rows = list(_rows(path))
    except LetterError as exc:
        raise DataError(str(exc)) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: cannot read it as {path.suffix or 'CSV'} ({exc})") from exc
    cols: set[str] = set()
    for _, rec in rows:
        cols.update(k for k in rec if k != "__error__")
    return rows, cols


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
    data = Dataset([], [], {h: [] for h in label_cols}, [], str(path))
    rows, _ = _rows_having(path, [text_col, *label_cols.values(),
                                  None if title_optional else title_col], "--label-col")
    for n, rec in rows:
        text, reason = _text_of(rec, text_col)
        labels = {h: _cell(rec.get(c)) for h, c in label_cols.items()}
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
FLAG_HEADS = tuple(f"flag_{f}" for f in FLAGS)
# every head a corpus-trained model has: the classification heads, the legal channel of
# litigation-related letters ("none" for the others) and one yes/no head per flag
CORPUS_HEADS = (*HEADS, "channel", *FLAG_HEADS)


def _corpus_extras(path: Path) -> dict[str, dict[str, Any]]:
    """channel, flags and place of each letter of a corpus file, by id."""
    out: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            out[str(rec.get("id"))] = rec
    return out


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
    out = Dataset([], [], {h: [] for h in CORPUS_HEADS}, [], shown, extras={"place": []})
    for f, p in zip(files, parts, strict=True):
        extra = _corpus_extras(f)
        out.texts += p.texts
        out.titles += p.titles
        out.ids += p.ids
        out.skipped += p.skipped
        for h in HEADS:
            out.labels[h] += p.labels[h]
        for lid in p.ids:
            rec = extra.get(lid, {})
            flags = set(rec.get("flags") or ())
            out.labels["channel"].append(str(rec.get("channel") or "none"))
            for fid, head in zip(FLAGS, FLAG_HEADS, strict=True):
                out.labels[head].append(str(fid in flags))
            out.extras["place"].append(rec.get("place") or None)
    return out


# -- clerks' decisions ---------------------------------------------------------------------------

def _decision_subtype(catalog: Catalog, issue: str, suggestion: dict[str, Any],
                      agency: str | None) -> str | None:
    """The subtype of a decision that names none: the suggestion's best subtype of the chosen
    issue type; else the type's subtype whose default agencies include ``agency``; else the
    type's first subtype (an approximation the subtype head alone sees)."""
    for item in suggestion.get("issue_type") or []:
        if item.get("id") == issue and item.get("subtype"):
            return str(item["subtype"])
    it = catalog.issue_types.get(issue)
    if it is None or not it.subtypes:
        return None
    for sub in it.subtypes:
        if agency and agency in sub.agencies:
            return sub.id
    return it.subtypes[0].id


def _decision_agency(catalog: Catalog, issue: str, subtype: str | None,
                     suggestion: dict[str, Any]) -> str | None:
    """The agency of a decision that names none: the suggestion's first agency when the clerk
    kept its issue type; after a change of issue type, the suggestion's first agency that
    handles the chosen subtype, else the subtype's default agency."""
    ranked = [str(a["id"]) for a in suggestion.get("agency") or [] if a.get("id")]
    top = (suggestion.get("issue_type") or [{}])[0].get("id")
    if issue == top:
        return ranked[0] if ranked else None
    sub = catalog.subtypes.get(subtype or "")
    if sub is not None:
        for aid in ranked:
            if aid in sub.agencies:
                return aid
        if sub.agencies:
            return sub.agencies[0]
    return ranked[0] if ranked else None


def decision_labels(decision: dict[str, Any], suggestion: dict[str, Any] | None,
                    catalog: Catalog | None = None) -> tuple[dict[str, str], list[str]]:
    """Every corpus head's label of one decided letter, and the heads the clerk stated.

    The clerk's issue type, subtype, agency and nature win; what the decision leaves out comes
    from the letter's stored suggestion (see ``_decision_subtype`` / ``_decision_agency``
    when the clerk changed the issue type). Litigation-related, legal channel and flags always
    come from the suggestion. A confirmation states every head it confirms.

    Raises
    ------
    DataError
        A head has no label either way (the suggestion came from a model without that head).
    """
    from triage.catalog import load_catalog

    catalog = catalog or load_catalog()
    sugg = suggestion or {}
    issue = str(decision["issue_type"])
    given = ["issue_type"] + [h for h in ("subtype", "agency", "nature") if decision.get(h)]
    if decision.get("action") == "confirm":
        given = ["issue_type", "subtype", "agency", "nature"]
    agency_given = decision.get("agency") or None
    subtype = decision.get("subtype") or _decision_subtype(catalog, issue, sugg, agency_given)
    agency = agency_given or _decision_agency(catalog, issue, subtype, sugg)
    nature = decision.get("nature") or (sugg.get("nature") or {}).get("id")
    lit = sugg.get("litigation_related") or {}
    channel = sugg.get("legal_channel") or {}
    flags = {str(f.get("id")) for f in sugg.get("flags") or []}
    labels = {"issue_type": issue, "subtype": subtype, "agency": agency, "nature": nature,
              "litigation_related": str(bool(lit.get("value"))),
              "channel": str(channel.get("id") or "none")}
    labels.update({head: str(fid in flags) for fid, head in zip(FLAGS, FLAG_HEADS, strict=True)})
    missing = [h for h, v in labels.items() if not v]
    if missing:
        raise DataError(f"no label for {missing} (the decision does not give it and the "
                        "stored suggestion has none)")
    return {h: str(v) for h, v in labels.items()}, given


def _empty_decisions(source: str) -> Dataset:
    return Dataset([], [], {h: [] for h in CORPUS_HEADS}, [], source,
                   extras={"place": [], "decision_id": [], "letter_id": [], "given": []})


def _database_label(url: str) -> str:
    """A database named without folders or credentials (it goes into model metadata)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    name = Path(u.database).name if u.database else ""
    return f"{u.get_backend_name()} {name}".strip()


def read_decisions(store: Store, holdout: float = 0.2) -> tuple[Dataset, Dataset]:
    """The clerks' standing decisions as labelled letters: (to train on, held out).

    Each decided letter counts once, with its standing decision (see
    :func:`decision_labels` for the labels a decision leaves out). The newest ``holdout``
    share by decision id — at least one letter when there are 5 or more decisions, none
    below 5 or when ``holdout`` is 0 — is held out to evaluate on and must not be trained on.
    ``extras`` has ``place`` (None), ``decision_id``, ``letter_id`` and ``given`` (the heads the
    clerk stated, per letter). Letters that cannot be labelled are listed in ``skipped``.

    Raises
    ------
    DataError
        ``holdout`` is not in [0, 1).
    """
    import math

    from triage.catalog import load_catalog

    if not 0.0 <= holdout < 1.0:
        raise DataError(f"holdout {holdout}: expected a share from 0 to below 1, e.g. 0.2")
    catalog = load_catalog()
    source = f"clerk decisions ({_database_label(store.url)})"
    rows: list[tuple[dict[str, Any], dict[str, str], list[str]]] = []
    skipped: list[str] = []
    for d in store.decisions():
        suggestion = store.get_letter(int(d["letter_id"])).get("suggestion")
        try:
            labels, given = decision_labels(d, suggestion, catalog)
        except DataError as exc:
            skipped.append(f"decision {d['id']} (letter {d['letter_id']}): {exc}; skipped")
            continue
        if not str(d.get("text") or "").strip():
            skipped.append(f"decision {d['id']} (letter {d['letter_id']}): the letter has no "
                           "text; skipped")
            continue
        rows.append((d, labels, given))
    rows.sort(key=lambda r: int(r[0]["id"]))
    n = len(rows)
    k = 0 if n < 5 or holdout == 0 else max(1, math.floor(n * holdout + 1e-9))
    train, held = _empty_decisions(source), _empty_decisions(source + " (held out)")
    train.skipped = skipped
    for i, (d, labels, given) in enumerate(rows):
        part = held if i >= n - k else train
        part.texts.append(str(d["text"]))
        part.titles.append(d.get("title") or None)
        part.ids.append(f"letter-{d['letter_id']}")
        for h in CORPUS_HEADS:
            part.labels[h].append(labels[h])
        part.extras["place"].append(None)
        part.extras["decision_id"].append(int(d["id"]))
        part.extras["letter_id"].append(int(d["letter_id"]))
        part.extras["given"].append(given)
    return train, held


def combine(corpus: Dataset, decisions: Dataset) -> Dataset:
    """The corpus with the clerks' decisions: the clerk wins.

    A decision letter whose normalized text equals a corpus letter's replaces that letter's
    labels; the other decision letters are appended. When ``decisions.extras["given"]`` says
    which heads the clerk stated, only those replace the corpus's labels (and subtype and
    agency too when the clerk changed the issue type), so the corpus's human labels are not
    overwritten by a suggestion's guesses. ``extras`` stay aligned (None where a letter has
    no value, e.g. the place of a decision letter).

    Raises
    ------
    DataError
        The decisions lack labels for one of the corpus's heads.
    """
    from triage.normalize import normalize_text

    heads = list(corpus.labels)
    missing = [h for h in heads if h not in decisions.labels]
    if missing and len(decisions):
        raise DataError(f"{decisions.source}: no labels for the heads {missing}")
    keys = list(dict.fromkeys([*corpus.extras, *decisions.extras]))
    out = Dataset(list(corpus.texts), list(corpus.titles),
                  {h: list(v) for h, v in corpus.labels.items()}, list(corpus.ids),
                  f"{corpus.source} + {decisions.source}",
                  skipped=[*corpus.skipped, *decisions.skipped],
                  extras={k: list(corpus.extras.get(k) or [None] * len(corpus))
                          for k in keys})
    where: dict[str, list[int]] = {}
    for i, text in enumerate(corpus.texts):
        where.setdefault(normalize_text(text), []).append(i)
    given_all = decisions.extras.get("given")
    for j, text in enumerate(decisions.texts):
        key = normalize_text(text)
        if key not in where:
            where[key] = [len(out.texts)]
            out.texts.append(text)
            out.titles.append(decisions.titles[j])
            out.ids.append(decisions.ids[j])
            for h in heads:
                out.labels[h].append(decisions.labels[h][j])
            for k in keys:
                values = decisions.extras.get(k)
                out.extras[k].append(values[j] if values else None)
            continue
        for i in where[key]:  # the clerk wins (and a later decision over an earlier one)
            replace = set(heads)
            if given_all is not None:
                replace = set(given_all[j])
                if "issue_type" in out.labels and (out.labels["issue_type"][i]
                                                   != decisions.labels["issue_type"][j]):
                    replace |= {"subtype", "agency"}
            for h in heads:
                if h in replace:
                    out.labels[h][i] = decisions.labels[h][j]
            for k in keys:
                values = decisions.extras.get(k)
                if values and values[j] is not None:
                    out.extras[k][i] = values[j]
    return out


def drop_overlap(data: Dataset, other: Dataset) -> tuple[Dataset, list[str]]:
    """``data`` without the letters whose normalized text is also in ``other``; their ids."""
    from triage.normalize import normalize_text

    seen = {normalize_text(t) for t in other.texts}
    keep = [i for i, t in enumerate(data.texts) if normalize_text(t) not in seen]
    out = Dataset([data.texts[i] for i in keep], [data.titles[i] for i in keep],
                  {h: [v[i] for i in keep] for h, v in data.labels.items()},
                  [data.ids[i] for i in keep], data.source, list(data.skipped),
                  {k: [v[i] for i in keep] for k, v in data.extras.items()})
    kept = set(keep)
    return out, [data.ids[i] for i in range(len(data)) if i not in kept]


@dataclass
class Letter:
    """An unlabelled letter of an input file (for similar, hotspots and bulk runs)."""

    id: str
    text: str
    title: str | None = None
    received: str | None = None  # ISO date, when the file has one
    row: int = 0


def _iso_date(value: Any) -> str | None:
    """A date cell as YYYY-MM-DD (accepts 2026-11-22, 2026/11/22, 2026.11.22, 20261122,
    2026年11月22日 and datetime cells); None when empty; ValueError when unreadable."""
    import datetime as dt
    import re

    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    m = re.fullmatch(r"\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?\s*", str(value))
    if not m:
        m = re.fullmatch(r"\s*(\d{4})(\d{2})(\d{2})\s*", str(value))
    if not m:
        raise ValueError(f"{value!r} is not a date (write it as YYYY-MM-DD)")
    return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()


def _rows_having(path: Path, needed: list[str | None],
                 more_options: str) -> tuple[list[tuple[int, dict[str, Any]]], set[str]]:
    """The rows and columns of a file that has every ``needed`` column (None: not needed);
    else an error naming what is missing and how to choose other columns."""
    rows, cols = _read_rows(path)
    missing = [c for c in needed if c and cols and c not in cols]
    if missing:
        raise DataError(f"{path}: no column {missing}; the file has {sorted(cols)} — "
                        f"choose columns with --text-col / --title-col / {more_options}")
    return rows, cols


def _text_of(rec: dict[str, Any], text_col: str) -> tuple[str, str | None]:
    """A row's text, and why the row cannot be used (None when it can)."""
    text = _cell(rec.get(text_col))
    reason = rec.get("__error__")
    return text, reason or (None if text else f"column '{text_col}' is empty")


def read_letters(path: str | Path, *, text_col: str = "text", title_col: str | None = None,
                 id_col: str | None = "id", date_col: str | None = None,
                 warn: bool = True) -> tuple[list[Letter], list[str]]:
    """Letters of a CSV / TSV / JSONL / XLSX file, or of a folder of .txt files.

    Returns the letters and the skipped rows' reasons ("file: row N: what; skipped"). A
    missing id column falls back to the row number; a missing date column is an error only
    when ``date_col`` was asked for by name.
    """
    path = Path(path)
    letters: list[Letter] = []
    skipped: list[str] = []
    if path.is_dir():
        for n, f in enumerate(sorted(path.rglob("*.txt")), start=1):
            try:
                text, _ = decode_bytes(f.read_bytes(), str(f))
            except (LetterError, OSError) as exc:
                skipped.append(f"{f}: {exc}; skipped")
                continue
            if not text.strip():
                skipped.append(f"{f}: empty; skipped")
                continue
            letters.append(Letter(id=str(f.relative_to(path)), text=text, row=n))
    else:
        rows, cols = _rows_having(path, [text_col, title_col, date_col], "--date-col")
        for n, rec in rows:
            text, reason = _text_of(rec, text_col)
            received = None
            if not reason and date_col:
                try:
                    received = _iso_date(rec.get(date_col))
                except ValueError as exc:
                    reason = f"column '{date_col}': {exc}"
            if reason:
                skipped.append(f"{path}: row {n}: {reason}; skipped")
                continue
            lid = _cell(rec.get(id_col)) if id_col and id_col in cols else ""
            letters.append(Letter(id=lid or str(n), text=text,
                                  title=_cell(rec.get(title_col)) or None if title_col else None,
                                  received=received, row=n))
    if warn:
        for line in skipped:
            print(line, file=sys.stderr)
    if not letters:
        raise DataError(f"{path}: no usable letters ({len(skipped)} skipped)")
    return letters, skipped

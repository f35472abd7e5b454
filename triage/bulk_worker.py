"""The work of a bulk run on one chunk of letters, the same in a local worker process and on
a Dask worker: the model is loaded once per process, the chunk is classified together.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass
from typing import Any

from triage.errors import LetterError
from triage.pipeline import Triage, normalize_letter
from triage.sources import RawLetter
from triage.writers import suggestion_row


@dataclass
class Chunk:
    """Consecutive letters of the input; ``index`` orders the parts."""

    index: int
    letters: list[RawLetter]


def chunk_signature(letters: list[RawLetter]) -> list[Any]:
    """What identifies a chunk's rows: how many, and the first and last row and id."""
    return [len(letters), letters[0].row, letters[0].id, letters[-1].row, letters[-1].id]


_models: dict[tuple[str, str | None], Triage] = {}
_served: dict[tuple[str, str | None], int] = {}
# spaCy keeps every new token string it meets (names, phone numbers: about 1 KB a letter): a
# process loads its model afresh after this many letters, so its memory stays bounded
RELOAD_AFTER = 100_000


def load_model(model_dir: str, corpus_dir: str | None = None) -> Triage:
    """This process's model for ``model_dir`` (a version folder), loaded once, with the
    extraction pipeline and the segmenter built."""
    key = (model_dir, corpus_dir)
    if key not in _models:
        from triage.segment import get_segmenter

        triage = Triage.load(model_dir, corpus_dir)
        triage.extractor  # noqa: B018 - build the spaCy pipeline now, not in the first chunk
        get_segmenter()
        _models[key] = triage
    return _models[key]


def warm_up(model_dir: str, corpus_dir: str | None = None) -> None:
    """Load the model in this process now (a Dask worker, before its first chunk)."""
    load_model(model_dir, corpus_dir)


def init_worker(model_dir: str, corpus_dir: str | None = None) -> None:
    """Initializer of a local worker process: Ctrl-C is the parent's to handle (it stops the
    workers), and the model is loaded before the first chunk arrives."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a failing initializer makes the pool start workers forever: the first chunk loads the
    # model again and reports the error instead
    with contextlib.suppress(Exception):
        load_model(model_dir, corpus_dir)


def classify_chunk(chunk: Chunk, model_dir: str, corpus_dir: str | None = None,
                   ) -> dict[str, Any]:
    """Suggestions for one chunk: ``{"chunk", "signature", "rows", "errors", "timings"}``.

    A letter that cannot be used (empty, undecodable, too long, not text) becomes an error
    row with its row number and the reason; the others are classified together.
    """
    triage = load_model(model_dir, corpus_dir)
    _count_letters((model_dir, corpus_dir), len(chunk.letters))
    limit = triage.catalog.policy.max_letter_chars
    start = time.perf_counter()
    kept: list[RawLetter] = []
    parts: list[tuple[str, str | None]] = []
    errors: list[dict[str, Any]] = []
    for letter in chunk.letters:
        try:
            if letter.error:
                raise LetterError(letter.error)
            parts.append(normalize_letter(letter.text, letter.title, max_chars=limit,
                                          where=f"row {letter.row}"))
            kept.append(letter)
        except LetterError as exc:
            errors.append({"row": letter.row, "id": letter.id, "reason": str(exc)})
    timings = {"normalize": time.perf_counter() - start}
    suggested = _suggest_all(triage, kept, parts, errors, timings)
    rows = [{"row": x.row, "id": x.id, **suggestion_row(s)} for x, s in suggested]
    errors.sort(key=lambda e: e["row"])
    return {"chunk": chunk.index, "signature": chunk_signature(chunk.letters), "rows": rows,
            "errors": errors, "timings": timings}


def _count_letters(key: tuple[str, str | None], n: int) -> None:
    """Count the letters a model has served; past ``RELOAD_AFTER`` it is dropped, to be
    loaded again for the next chunk."""
    _served[key] = _served.get(key, 0) + n
    if _served[key] >= RELOAD_AFTER:
        _models.pop(key, None)
        _served[key] = 0


def _suggest_all(triage: Triage, kept: list[RawLetter], parts: list[tuple[str, str | None]],
                 errors: list[dict[str, Any]], timings: dict[str, float]) -> list[Any]:
    """Suggest the chunk's letters together; should that fail, one by one, so that a letter
    the pipeline cannot handle is reported instead of stopping the run."""
    try:
        return list(zip(kept, triage.suggest_normalized(parts, timings=timings), strict=True))
    except Exception:  # noqa: BLE001 - find the letter below; it is reported, not lost
        out = []
        for letter, part in zip(kept, parts, strict=True):
            try:
                out.append((letter, triage.suggest_normalized([part], timings=timings)[0]))
            except Exception as exc:  # noqa: BLE001
                errors.append({"row": letter.row, "id": letter.id,
                               "reason": f"row {letter.row}: could not be classified "
                                         f"({type(exc).__name__}: {exc}); please report it"})
        return out

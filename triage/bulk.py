"""Bulk classification of a backlog: streamed, parallel, resumable, on one machine or a Dask
cluster.

    from triage.bulk import BulkJob, run_bulk
    run_bulk(BulkJob(Path("letters.csv"), Path("triaged.parquet")))

The input is read in chunks of ``chunk_size`` letters, in file order. Each chunk is classified
by :func:`triage.bulk_worker.classify_chunk` — in worker processes that load the model once
each (``local``), or as tasks on a Dask cluster (``dask``), the same function either way — and
its result becomes a part file of ``OUTPUT.parts/`` (:mod:`triage.bulk_parts`). A run that stops
(Ctrl-C, a kill, a crash) keeps its finished parts; ``resume`` reads the input again, skips the
chunks that have a part and classifies the others. When every chunk has its part, the parts
are joined in order into OUTPUT, the bad rows into ``OUTPUT.errors.csv`` and the summary into
``OUTPUT.report.html``, and the parts folder goes. Memory is bounded by the chunks in flight
(twice the workers), whatever the size of the input.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.bulk_engines import make_engine
from triage.bulk_parts import PartStore
from triage.bulk_report import RunStats, write_report
from triage.bulk_worker import Chunk, chunk_signature
from triage.catalog import load_catalog
from triage.errors import DataError
from triage.modelstore import MODEL_FILE, resolve_version, verify_version
from triage.sources import LetterSource, RawLetter
from triage.writers import XLSX_MAX_ROWS, ErrorWriter, TableWriter, output_format


@dataclass
class BulkJob:
    """What to classify, where to write it, and how.

    ``model`` is a store or a version folder (default: the store's current version);
    ``jobs`` the local worker processes (default: every core; 1 runs in this process);
    ``engine`` is ``local`` or ``dask`` (with ``scheduler``, ``tcp://HOST:PORT``).
    """

    input: Path
    output: Path
    text_col: str = "text"
    title_col: str | None = None
    id_col: str = "id"
    id_required: bool = False
    model: Path | None = None
    corpus_dir: Path | None = None
    jobs: int | None = None
    chunk_size: int = 500
    resume: bool = False
    engine: str = "local"
    scheduler: str | None = None


@dataclass
class BulkSummary:
    """What a finished run did."""

    letters: int
    classified: int
    errors: int
    seconds: float
    output: Path
    errors_path: Path
    report_path: Path
    model_version: str
    resumed_letters: int = 0
    slowest_stage: str = ""
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Letters per second in this run (letters of resumed chunks not counted)."""
        done = self.letters - self.resumed_letters
        return done / self.seconds if self.seconds > 0 else 0.0


def chunks_of(letters: Iterator[RawLetter], size: int) -> Iterator[Chunk]:
    """Consecutive chunks of ``size`` letters (the last may be shorter)."""
    batch: list[RawLetter] = []
    index = 0
    for letter in letters:
        batch.append(letter)
        if len(batch) == size:
            yield Chunk(index, batch)
            index, batch = index + 1, []
    if batch:
        yield Chunk(index, batch)


def _progress_bar(total: int | None) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit=" letters", dynamic_ncols=True, disable=None,
                file=sys.stderr, smoothing=0.05)


def run_bulk(job: BulkJob, log: Callable[[str], None] | None = None) -> BulkSummary:
    """Classify every letter of ``job.input`` into ``job.output`` (see the module docstring).

    Raises
    ------
    DataError
        The input cannot be read or lacks a named column, the output's extension is
        unknown, or a resumed run's options or input changed.
    ModelError
        No usable model.
    """
    say = log or (lambda m: print(m, file=sys.stderr))
    source, parts, version, model_dir = _prepare(job, say)
    started = time.perf_counter()
    engine = make_engine(job.engine, job.jobs, job.scheduler, model_dir,
                         str(job.corpus_dir) if job.corpus_dir else None)
    chunks, resumed, read_seconds = _classify(job, source, parts, engine)
    summary = _assemble(job, parts, chunks, version, read_seconds,
                        time.perf_counter() - started, resumed)
    earlier = f" ({resumed:,} from the interrupted run)" if resumed else ""
    say(f"{summary.letters:,} letters{earlier}: {summary.classified:,} classified, "
        f"{summary.errors:,} bad rows (in {summary.errors_path.name}); {summary.rate:,.1f} "
        f"letters/s; slowest stage: {summary.slowest_stage}; report: "
        f"{summary.report_path.name}")
    return summary


def _prepare(job: BulkJob, say: Callable[[str], None],
             ) -> tuple[LetterSource, PartStore, str, str]:
    """Check the output, the input and the model; open the parts folder (a new run, or the
    interrupted one with ``resume``). Returns the source, the parts, the model version (the
    interrupted run's when continuing it) and its folder."""
    output_format(job.output)
    if job.chunk_size < 1:
        raise DataError(f"--chunk-size {job.chunk_size}: expected 1 or more letters")
    limit = load_catalog(job.corpus_dir).policy.max_letter_chars
    source = LetterSource(job.input, text_col=job.text_col, title_col=job.title_col,
                          id_col=job.id_col, id_required=job.id_required, max_chars=limit)
    store, version = resolve_version(job.model)
    explicit = job.model is not None and (Path(job.model) / MODEL_FILE).is_file()
    parts = PartStore(job.output)
    continued = parts.open(job, version, source.fingerprint(), explicit)
    if continued != version:
        say(f"resuming with the model the run started with, {continued} (current: {version})")
    verify_version(store, continued)
    return source, parts, continued, str((store / continued).resolve())


def _classify(job: BulkJob, source: LetterSource, parts: PartStore,
              engine: Any) -> tuple[int, int, float]:
    """Read the input in chunks, skip the finished ones, classify the others; returns the
    number of chunks, the letters of finished chunks and the seconds spent reading."""
    read_seconds, resumed, chunks = 0.0, 0, 0
    with engine, _progress_bar(source.total()) as bar, _ctrl_c() as stopped:
        it = chunks_of(iter(source), job.chunk_size)
        while True:
            if stopped.is_set():
                raise KeyboardInterrupt
            t0 = time.perf_counter()
            chunk = next(it, None)
            read_seconds += time.perf_counter() - t0
            if chunk is None:
                break
            chunks += 1
            if parts.has(chunk.index, chunk_signature(chunk.letters)):
                resumed += len(chunk.letters)
                bar.update(len(chunk.letters))
                continue
            engine.submit(chunk)
            while engine.busy() and not stopped.is_set():
                _keep(parts, engine.wait(), bar, source)
        while engine.pending():
            if stopped.is_set():
                raise KeyboardInterrupt
            _keep(parts, engine.wait(), bar, source)
        bar.total = bar.n  # the estimate gives way to the count
        bar.refresh()
    if chunks == 0:
        parts.remove()
        raise DataError(f"{job.input}: no letters in it")
    return chunks, resumed, read_seconds


@contextmanager
def _ctrl_c() -> Iterator[threading.Event]:
    """Ctrl-C during a run: raise KeyboardInterrupt at once, and also remember it.

    Python raises KeyboardInterrupt wherever the main thread is; when that is a finalizer run
    by the garbage collector, the exception is printed as "ignored" and the run went on to
    the end as if nothing had happened (seen once in a test: exit 0 instead of 130). The run's
    loop checks the event between chunks, so a Ctrl-C is never lost.

    A run started with SIGINT ignored (in the background of a script, ``… &``) keeps ignoring
    it, as Python itself does: Ctrl-C at the terminal is not meant for it."""
    stopped = threading.Event()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        yield stopped
        return

    def on_sigint(signum: int, frame: Any) -> None:
        stopped.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGINT, previous)


def _keep(parts: PartStore, result: dict[str, Any], bar: Any, source: LetterSource) -> None:
    """Store a finished chunk and move the progress bar (its total may be an estimate)."""
    parts.write(result)
    bar.update(len(result["rows"]) + len(result["errors"]))
    total = source.total()
    if total and total != bar.total:
        bar.total = total
        bar.refresh()


def _assemble(job: BulkJob, parts: PartStore, chunks: int, version: str, read_seconds: float,
              seconds: float, resumed: int) -> BulkSummary:
    """Join the parts in order into the output, the errors file and the report."""
    stats = RunStats()
    stats.add_timings({"read": read_seconds})
    errors_path = Path(f"{job.output}.errors.csv")
    report_path = Path(f"{job.output}.report.html")
    if output_format(job.output) == "xlsx" and parts.count_rows() > XLSX_MAX_ROWS:
        raise DataError(f"{job.output}: {parts.count_rows():,} letters do not fit in one XLSX "
                        f"sheet ({XLSX_MAX_ROWS:,} rows); write .csv or .parquet instead")
    tmp = job.output.with_name(f".{job.output.stem}.tmp{job.output.suffix}")
    start = time.perf_counter()
    with TableWriter(tmp, job.id_col) as table, ErrorWriter(errors_path) as bad:
        for header, rows, errors in parts.read_all(chunks):
            table.write([{job.id_col: r["id"], **r} for r in rows])
            bad.write(errors)
            stats.add(rows, errors, header.get("timings") or {})
    os.replace(tmp, job.output)
    stats.add_timings({"write": time.perf_counter() - start + parts.write_seconds})
    summary = BulkSummary(letters=stats.letters, classified=stats.classified,
                          errors=stats.errors, seconds=seconds, output=job.output,
                          errors_path=errors_path, report_path=report_path,
                          model_version=version, resumed_letters=resumed,
                          slowest_stage=stats.slowest(), stages=dict(stats.stages))
    write_report(report_path, stats, {
        "input": job.input.name, "output": job.output.name, "model version": version,
        "engine": job.engine if job.engine == "dask" else f"local, {job.jobs or 'all'} jobs",
        "wall time": f"{seconds:,.1f} s",
        "letters per second": f"{summary.rate:,.1f}" + (
            f" ({resumed:,} letters came from the interrupted run)" if resumed else "")})
    parts.remove()
    return summary

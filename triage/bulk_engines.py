"""Where a bulk run's chunks are classified: in this process, in local worker processes, or
on a Dask cluster. Each engine takes chunks (``submit``) while it is not ``busy`` — twice as
many in flight as it has workers — and hands back finished results in any order (``wait``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from triage.bulk_worker import Chunk, classify_chunk, init_worker, load_model, warm_up
from triage.errors import TriageError


def default_jobs() -> int:
    """Every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class InProcessEngine:
    """Classifies each chunk in this process when it is submitted (``--jobs 1``)."""

    def __init__(self, model_dir: str, corpus_dir: str | None) -> None:
        self.args = (model_dir, corpus_dir)
        self.results: deque[dict[str, Any]] = deque()

    def __enter__(self) -> InProcessEngine:
        load_model(*self.args)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, chunk: Chunk) -> None:
        self.results.append(classify_chunk(chunk, *self.args))

    def busy(self) -> bool:
        return bool(self.results)

    def pending(self) -> bool:
        return bool(self.results)

    def wait(self) -> dict[str, Any]:
        return self.results.popleft()


class PoolEngine:
    """Worker processes started fresh (``spawn``: no inherited threads or locks), each loading
    the model once in its initializer. A worker that dies (out of memory, killed) stops the
    run with an error instead of losing its chunk; Ctrl-C or an error stops them at once."""

    def __init__(self, jobs: int, model_dir: str, corpus_dir: str | None) -> None:
        self.jobs = jobs
        self.args = (model_dir, corpus_dir)
        self.futures: set[Future[dict[str, Any]]] = set()

    def __enter__(self) -> PoolEngine:
        self.pool = ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context(
            "spawn"), initializer=init_worker, initargs=self.args)
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.pool.shutdown(wait=True)
            return
        workers = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:  # they ignore Ctrl-C and would finish their chunk first
            process.terminate()

    def submit(self, chunk: Chunk) -> None:
        self.futures.add(self.pool.submit(classify_chunk, chunk, *self.args))

    def busy(self) -> bool:
        return len(self.futures) >= 2 * self.jobs

    def pending(self) -> bool:
        return bool(self.futures)

    def wait(self) -> dict[str, Any]:
        done, _ = wait(self.futures, return_when=FIRST_COMPLETED)
        future = done.pop()
        self.futures.discard(future)
        try:
            return dict(future.result())
        except BrokenProcessPool as exc:
            raise TriageError("a worker process died (out of memory, or killed); the finished "
                              "chunks are kept: run the same command with --resume, perhaps "
                              "with fewer --jobs") from exc


class DaskEngine:
    """Tasks on a Dask cluster: :func:`classify_chunk` per chunk, the model loaded once per
    worker process from ``model_dir``, which every worker must be able to read."""

    def __init__(self, scheduler: str, model_dir: str, corpus_dir: str | None) -> None:
        self.scheduler = scheduler
        self.args = (model_dir, corpus_dir)

    def __enter__(self) -> DaskEngine:
        from distributed import Client, as_completed

        try:
            self.client = Client(self.scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise TriageError(f"--scheduler {self.scheduler}: no Dask scheduler answers there "
                              f"({exc}); start one with `dask scheduler` and its workers with "
                              f"`dask worker {self.scheduler}`") from exc
        self.client.run(warm_up, *self.args)  # every worker loads the model now, once
        self.capacity = 2 * max(sum(self.client.nthreads().values()), 1)
        self.futures = as_completed()
        self.in_flight = 0
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.client.cancel(list(self.futures.futures))
        self.client.close()

    def submit(self, chunk: Chunk) -> None:
        self.futures.add(self.client.submit(classify_chunk, chunk, *self.args, pure=False))
        self.in_flight += 1

    def busy(self) -> bool:
        return self.in_flight >= self.capacity

    def pending(self) -> bool:
        return self.in_flight > 0

    def wait(self) -> dict[str, Any]:
        future = next(self.futures)
        self.in_flight -= 1
        result = future.result()
        future.release()
        return dict(result)


def make_engine(engine: str, jobs: int | None, scheduler: str | None, model_dir: str,
                corpus_dir: str | None) -> Any:
    """The engine a run asked for; TriageError for an unknown one or a missing scheduler."""
    if engine == "dask":
        if not scheduler:
            raise TriageError("--engine dask needs --scheduler tcp://HOST:PORT, the address "
                              "of a running Dask scheduler")
        return DaskEngine(scheduler, model_dir, corpus_dir)
    if engine != "local":
        raise TriageError(f"--engine {engine!r}: expected 'local' or 'dask'")
    n = jobs or default_jobs()
    if n < 1:
        raise TriageError(f"--jobs {n}: expected 1 or more worker processes")
    return InProcessEngine(model_dir, corpus_dir) if n == 1 else PoolEngine(n, model_dir,
                                                                            corpus_dir)

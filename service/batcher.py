"""Micro-batching of suggestions: concurrent requests in one worker process are suggested
together with ``Triage.suggest_many`` (one vectorizer and classifier pass, one spaCy
``pipe``), which costs far less per letter than one ``suggest`` each. Nothing waits to fill a
batch: a batch is whatever queued while the previous one ran, so a lone request goes straight
through and a busy service batches by itself."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from triage import Suggestion, Triage
from triage.pipeline import normalize_letter

log = logging.getLogger("triage.service")


@dataclass
class _Job:
    triage: Triage
    text: str
    title: str | None
    received: dt.date | None
    future: Future[Suggestion] = field(default_factory=Future)


class Batcher:
    def __init__(self, max_batch: int = 32) -> None:
        self.max_batch = max(1, max_batch)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.letters = 0

    def suggest(self, triage: Triage, text: str, title: str | None = None,
                received: dt.date | None = None) -> Suggestion:
        """Like ``triage.suggest``; a bad letter raises its ``LetterError`` here, at once."""
        normalize_letter(text, title, max_chars=triage.catalog.policy.max_letter_chars)
        job = _Job(triage, text, title, received)
        self._start()
        self._queue.put(job)
        return job.future.result()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name="suggest-batcher")
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:  # close(): this batcher is done
                return
            self._run_batch(first)
            del first  # waiting for the next letter must not keep this one's model alive

    def _run_batch(self, first: _Job) -> None:
        """One batch: ``first`` and whatever queued behind it (a frame of its own, so that no
        job, and no model, stays referenced once it is answered)."""
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:  # close() while letters were waiting: answer them, then stop
                self._queue.put(None)
                break
            batch.append(job)
        by_model: dict[int, list[_Job]] = {}
        for job in batch:  # a promotion may land mid-batch: each job keeps its model
            by_model.setdefault(id(job.triage), []).append(job)
        for jobs in by_model.values():
            self._suggest(jobs)

    def close(self) -> None:
        """Stop the batching thread once the letters already queued are answered."""
        self._queue.put(None)

    def _suggest(self, jobs: list[_Job]) -> None:
        try:
            out = jobs[0].triage.suggest_many([j.text for j in jobs], [j.title for j in jobs],
                                              [j.received for j in jobs])
        except Exception:  # noqa: BLE001 — find the letter at fault, answer the rest
            for job in jobs:
                try:
                    job.future.set_result(job.triage.suggest(job.text, job.title,
                                                             job.received))
                except Exception as exc:  # noqa: BLE001 — handed to the request's thread
                    job.future.set_exception(exc)
            return
        self.batches += 1
        self.letters += len(jobs)
        for job, sugg in zip(jobs, out, strict=True):
            job.future.set_result(sugg)

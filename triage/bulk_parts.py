"""The parts folder of a bulk run, ``OUTPUT.parts/``: what makes a run resumable.

``job.json`` records the run's options, input and model version; each finished chunk is one
``chunk-NNNNNNN.jsonl`` file — a header line (chunk, signature, counts, stage timings), then
its result rows, then its bad rows — written to a temporary name, synced and renamed, so a part
is either whole or absent whatever stops the run. A resumed run checks that the options, the
input and each skipped chunk's rows (count, first and last row and id) are those of the run it
continues, so no row goes missing and none is written twice.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from triage.errors import DataError
from triage.modelstore import write_json_atomic

MANIFEST = "job.json"
SETTINGS = ("text_col", "title_col", "id_col", "chunk_size")


class PartStore:
    """The finished chunks of a run writing ``output``."""

    def __init__(self, output: Path) -> None:
        self.dir = output.with_name(output.name + ".parts")
        self.done: dict[int, list[Any]] = {}
        self.rows: dict[int, int] = {}
        self.write_seconds = 0.0

    def open(self, job: Any, version: str, fingerprint: dict[str, Any],
             explicit_version: bool) -> str:
        """Start a run, or continue the interrupted one with ``job.resume``.

        Returns the model version to use: the interrupted run's when continuing one.

        Raises
        ------
        DataError
            Parts of another run are there without ``resume``, or the options, the input or
            an explicitly chosen model differ from the interrupted run's.
        """
        settings = {k: getattr(job, k) for k in SETTINGS}
        path = self.dir / MANIFEST
        if not any(self.dir.glob("chunk-*.jsonl")):  # nothing finished: start afresh
            self.dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, {"settings": settings, "input": fingerprint,
                                     "model_version": version})
            return version
        if not job.resume:
            raise DataError(f"{self.dir}: an interrupted run's results are here; add --resume "
                            "to continue it, or delete the folder to start over")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: cannot read the interrupted run's record ({exc}); delete "
                            f"{self.dir} to start over") from exc
        redo = f"run with the same options, or delete {self.dir} to start over"
        for key, value in settings.items():
            if manifest["settings"].get(key) != value:
                raise DataError(f"--resume: the interrupted run used {key}="
                                f"{manifest['settings'].get(key)!r}, this one {value!r}; {redo}")
        if manifest.get("input") != fingerprint:
            raise DataError(f"--resume: {job.input} is not the file the interrupted run read "
                            f"(then {manifest.get('input')}, now {fingerprint}); {redo}")
        recorded = str(manifest["model_version"])
        if explicit_version and recorded != version:
            raise DataError(f"--resume: the interrupted run used model {recorded}, not "
                            f"{version}; {redo}")
        self._load_done()
        return recorded

    def _load_done(self) -> None:
        for part in sorted(self.dir.glob("chunk-*.jsonl")):
            try:
                with open(part, encoding="utf-8") as fh:
                    header = json.loads(fh.readline())
                self.done[int(header["chunk"])] = list(header["signature"])
                self.rows[int(header["chunk"])] = int(header["rows"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{part}: not a part written by `triage bulk` ({exc!r}); "
                                f"delete {self.dir} to start over") from exc

    def has(self, index: int, signature: list[Any]) -> bool:
        """Whether chunk ``index`` is finished; DataError when its rows are not the same."""
        if index not in self.done:
            return False
        if self.done[index] != signature:
            raise DataError(f"--resume: chunk {index} held rows {self.done[index][1:]} and now "
                            f"holds {signature[1:]}: the input changed since the run was "
                            f"interrupted; delete {self.dir} to start over")
        return True

    def write(self, result: dict[str, Any]) -> None:
        """Store one chunk's result atomically."""
        start = time.perf_counter()
        index = int(result["chunk"])
        name = f"chunk-{index:07d}.jsonl"
        tmp = self.dir / f".{name}.tmp"
        header = {"chunk": index, "signature": result["signature"], "rows": len(result["rows"]),
                  "errors": len(result["errors"]), "timings": result["timings"]}
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(x, ensure_ascii=False) + "\n"
                          for x in [header, *result["rows"], *result["errors"]])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / name)
        self.done[index] = result["signature"]
        self.rows[index] = len(result["rows"])
        self.write_seconds += time.perf_counter() - start

    def read_all(self, chunks: int) -> Iterator[tuple[dict[str, Any], list[Any], list[Any]]]:
        """(header, rows, bad rows) of every chunk in order; DataError if one is missing."""
        extra = sorted(i for i in self.done if i >= chunks)
        missing = [i for i in range(chunks) if i not in self.done]
        if extra or missing:
            raise DataError(f"{self.dir}: chunks {missing or extra} do not match the input's "
                            f"{chunks} chunks; delete the folder and run again")
        for index in range(chunks):
            with open(self.dir / f"chunk-{index:07d}.jsonl", encoding="utf-8") as fh:
                header = json.loads(fh.readline())
                lines = [json.loads(line) for line in fh]
            n = int(header["rows"])
            yield header, lines[:n], lines[n:]

    def count_rows(self) -> int:
        return sum(self.rows.values())

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

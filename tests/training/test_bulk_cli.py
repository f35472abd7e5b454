"""`triage bulk` as an operator runs it: a real process on real files, stopped by SIGKILL or
Ctrl-C and resumed, or sent to a Dask cluster — each time the same rows as one whole run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

N_LETTERS, CHUNK = 600, 10


def command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "training.cli", "bulk", *args]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(args), capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def backlog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 corpus letters with ids and titles, as a GB18030 CSV, and two bad rows."""
    letters = []
    for f in sorted((ROOT / "corpus" / "letters" / "train").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                letters.append([r["id"], r.get("title") or "", r["text"]])
    letters = letters[:: len(letters) // N_LETTERS][:N_LETTERS - 2]
    letters[100:100] = [["blank", "", "  "]]
    letters[400:400] = [["tags-only", "", "<br><p></p>"]]
    path = tmp_path_factory.mktemp("backlog") / "backlog.csv"
    with open(path, "w", encoding="gb18030", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "title", "text"])
        out.writerows(letters)
    return path


@pytest.fixture(scope="module")
def whole_run(backlog: Path, model_store: Path) -> Path:
    """The backlog classified in one uninterrupted run."""
    out = backlog.with_name("whole.csv")
    env = {**os.environ, "TRIAGE_MODEL_STORE": str(model_store)}
    res = run([str(backlog), "--out", str(out), "--title-col", "title", "--jobs", "2",
               "--chunk-size", str(CHUNK)], env)
    assert res.returncode == 0, res.stderr
    return out


def test_cli_bulk_writes_rows_errors_and_report(whole_run: Path) -> None:
    out = rows(whole_run)
    assert len(out) == N_LETTERS - 2 and len({r["id"] for r in out}) == N_LETTERS - 2
    errors = rows(Path(f"{whole_run}.errors.csv"))
    assert [e["id"] for e in errors] == ["blank", "tags-only"]
    assert all(e["row"].isdigit() and e["reason"] for e in errors)
    assert "need review" in Path(f"{whole_run}.report.html").read_text(encoding="utf-8")
    assert not Path(f"{whole_run}.parts").exists()


def stop_midway(args: list[str], env: dict[str, str], parts: Path, sig: int,
                ) -> tuple[int, str]:
    """Start a run and send ``sig`` to its process group once a few chunks are done; its
    exit status and standard error."""
    # Ctrl-C as in a terminal, even when the tests run in the background (SIGINT ignored)
    proc = subprocess.Popen(command(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while len(list(parts.glob("chunk-*.jsonl"))) < 3:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no chunk finished in 300 s"
        time.sleep(0.02)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_cli_bulk_resumes_a_stopped_run_row_for_row(backlog: Path, whole_run: Path,
                                                    model_store: Path, tmp_path: Path,
                                                    sig: int) -> None:
    out = tmp_path / "resumed.csv"
    parts = Path(f"{out}.parts")
    env = {**os.environ, "TRIAGE_MODEL_STORE": str(model_store)}
    args = [str(backlog), "--out", str(out), "--title-col", "title", "--jobs", "2",
            "--chunk-size", str(CHUNK)]
    status, err = stop_midway(args, env, parts, sig)
    if sig == signal.SIGINT:  # Ctrl-C: a clean stop that says how to go on
        assert status == 130 and "--resume" in err
    else:
        assert status == -signal.SIGKILL
    finished = len(list(parts.glob("chunk-*.jsonl")))
    assert not out.exists() and 3 <= finished < N_LETTERS // CHUNK
    res = run([*args, "--resume"], env)
    assert res.returncode == 0, res.stderr
    assert "from the interrupted run" in res.stderr
    assert rows(out) == rows(whole_run)
    assert rows(Path(f"{out}.errors.csv")) == rows(Path(f"{whole_run}.errors.csv"))


def test_cli_bulk_dask_cluster_equals_local(backlog: Path, whole_run: Path, model_store: Path,
                                            tmp_path: Path) -> None:
    from distributed import LocalCluster

    out = tmp_path / "dask.csv"
    env = {**os.environ, "TRIAGE_MODEL_STORE": str(model_store)}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        res = run([str(backlog), "--out", str(out), "--title-col", "title", "--chunk-size",
                   str(CHUNK), "--engine", "dask", "--scheduler", cluster.scheduler_address],
                  env)
    assert res.returncode == 0, res.stderr
    assert rows(out) == rows(whole_run)
    assert rows(Path(f"{out}.errors.csv")) == rows(Path(f"{whole_run}.errors.csv"))


@pytest.mark.parametrize(("args", "message"), [
    (["missing.csv", "--out", "o.csv"], "no such file"),
    (["{backlog}", "--out", "o.doc"], "cannot write .doc"),
    (["{backlog}", "--out", "o.csv", "--engine", "dask"], "needs --scheduler"),
    (["{backlog}", "--out", "o.csv", "--text-col", "内容"], "no column ['内容']"),
])
def test_cli_bulk_errors_are_clear(backlog: Path, model_store: Path, tmp_path: Path,
                                   args: list[str], message: str) -> None:
    env = {**os.environ, "TRIAGE_MODEL_STORE": str(model_store)}
    args = [a.format(backlog=backlog) for a in args]
    args[2] = str(tmp_path / args[2])
    res = run(args, env)
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr

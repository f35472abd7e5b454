"""Bulk throughput: `triage bulk` next to a naive one-process baseline, same letters, same run.

    .venv/bin/python bench/bulk.py [--n 100000] [--input F --text-col text --title-col title]
                                   [--jobs N] [--baseline-n 3000] [--check 1000]

Letters are generated from corpus/letters/train (sentences recombined, mean 400 characters,
seeded) unless --input names a file. `triage bulk` runs as its own process on all of them
(its start-up, reading and writing included). The naive baseline is one process: normalize +
`jieba.lcut` + the fitted model's `predict`, letter by letter; at about 30 letters/s it runs on
the first --baseline-n letters of the same input (0: all of them). Peak memory is the largest
resident size of each process tree, sampled every 0.1 s. Then --check letters are suggested
one by one, as `triage suggest` does, and every column is compared with the bulk output.

Needs a model (`make model`; TRIAGE_MODEL_STORE or models/). Speed is never asserted in
tests; this prints figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]*")


def generate(n: int, path: Path, seed: int = 0, mean: int = 400) -> None:
    """Write ``n`` letters (id, title, text) made of corpus sentences, ``mean`` characters on
    average (uniform from half to one and a half times that)."""
    from training.data import read_corpus

    corpus = read_corpus("train")
    sentences = [s.strip() for t in corpus.texts for s in _SENTENCE.findall(t) if s.strip()]
    titles = [t for t in corpus.titles if t]
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "title", "text"])
        for i in range(n):
            want = rng.randint(mean // 2, mean * 3 // 2)
            parts: list[str] = []
            while sum(map(len, parts)) < want:
                parts.append(rng.choice(sentences))
            title = rng.choice(titles) if rng.random() < 0.5 else ""
            out.writerow([f"b{i:07d}", title, "".join(parts)])


class PeakMemory:
    """Largest summed resident size of a process and its descendants (Linux /proc)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        pids, i = [self.pid], 0
        while i < len(pids):
            try:
                for task in os.listdir(f"/proc/{pids[i]}/task"):
                    with open(f"/proc/{pids[i]}/task/{task}/children") as fh:
                        pids += [int(p) for p in fh.read().split()]
            except OSError:
                pass
            i += 1
        return pids

    def _rss(self, pid: int) -> int:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, sum(self._rss(p) for p in self._tree()))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def timed(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak memory and stdout of a command (it must succeed)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    mem = PeakMemory(proc.pid)
    out, err = proc.communicate()
    seconds, peak = time.perf_counter() - start, mem.stop()
    if proc.returncode:
        sys.exit(f"{' '.join(cmd[:4])} … failed:\n{err.decode()[-2000:]}")
    return seconds, peak, out.decode()


def read_letters(path: Path, text_col: str, title_col: str | None, limit: int) -> list:
    from triage.sources import LetterSource

    out = []
    for x in LetterSource(path, text_col=text_col, title_col=title_col):
        if len(out) == limit:
            break
        out.append(x)
    return out


def baseline(args: argparse.Namespace) -> None:
    """The naive baseline (run in its own process): one letter at a time."""
    import jieba

    from triage import Triage
    from triage.normalize import normalize_text

    clf = Triage.load().classifier
    letters = [x for x in read_letters(Path(args.input), args.text_col, args.title_col,
                                       args.baseline_n or 10**12) if not x.error]
    jieba.initialize()
    start = time.perf_counter()
    for x in letters:
        text = normalize_text("\n".join(p for p in (x.title, x.text) if p))
        jieba.lcut(text)
        clf.predict([text])
    print(json.dumps({"letters": len(letters), "seconds": time.perf_counter() - start}))


def check(args: argparse.Namespace, output: Path) -> tuple[int, int]:
    """(letters compared, letters whose columns differ) between bulk and one-by-one suggest."""
    from triage import Triage
    from triage.writers import COLUMNS, suggestion_row

    triage = Triage.load()
    with open(output, encoding="utf-8", newline="") as fh:
        bulk = {r["id"]: r for r in csv.DictReader(fh)}
    letters = [x for x in read_letters(Path(args.input), args.text_col, args.title_col,
                                       args.check) if not x.error]
    differ = 0
    for x in letters:
        row = suggestion_row(triage.suggest(x.text, title=x.title))
        flat = {c: ",".join(v) if isinstance(v, list) else "" if v is None else str(v)
                for c, v in row.items()}
        differ += any(flat[c] != bulk[x.id][c] for c in COLUMNS)
    for x in letters[:3]:  # and the command itself, end to end
        cmd = [sys.executable, "-m", "training.cli", "suggest", x.text]
        top = json.loads(subprocess.run(cmd + (["--title", x.title] if x.title else []),
                                        cwd=ROOT, capture_output=True, check=True).stdout)
        differ += top["issue_type"][0]["id"] != bulk[x.id]["issue_type"]
    return len(letters), differ


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="letters to generate")
    ap.add_argument("--input", help="use this file instead of generated letters")
    ap.add_argument("--text-col", default="text")
    ap.add_argument("--title-col", default="title")
    ap.add_argument("--jobs", type=int, default=None, help="triage bulk --jobs")
    ap.add_argument("--baseline-n", type=int, default=3000,
                    help="letters for the naive baseline (0: all)")
    ap.add_argument("--check", type=int, default=1000, help="letters to compare one by one")
    ap.add_argument("--run-baseline", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_baseline:
        baseline(args)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    if not args.input:
        args.input = str(work / "letters.csv")
        generate(args.n, Path(args.input))
    letters = read_letters(Path(args.input), args.text_col, args.title_col, 10**12)
    n, chars = len(letters), sum(len(x.text) for x in letters)
    del letters
    out = work / "triaged.csv"
    cmd = [sys.executable, "-m", "training.cli", "bulk", args.input, "--out", str(out),
           "--text-col", args.text_col, "--title-col", args.title_col]
    bulk_s, bulk_mem, _ = timed(cmd + (["--jobs", str(args.jobs)] if args.jobs else []))
    base_cmd = [sys.executable, str(Path(__file__).resolve()), "--run-baseline", "--input",
                args.input, "--text-col", args.text_col, "--title-col", args.title_col,
                "--baseline-n", str(args.baseline_n)]
    _, base_mem, base_out = timed(base_cmd)
    base = json.loads(base_out)
    compared, differ = check(args, out)
    bulk_rate, base_rate = n / bulk_s, base["letters"] / base["seconds"]
    print(f"input: {n:,} letters, mean {chars / max(n, 1):.0f} characters"
          + (" (generated from corpus/letters/train)" if not args.input.startswith(
              str(ROOT)) and "bench-bulk-" in args.input else ""))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"triage bulk (--jobs {args.jobs or 'all cores'}): {n:,} letters in {bulk_s:.1f} s "
          f"= {bulk_rate:.1f} letters/s (start-up included); peak memory "
          f"{bulk_mem / 2**30:.2f} GiB, all processes")
    print(f"naive baseline (one process: normalize + jieba.lcut + predict, letter by letter) "
          f"on the first {base['letters']:,}: {base_rate:.1f} letters/s; peak memory "
          f"{base_mem / 2**30:.2f} GiB")
    print(f"ratio: {bulk_rate / base_rate:.2f}x")
    print(f"bulk output vs one-by-one suggest on {compared:,} letters: "
          + ("identical" if not differ else f"{differ} DIFFER"))


if __name__ == "__main__":
    main()

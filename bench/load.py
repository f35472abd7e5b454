"""Load test of the service on loopback, next to the in-process suggestion time.

Starts `triage serve` on a free loopback port with a fresh SQLite store, then for each
concurrency level drives it for a fixed time with a mix of requests (POST /suggest, POST
/letters, GET /queue, POST /letters/{id}/decision) and prints requests/s, p50/p95/p99 latency
and errors per level. In the same run it measures `Triage.suggest` in process, one letter at a
time, so the HTTP overhead reads as a ratio (p99 / in-process single-letter time).

    .venv/bin/python bench/load.py                       # levels 1 8 32 64, 15 s each
    .venv/bin/python bench/load.py --levels 1 32 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MIX = (("suggest", 0.4), ("register", 0.3), ("queue", 0.15), ("decide", 0.15))


def letters(n: int) -> list[str]:
    from training.data import read_corpus

    data = read_corpus("test")
    rng = random.Random(7)
    return rng.sample(data.texts, min(n, len(data.texts)))


def in_process(texts: list[str], model: str | None) -> dict[str, float]:
    from triage import Triage

    triage = Triage.load(model)
    for t in texts[:5]:
        triage.suggest(t)  # warm up (spaCy pipeline, caches)
    times = []
    for t in texts:
        start = time.perf_counter()
        triage.suggest(t)
        times.append(time.perf_counter() - start)
    return {"mean": statistics.fmean(times), "p50": statistics.median(times),
            "per_s": len(times) / sum(times)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def drive(base: str, token: str, texts: list[str], clients: int,
                seconds: float) -> dict[str, object]:
    lat: list[float] = []
    by_op: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    undecided: list[int] = []
    stop = time.monotonic() + seconds
    rng = random.Random(clients)
    names, weights = zip(*MIX, strict=True)

    async def one(c: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            op = rng.choices(names, weights)[0]
            text = rng.choice(texts)
            start = time.perf_counter()
            try:
                if op == "suggest":
                    r = await c.post("/suggest", json={"text": text})
                elif op == "register":
                    r = await c.post("/letters", json={"text": text})
                    if r.status_code == 201:
                        undecided.append(r.json()["id"])
                elif op == "queue":
                    r = await c.get("/queue", params={"limit": 20})
                else:
                    if not undecided:
                        continue
                    lid = undecided.pop(rng.randrange(len(undecided)))
                    r = await c.post(f"/letters/{lid}/decision", json={"action": "confirm"},
                                     headers={"Idempotency-Key": f"load-{lid}"})
                ok = r.status_code // 100 == 2
                key = f"{op} {r.status_code}"
            except httpx.HTTPError as exc:
                ok, key = False, f"{op} {type(exc).__name__}"
            lat.append(time.perf_counter() - start)
            by_op.setdefault(op, []).append(lat[-1])
            if not ok:
                errors[key] = errors.get(key, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits,
                                 headers={"Authorization": f"Bearer {token}"}) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(c) for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return {"clients": clients, "requests": len(lat), "rps": len(lat) / elapsed,
            "p50": pct(lat, 0.50), "p95": pct(lat, 0.95), "p99": pct(lat, 0.99),
            "errors": sum(errors.values()), "error_kinds": errors,
            "p99_by_op": {op: pct(v, 0.99) for op, v in sorted(by_op.items())}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32, 64])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--letters", type=int, default=200)
    ap.add_argument("--model", help="model store (default $TRIAGE_MODEL_STORE or models/)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    texts = letters(args.letters)
    base_line = in_process(texts[:100], args.model)
    from service.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="triage-load-"))
    url = f"sqlite:///{tmp / 'load.db'}"
    store = Store(url)
    store.add_user("load", "load-pass-1", "admin")
    token = store.create_token("load")
    store.close()
    port = free_port()
    env = {**os.environ, "TRIAGE_DATABASE_URL": url}
    if args.model:
        env["TRIAGE_MODEL_STORE"] = args.model
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "training.cli", "serve", "--port",
                             str(port)], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start; see {tmp / 'server.log'}")
            time.sleep(0.3)
        results = [asyncio.run(drive(base, token, texts, n, args.seconds))
                   for n in args.levels]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    single = base_line["mean"]
    if args.json:
        print(json.dumps({"in_process": base_line, "levels": results}, indent=2))
        return 0
    print(f"in-process Triage.suggest, one letter at a time: {single * 1000:.1f} ms mean, "
          f"{base_line['p50'] * 1000:.1f} ms median ({base_line['per_s']:.1f} letters/s)")
    print(f"{'clients':>7} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'p99/in-proc':>11} {'errors':>6}")
    for r in results:
        print(f"{r['clients']:>7} {r['rps']:>7.1f} {r['p50'] * 1000:>8.1f} "  # type: ignore[operator]
              f"{r['p95'] * 1000:>8.1f} {r['p99'] * 1000:>8.1f} "  # type: ignore[operator]
              f"{r['p99'] / single:>10.1f}x {r['errors']:>6}")  # type: ignore[operator]
        if r["errors"]:
            print(f"        errors: {r['error_kinds']}")
        print("        p99 by request: " + ", ".join(
            f"{op} {v * 1000:.0f} ms" for op, v in r["p99_by_op"].items()))  # type: ignore[attr-defined]
    print("mix: " + ", ".join(f"{name} {w:.0%}" for name, w in MIX))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

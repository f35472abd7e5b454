"""Running the service: one process, or several worker processes that share the port.

With several workers, each binds its own listening socket with ``SO_REUSEPORT`` and the kernel
spreads new connections over them. uvicorn's own ``--workers`` shares one socket instead, and
whichever worker wakes first accepts every pending connection: with kept-alive clients one
worker did all the work while the other idled (measured under bench/load.py: one process at
100 % CPU, the other at 0 %). The parent only supervises: it restarts a worker that dies, and
stops them all on SIGINT/SIGTERM. A worker whose parent disappears (SIGKILL) stops itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("triage.service")

APP = "service.app:create_app"
PROTOCOL = "service.protocol:NoDelayH11Protocol"
STARTUP_FAILURE = 3  # uvicorn's exit code when a worker cannot start


def serve(host: str, port: int, workers: int) -> int:
    """Serve until interrupted; the exit status."""
    import uvicorn

    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(APP, factory=True, host=host, port=port, log_level="info",
                    workers=max(1, workers), http=PROTOCOL)
        return 0
    try:  # a port taken by another program: say so once, not once per worker
        _bind(host, port).close()
    except OSError as exc:
        print(f"triage serve: cannot listen on {host}:{port}: {exc.strerror or exc}; "
              "choose another --port or stop what uses it", file=sys.stderr)
        return 1
    return _Supervisor(host, port, workers).run()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(host: str, port: int, parent: int) -> None:
    import uvicorn

    sock = _bind(host, port)
    config = uvicorn.Config(APP, factory=True, log_level="info", http=PROTOCOL)
    server = uvicorn.Server(config)

    def orphan_watch() -> None:  # the parent was killed: nobody would stop this worker
        while not server.should_exit:
            if os.getppid() != parent:
                server.should_exit = True
            time.sleep(1.0)

    threading.Thread(target=orphan_watch, daemon=True, name="orphan-watch").start()
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


_MIGRATE_HINT = ("; connections queued on it were reset (net.ipv4.tcp_migrate_req=1 hands them "
                 "to another worker: docs/OPERATIONS.md)")


def _migrates_requests() -> bool:
    """Whether Linux hands connections queued on a closed listener to another in its group."""
    try:
        return Path("/proc/sys/net/ipv4/tcp_migrate_req").read_text().strip() == "1"
    except OSError:
        return False


class _Supervisor:
    def __init__(self, host: str, port: int, workers: int) -> None:
        self.host, self.port, self.n = host, port, workers
        self.stopping = threading.Event()
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list[Any] = []

    def _start(self) -> Any:
        p = self.ctx.Process(target=_worker, args=(self.host, self.port, os.getpid()),
                             name="triage-worker")
        p.start()
        return p

    def _stop(self, *_: Any) -> None:
        self.stopping.set()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        print(f"triage serve: {self.n} worker processes on http://{self.host}:{self.port} "
              f"(parent {os.getpid()})", file=sys.stderr, flush=True)
        self.procs = [self._start() for _ in range(self.n)]
        status = 0
        while not self.stopping.wait(0.5):
            for i, p in enumerate(self.procs):
                if p.exitcode is None:
                    continue
                if p.exitcode == STARTUP_FAILURE:
                    print("triage serve: a worker could not start (see above); stopping",
                          file=sys.stderr, flush=True)
                    self.stopping.set()
                    status = 1
                    break
                print(f"triage serve: worker {p.pid} exited ({p.exitcode}); starting another"
                      f"{_MIGRATE_HINT if not _migrates_requests() else ''}",
                      file=sys.stderr, flush=True)
                self.procs[i] = self._start()
        for p in self.procs:
            if p.exitcode is None and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)  # graceful: uvicorn finishes open requests
        deadline = time.monotonic() + 30
        for p in self.procs:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.exitcode is None:
                p.kill()
                p.join()
        return status

"""pytest plugin: a real PostgreSQL server for the test session.

Fixtures:
  pg_server_url  (session)  SQLAlchemy URL of a database on a throwaway server. Uses
                            TRIAGE_TEST_PG_URL when set; otherwise initdb's a fresh cluster in the
                            system temp dir and starts it on a free 127.0.0.1 port. Skips (with
                            the reason and the fix) when no server can be had.
  pg_url         (function) URL of a FRESH empty database on that server, dropped afterwards
                            (with TRIAGE_TEST_PG_URL, its user needs the CREATEDB privilege).
  db_url         (function) parametrized [sqlite, postgresql]: a fresh SQLite file URL or pg_url.

Tests must dispose the engines they create (engine.dispose()): the suite turns warnings into
errors, and a connection garbage-collected while open warns.

`tests/support/system_deps.sh` (run by `make test`) installs the server on Debian.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ENV_URL = "TRIAGE_TEST_PG_URL"
DB_NAME = "triage_test"
SUPERUSER = "postgres"
HOW_TO_FIX = (
    "install the server with `sh tests/support/system_deps.sh` as root (Debian: "
    f"apt-get install postgresql), or point {ENV_URL} at an existing server "
    "(postgresql+psycopg://user@host:port/db)"
)

# What the terminal summary reports: set by pg_server_url when a test asked for it.
_leg: dict[str, str] = {}


class PgUnavailable(Exception):
    """PostgreSQL could not be started; the message says why."""


def _version_key(bindir: str) -> tuple[int, ...]:
    version = Path(bindir).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_pg_bin() -> tuple[str, str]:
    """(initdb, pg_ctl): from PATH, else the newest /usr/lib/postgresql/*/bin."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        initdb, pg_ctl = os.path.join(bindir, "initdb"), os.path.join(bindir, "pg_ctl")
        if os.access(initdb, os.X_OK) and os.access(pg_ctl, os.X_OK):
            return initdb, pg_ctl
    raise PgUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in "
                        "/usr/lib/postgresql/*/bin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _traversable_by_others(path: str) -> bool:
    """Whether every directory from / down to path lets other users through (o+x)."""
    current = Path(path).resolve()
    return all(os.stat(directory).st_mode & 0o001 for directory in [current, *current.parents])


class LocalCluster:
    """A throwaway cluster: initdb into a temp dir, start on loopback, stop and remove."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = find_pg_bin()
        self.owner: pwd.struct_passwd | None = None
        self.runuser: str | None = None
        self.su: str | None = None
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: use the Debian package's system user.
            try:
                self.owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PgUnavailable(
                    "running as root and there is no 'postgres' system user to run the server "
                    "as (the Debian postgresql package creates it)") from exc
            self.runuser, self.su = shutil.which("runuser"), shutil.which("su")
            if not (self.runuser or self.su):
                raise PgUnavailable("running as root and neither runuser nor su is available")
        base = tempfile.gettempdir()
        if self.owner is not None and not _traversable_by_others(base):
            base = "/tmp"  # the postgres user must be able to reach the cluster dir
        self.root = tempfile.mkdtemp(prefix="triage-pg-", dir=base)
        if self.owner is not None:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "server.log")
        self.port = 0
        self.running = False

    def _run(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv: list[str] = list(cmd)
        if self.owner is not None:  # run as the postgres user
            if self.runuser:
                argv = [self.runuser, "-u", "postgres", "--", *cmd]
            else:
                argv = [str(self.su), "postgres", "-s", "/bin/sh", "-c", shlex.join(cmd)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False, cwd=self.root)

    def _tail_log(self, lines: int = 5) -> str:
        try:
            text = Path(self.log).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def start(self) -> None:
        done = self._run(self.initdb, "-D", self.data, "-U", SUPERUSER, "--auth=trust",
                         "--encoding=UTF8", "--no-locale", "--no-instructions")
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise PgUnavailable(f"initdb failed: {' | '.join(output)}")
        last_error = ""
        for _attempt in range(3):  # the free port may be taken before the server binds it
            self.port = _free_port()
            settings = (
                "\n# tests/support/pg.py\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\n"
                "fsync = on\n"
                "max_connections = 100\n"
            )
            with open(os.path.join(self.data, "postgresql.auto.conf"), "a",
                      encoding="utf-8") as conf:
                conf.write(settings)
            done = self._run(self.pg_ctl, "-D", self.data, "-l", self.log, "-w", "-t", "60",
                             "start")
            if done.returncode == 0:
                self.running = True
                return
            last_error = self._tail_log() or (done.stderr or done.stdout).strip()
            if "could not bind" not in last_error and "in use" not in last_error:
                break
        raise PgUnavailable(f"the server did not start: {last_error}")

    def stop(self) -> None:
        if self.running:
            done = self._run(self.pg_ctl, "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")
            if done.returncode != 0:
                self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop")
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)


def _conninfo(sqlalchemy_url: str, database: str | None = None) -> str:
    """A libpq connection string for psycopg from a SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _connect(sqlalchemy_url: str, database: str | None = None) -> Any:
    import psycopg

    return psycopg.connect(_conninfo(sqlalchemy_url, database), autocommit=True,
                           connect_timeout=10)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _server_version(url: str) -> str:
    with _connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """SQLAlchemy URL of a database on a real PostgreSQL server for this session."""
    from sqlalchemy.engine import make_url

    external = os.environ.get(ENV_URL)
    if external:
        try:
            version = _server_version(external)
        except Exception as exc:  # any failure: skip, saying why
            reason = f"cannot connect to {ENV_URL}: {_one_line(exc)}"
            _leg["skipped"] = reason
            pytest.skip(f"PostgreSQL leg skipped: {reason}; fix the URL or unset it")
        url = make_url(external)
        if url.drivername == "postgresql":  # SQLAlchemy's default driver is psycopg2
            url = url.set(drivername="postgresql+psycopg")
        _leg["ran"] = f"PostgreSQL {version} on {url.host}:{url.port or 5432} (from {ENV_URL})"
        yield url.render_as_string(hide_password=False)
        return

    cluster: LocalCluster | None = None
    try:
        cluster = LocalCluster()
        atexit.register(cluster.stop)  # in case the session dies before the teardown
        cluster.start()
        admin = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{cluster.port}/postgres"
        with _connect(admin) as conn:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        version = _server_version(admin)
    except Exception as exc:  # PgUnavailable, OSError, a timeout, psycopg.Error: skip, say why
        if cluster is not None:
            cluster.stop()
            atexit.unregister(cluster.stop)
        _leg["skipped"] = _one_line(exc)
        pytest.skip(f"PostgreSQL leg skipped: {_one_line(exc)}; to fix: {HOW_TO_FIX}")
    _leg["ran"] = f"PostgreSQL {version} on 127.0.0.1:{cluster.port}"
    try:
        yield f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{cluster.port}/{DB_NAME}"
    finally:
        cluster.stop()
        atexit.unregister(cluster.stop)


@pytest.fixture()
def pg_url(pg_server_url: str) -> Iterator[str]:
    """URL of a fresh, empty database on the session's server; dropped after the test."""
    from sqlalchemy.engine import make_url

    name = f"triage_t_{uuid.uuid4().hex[:12]}"
    with _connect(pg_server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with _connect(pg_server_url) as conn:
            # FORCE (PostgreSQL 13+) ends connections a test left open.
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception:  # servers older than 13: plain DROP
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgresql", id="postgresql")])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL: a SQLite file, or a fresh PostgreSQL database (pg_url)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'triage.db'}"
    return str(request.getfixturevalue("pg_url"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "ran" in _leg:
        terminalreporter.write_line(f"PostgreSQL leg: ran against {_leg['ran']}", green=True)
    elif "skipped" in _leg:
        terminalreporter.write_line(f"PostgreSQL leg SKIPPED: {_leg['skipped']}", yellow=True,
                                    bold=True)


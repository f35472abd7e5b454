"""`triage users …` and `triage audit export` as an administrator runs them: a real process
against a real SQLite file, read back through the service's store."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.store import Store
from tests.conftest import ROOT


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'triage.db'}"


@pytest.fixture()
def env(db_url: str) -> dict[str, str]:
    return {**os.environ, "TRIAGE_DATABASE_URL": db_url, "PYTHONIOENCODING": "utf-8"}


def run(args: list[str], env: dict[str, str], stdin: bytes | None = None,
        ) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "-m", "training.cli", *args], input=stdin,
                         capture_output=True, env=env, cwd=ROOT, timeout=120)
    return subprocess.CompletedProcess(res.args, res.returncode,
                                       res.stdout.decode("utf-8"), res.stderr.decode("utf-8"))


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return res.stdout


def fails(res: subprocess.CompletedProcess[str], message: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def users(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {u["username"]: u for u in json.loads(ok(run(["users", "list", "--json"], env)))}


def test_users_add_generates_a_password_shown_once(env: dict[str, str], db_url: str) -> None:
    out = ok(run(["users", "add", "lin", "--role", "clerk", "--actor", "chief"], env))
    assert "added clerk 'lin'" in out
    password = next(line.split(": ", 1)[1] for line in out.splitlines()
                    if line.startswith("password: "))
    assert len(password) >= 12
    store = Store(db_url)
    try:
        user = store.authenticate("lin", password)
        assert user is not None and user.role == "clerk"
        assert store.authenticate("lin", password + "x") is None
    finally:
        store.close()
    listing = ok(run(["users", "list"], env))
    assert "lin" in listing and "clerk" in listing and "active" in listing
    assert password not in listing  # shown once, never again


def test_users_add_password_from_stdin_and_clear_errors(env: dict[str, str],
                                                        db_url: str) -> None:
    out = ok(run(["users", "add", "boss", "--role", "admin", "--password-stdin"], env,
                 stdin=b"correct horse battery\n"))
    assert "added admin 'boss'" in out and "password:" not in out
    store = Store(db_url)
    try:
        assert store.authenticate("boss", "correct horse battery") is not None
    finally:
        store.close()
    fails(run(["users", "add", "boss", "--role", "clerk"], env), "already exists")
    fails(run(["users", "add", "short", "--role", "clerk", "--password-stdin"], env,
              stdin=b"abc\n"), "at least 8 characters")
    fails(run(["users", "add", "empty", "--role", "clerk", "--password-stdin"], env,
              stdin=b""), "no password on standard input")
    res = run(["users", "add", "x", "--role", "mayor"], env)
    assert res.returncode == 2 and "invalid choice" in res.stderr
    res = run(["users", "add", "x"], env)
    assert res.returncode == 2 and "--role" in res.stderr
    assert set(users(env)) == {"boss"}


def test_users_token_then_disable_revokes_it(env: dict[str, str], db_url: str) -> None:
    ok(run(["users", "add", "lin", "--role", "clerk"], env))
    res = run(["users", "token", "lin", "--label", "scanner"], env)
    token = ok(res).strip()
    assert token.startswith("trg_") and "shown once" in res.stderr
    store = Store(db_url)
    try:
        user = store.user_for_token(token)
        assert user is not None and user.username == "lin"
        out = ok(run(["users", "disable", "lin", "--actor", "chief"], env))
        assert "disabled" in out
        assert users(env)["lin"]["disabled"] is True
        assert store.user_for_token(token) is None
        ok(run(["users", "enable", "lin"], env))
        assert users(env)["lin"]["disabled"] is False
        assert store.user_for_token(token) is None  # a revoked token stays revoked
    finally:
        store.close()
    fails(run(["users", "disable", "nobody"], env), "no user 'nobody'")
    fails(run(["users", "token", "nobody"], env), "no user 'nobody'")


def test_audit_export_json_lines_and_csv(env: dict[str, str], tmp_path: Path) -> None:
    ok(run(["users", "add", "lin", "--role", "clerk", "--actor", "chief"], env))
    ok(run(["users", "token", "lin", "--actor", "chief"], env))
    ok(run(["users", "disable", "lin", "--actor", "deputy"], env))
    lines = ok(run(["audit", "export"], env)).splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["actor"], e["action"], e["target"]) for e in events] == [
        ("chief", "user.add", "user:lin"), ("chief", "token.create", "user:lin"),
        ("deputy", "user.disable", "user:lin")]
    assert events[2]["before"] == {"disabled": False} and events[2]["after"] == {
        "disabled": True}
    assert all(e["at"].endswith("Z") for e in events)

    out = tmp_path / "audit.csv"
    res = run(["audit", "export", "--out", str(out), "--since", "2000-01-01"], env)
    assert ok(res) == "" and "3 audit events" in res.stderr
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["action"] for r in rows] == ["user.add", "token.create", "user.disable"]
    assert json.loads(rows[2]["after"]) == {"disabled": True} and rows[0]["before"] == ""

    jsonl = tmp_path / "audit.jsonl"
    ok(run(["audit", "export", "--out", str(jsonl)], env))
    assert [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()] == events
    assert ok(run(["audit", "export", "--since", "2999-01-01"], env)) == ""
    fails(run(["audit", "export", "--since", "2026-13-01"], env), "YYYY-MM-DD")
    fails(run(["audit", "export", "--out", str(tmp_path / "audit.txt")], env),
          ".jsonl or .csv")
    fails(run(["audit", "export", "--out", str(tmp_path / "no" / "a.csv")], env),
          "does not exist")


def test_database_url_option_wins_over_the_environment(env: dict[str, str],
                                                       tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    ok(run(["users", "add", "wang", "--role", "clerk", "--database-url", other], env))
    assert users(env) == {}
    listed = json.loads(ok(run(["users", "list", "--json", "--database-url", other], env)))
    assert [u["username"] for u in listed] == ["wang"]


def test_admin_help_says_what_each_command_does(env: dict[str, str]) -> None:
    out = ok(run(["users", "--help"], env))
    for word in ("add", "list", "disable", "token"):
        assert word in out
    assert "--password-stdin" in ok(run(["users", "add", "--help"], env))
    out = ok(run(["audit", "export", "--help"], env))
    assert "--since" in out and ".csv" in out
    out = ok(run(["models", "promote", "--help"], env))
    assert "--force" in out and "--tolerance" in out

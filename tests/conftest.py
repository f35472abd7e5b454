"""Shared fixtures: one model trained from corpus/ per test session, in a temporary store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.pg", "tests.support.browser"]

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
_SCRATCH: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """No test touches the project's own database (var/triage.db, the one `make run` uses):
    whatever starts the app without choosing a database (schemathesis loads the schema from
    the app while collecting) gets a scratch SQLite file instead. Before this, `make test`
    left an admin account in var/ and the next `make run` printed no first password."""
    import tempfile

    if "TRIAGE_DATABASE_URL" not in os.environ:
        _SCRATCH.append(tempfile.mkdtemp(prefix="triage-test-db-"))
        os.environ["TRIAGE_DATABASE_URL"] = f"sqlite:///{Path(_SCRATCH[0]) / 'scratch.db'}"


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _SCRATCH:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding one version trained on the corpus training letters."""
    from training.data import CORPUS_HEADS, read_corpus
    from training.train import train_version

    store = tmp_path_factory.mktemp("models")
    reuse = os.environ.get("TRIAGE_TEST_REUSE_STORE")
    if reuse:  # development only: a store trained earlier by this same code, copied
        shutil.copytree(reuse, store, dirs_exist_ok=True)
        return store
    train_version(read_corpus("train"), store, heads=list(CORPUS_HEADS), log=lambda _: None)
    return store


@pytest.fixture(scope="session")
def triage(model_store: Path):  # type: ignore[no-untyped-def]
    from triage import Triage

    return Triage.load(model_store)


@pytest.fixture()
def store_copy(model_store: Path, tmp_path: Path) -> Path:
    """A private copy of the trained store that a test may damage."""
    dest = tmp_path / "store"
    shutil.copytree(model_store, dest)
    return dest


@pytest.fixture()
def cli_env(model_store: Path) -> dict[str, str]:
    """Environment for running the `triage` command against the session's store."""
    return {**os.environ, "TRIAGE_MODEL_STORE": str(model_store), "PYTHONIOENCODING": "utf-8"}


def shared_file(name: str) -> Path:
    """A file of ../shared/data, or skip the test when ../shared is not beside the project."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"../shared/data/{name} is not present")
    return path

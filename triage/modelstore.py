"""The model store: versioned folders and a manifest of their checksums.

Layout::

    <store>/manifest.json            {"current": V, "previous": U,
                                      "versions": {V: {"sha256": ..., ...}}}
    <store>/<V>/model.joblib         the fitted model (joblib is pickle: loading runs code)
    <store>/<V>/metadata.json        sha256, metrics, data hash, library versions
    <store>/<V>/MODEL_CARD.md        data, metrics per class, known limits

Only versions listed in the manifest are loaded, and only when the file's sha256 matches the
manifest. ``training/`` writes versions; this module reads them and moves the ``current``
pointer: ``promote_checked`` only when the candidate is not worse than the current model
(or when forced), ``rollback`` back to the ``previous`` one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from triage.errors import ModelError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "manifest.json"
MODEL_FILE = "model.joblib"


def default_store() -> Path:
    """The store folder: ``$TRIAGE_MODEL_STORE`` or ``models/`` in the project."""
    env = os.environ.get("TRIAGE_MODEL_STORE")
    return Path(env) if env else PROJECT_ROOT / "models"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a crash leaves either the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def manifest_lock(store: Path) -> Iterator[None]:
    """Hold an exclusive lock on the store's manifest for a read-modify-write (POSIX; a
    no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    if not store.is_dir():  # nothing to change there; the caller reports what is missing
        yield
        return
    with open(store / ".manifest.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_manifest(store: Path) -> dict[str, Any]:
    """The store's manifest (an empty one when the store is new)."""
    path = store / MANIFEST
    if not path.is_file():
        return {"current": None, "versions": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the model store manifest ({exc}); restore it "
                         "from a backup or retrain with `triage train`") from exc
    data.setdefault("versions", {})
    data.setdefault("current", None)
    return data


def register_version(store: Path, version: str, entry: dict[str, Any], promote: bool) -> None:
    """Add a written version folder to the manifest (and make it current if ``promote``)."""
    with manifest_lock(store):
        manifest = read_manifest(store)
        manifest["versions"][version] = entry
        if promote:
            manifest["previous"] = manifest.get("current")
            manifest["current"] = version
        write_json_atomic(store / MANIFEST, manifest)


def promote_version(store: Path, version: str) -> None:
    """Make ``version`` the current model of the store (no checks of its figures)."""
    with manifest_lock(store):
        manifest = read_manifest(store)
        if version not in manifest["versions"]:
            raise ModelError(f"{store}: no version '{version}' in the manifest; "
                             f"known: {sorted(manifest['versions'])}")
        manifest["previous"], manifest["current"] = manifest.get("current"), version
        write_json_atomic(store / MANIFEST, manifest)


def read_metadata(store: Path, version: str) -> dict[str, Any]:
    """A version's metadata.json (empty when the version folder has none)."""
    path = store / version / "metadata.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the version's metadata ({exc})") from exc
    return data if isinstance(data, dict) else {}


def verify_version(store: Path, version: str, manifest: dict[str, Any] | None = None) -> None:
    """Check that ``version`` is in the manifest and its model file matches its sha256."""
    manifest = manifest if manifest is not None else read_manifest(store)
    if version not in manifest["versions"]:
        raise ModelError(f"{store}: no version '{version}' in the manifest; "
                         f"known: {sorted(manifest['versions'])}")
    _checked_model_file(store, version, manifest, f"version '{version}' cannot be made current",
                        f"version '{version}' cannot be made current")


def _checked_model_file(store: Path, version: str, manifest: dict[str, Any], if_missing: str,
                        if_changed: str) -> Path:
    """The model file of a version in the manifest, once it exists and matches its sha256;
    the two texts say what that means for the caller when it does not."""
    model_path = store / version / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(f"{model_path}: model file missing; {if_missing}")
    actual = sha256_file(model_path)
    expected = str(manifest["versions"][version].get("sha256"))
    if actual != expected:
        raise ModelError(f"{model_path}: sha256 {actual[:12]}… does not match the manifest "
                         f"({expected[:12]}…); {if_changed}")
    return model_path


class PromotionRefused(ModelError):
    """The candidate is worse than the current model by more than the tolerance."""


def _figure(meta: dict[str, Any], *path: str) -> float | None:
    node: Any = meta
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def promotion_figures(store: Path, version: str, current: str | None) -> dict[str, Any]:
    """The figures the promotion gate compares: issue-type accuracy on the corpus test set
    and, when the candidate was evaluated next to the current model on held-out clerk
    decisions, on those decisions. Each is ``{"candidate": x, "current": y, ...}``."""
    cand = read_metadata(store, version)
    cur = read_metadata(store, current) if current else {}
    ev = cand.get("evaluation") or {}
    test: dict[str, Any] = {
        "candidate": _figure(cand, "evaluation", "issue_type", "accuracy"),
        "candidate_method": (ev.get("issue_type") or {}).get("method")}
    # the current model on the same test letters in the candidate's own run, when that run
    # was made against the model that is current now; else the current version's metadata
    same_run = ev.get("current_model") or {}
    if current and same_run.get("version") == current and _figure(
            same_run, "issue_type", "accuracy") is not None:
        test["current"] = _figure(same_run, "issue_type", "accuracy")
        test["current_method"] = (same_run.get("issue_type") or {}).get("method")
    else:
        test["current"] = _figure(cur, "evaluation", "issue_type", "accuracy")
        test["current_method"] = ((cur.get("evaluation") or {}).get("issue_type")
                                  or {}).get("method")
    figures: dict[str, Any] = {"test_issue_type_accuracy": test}
    dec = ev.get("decisions") or {}
    dec_cur = dec.get("current") or {}
    if current and dec_cur.get("version") == current:
        a = _figure(dec, "issue_type", "accuracy")
        b = _figure(dec_cur, "issue_type", "accuracy")
        if a is not None and b is not None:
            figures["decisions_issue_type_accuracy"] = {"candidate": a, "current": b,
                                                        "n": dec.get("n")}
    return figures


def _fmt(x: float | None) -> str:
    return "none" if x is None else f"{x:.3f}"


def promote_checked(store: Path, version: str, *, tolerance: float = 0.01,
                    force: bool = False) -> dict[str, Any]:
    """Make ``version`` current unless it is worse than the current model.

    The candidate's issue-type accuracy on the corpus test set (metadata.json
    ``evaluation.issue_type.accuracy``), and on held-out clerk decisions when it was evaluated
    next to the current model on them, may be at most ``tolerance`` below the current
    model's. ``force`` promotes anyway.

    Returns
    -------
    dict
        ``{"from": previous current or None, "to": version, "forced": bool,
        "figures": {...}}``; ``forced`` is true only when the gate would have refused.

    Raises
    ------
    PromotionRefused
        The candidate is worse beyond the tolerance (or has no figures to compare) and
        ``force`` is false; the message gives both figures.
    ModelError
        Unknown version, missing or altered model file, or the version is already current.
    """
    with manifest_lock(store):
        manifest = read_manifest(store)
        verify_version(store, version, manifest)
        current = manifest.get("current")
        if current == version:
            raise ModelError(f"{version} is already the current model of {store}")
        figures = promotion_figures(store, version, current) if current else {}
        problems = []
        for name, f in figures.items():
            what = name.replace("_", " ")
            if f["candidate"] is None or f["current"] is None:
                problems.append(f"{what} cannot be compared (candidate {_fmt(f['candidate'])}, "
                                f"current {current} {_fmt(f['current'])})")
            elif f["candidate"] < f["current"] - tolerance:
                problems.append(f"{what}: candidate {version} {f['candidate']:.3f} < current "
                                f"{current} {f['current']:.3f} by "
                                f"{f['current'] - f['candidate']:.3f} (tolerance "
                                f"{tolerance:.3f})")
        if problems and not force:
            raise PromotionRefused(f"promotion of {version} refused: " + "; ".join(problems)
                                   + ". Use --force to promote it anyway (recorded in the "
                                   "audit)")
        manifest["previous"], manifest["current"] = current, version
        write_json_atomic(store / MANIFEST, manifest)
    return {"from": current, "to": version, "forced": bool(problems), "figures": figures}


def rollback(store: Path) -> dict[str, Any]:
    """Make the ``previous`` version current again (the current one becomes previous).

    Returns ``{"from": current, "to": previous}``; ModelError when there is no previous
    version or its model file is missing or altered.
    """
    with manifest_lock(store):
        manifest = read_manifest(store)
        previous, current = manifest.get("previous"), manifest.get("current")
        if not previous:
            raise ModelError(f"{store}: no previous model to roll back to (the manifest has "
                             "no 'previous'); promote a version by name with "
                             "`triage models promote VERSION`")
        if previous == current:
            raise ModelError(f"{store}: the previous model {previous} is already current")
        verify_version(store, previous, manifest)
        manifest["previous"], manifest["current"] = current, previous
        write_json_atomic(store / MANIFEST, manifest)
    return {"from": current, "to": previous}


def resolve_version(model_dir: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """Find (store, version) for a store folder, a version folder, or the default store."""
    path = Path(model_dir) if model_dir else default_store()
    if (path / MODEL_FILE).is_file() and (path.parent / MANIFEST).is_file():
        return path.parent, path.name
    manifest = read_manifest(path)
    current = manifest.get("current")
    if not current:
        raise ModelError(f"{path}: the model store has no current model; train one with "
                         "`triage train --corpus` (or `make train`)")
    return path, str(current)


def load_verified(model_dir: str | os.PathLike[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """Load a model version after checking its sha256 against the store's manifest.

    Parameters
    ----------
    model_dir : path or None
        A store folder (its current version is loaded), a version folder inside a store, or
        None for the default store.

    Returns
    -------
    tuple of (object, dict)
        The unpickled model bundle and the version's metadata.

    Raises
    ------
    ModelError
        When the version is not in the manifest, the file is missing or its checksum differs.
    """
    store, version = resolve_version(model_dir)
    manifest = read_manifest(store)
    vdir = store / version
    if version not in manifest["versions"]:
        raise ModelError(f"{vdir}: version '{version}' is not in {store / MANIFEST}; only "
                         "versions written by `triage train` into this store are loaded")
    model_path = _checked_model_file(
        store, version, manifest, "retrain or roll back with `triage models promote <version>`",
        "the file was changed after training and is refused. Retrain, or promote another "
        "version")
    import joblib

    bundle = joblib.load(model_path)
    meta_path = vdir / "metadata.json"
    metadata = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    metadata.setdefault("version", version)
    return bundle, metadata

"""The model store: versioned folders and a manifest of their checksums.

Layout::

    <store>/manifest.json            {"current": V, "versions": {V: {"sha256": ..., ...}}}
    <store>/<V>/model.joblib         the fitted model (joblib is pickle: loading runs code)
    <store>/<V>/metadata.json        sha256, metrics, data hash, library versions
    <store>/<V>/MODEL_CARD.md        data, metrics per class, known limits

Only versions listed in the manifest are loaded, and only when the file's sha256 matches the
manifest. ``training/`` writes versions; this module reads them and moves the ``current``
pointer.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
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
    manifest = read_manifest(store)
    manifest["versions"][version] = entry
    if promote:
        manifest["previous"] = manifest.get("current")
        manifest["current"] = version
    write_json_atomic(store / MANIFEST, manifest)


def promote_version(store: Path, version: str) -> None:
    """Make ``version`` the current model of the store."""
    manifest = read_manifest(store)
    if version not in manifest["versions"]:
        raise ModelError(f"{store}: no version '{version}' in the manifest; "
                         f"known: {sorted(manifest['versions'])}")
    manifest["previous"], manifest["current"] = manifest.get("current"), version
    write_json_atomic(store / MANIFEST, manifest)


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
    entry = read_manifest(store)["versions"].get(version)
    vdir = store / version
    if entry is None:
        raise ModelError(f"{vdir}: version '{version}' is not in {store / MANIFEST}; only "
                         "versions written by `triage train` into this store are loaded")
    model_path = vdir / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(f"{model_path}: model file missing; retrain or roll back with "
                         "`triage models promote <version>`")
    actual = sha256_file(model_path)
    if actual != entry.get("sha256"):
        raise ModelError(f"{model_path}: sha256 {actual[:12]}… does not match the manifest "
                         f"({str(entry.get('sha256'))[:12]}…); the file was changed after "
                         "training and is refused. Retrain, or promote another version")
    import joblib

    bundle = joblib.load(model_path)
    meta_path = vdir / "metadata.json"
    metadata = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    metadata.setdefault("version", version)
    return bundle, metadata

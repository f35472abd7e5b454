"""Dependencies of the routes: the loaded ``Triage`` (lazily, once per model version)."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends

from service.settings import get_settings
from triage import Triage

_lock = threading.Lock()
_cache: dict[str, Triage] = {}


def get_triage() -> Triage:
    """The current model of the configured store, loaded on first use and then kept."""
    settings = get_settings()
    key = f"{settings.model_store}|{settings.corpus_dir}"
    triage = _cache.get(key)
    if triage is None:
        with _lock:
            triage = _cache.get(key)
            if triage is None:
                triage = Triage.load(settings.model_store, settings.corpus_dir)
                triage.extractor  # noqa: B018 — build the spaCy pipeline now, not on a request
                _cache[key] = triage
    return triage


def reset_triage() -> None:
    """Forget the loaded model (tests; a later issue reloads on promotion)."""
    with _lock:
        _cache.clear()


TriageDep = Annotated[Triage, Depends(get_triage)]

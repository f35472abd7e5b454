"""What the routes share: the store, the current model (reloaded when another is promoted) and
the index of stored letters that links repeats."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Annotated

from fastapi import Depends

from service.batcher import Batcher
from service.settings import get_settings
from service.store import Store
from triage import Triage
from triage.modelstore import default_store, resolve_version
from triage.normalize import normalize_text
from triage.similar import LetterIndex

log = logging.getLogger("triage.service")

_lock = threading.Lock()
_stores: dict[str, Store] = {}


def get_store() -> Store:
    """The store of the configured database (migrated on first use)."""
    url = get_settings().database_url or ""
    store = _stores.get(url)
    if store is None:
        with _lock:
            store = _stores.get(url)
            if store is None:
                store = _stores[url] = Store(
                    url or None, busy_timeout=get_settings().database_busy_timeout)
    return store


class ModelHolder:
    """The current model of a store. Each request takes the model that is current when it
    starts and keeps it to the end; a promotion is noticed within ``check_every`` seconds and
    the new version is loaded beside the old one, then swapped in (no request fails)."""

    def __init__(self, model_store: str | None, corpus_dir: str | None,
                 check_every: float = 1.0) -> None:
        self.model_store = Path(model_store) if model_store else default_store()
        self.corpus_dir = corpus_dir
        self.check_every = check_every
        self._triage: Triage | None = None
        self._checked = 0.0
        self._load_lock = threading.Lock()
        self.index: LetterIndex | None = None
        self._refused: str | None = None  # a version that failed to load; not retried
        self.index_last = 0  # the newest letter id in the index
        self.index_lock = threading.Lock()

    def _load(self) -> Triage:
        triage = Triage.load(self.model_store, self.corpus_dir)
        triage.extractor  # noqa: B018 — build the spaCy pipeline now, not on a request
        triage.index = self.index
        return triage

    def current_version(self) -> str:
        return resolve_version(self.model_store)[1]

    def get(self) -> Triage:
        triage = self._triage
        if triage is None:
            with self._load_lock:
                if self._triage is None:
                    self._triage = self._load()
                    self._checked = time.monotonic()
                return self._triage
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            self._checked = now
            try:
                version = self.current_version()
            except Exception as exc:  # a broken manifest: keep serving what we have
                log.warning("model store unreadable, keeping %s: %s",
                            triage.model_version, exc)
                return triage
            if (version not in (triage.model_version, self._refused)
                    and self._load_lock.acquire(blocking=False)):
                # load beside the old one in the background; requests keep the old one
                threading.Thread(target=self._reload_locked, daemon=True,
                                 name="model-reload").start()
        return self._triage or triage

    def _reload_locked(self) -> None:
        try:
            self._swap()
        finally:
            self._load_lock.release()

    def _swap(self) -> str:
        old = self._triage
        version = self.current_version()
        try:
            new = self._load()
        except Exception as exc:
            if old is None:
                raise
            self._refused = version
            log.error("model %s refused, still serving %s: %s", version, old.model_version,
                      exc)
            return old.model_version
        self._triage, self._refused = new, None
        log.info("now serving model %s", new.model_version)
        return new.model_version

    def reload(self) -> str:
        """Load the store's current version and swap it in; the version now serving. When the
        new version cannot be loaded (corrupt, tampered) the old one keeps serving."""
        with self._load_lock:
            return self._swap()


_holders: dict[str, ModelHolder] = {}


def get_holder() -> ModelHolder:
    settings = get_settings()
    key = f"{settings.model_store}|{settings.corpus_dir}"
    holder = _holders.get(key)
    if holder is None:
        with _lock:
            holder = _holders.get(key)
            if holder is None:
                holder = ModelHolder(settings.model_store, settings.corpus_dir)
                _holders[key] = holder
    return holder


def get_triage() -> Triage:
    """The current model of the configured store (loaded on first use, reloaded on promotion)."""
    holder = get_holder()
    triage = holder.get()
    if holder.index is None:
        build_index(holder, triage, get_store())
    return triage


def build_index(holder: ModelHolder, triage: Triage, store: Store) -> None:
    """The similar-letter index over every stored letter (once per process)."""
    with _lock:
        if holder.index is not None:
            return
        holder.index = LetterIndex(triage.catalog.policy.min_similarity,
                                   triage.catalog.policy.min_lead)
        holder.index_last = 0
        triage.index = holder.index
    sync_index(store)


def sync_index(store: Store) -> None:
    """Add the letters stored since the last look (by this or another worker process)."""
    holder = get_holder()
    index = holder.index
    if index is None:
        return
    with holder.index_lock:
        rows = store.letter_texts(after_id=holder.index_last)
        if rows:
            index.add([str(i) for i, _ in rows], [normalize_text(t) for _, t in rows])
            holder.index_last = rows[-1][0]


_batcher: Batcher | None = None


def get_batcher() -> Batcher:
    """This process's suggestion batcher (see service/batcher.py)."""
    global _batcher
    if _batcher is None:
        with _lock:
            if _batcher is None:
                _batcher = Batcher(get_settings().batch_max)
    return _batcher


def reset() -> None:
    """Forget loaded models and stores (tests)."""
    with _lock:
        for s in _stores.values():
            s.close()
        _stores.clear()
        _holders.clear()
        global _batcher
        if _batcher is not None:
            _batcher.close()
        _batcher = None
    get_settings.cache_clear()


TriageDep = Annotated[Triage, Depends(get_triage)]
StoreDep = Annotated[Store, Depends(get_store)]

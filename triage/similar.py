"""Similar letters: an index of stored letters that finds earlier letters on the same matter.

Letters are compared by the cosine of their character 1–2-gram TF-IDF vectors (hashed, so the
index grows letter by letter without refitting a vocabulary; the IDF weights are recomputed
from the stored counts when letters are added). A repeat petition retold in other words still
shares the names, places, amounts and the matter's own vocabulary with the first letter, which
is what these n-grams carry.

Cosine alone mistakes a letter in a common form (wage arrears at a building site, a noisy
neighbour) for a repeat of any other letter in that form: such a letter is close to many stored
letters at once. So a match must also stand out: its *lead*, the cosine less the query's
*background* (the mean cosine of its next ``BACKGROUND`` nearest letters, in the spirit of
CSLS hubness correction), must reach a second threshold. A true repeat is close to one letter
and far from the rest. Both thresholds are chosen on data (``python -m training.repeats``) and
kept in corpus/policy.yaml (``repeats.min_similarity``, ``repeats.min_lead``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from triage.errors import ModelError

INDEX_FORMAT = 2  # 1: raw counts (read, converted); 2: sublinear term frequencies
REFRESH = 0.02  # the IDF weights are recomputed once the index has grown by this share
BACKGROUND = 10  # a query's background: the mean cosine of this many next-nearest letters


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char", ngram_range=(1, 2), n_features=2**20,
                             alternate_sign=False, norm=None, dtype=np.float32)


def _sublinear(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    m = counts.astype(np.float32, copy=True)
    m.data = 1 + np.log(m.data)
    return m


def _idf_norms(rows: sparse.csr_matrix, idf2: np.ndarray) -> np.ndarray:
    """Each row's length under the IDF weights: sqrt(sum of tf² · idf²)."""
    sq = rows.multiply(rows).tocsr()
    return np.sqrt(np.asarray(sq @ idf2, dtype=np.float64).ravel())


class LetterIndex:
    """Stored letters, searchable by similarity.

    The score of two letters is the cosine of their TF-IDF vectors,
    ``Σ q·d·idf² / (‖q·idf‖ ‖d·idf‖)``, computed from the stored term frequencies without
    building a weighted copy of the index: adding a letter appends its row and updates the
    document frequencies, and a query touches each stored row once. The IDF weights (and the
    stored letters' norms under them) are recomputed when the index has grown by ``REFRESH``
    (2 %) since they were last computed, so a service adding letter after letter does not redo
    the whole index at every query; between two refreshes the scores are cosines under the
    slightly older IDF.

    Parameters
    ----------
    threshold : float
        Least cosine similarity for two letters to count as the same matter.
    lead : float
        Least lead of a match over the query's background (see the module's docstring).
    """

    def __init__(self, threshold: float = 0.29, lead: float = 0.2) -> None:
        self.threshold = float(threshold)
        self.lead = float(lead)
        self.ids: list[str] = []
        self._rows = sparse.csr_matrix((0, 2**20), dtype=np.float32)  # sublinear tf
        self._recent: list[sparse.csr_matrix] = []  # added since the last merge into _rows
        self._df = np.zeros(2**20, dtype=np.int64)
        self._idf2: np.ndarray | None = None  # idf squared, as of ``_idf_n`` letters
        self._idf_n = 0
        self._norms = np.zeros(0, dtype=np.float64)  # of every stored row under that idf
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Store letters (normalized text) under their ids; an id already stored is replaced."""
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        if not ids:
            return
        rows = _sublinear(_vectorizer().transform(list(texts)).tocsr())
        new = [str(i) for i in ids]
        with self._lock:
            if set(new) & set(self.ids):
                keep = [i for i, lid in enumerate(self.ids) if lid not in set(new)]
                self._merge()
                self._rows = self._rows[keep]
                self.ids = [self.ids[i] for i in keep]
                self._df = np.bincount(self._rows.indices, minlength=2**20).astype(np.int64)
                self._idf2 = None
            self._recent.append(rows)
            self.ids = self.ids + new  # a new list: a query's snapshot of ids never changes
            np.add.at(self._df, rows.indices, 1)
            if self._idf2 is not None:
                self._norms = np.concatenate([self._norms, _idf_norms(rows, self._idf2)])
            if sum(r.shape[0] for r in self._recent) > max(64, self._rows.shape[0] // 20):
                self._merge()

    def _merge(self) -> None:
        if self._recent:
            self._rows = sparse.vstack([self._rows, *self._recent], format="csr")
            self._recent = []

    def _current(self) -> tuple[list[str], list[sparse.csr_matrix], np.ndarray, np.ndarray]:
        """The stored ids, their rows (in blocks), idf² and the rows' norms, refreshed when
        stale: one consistent snapshot, whatever is added while a query runs."""
        with self._lock:
            n = len(self.ids)
            if self._idf2 is None or n > self._idf_n * (1 + REFRESH):
                self._merge()
                idf = np.log((1 + n) / (1 + self._df)) + 1
                self._idf2 = (idf * idf).astype(np.float32)
                self._idf_n = n
                self._norms = _idf_norms(self._rows, self._idf2)
            return self.ids, [self._rows, *self._recent], self._idf2, self._norms

    def scores(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Cosine similarity of each text (rows) to every stored letter (columns)."""
        return self._scores(texts)[1]

    def _scores(self, texts: Sequence[str]) -> tuple[list[str], sparse.csr_matrix]:
        ids, blocks, idf2, norms = self._current()
        if not ids:
            return ids, sparse.csr_matrix((len(texts), 0))
        q = _sublinear(_vectorizer().transform(list(texts)).tocsr())
        qnorm = _idf_norms(q, idf2)
        qnorm[qnorm == 0] = 1
        denom = norms.copy()
        denom[denom == 0] = 1
        out = np.zeros((len(texts), len(ids)))
        vec = np.zeros(q.shape[1], dtype=np.float32)
        for i in range(q.shape[0]):  # one pass over the stored rows per query (a mat-vec)
            a, b = q.indptr[i], q.indptr[i + 1]
            cols = q.indices[a:b]
            vec[cols] = q.data[a:b] * idf2[cols]
            out[i] = np.concatenate([blk @ vec for blk in blocks]) / (qnorm[i] * denom)
            vec[cols] = 0
        out[out < 1e-9] = 0  # letters sharing nothing with the query
        return ids, sparse.csr_matrix(out)

    def query(self, text: str, k: int = 3, threshold: float | None = None,
              exclude: str | None = None, lead: float | None = None,
              ) -> list[tuple[str, float]]:
        """Stored letters on the same matter as ``text``: (id, cosine), best first, at most k.

        A letter is listed when its cosine reaches ``threshold`` and its lead over the query's
        background reaches ``lead`` (both default to the index's own)."""
        return self.query_many([text], k, threshold, [exclude], lead)[0]

    def query_many(self, texts: Sequence[str], k: int = 3, threshold: float | None = None,
                   exclude: Sequence[str | None] | None = None, lead: float | None = None,
                   ) -> list[list[tuple[str, float]]]:
        t = self.threshold if threshold is None else threshold
        min_lead = self.lead if lead is None else lead
        ids, sims = self._scores(texts)
        out = []
        for i in range(len(texts)):
            skip = exclude[i] if exclude else None
            ranked = ranked_matches(ids, sims.getrow(i), skip)
            background = background_of(ranked)
            out.append([(lid, s) for lid, s in ranked[:k]
                        if s >= t and s - background >= min_lead])
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        import joblib

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with self._lock:
            self._merge()
            data = {"format": INDEX_FORMAT, "threshold": self.threshold, "lead": self.lead,
                    "ids": self.ids, "rows": self._rows}
        joblib.dump(data, tmp, compress=3)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LetterIndex:
        import joblib

        try:
            data = joblib.load(path)
        except Exception as exc:  # noqa: BLE001 — any unreadable file: pickle raises many kinds
            raise ModelError(f"{path}: cannot read the letter index ({exc}); rebuild it with "
                             "`triage similar --build`") from exc
        if not isinstance(data, dict) or data.get("format") not in (1, INDEX_FORMAT):
            raise ModelError(f"{path}: not a letter index of format {INDEX_FORMAT}; rebuild it")
        index = cls(data["threshold"], data.get("lead", 0.0))  # saved before leads: cosine only
        index.ids = list(data["ids"])
        rows = (_sublinear(data["counts"].tocsr()) if data["format"] == 1
                else data["rows"].tocsr())
        index._rows = rows
        index._df = np.bincount(rows.indices, minlength=2**20).astype(np.int64)
        return index


def ranked_matches(ids: Sequence[str], row: sparse.csr_matrix,
                   exclude: str | None = None) -> list[tuple[str, float]]:
    """A query's stored letters with a cosine above zero, best first (``exclude`` left out)."""
    pairs = sorted(zip(row.indices.tolist(), row.data.tolist(), strict=True),
                   key=lambda p: -p[1])
    return [(ids[j], float(s)) for j, s in pairs if ids[j] != exclude]


def background_of(ranked: Sequence[tuple[str, float]]) -> float:
    """The mean cosine of the ``BACKGROUND`` letters after the best (missing ones count 0)."""
    return sum(s for _, s in ranked[1:1 + BACKGROUND]) / BACKGROUND

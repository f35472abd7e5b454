"""Similar letters: an index of stored letters that finds earlier letters on the same matter.

Letters are compared by the cosine of their character 1–2-gram TF-IDF vectors (hashed, so the
index grows letter by letter without refitting a vocabulary; the IDF weights are recomputed
from the stored counts when letters are added). A repeat petition retold in other words still
shares the names, places, amounts and the matter's own vocabulary with the first letter, which
is what these n-grams carry. The threshold is chosen on data (``python -m training.repeats``)
and kept in corpus/policy.yaml (``repeats.min_similarity``).
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

INDEX_FORMAT = 1


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char", ngram_range=(1, 2), n_features=2**20,
                             alternate_sign=False, norm=None, dtype=np.float32)


class LetterIndex:
    """Stored letters, searchable by similarity.

    Parameters
    ----------
    threshold : float
        Least cosine similarity for two letters to count as the same matter.
    """

    def __init__(self, threshold: float = 0.33) -> None:
        self.threshold = float(threshold)
        self.ids: list[str] = []
        self._counts = sparse.csr_matrix((0, 2**20), dtype=np.float32)
        self._idf: np.ndarray | None = None
        self._matrix: sparse.csr_matrix | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Store letters (normalized text) under their ids; an id already stored is replaced."""
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        if not ids:
            return
        counts = _vectorizer().transform(list(texts)).tocsr()
        new = {str(i) for i in ids}
        with self._lock:
            keep = [i for i, lid in enumerate(self.ids) if lid not in new]
            if len(keep) < len(self.ids):
                self._counts = self._counts[keep]
                self.ids = [self.ids[i] for i in keep]
            self._counts = sparse.vstack([self._counts, counts]).tocsr()
            self.ids += [str(i) for i in ids]
            self._matrix = None

    def _weights(self) -> tuple[sparse.csr_matrix, np.ndarray]:
        with self._lock:
            if self._matrix is None:
                n = self._counts.shape[0]
                df = np.bincount(self._counts.indices, minlength=self._counts.shape[1])
                self._idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
                self._matrix = self._tfidf(self._counts)
            assert self._idf is not None
            return self._matrix, self._idf

    def _tfidf(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        m = counts.copy().astype(np.float32)
        m.data = 1 + np.log(m.data)  # sublinear tf
        assert self._idf is not None
        m = m @ sparse.diags(self._idf)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        return sparse.diags(1 / norms) @ m

    def scores(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Cosine similarity of each text (rows) to every stored letter (columns)."""
        if not self.ids:
            return sparse.csr_matrix((len(texts), 0))
        matrix, _ = self._weights()
        q = self._tfidf(_vectorizer().transform(list(texts)).tocsr())
        return (q @ matrix.T).tocsr()

    def query(self, text: str, k: int = 3, threshold: float | None = None,
              exclude: str | None = None) -> list[tuple[str, float]]:
        """Stored letters at least ``threshold`` similar to ``text``, best first (at most k)."""
        return self.query_many([text], k, threshold, [exclude])[0]

    def query_many(self, texts: Sequence[str], k: int = 3, threshold: float | None = None,
                   exclude: Sequence[str | None] | None = None,
                   ) -> list[list[tuple[str, float]]]:
        t = self.threshold if threshold is None else threshold
        sims = self.scores(texts)
        out = []
        for i in range(len(texts)):
            row = sims.getrow(i)
            pairs = sorted(zip(row.indices.tolist(), row.data.tolist(), strict=True),
                           key=lambda p: -p[1])
            skip = exclude[i] if exclude else None
            hits = [(self.ids[j], float(s)) for j, s in pairs
                    if s >= t and self.ids[j] != skip][:k]
            out.append(hits)
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        import joblib

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        joblib.dump({"format": INDEX_FORMAT, "threshold": self.threshold, "ids": self.ids,
                     "counts": self._counts}, tmp, compress=3)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LetterIndex:
        import joblib

        try:
            data = joblib.load(path)
        except Exception as exc:  # noqa: BLE001 — any unreadable file: pickle raises many kinds
            raise ModelError(f"{path}: cannot read the letter index ({exc}); rebuild it with "
                             "`triage similar --build`") from exc
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
            raise ModelError(f"{path}: not a letter index of format {INDEX_FORMAT}; rebuild it")
        index = cls(data["threshold"])
        index.ids = list(data["ids"])
        index._counts = data["counts"].tocsr()
        return index

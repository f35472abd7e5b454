"""LetterClassifier: word n-grams (jieba) + character n-grams, linear heads, calibrated scores.

A scikit-learn estimator. ``y`` may be 1-D (one head) or 2-D with one column per head (issue
type, subtype, agency, nature, litigation-related …): the heads share one feature space, which
is built once per letter. Following scikit-learn's multi-output convention, ``classes_`` and
``predict_proba`` are then lists with one entry per column.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from triage.errors import LetterError
from triage.segment import tokenize

MODELS = ("svm", "logreg")


def _check_texts(X: Any, where: str) -> list[str]:
    if isinstance(X, str):
        raise LetterError(f"{where}: expected a list of letter texts, got a single string; "
                          "wrap it in a list")
    texts = list(X)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise LetterError(f"{where}: item {i} is {type(t).__name__}, expected str")
    return texts


class LetterClassifier(ClassifierMixin, BaseEstimator):
    """Classify normalized letter texts with word and character n-gram features.

    Parameters
    ----------
    model : {"svm", "logreg"}
        "svm": LinearSVC with sigmoid calibration (cross-validated); "logreg": multinomial
        logistic regression, whose probabilities need no separate calibration.
    C : float
        Inverse regularization strength of the linear model.
    word_ngram_range, char_ngram_range : tuple of int
        n-gram ranges of the jieba word features and the character features.
    min_df : int
        Features must occur in at least this many letters.
    max_features : int or None
        Cap on each vectorizer's vocabulary.
    class_weight : "balanced" or None
        Passed to the linear model.
    calibration_cv : int
        Folds for calibrating the SVM (reduced automatically for rare classes).
    userdict, stopwords : str or None
        Paths of the jieba user dictionary and stop-word list (None: the corpus files).
    n_jobs : int or None
        Threads for fitting the heads (-1: all cores; None: one).
    """

    def __init__(self, *, model: str = "svm", C: float = 0.5,
                 word_ngram_range: tuple[int, int] = (1, 2),
                 char_ngram_range: tuple[int, int] = (1, 3), min_df: int = 1,
                 max_features: int | None = None, class_weight: str | None = "balanced",
                 calibration_cv: int = 3, userdict: str | None = None,
                 stopwords: str | None = None, n_jobs: int | None = None) -> None:
        self.model = model
        self.C = C
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.class_weight = class_weight
        self.calibration_cv = calibration_cv
        self.userdict = userdict
        self.stopwords = stopwords
        self.n_jobs = n_jobs

    # -- fitting ---------------------------------------------------------------------------
    def _make_features(self) -> FeatureUnion:
        words = TfidfVectorizer(
            tokenizer=partial(tokenize, userdict=self.userdict, stopwords=self.stopwords),
            token_pattern=None, lowercase=False, ngram_range=self.word_ngram_range,
            min_df=self.min_df, max_features=self.max_features, sublinear_tf=True)
        chars = TfidfVectorizer(analyzer="char", ngram_range=self.char_ngram_range,
                                min_df=self.min_df, max_features=self.max_features,
                                sublinear_tf=True, lowercase=True)
        return FeatureUnion([("words", words), ("chars", chars)])

    def make_head(self, y: np.ndarray) -> Any:
        """An unfitted linear head (calibrated) suited to the labels ``y``."""
        if self.model not in MODELS:
            raise ValueError(f"LetterClassifier: model={self.model!r}; expected one of {MODELS}")
        if self.model == "logreg":
            return LogisticRegression(C=self.C, max_iter=2000, class_weight=self.class_weight)
        smallest = int(np.unique(y, return_counts=True)[1].min())
        svm = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=0)
        folds = min(self.calibration_cv, smallest)
        if folds < 2:
            # a class seen once cannot be calibrated by cross-validation: fit and calibrate
            # on the same data (scores are then over-confident for that head; noted in the card)
            return CalibratedClassifierCV(svm, cv=2, method="sigmoid", ensemble=False) \
                if smallest > 1 else _SingleFitCalibrated(svm)
        # ensemble=False: one SVM fitted on all letters, its scores calibrated on
        # cross-validated decisions — a third of the size and prediction time of an ensemble
        return CalibratedClassifierCV(svm, cv=folds, method="sigmoid", ensemble=False)

    def fit(self, X: Any, y: Any) -> LetterClassifier:
        """Fit the features and one linear head per column of ``y``.

        Parameters
        ----------
        X : sequence of str
            Normalized letter texts.
        y : array-like of shape (n,) or (n, n_heads)
            Labels; every head needs at least two classes.

        Returns
        -------
        self
        """
        texts = _check_texts(X, "LetterClassifier.fit: X")
        Y = np.asarray(y, dtype=object)
        if Y.ndim not in (1, 2) or Y.shape[0] != len(texts):
            raise ValueError(f"LetterClassifier.fit: y has shape {Y.shape}; expected "
                             f"({len(texts)},) or ({len(texts)}, n_heads)")
        self.multi_output_ = Y.ndim == 2
        Y2 = Y if Y.ndim == 2 else Y.reshape(-1, 1)
        Y2 = Y2.astype(str)
        self.features_ = self._make_features()
        Xf = self.features_.fit_transform(texts)
        for _, vectorizer in self.features_.transformer_list:
            # the terms pruned by min_df are kept only for introspection; they can be larger
            # than the model itself (scikit-learn's documentation says to drop them)
            vectorizer.stop_words_ = None
        for j in range(Y2.shape[1]):
            classes = np.unique(Y2[:, j])
            if len(classes) < 2:
                raise ValueError(f"LetterClassifier.fit: column {j} of y has only the class "
                                 f"{classes.tolist()}; a head needs at least two classes")
        # liblinear releases the GIL: the heads train side by side in threads
        heads = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(self.make_head(Y2[:, j]).fit)(Xf, Y2[:, j]) for j in range(Y2.shape[1]))
        self.heads_ = [_to_float32(h) for h in heads]
        classes_ = [h.classes_ for h in self.heads_]
        self.classes_ = classes_ if self.multi_output_ else classes_[0]
        self.n_outputs_ = len(self.heads_)
        return self

    # -- prediction ------------------------------------------------------------------------
    def transform_texts(self, X: Any) -> sparse.csr_matrix:
        """The shared feature matrix of ``X`` (compute once, pass to ``predict_proba_features``)."""
        check_is_fitted(self, "heads_")
        return self.features_.transform(_check_texts(X, "LetterClassifier: X")).tocsr()

    def predict_proba_features(self, Xf: sparse.csr_matrix,
                               heads: list[int] | None = None) -> list[np.ndarray]:
        """Probabilities of every head (or of ``heads``, by index) from a precomputed feature
        matrix: the same numbers as each head's ``predict_proba``, in one product for all."""
        check_is_fitted(self, "heads_")
        return self._linear().predict_proba(Xf, range(len(self.heads_)) if heads is None
                                            else heads)

    def _linear(self) -> _StackedHeads:
        stacked = self.__dict__.get("_stacked")
        if stacked is None:
            with _STACK_LOCK:
                stacked = self.__dict__.get("_stacked")
                if stacked is None:
                    stacked = self.__dict__["_stacked"] = _StackedHeads.build(self.heads_)
        return stacked

    def predict_proba(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Calibrated class probabilities, columns ordered as ``classes_``."""
        probs = self.predict_proba_features(self.transform_texts(X))
        return probs if self.multi_output_ else probs[0]

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class (per head: shape (n, n_heads) for a 2-D ``y``)."""
        probs = self.predict_proba_features(self.transform_texts(X))
        cols = [h.classes_[p.argmax(axis=1)] for h, p in zip(self.heads_, probs, strict=True)]
        return np.column_stack(cols) if self.multi_output_ else cols[0]

    # -- explanation -----------------------------------------------------------------------
    def explain(self, Xf_row: sparse.csr_matrix, head: int, label: str, k: int = 6) -> list[str]:
        """Words of one letter that push most towards ``label`` in head ``head``.

        Parameters
        ----------
        Xf_row : sparse matrix of shape (1, n_features)
            The letter's features (from ``transform_texts``).
        head : int
            Index of the head (column of ``y``).
        label : str
            The class to explain.
        k : int
            How many terms to return.

        Returns
        -------
        list of str
            Up to ``k`` word features (jieba tokens or word bigrams), strongest first.
        """
        check_is_fitted(self, "heads_")
        coef = self._word_coef(head, label)
        n_words = len(coef)
        row = Xf_row.tocsr()
        words = row.indices < n_words
        js, data = row.indices[words], row.data[words]
        weights = coef[js]
        pushing = weights > 0
        # (score, index) pairs, strongest first; ties go to the larger index
        scores = sorted(zip((data[pushing] * weights[pushing]).tolist(), js[pushing].tolist(),
                            strict=True), reverse=True)
        names = self._word_names()
        return [names[j].replace(" ", "") for _, j in scores[:k]]

    def _word_coef(self, head: int, label: str) -> np.ndarray:
        """The word-feature part of a class's weights (``_coef``), computed once per class."""
        cache = self.__dict__.setdefault("_word_coef_cache", {})
        key = (head, label)
        if key not in cache:
            est = self.heads_[head]
            n_words = len(self._word_vocabulary())
            cache[key] = _coef(est, list(est.classes_).index(label))[:n_words].copy()
        return cache[key]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: the live __dict__ keeps its cache
        state.pop("_word_coef_cache", None)  # derived from the weights; not saved with them
        state.pop("_stacked", None)
        return state

    def _word_vocabulary(self) -> dict[str, int]:
        return self.features_.transformer_list[0][1].vocabulary_

    def _word_names(self) -> np.ndarray:
        if not hasattr(self, "_word_names_cache"):
            self._word_names_cache = self.features_.transformer_list[0][1].get_feature_names_out()
        return self._word_names_cache


class _SingleFitCalibrated(ClassifierMixin, BaseEstimator):
    """Sigmoid calibration on the training data itself, for heads with a class seen once."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> _SingleFitCalibrated:
        from sklearn.base import clone

        self.base_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.base_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        d = self.base_.decision_function(X)
        if d.ndim == 1:
            p = 1 / (1 + np.exp(-d))
            return np.column_stack([1 - p, p])
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def _linear_models(est: Any) -> list[Any]:
    """The fitted linear models inside a head (one per calibration fold, or the head itself)."""
    if isinstance(est, CalibratedClassifierCV):
        return [c.estimator for c in est.calibrated_classifiers_]
    if isinstance(est, _SingleFitCalibrated):
        return [est.base_]
    return [est]


def _to_float32(est: Any) -> Any:
    """Store a head's weights in float32: half the model file, the same decisions (the
    probabilities move by about 1e-7)."""
    for model in _linear_models(est):
        model.coef_ = model.coef_.astype(np.float32)
        model.intercept_ = np.asarray(model.intercept_, dtype=np.float32)
    return est


def _coef(est: Any, class_index: int) -> np.ndarray:
    """Linear weights of one class, averaged over calibration folds when there are several."""
    rows = []
    for b in _linear_models(est):
        c = b.coef_
        if c.shape[0] == 1:  # binary: one row, positive for classes_[1]
            rows.append(c[0] if class_index == 1 else -c[0])
        else:
            rows.append(c[class_index])
    return np.asarray(np.mean(rows, axis=0)).ravel()


_STACK_LOCK = threading.Lock()


@dataclass
class _Part:
    """One calibrated linear model of a head: its columns in the stacked weights."""

    start: int
    stop: int
    a: np.ndarray  # sigmoid calibration of each column: p = expit(-(a * d + b))
    b: np.ndarray
    class_index: np.ndarray  # the head class each column scores
    n_classes: int


@dataclass
class _StackedHeads:
    """The linear models of all heads side by side in one weight matrix (features × columns).

    ``CalibratedClassifierCV.predict_proba`` casts the float32 weights of a head to float64
    in full at every call (scipy upcasts the dense operand of a sparse product): 170,000
    features × 75 classes copied to score one letter, which was most of the time a single
    suggestion took. Here only the rows of the features a batch uses are cast, all heads are
    scored in one product, and the sigmoid calibration runs vectorised. The sums run over
    each letter's features in the same order as scipy's, so the probabilities are the same
    numbers (checked in tests/triage/test_classify.py). Heads of another kind (a logistic
    regression, a class seen once) keep their own ``predict_proba``.
    """

    weights: np.ndarray  # (n_features, n_columns), C order
    intercept: np.ndarray  # (n_columns,) float64
    parts: list[list[_Part] | None]  # per head; None: ask the head itself
    heads: list[Any]

    @classmethod
    def build(cls, heads: list[Any]) -> _StackedHeads:
        plans: list[list[tuple[Any, Any]] | None] = []
        for h in heads:
            ok = (isinstance(h, CalibratedClassifierCV) and h.method == "sigmoid"
                  and all(hasattr(c.estimator, "coef_")
                          and hasattr(c.estimator, "decision_function")
                          and all(hasattr(k, "a_") for k in c.calibrators)
                          for c in h.calibrated_classifiers_))
            plans.append([(c, c.estimator) for c in h.calibrated_classifiers_] if ok else None)
        models = [m for plan in plans if plan for _, m in plan]
        n_features = models[0].coef_.shape[1] if models else 0
        dtype = np.result_type(*(m.coef_.dtype for m in models)) if models else np.float64
        width = sum(m.coef_.shape[0] for m in models)
        weights = np.empty((n_features, width), dtype=dtype)
        intercept = np.zeros(width)
        parts: list[list[_Part] | None] = []
        at = 0
        for plan in plans:
            if plan is None:
                parts.append(None)
                continue
            head_parts = []
            for cal, model in plan:
                k = model.coef_.shape[0]
                weights[:, at:at + k] = model.coef_.T
                # the model keeps its weights as a view of the stack: no second copy in memory
                model.coef_ = weights[:, at:at + k].T
                intercept[at:at + k] = np.asarray(model.intercept_, dtype=np.float64).ravel()
                classes = np.asarray(cal.classes)
                index = np.searchsorted(classes, model.classes_)
                if len(classes) == 2:
                    index = np.array([1])  # binary: the one column scores classes[1]
                head_parts.append(_Part(
                    at, at + k, np.array([float(c.a_) for c in cal.calibrators]),
                    np.array([float(c.b_) for c in cal.calibrators]), index, len(classes)))
                at += k
            parts.append(head_parts)
        return cls(weights, intercept, parts, list(heads))

    def predict_proba(self, Xf: Any, heads: Any) -> list[np.ndarray]:
        from scipy.special import expit

        heads = list(heads)
        Xf = sparse.csr_matrix(Xf)
        n = Xf.shape[0]
        cols = np.concatenate([np.arange(p.start, p.stop) for j in heads
                               for p in (self.parts[j] or ())] or [np.zeros(0, dtype=np.intp)])
        if len(cols):
            used, inverse = np.unique(Xf.indices, return_inverse=True)
            x = sparse.csr_matrix((Xf.data, inverse.ravel(), Xf.indptr), shape=(n, len(used)))
            w = self.weights[np.ix_(used, cols)].astype(np.float64)
            decision = np.asarray(x @ w) + self.intercept[cols]
            where = {int(c): i for i, c in enumerate(cols)}
        out = []
        for j in heads:
            if self.parts[j] is None:
                out.append(self.heads[j].predict_proba(Xf))
                continue
            mean = np.zeros((n, self.parts[j][0].n_classes))
            for p in self.parts[j]:
                d = decision[:, where[p.start]:where[p.start] + (p.stop - p.start)]
                cal = expit(-(p.a * d + p.b))
                proba = np.zeros_like(mean)
                proba[:, p.class_index] = cal
                if p.n_classes == 2:
                    proba[:, 0] = 1.0 - proba[:, 1]
                else:
                    total = proba.sum(axis=1)[:, np.newaxis]
                    proba = np.divide(proba, total, out=np.full_like(proba, 1 / p.n_classes),
                                      where=total != 0)
                mean += proba
            out.append(mean / len(self.parts[j]))
        return out

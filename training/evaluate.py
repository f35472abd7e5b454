"""Evaluation: accuracy, macro-F1 and per-class figures, next to two baselines in the same run.

Baselines (DESIGN §6): TF-IDF over characters 1–3 + LinearSVC, and TF-IDF over plain jieba
words + ComplementNB. Both see the raw title + text; our model sees the normalized letter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import LinearSVC
from tqdm import tqdm

from triage.classify import LetterClassifier

# chosen by 5-fold CV on the corpus and on the 495 real messages (bench/select_model.py)
DEFAULT_PARAMS: dict[str, Any] = {"model": "svm", "C": 1.0, "min_df": 2,
                                  "word_ngram_range": (1, 1), "n_jobs": -1}


def plain_jieba(text: str) -> list[str]:
    """jieba's own dictionary, no user dictionary or stop words (the baseline's tokenizer)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return list(jieba.lcut(text))


def baseline_char_svm() -> Pipeline:
    """TF-IDF(char 1–3) + LinearSVC."""
    return make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
                         LinearSVC())


def baseline_word_cnb() -> Pipeline:
    """jieba TF-IDF + ComplementNB."""
    return make_pipeline(TfidfVectorizer(tokenizer=plain_jieba, token_pattern=None,
                                         lowercase=False), ComplementNB())


BASELINES: dict[str, Callable[[], Any]] = {"char_svm": baseline_char_svm,
                                           "jieba_cnb": baseline_word_cnb}


def score(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """accuracy, macro_f1 and per_class {label: precision, recall, f1, support}."""
    labels = sorted(set(y_true) | set(y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = {lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                       "f1": round(float(f[i]), 4), "support": int(s[i])}
                 for i, lab in enumerate(labels)}
    return {"accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
            "macro_f1": round(float(f1_score(y_true, y_pred, labels=sorted(set(y_true)),
                                             average="macro", zero_division=0)), 4),
            "n": len(y_true), "per_class": per_class}


def _fit_predict(make: Callable[[], Any], X_train: list[str], y_train: np.ndarray,
                 X_test: list[str]) -> np.ndarray:
    return make().fit(X_train, y_train).predict(X_test)


def compare(ours: Callable[[], Any], ours_X: list[str], raw_X: list[str], y: Sequence[str], *,
            cv: int | None = None, test: tuple[list[str], list[str], Sequence[str]] | None = None,
            seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Our model and both baselines on the same folds (``cv``) or the same held-out set.

    Parameters
    ----------
    ours : callable
        Makes an unfitted estimator of ours (it gets ``ours_X``).
    ours_X, raw_X : list of str
        The training letters as our model sees them (normalized) and as the baselines do.
    y : sequence of str
        Labels.
    cv : int or None
        Stratified K-fold cross-validation when given.
    test : (ours_X, raw_X, y) or None
        A held-out set instead of cross-validation.

    Returns
    -------
    dict
        Our figures (accuracy, macro_f1, per_class …) plus ``baselines`` with the same keys.
    """
    y_arr = np.asarray(y, dtype=object).astype(str)
    models: dict[str, tuple[Callable[[], Any], list[str]]] = {"ours": (ours, ours_X)}
    for name, make in BASELINES.items():
        models[name] = (make, raw_X)
    if test is not None:
        t_ours, t_raw, t_y = test
        truth = np.asarray(t_y, dtype=object).astype(str)
        preds = {}
        for name, (make, X) in tqdm(models.items(), desc="evaluate", disable=not progress):
            preds[name] = _fit_predict(make, X, y_arr, t_ours if name == "ours" else t_raw)
        method = "holdout"
    else:
        k = cv or 5
        smallest = int(np.unique(y_arr, return_counts=True)[1].min())
        if smallest < k:
            from triage.errors import DataError

            raise DataError(f"--cv {k}: the rarest label has only {smallest} letters; use "
                            f"--cv {max(2, smallest)} or fewer, or add letters of that label")
        folds = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(ours_X, y_arr))
        truth = y_arr
        preds = {name: np.empty(len(y_arr), dtype=object) for name in models}
        steps = [(name, i) for i in range(k) for name in models]
        for name, i in tqdm(steps, desc=f"{k}-fold CV", disable=not progress):
            make, X = models[name]
            tr, te = folds[i]
            preds[name][te] = _fit_predict(make, [X[j] for j in tr], y_arr[tr],
                                           [X[j] for j in te])
        method = f"{k}-fold CV"
    out = score(list(truth), list(preds["ours"].astype(str)))
    out["method"] = method
    out["baselines"] = {name: score(list(truth), list(preds[name].astype(str)))
                        for name in BASELINES}
    return out


def default_estimator() -> LetterClassifier:
    """Our single-head estimator with the chosen defaults."""
    return LetterClassifier(**DEFAULT_PARAMS)

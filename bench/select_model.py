"""Model selection by measurement: K-fold CV of candidate LetterClassifier settings.

    .venv/bin/python bench/select_model.py                       # corpus training letters
    .venv/bin/python bench/select_model.py --data F.csv --title-col title --label-col label

Prints accuracy and macro-F1 per candidate on the same folds (issue type head). The default in
training/evaluate.py (DEFAULT_PARAMS) was chosen from this table; see the model card.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.model_selection import StratifiedKFold, cross_val_predict  # noqa: E402

from training.data import read_corpus, read_labelled  # noqa: E402
from training.evaluate import score  # noqa: E402
from training.train import prepare_all  # noqa: E402
from triage.classify import LetterClassifier  # noqa: E402

CANDIDATES = [
    {"model": "svm", "C": 0.5},
    {"model": "svm", "C": 1.0, "min_df": 2},
    {"model": "svm", "C": 1.0, "min_df": 2, "word_ngram_range": (1, 1)},
    {"model": "svm", "C": 1.0, "min_df": 2, "word_ngram_range": (1, 1),
     "char_ngram_range": (1, 2)},
    {"model": "svm", "C": 1.0, "min_df": 2, "char_ngram_range": (2, 4)},
    {"model": "logreg", "C": 20.0, "min_df": 2, "word_ngram_range": (1, 1)},
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data")
    ap.add_argument("--text-col", default="text")
    ap.add_argument("--title-col")
    ap.add_argument("--label-col", default="label")
    ap.add_argument("--cv", type=int, default=5)
    args = ap.parse_args()
    if args.data:
        data = read_labelled(args.data, text_col=args.text_col, title_col=args.title_col,
                             label_cols={"issue_type": args.label_col})
    else:
        data = read_corpus("train")
    X, y = prepare_all(data), data.labels["issue_type"]
    folds = StratifiedKFold(args.cv, shuffle=True, random_state=0)
    print(f"{len(X)} letters from {data.source}, {args.cv}-fold CV")
    print(f"{'accuracy':>8} {'macro-F1':>8} {'seconds':>8}  params")
    for params in CANDIDATES:
        start = time.perf_counter()
        pred = cross_val_predict(LetterClassifier(**params), X, y, cv=folds)
        res = score(y, list(pred))
        print(f"{res['accuracy']:>8.3f} {res['macro_f1']:>8.3f} "
              f"{time.perf_counter() - start:>8.1f}  {params}")


if __name__ == "__main__":
    main()

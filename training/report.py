"""Model card and confusion-matrix chart of a model version."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def plot_confusion(truth: list[str], pred: list[str], path: Path, title: str) -> None:
    """Write a confusion-matrix PNG; non-ASCII labels are numbered (mapping in the card)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(truth) | set(pred))
    ticks = [lab if lab.isascii() else f"#{i + 1}" for i, lab in enumerate(labels)]
    cm = confusion_matrix(truth, pred, labels=labels)
    size = max(5.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), ticks, rotation=90)
    ax.set_yticks(range(len(labels)), ticks)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.tight_layout()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(per_class: dict[str, dict[str, float]]) -> list[str]:
    rows = ["| class | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
    for lab, m in per_class.items():
        rows.append(f"| {lab} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                    f"{m['support']} |")
    return rows


def model_card(meta: dict[str, Any]) -> str:
    """MODEL_CARD.md text from a version's metadata."""
    ev = meta.get("evaluation", {})
    lines = [f"# Model card — {meta['version']}", "",
             f"Trained {meta['created']} on {meta['data']['n_letters']} letters from "
             f"`{meta['data']['source']}` (data sha256 {meta['data']['sha256'][:12]}…).", "",
             "## Model", "",
             f"LetterClassifier {meta['params']}: jieba word n-grams (corpus/userdict.txt, "
             "stop words) and character n-grams, TF-IDF, one linear head per label "
             f"({', '.join(meta['heads'])}) with calibrated probabilities. "
             f"needs_review below an issue-type score of {meta['review_threshold']:.2f} "
             "(chosen on out-of-fold predictions of the training letters).", "",
             "## Training data", "", "| label | letters |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in meta["data"]["label_counts"].items()]
    lines += ["", "## Evaluation", ""]
    if not ev:
        lines.append("No held-out set was given; run `triage evaluate` for cross-validated "
                     "figures.")
    for head, res in ev.items():
        lines += [f"### {head} ({res.get('method', '')}, n = {res.get('n')})", ""]
        summary = {k: v for k, v in res.items()
                   if isinstance(v, int | float) and k not in ("n",)}
        lines.append(", ".join(f"{k} {v:.3f}" for k, v in summary.items()))
        for name, b in (res.get("baselines") or {}).items():
            figures = ", ".join(f"{k} {b[k]:.3f}" for k in ("accuracy", "macro_f1",
                                                            "precision", "recall") if k in b)
            lines.append(f"- baseline {name}: {figures}")
        if res.get("per_class"):
            lines += [""] + _table(res["per_class"])
        lines.append("")
    lines += ["## Reproduce", "", f"`{meta.get('command', 'triage train')}` — with the same "
              f"corpus (data sha256 above) and library versions.", ""]
    lines += ["## Known limits", "",
              "- The corpus letters are written by the project team, not real mail; check the "
              "figures on your own letters with `triage evaluate` before relying on them.",
              "- Scores are calibrated on the training distribution; a new kind of letter can "
              "get a confident wrong answer. Clerks confirm every suggestion.",
              "- Rare subtypes (few letters) are the least reliable head.",
              f"- Library versions: {meta['libraries']}.", ""]
    return "\n".join(lines)

"""Flags: collective, skip_level, repeat, danger — each with the evidence a clerk can check.

Rules (word lists in corpus/rules.yaml, one sentence at a time, with ``unless`` patterns that
cancel a match in the same sentence, e.g. a news quote) and a learned component: a calibrated
head per flag, trained with the model. A rule match stands unless the head finds it very
unlikely; where the rules are silent the head alone raises the flag at a higher score. Both
thresholds are chosen on out-of-fold predictions (:func:`choose_thresholds`). A danger flag
always means review.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from triage.rules import FlagRule, Rules

_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]*")
MAX_EVIDENCE = 80
_CLAUSE = "，,：:"


@dataclass(frozen=True)
class FlagHit:
    id: str
    evidence: str
    source: str  # "rule", "model" or "store"
    score: float = 1.0


def sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs; a sentence ends at 。！？； or a line break."""
    return [(m.start(), m.group()) for m in _SENTENCE.finditer(text) if m.group().strip()]


def _clip(sentence: str, start: int, end: int) -> str:
    """The sentence, or a window of it around [start, end) when it is long."""
    s = sentence.strip()
    if len(s) <= MAX_EVIDENCE:
        return s
    pad = max(0, (MAX_EVIDENCE - (end - start)) // 2)
    a = max(0, start - pad)
    return sentence[a:a + MAX_EVIDENCE].strip()


def _cancelled_in_clause(rule: FlagRule, sent: str, start: int, end: int) -> bool:
    """Whether an ``unless_clause`` pattern occurs in the clause (between commas) of a match."""
    if not rule.unless_clause:
        return False
    a = max(sent.rfind(c, 0, start) for c in _CLAUSE) + 1
    ends = [i for i in (sent.find(c, end) for c in _CLAUSE) if i >= 0]
    clause = sent[a:min(ends) if ends else len(sent)]
    return any(u.search(clause) for u in rule.unless_clause)


def rule_hit(rule: FlagRule, text: str, max_people: Callable[[str], int] | None = None,
             ) -> str | None:
    """Evidence (a sentence or window of it) where the rule fires, or None.

    Parameters
    ----------
    rule : FlagRule
        Patterns, ``unless`` patterns, and for ``collective`` the least count of people.
    text : str
        The normalized letter.
    max_people : callable, optional
        Largest count of people a sentence names (from the extractor), for ``min_people``.
    """
    for _, sent in sentences(text):
        if any(u.search(sent) for u in rule.unless):
            continue
        for rx in rule.patterns:
            for m in rx.finditer(sent):
                if not _cancelled_in_clause(rule, sent, m.start(), m.end()):
                    return _clip(sent, m.start(), m.end())
        if (rule.min_people and max_people is not None
                and (rule.people_context is None or rule.people_context.search(sent))
                and max_people(sent) >= rule.min_people):
            return _clip(sent, 0, len(sent))
    return None


def detect(rules: Rules, text: str, model_scores: dict[str, float] | None = None,
           thresholds: dict[str, tuple[float, float]] | None = None,
           sentence_scorer: Callable[[str, list[str]], list[float]] | None = None,
           max_people: Callable[[str], int] | None = None) -> list[FlagHit]:
    """All flags of one letter, rules first, then the learned heads where the rules are silent.

    Parameters
    ----------
    rules : Rules
    text : str
        Normalized letter text.
    model_scores : dict of flag id to calibrated probability, optional
    thresholds : dict of flag id to the score at which the learned head raises the flag
    sentence_scorer : callable(flag id, sentences) -> scores, optional
        Scores single sentences, to show the most telling one as the model's evidence.
    max_people : callable(sentence) -> int, optional
    """
    hits: list[FlagHit] = []
    model_scores = model_scores or {}
    thresholds = thresholds or {}
    for fid, rule in rules.flags.items():
        ev = rule_hit(rule, text, max_people)
        p = model_scores.get(fid)
        t_rule, t_model = thresholds.get(fid, (0.0, 1.01))
        if ev is not None:
            if p is None or p >= t_rule:
                hits.append(FlagHit(fid, ev, "rule", round(float(p), 4) if p is not None
                                    else 1.0))
            continue
        if p is None or p < t_model:
            continue
        sents = [s for _, s in sentences(text)]
        evidence = ""
        if sents and sentence_scorer is not None:
            scores = sentence_scorer(fid, sents)
            best = max(range(len(sents)), key=lambda i: scores[i])
            evidence = _clip(sents[best], 0, len(sents[best]))
        hits.append(FlagHit(fid, evidence, "model", round(float(p), 4)))
    return hits


def choose_thresholds(scores: Sequence[float], rule_fired: Sequence[bool],
                      truth: Sequence[bool], target_recall: float | None,
                      ) -> tuple[float, float]:
    """The two thresholds of a flag, chosen on out-of-fold scores of the training letters.

    A flag is raised when a rule fires and the learned score is at least ``t_rule`` (the rules
    are broad; the model vetoes a match it finds unconvincing), or when no rule fires and the
    score is at least ``t_model``. With ``target_recall`` the pair with the best F1 among those
    whose recall reaches the target; otherwise the pair with the best F1.

    Returns
    -------
    tuple of (t_rule, t_model)
    """
    s = np.asarray(scores, dtype=float)
    r = np.asarray(rule_fired, dtype=bool)
    y = np.asarray(truth, dtype=bool)
    pos = int(y.sum())
    if pos == 0:
        return 0.0, 1.01
    best: tuple[float, float, float, float] | None = None  # (ok, f1, t_rule, t_model)
    for t_rule in (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5):
        for t_model in [*np.round(np.arange(0.05, 1.0, 0.01), 2), 1.01]:
            pred = np.where(r, s >= t_rule, s >= t_model)
            tp = int((pred & y).sum())
            fp = int((pred & ~y).sum())
            recall = tp / pos
            precision = tp / (tp + fp) if tp + fp else 1.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            ok = 1.0 if target_recall is None or recall >= target_recall else recall
            key = (ok, f1, t_rule, float(t_model))
            if best is None or key[:2] > best[:2]:
                best = key
    assert best is not None
    return best[2], best[3]

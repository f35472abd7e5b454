"""``Triage``: the one entry point — text in, ``Suggestion`` out.

normalize → segment (inside the classifier's word features) → classify → route → Suggestion.
The CLI, the service and the bulk runner all call this; none of them repeats its logic.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from triage.catalog import NATURES, Catalog, load_catalog
from triage.classify import LetterClassifier
from triage.errors import LetterError, ModelError
from triage.modelstore import load_verified
from triage.normalize import normalize_text
from triage.route import rank_agencies
from triage.suggestion import (
    AgencyScore,
    Explanation,
    IssueScore,
    LitigationScore,
    NatureScore,
    Suggestion,
)

HEADS = ("issue_type", "subtype", "agency", "nature", "litigation_related")
BUNDLE_FORMAT = 1


def compose_text(text: str, title: str | None = None, title_repeat: int = 2) -> str:
    """Join an optional title to the letter body; the title is repeated to weigh more.

    Training and suggestion both use this, so a model sees letters the same way in both.
    """
    if title and title.strip():
        return "\n".join([title.strip()] * title_repeat + [text])
    return text


def prepare_letter(text: Any, title: Any = None, *, max_chars: int = 200_000,
                   where: str = "letter") -> str:
    """Validate and normalize one letter; raise ``LetterError`` saying what to fix.

    Parameters
    ----------
    text, title : str
        The letter body and optional title.
    max_chars : int
        Longest letter accepted (after normalization).
    where : str
        Where the letter came from, for the message (a file name, a row, an endpoint).

    Returns
    -------
    str
        The normalized text the classifier sees.
    """
    if not isinstance(text, str):
        raise LetterError(f"{where}: the text is {type(text).__name__}, expected a string")
    if title is not None and not isinstance(title, str):
        raise LetterError(f"{where}: the title is {type(title).__name__}, expected a string")
    def too_long(n: int) -> LetterError:
        return LetterError(f"{where}: the letter has {n:,} characters; the limit is "
                           f"{max_chars:,} (split it, or raise limits.max_letter_chars)")

    if len(text) > 4 * max_chars:  # refuse before normalizing something that large
        raise too_long(len(text))
    body = normalize_text(text)
    if not body:
        raise LetterError(f"{where}: the letter is empty (nothing but whitespace or markup); "
                          "send the letter's text")
    if len(body) > max_chars:
        raise too_long(len(body))
    return compose_text(body, normalize_text(title) if title else None)


def combine_issue_scores(level1: dict[str, float], subtype: dict[str, float],
                         weight: float) -> dict[str, float]:
    """Blend the level-1 head with the subtype head summed per level-1 type.

    Parameters
    ----------
    level1 : dict of issue type id to probability
    subtype : dict of subtype id (``type.sub``) to probability; may be empty
    weight : float
        Share of the subtype head, from ``policy.yaml`` (scoring.subtype_weight).

    Returns
    -------
    dict of issue type id to score (sums to 1 when both inputs do)
    """
    if not subtype or not level1:
        return dict(level1)
    summed: dict[str, float] = {}
    for sid, p in subtype.items():
        iid = sid.split(".", 1)[0]
        summed[iid] = summed.get(iid, 0.0) + p
    return {iid: (1 - weight) * p + weight * summed.get(iid, 0.0) for iid, p in level1.items()}


class Triage:
    """A loaded model with its catalog; turns letters into suggestions.

    Use :meth:`load`; the constructor takes already-verified parts.
    """

    def __init__(self, bundle: dict[str, Any], metadata: dict[str, Any],
                 catalog: Catalog) -> None:
        if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
            raise ModelError("the model file is not a triage model bundle of format "
                             f"{BUNDLE_FORMAT}; retrain it with this version of `triage train`")
        self.classifier: LetterClassifier = bundle["classifier"]
        self.heads: list[str] = list(bundle["heads"])
        self.metadata = metadata
        self.catalog = catalog
        self.review_threshold = float(bundle.get("review_threshold",
                                                 catalog.policy.min_issue_score))

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str] | None = None,
             corpus_dir: str | os.PathLike[str] | None = None) -> Triage:
        """Load the current model of a store (default: ``$TRIAGE_MODEL_STORE`` or models/).

        Parameters
        ----------
        model_dir : path or None
            A model store, or one version folder inside a store.
        corpus_dir : path or None
            Folder with taxonomy.yaml / agencies.yaml / policy.yaml (default corpus/).

        Raises
        ------
        ModelError
            No model, or its checksum does not match the store's manifest.
        CatalogError
            The catalogs are inconsistent.
        """
        bundle, metadata = load_verified(model_dir)
        return cls(bundle, metadata, load_catalog(corpus_dir))

    @property
    def model_version(self) -> str:
        return str(self.metadata.get("version", "unknown"))

    def suggest(self, text: str, title: str | None = None,
                received: dt.date | None = None) -> Suggestion:
        """Suggest issue type, agency, nature and litigation routing for one letter.

        ``received`` is accepted for the deadlines; they are not computed yet (empty dict).

        Raises
        ------
        LetterError
            The letter is empty, too long, or not a string.
        """
        return self.suggest_many([text], [title], received=received)[0]

    def suggest_many(self, texts: Sequence[str], titles: Sequence[str | None] | None = None,
                     received: dt.date | None = None) -> list[Suggestion]:
        """Suggestions for a batch of letters (features are computed in one pass)."""
        titles = list(titles) if titles is not None else [None] * len(texts)
        if len(titles) != len(texts):
            raise LetterError(f"suggest_many: {len(texts)} texts but {len(titles)} titles")
        limit = self.catalog.policy.max_letter_chars
        prepared = [prepare_letter(t, ti, max_chars=limit,
                                   where=f"letter {i + 1}" if len(texts) > 1 else "letter")
                    for i, (t, ti) in enumerate(zip(texts, titles, strict=True))]
        if not prepared:
            return []
        features = self.classifier.transform_texts(prepared)
        probs = self.classifier.predict_proba_features(features)
        return [self._build(features[i], [p[i] for p in probs]) for i in range(len(prepared))]

    # -- assembling one suggestion ---------------------------------------------------------
    def _head(self, name: str, probs: list[np.ndarray]) -> dict[str, float] | None:
        if name not in self.heads:
            return None
        j = self.heads.index(name)
        return dict(zip(self.classifier.heads_[j].classes_.tolist(), probs[j].tolist(),
                        strict=True))

    def _build(self, row: Any, probs: list[np.ndarray]) -> Suggestion:
        cat = self.catalog
        subtype = self._head("subtype", probs) or {}
        issue = combine_issue_scores(self._head("issue_type", probs) or {}, subtype,
                                     cat.policy.subtype_weight)
        agency = self._head("agency", probs) or {}
        nature = self._head("nature", probs)
        lit = self._head("litigation_related", probs)
        ranked = sorted(issue.items(), key=lambda kv: -kv[1])[:3]
        issues = [self._issue_score(iid, score, subtype) for iid, score in ranked]
        lit_score = LitigationScore(value=lit.get("True", 0.0) >= cat.policy.litigation_threshold,
                                    score=round(lit.get("True", 0.0), 4)) if lit else None
        agencies = []
        if agency or any(s in cat.subtypes for s in subtype):
            for aid, score in rank_agencies(cat, agency, subtype,
                                            bool(lit_score and lit_score.value)):
                ag = cat.agencies.get(aid)
                agencies.append(AgencyScore(id=aid, name=ag.name if ag else aid,
                                            score=round(score, 4)))
        nat = None
        if nature:
            nid, nscore = max(nature.items(), key=lambda kv: kv[1])
            nat = NatureScore(id=nid, name=NATURES.get(nid, nid), score=round(nscore, 4))
        k = cat.policy.explanation_terms
        head_name = "issue_type" if "issue_type" in self.heads else self.heads[0]
        explanation = Explanation(
            issue_type=self.classifier.explain(row, self.heads.index(head_name),
                                               ranked[0][0], k) if ranked else [],
            agency=(self.classifier.explain(row, self.heads.index("agency"), agencies[0].id, k)
                    if agencies and agencies[0].id in agency else []))
        top_score = ranked[0][1] if ranked else 0.0
        return Suggestion(model_version=self.model_version, issue_type=issues,
                          litigation_related=lit_score, nature=nat, agency=agencies,
                          explanation=explanation,
                          needs_review=top_score < self.review_threshold)

    def _issue_score(self, iid: str, score: float, subtype: dict[str, float]) -> IssueScore:
        it = self.catalog.issue_types.get(iid)
        subs = {s: p for s, p in subtype.items() if s.startswith(f"{iid}.")}
        sid = max(subs, key=lambda s: subs[s]) if subs else None
        sub = self.catalog.subtypes.get(sid) if sid else None
        return IssueScore(id=iid, name=it.name if it else iid, subtype=sid,
                          subtype_name=sub.name if sub else None, score=round(score, 4))

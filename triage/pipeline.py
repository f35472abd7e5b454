"""``Triage``: the one entry point — text in, ``Suggestion`` out.

normalize → segment (inside the classifier's word features) → extract (spaCy) → classify →
route (事权, 属地, 访诉分离) → flags → deadlines → Suggestion.
The CLI, the service and the bulk runner all call this; none of them repeats its logic.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from triage.catalog import NATURES, Catalog, load_catalog
from triage.classify import LetterClassifier
from triage.deadlines import compute, load_deadline_rules
from triage.errors import LetterError, ModelError
from triage.extract import Extraction, Extractor, people_counter
from triage.flags import FlagHit, detect
from triage.modelstore import load_verified
from triage.normalize import normalize_text
from triage.redact import redact
from triage.route import rank_agencies
from triage.rules import load_rules
from triage.suggestion import (
    AgencyScore,
    Explanation,
    Flag,
    IssueScore,
    Jurisdiction,
    LegalChannel,
    LitigationScore,
    NatureScore,
    PlaceOption,
    Similar,
    Suggestion,
)

log = logging.getLogger(__name__)
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
    """Validate and normalize one letter; the text the classifier sees (title weighed twice).

    See :func:`normalize_letter` for the parameters and errors.
    """
    body, head = normalize_letter(text, title, max_chars=max_chars, where=where)
    return compose_text(body, head)


def normalize_letter(text: Any, title: Any = None, *, max_chars: int = 200_000,
                     where: str = "letter") -> tuple[str, str | None]:
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
    tuple of (str, str or None)
        The normalized body and title.
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
    return body, (normalize_text(title) or None) if title else None


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


class _StageClock:
    """Adds the seconds since the previous lap to ``timings[stage]`` (nothing without it)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
            self.last = now


class Triage:
    """A loaded model with its catalog and rules; turns letters into suggestions.

    Use :meth:`load`; the constructor takes already-verified parts. Set :attr:`index` to a
    :class:`triage.similar.LetterIndex` of stored letters to link repeats.
    """

    def __init__(self, bundle: dict[str, Any], metadata: dict[str, Any],
                 catalog: Catalog, corpus_dir: str | os.PathLike[str] | None = None) -> None:
        if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
            raise ModelError("the model file is not a triage model bundle of format "
                             f"{BUNDLE_FORMAT}; retrain it with this version of `triage train`")
        self.classifier: LetterClassifier = bundle["classifier"]
        self.heads: list[str] = list(bundle["heads"])
        self.metadata = metadata
        self.catalog = catalog
        self.rules = load_rules(corpus_dir)
        self.deadline_rules = load_deadline_rules(corpus_dir)
        self.review_threshold = float(bundle.get("review_threshold",
                                                 catalog.policy.min_issue_score))
        self.flag_thresholds: dict[str, tuple[float, float]] = {
            k: (float(v[0]), float(v[1])) for k, v in (bundle.get("flag_thresholds") or {}).items()}
        self.place_ranker = bundle.get("place_ranker")
        self.people_count = people_counter(self.rules)
        self.index: Any = None  # a LetterIndex, when repeats are to be linked
        self._extractor: Extractor | None = None
        self._extractor_lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str] | None = None,
             corpus_dir: str | os.PathLike[str] | None = None) -> Triage:
        """Load the current model of a store (default: ``$TRIAGE_MODEL_STORE`` or models/).

        Parameters
        ----------
        model_dir : path or None
            A model store, or one version folder inside a store.
        corpus_dir : path or None
            Folder with taxonomy.yaml / agencies.yaml / policy.yaml / rules.yaml (default
            corpus/).

        Raises
        ------
        ModelError
            No model, or its checksum does not match the store's manifest.
        CatalogError
            The catalogs are inconsistent.
        """
        bundle, metadata = load_verified(model_dir)
        return cls(bundle, metadata, load_catalog(corpus_dir), corpus_dir)

    @property
    def model_version(self) -> str:
        return str(self.metadata.get("version", "unknown"))

    @property
    def extractor(self) -> Extractor:
        """The spaCy extraction pipeline, built on first use (it takes a few seconds)."""
        with self._extractor_lock:
            if self._extractor is None:
                self._extractor = Extractor(self.rules, self.catalog, self.place_ranker)
            return self._extractor

    def suggest(self, text: str, title: str | None = None,
                received: dt.date | None = None) -> Suggestion:
        """Suggest issue type, agency, nature, legal channel, flags and deadlines for a letter.

        Parameters
        ----------
        text, title : str
            The letter and its optional subject line.
        received : date, optional
            The day it arrived; the deadlines are counted from it (none without it).

        Raises
        ------
        LetterError
            The letter is empty, too long, or not a string.
        """
        return self.suggest_many([text], [title], received=received)[0]

    def suggest_many(self, texts: Sequence[str], titles: Sequence[str | None] | None = None,
                     received: dt.date | Sequence[dt.date | None] | None = None,
                     ) -> list[Suggestion]:
        """Suggestions for a batch of letters (features are computed in one pass)."""
        titles = list(titles) if titles is not None else [None] * len(texts)
        if len(titles) != len(texts):
            raise LetterError(f"suggest_many: {len(texts)} texts but {len(titles)} titles")
        days = (list(received) if isinstance(received, Sequence) and not isinstance(received, str)
                else [received] * len(texts))
        if len(days) != len(texts):
            raise LetterError(f"suggest_many: {len(texts)} texts but {len(days)} dates")
        limit = self.catalog.policy.max_letter_chars
        parts = [normalize_letter(t, ti, max_chars=limit,
                                  where=f"letter {i + 1}" if len(texts) > 1 else "letter")
                 for i, (t, ti) in enumerate(zip(texts, titles, strict=True))]
        return self.suggest_normalized(parts, days)

    def suggest_normalized(self, parts: Sequence[tuple[str, str | None]],
                           received: Sequence[dt.date | None] | None = None,
                           timings: dict[str, float] | None = None) -> list[Suggestion]:
        """Suggestions for letters already checked by :func:`normalize_letter`.

        Parameters
        ----------
        parts : sequence of (body, title or None)
            What ``normalize_letter`` returned for each letter.
        received : sequence of date or None, optional
            The day each letter arrived (deadlines are counted from it).
        timings : dict, optional
            Seconds spent per stage (``features``, ``classify``, ``extract``, ``assemble``)
            are added to it.
        """
        if not parts:
            return []
        days = list(received) if received is not None else [None] * len(parts)
        clock = _StageClock(timings)
        prepared = [compose_text(body, head) for body, head in parts]
        plain = [compose_text(body, head, title_repeat=1) for body, head in parts]
        features = self.classifier.transform_texts(prepared)
        clock.lap("features")
        probs = self.classifier.predict_proba_features(features)
        clock.lap("classify")
        extractions = self.extractor.extract_many(plain)
        clock.lap("extract")
        if log.isEnabledFor(logging.DEBUG):  # letters are personal data: never at INFO, redacted
            for i, text in enumerate(plain):
                log.debug("letter %d of %d: %s", i + 1, len(plain), redact(text)[:200])
        out = [self._build(features[i], [p[i] for p in probs], plain[i], extractions[i],
                           days[i]) for i in range(len(prepared))]
        clock.lap("assemble")
        return out

    # -- assembling one suggestion ---------------------------------------------------------
    def _head(self, name: str, probs: list[np.ndarray]) -> dict[str, float] | None:
        if name not in self.heads:
            return None
        j = self.heads.index(name)
        return dict(zip(self.classifier.heads_[j].classes_.tolist(), probs[j].tolist(),
                        strict=True))

    def _build(self, row: Any, probs: list[np.ndarray], text: str, found: Extraction,
               received: dt.date | None) -> Suggestion:
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
        litigation = bool(lit_score and lit_score.value)
        others = [PlaceOption(place=place, score=round(p, 4))
                  for place, p in found.place_options if place != found.place]
        jurisdiction = (Jurisdiction(place=found.place, source="text",
                                     score=round(found.place_score, 4), sure=found.place_sure,
                                     alternatives=others)
                        if found.place
                        else Jurisdiction(place=self.rules.office_area, source="office",
                                          alternatives=others)
                        if self.rules.office_area else None)
        agencies = []
        if agency or any(s in cat.subtypes for s in subtype):
            for aid, score in rank_agencies(cat, agency, subtype, litigation):
                ag = cat.agencies.get(aid)
                agencies.append(AgencyScore(id=aid, name=ag.name if ag else aid,
                                            jurisdiction=jurisdiction.place if jurisdiction
                                            else None, score=round(score, 4)))
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
        channel = self._channel(probs) if litigation else None
        flags = [Flag(id=h.id, evidence=h.evidence, source=h.source, score=h.score)
                 for h in self._flags(text, probs)]
        similar: list[Similar] = []
        if self.index is not None:
            similar = [Similar(id=lid, score=round(sc, 4)) for lid, sc in self.index.query(text)]
            if similar and not any(f.id == "repeat" for f in flags):
                flags.append(Flag(id="repeat", source="store", score=similar[0].score,
                                  evidence=f"与已登记来信 {similar[0].id} 相似"
                                           f"（{similar[0].score:.2f}）"))
        top_score = ranked[0][1] if ranked else 0.0
        danger = any(f.id == "danger" for f in flags)
        return Suggestion(model_version=self.model_version, issue_type=issues,
                          litigation_related=lit_score, nature=nat, agency=agencies,
                          legal_channel=channel, jurisdiction=jurisdiction, flags=flags,
                          similar=similar,
                          deadlines=compute(received, self.deadline_rules) if received else {},
                          entities=found.entities(), explanation=explanation,
                          needs_review=top_score < self.review_threshold or danger)

    def _channel(self, probs: list[np.ndarray]) -> LegalChannel | None:
        scores = self._head("channel", probs)
        if not scores:
            return None
        options = {c: p for c, p in scores.items() if c in self.rules.channels}
        if not options:
            return None
        cid = max(options, key=lambda c: options[c])
        ch = self.rules.channels[cid]
        total = sum(options.values()) or 1.0
        return LegalChannel(id=cid, name=ch.name, agency=ch.agency, notice=ch.notice,
                            score=round(options[cid] / total, 4))

    def _flag_scores(self, probs: list[np.ndarray]) -> dict[str, float]:
        out = {}
        for fid in self.rules.flags:
            head = self._head(f"flag_{fid}", probs)
            if head is not None:
                out[fid] = head.get("True", 0.0)
        return out

    def _flags(self, text: str, probs: list[np.ndarray]) -> list[FlagHit]:
        def score_sentences(fid: str, sents: list[str]) -> list[float]:
            j = self.heads.index(f"flag_{fid}")
            classes = self.classifier.heads_[j].classes_.tolist()
            if "True" not in classes:
                return [0.0] * len(sents)
            p = self.classifier.predict_proba_features(  # this head only
                self.classifier.transform_texts(sents), heads=[j])[0]
            return p[:, classes.index("True")].tolist()

        return detect(self.rules, text, self._flag_scores(probs), self.flag_thresholds,
                      score_sentences, self.people_count)

    def _issue_score(self, iid: str, score: float, subtype: dict[str, float]) -> IssueScore:
        it = self.catalog.issue_types.get(iid)
        subs = {s: p for s, p in subtype.items() if s.startswith(f"{iid}.")}
        sid = max(subs, key=lambda s: subs[s]) if subs else None
        sub = self.catalog.subtypes.get(sid) if sid else None
        return IssueScore(id=iid, name=it.name if it else iid, subtype=sid,
                          subtype_name=sub.name if sub else None, score=round(score, 4))

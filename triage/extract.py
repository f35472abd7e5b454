"""Extract: places, agency mentions, amounts, dates, counts of people, phone and ID numbers.

A spaCy ``zh`` pipeline whose tokenizer is jieba (with the domain user dictionary) that keeps
every entity-shaped string (corpus/rules.yaml ``entities``, agency aliases) as one token;
an ``entity_ruler`` labels those tokens and the administrative divisions of a gazetteer; the
``triage_places`` component ranks place candidates with a learned model and picks the place
the matter happened in (属地), which is not always the first place named or the writer's home.

    >>> ex = Extractor.load()
    >>> ex.extract("我们村三十多户村民的地被青禾县柳林镇征收…").entities()
"""

from __future__ import annotations

import csv
import importlib.metadata
import itertools
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from triage.catalog import Catalog, load_catalog
from triage.rules import PlaceRules, Rules, load_rules
from triage.segment import DEFAULT_USERDICT, segment

# characters that never occur inside a place name (punctuation, spaces)
_BREAK = re.compile(r"[\s，。、；：！？,.;:!?（）()《》【】\[\]—…·/“”‘’「」『』\"'的]")
# a name in quotation marks is a candidate of its own, without the marks
_QUOTED = re.compile(r"[“「『\"‘']([^“”「」『』\"‘’'\s，。；！？]{2,20})[”」』\"’']")
_CHAIN = re.compile(r"(?:[\u4e00-\u9fffA-Za-z0-9]{1,6}?(?:省|市|县|区|镇|乡|街道))+")
_GROUP = re.compile(r"[\d一二三四五六七八九十]+组")
_CN_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}


def chinese_number(text: str) -> int | None:
    """The leading number of a count such as ``三十多``, ``200余``, ``一百二十``, ``十几``.

    Returns the lower bound (``三十多`` → 30, ``十几`` → 10), or None when the text does not
    start with a number. Mixed Arabic digits are read as such (``1.3万`` → 13000).
    """
    m = re.match(r"(\d+(?:\.\d+)?)(万)?", text)
    if m:
        value = float(m.group(1)) * (10000 if m.group(2) else 1)
        return int(value)
    total, current, seen = 0, 0, False
    for ch in text:
        if ch in _CN_DIGITS:
            current, seen = _CN_DIGITS[ch], True
        elif ch in _CN_UNITS:
            unit = _CN_UNITS[ch]
            if unit == 10000:
                total = (total + current) * unit
            else:
                total += (current or 1) * unit
            current, seen = 0, True
        else:
            break
    return total + current if seen else None


def people_counter(rules: Rules) -> Any:
    """A function giving the largest count of people a text names (``三十多户村民`` → 30)."""
    rx = rules.entities.get("PEOPLE")

    def count(text: str) -> int:
        if rx is None:
            return 0
        return max((chinese_number(m.group()) or 0 for m in rx.finditer(text)), default=0)

    return count


# -- gazetteer -------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def gazetteer() -> frozenset[str]:
    """Names of China's provinces, prefectures and counties (the ``cpca`` package's MIT data).

    Read from the installed package's data file without importing it (its import loads pandas).
    Returns an empty set when the package is missing, so extraction still runs.
    """
    try:
        files = importlib.metadata.files("cpca") or []
    except importlib.metadata.PackageNotFoundError:
        return frozenset()
    for f in files:
        if str(f).replace("\\", "/").endswith("resources/adcodes.csv"):
            with open(Path(str(f.locate())), encoding="utf-8") as fh:
                return frozenset(row["name"] for row in csv.DictReader(fh)
                                 if len(row.get("name") or "") >= 2)
    return frozenset()


# -- tokenizer -------------------------------------------------------------------------------
TEXT_KEY = "triage_text"  # in Doc.user_data: the text the tokenizer was given
class ProtectedJiebaTokenizer:
    """jieba segmentation that keeps entity-shaped strings and agency aliases whole.

    The spaCy ``Doc`` it returns has ``doc.text == text``.
    """

    def __init__(self, vocab: Any, protect: re.Pattern[str], userdict: str) -> None:
        self.vocab = vocab
        self.protect = protect
        self.userdict = userdict

    def words(self, text: str) -> list[str]:
        out: list[str] = []
        pos = 0
        for m in self.protect.finditer(text):
            if m.end() == m.start():
                continue
            if m.start() > pos:
                out += segment(text[pos:m.start()], self.userdict)
            out.append(m.group())
            pos = m.end()
        if pos < len(text):
            out += segment(text[pos:], self.userdict)
        return [w for w in out if w]

    def __call__(self, text: str) -> Any:
        from spacy.tokens import Doc

        words = self.words(text)
        doc = Doc(self.vocab, words=words, spaces=[False] * len(words))
        doc.user_data[TEXT_KEY] = text  # doc.text is rebuilt from every token at each access
        return doc


# -- places ----------------------------------------------------------------------------------
def token_bounds(doc: Any, text: str) -> list[int]:
    """Start offsets of a ``Doc``'s tokens, then the end of its text (``doc.text``, which
    spaCy rebuilds from the tokens at every access: read it once and pass it)."""
    from spacy.attrs import IDX

    return [*doc.to_array(IDX).tolist(), len(text)]


# feature names of small numbers, made once
_LEN = [f"len={k}" for k in range(13)]
_UNITS = [f"units={k}" for k in range(5)]
_COUNT = [f"count={k}" for k in range(5)]
_WINDOW = 8  # characters of context on each side whose words are features


@dataclass
class _Letter:
    """Lookups over one letter that the features of all its candidate spans share."""

    text: str
    n: int
    bset: set[int]
    token_at: dict[int, str]
    ends_at: dict[int, str]
    by_start: dict[int, int]
    by_end: dict[int, int]
    gaz: frozenset[str]
    units: list[int]  # running counts: units[e] - units[s] is the count within text[s:e]
    unit_chars: str  # the unit characters of the text in order: chain = unit_chars[units[s]:…]
    digits: list[int]
    latin: list[int]
    gaz_first: dict[int, int] = field(default_factory=dict)  # shortest gazetteer name at s
    counts: dict[str, int] = field(default_factory=dict)  # how often a span's text occurs

    def count(self, span: str) -> int:
        """Occurrences of ``span`` in the letter (each span text counted once per letter: a
        long letter that repeats itself has many candidates of few texts)."""
        k = self.counts.get(span)
        if k is None:
            k = self.counts[span] = self.text.count(span)
        return k

    def first_name(self, s: int) -> int:
        """Length of the shortest gazetteer name (2 to 8 characters) starting at ``s``; 99
        when there is none. A span of length n starts with a name iff this is ≤ min(n, 8)."""
        k = self.gaz_first.get(s)
        if k is None:
            text, gaz = self.text, self.gaz
            k = self.gaz_first[s] = next((k for k in range(2, 9) if s + k <= len(text)
                                          and text[s:s + k] in gaz), 99)
        return k


_CACHES = ("_weights", "_joined_rx")  # PlaceRanker attributes derived from its fit


def _starts_by_end(cands: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    """Where the candidates that end at each offset start."""
    out: dict[int, list[int]] = {}
    for a, b in cands:
        out.setdefault(b, []).append(a)
    return out


@dataclass
class PlaceRanker:
    """Scores the spans of a letter that may be the place its matter happened in.

    Candidates are the spans that start at a word boundary (or right after an administrative
    unit such as 县/镇/村), end with one of ``rules.end_chars`` and hold no punctuation. A
    logistic regression over boundary, suffix, context and position features, trained on the
    labelled ``place`` of the corpus letters, ranks them.
    """

    rules: PlaceRules
    model: Any = None
    vectorizer: Any = None
    none_threshold: float = 0.0
    # the characters a place may end with: ``rules.end_chars`` and the last characters of the
    # labelled places of the training letters (seen at least twice), learned by ``fit``
    learned_end_chars: frozenset[str] = frozenset()
    # a chosen place is sure when it leads the next place by at least this much (its score
    # less the next one's), chosen by ``training.train.fit_place_ranker``; above 1: never
    # sure (a ranker trained before there was a margin, or without enough letters to choose)
    sure_margin: float = 2.0

    @property
    def end_chars(self) -> frozenset[str]:
        # a ranker saved before learned_end_chars existed has no such attribute
        return self.rules.end_chars | self.__dict__.get("learned_end_chars", frozenset())

    def candidates(self, text: str, bounds: Sequence[int]) -> list[tuple[int, int]]:
        starts = set(bounds[:-1])
        starts |= {i + 1 for i, ch in enumerate(text) if ch in self.rules.unit_chars}
        # names of counties, towns and villages are mostly two or three characters: a unit
        # whose name jieba does not know still gets its start
        starts |= {i - k for i, ch in enumerate(text) if ch in self.rules.unit_chars
                   for k in (2, 3) if i - k >= 0}
        out: list[tuple[int, int]] = []
        n = self.rules.max_chars
        ends = self.end_chars
        for e, ch in enumerate(text, start=1):
            if ch not in ends:
                continue
            for s in range(max(0, e - n), e - 1):  # at least two characters
                if s in starts and not _BREAK.search(text, s, e):
                    out.append((s, e))
        joined = self._joined()
        if joined is not None:
            out = [(s, e) for s, e in out if not joined.search(text, s, e - 1)]
        have = set(out)
        out += [m.span(1) for m in _QUOTED.finditer(text) if m.span(1) not in have]
        return out

    def _joined(self) -> re.Pattern[str] | None:
        """A place's last character followed by a joiner (和, 到 …): a list or a range."""
        if "_joined_rx" not in self.__dict__:
            joiners = self.rules.joiners
            ends = "".join(sorted(self.end_chars | self.rules.unit_chars))
            self.__dict__["_joined_rx"] = (re.compile(f"[{re.escape(ends)}][{re.escape(joiners)}]")
                                           if joiners else None)
        return self.__dict__["_joined_rx"]  # type: ignore[no-any-return]

    def _letter(self, text: str, bounds: Sequence[int],
                cands: list[tuple[int, int]]) -> _Letter:
        units = self.rules.unit_chars
        pairs = list(zip(bounds[:-1], bounds[1:], strict=True))
        by_start: dict[int, int] = {}
        by_end: dict[int, int] = {}
        for s, e in cands:
            by_start[s] = max(by_start.get(s, 0), e)
            by_end[e] = min(by_end.get(e, len(text)), s)
        return _Letter(
            text=text, n=max(len(text), 1), bset=set(bounds),
            token_at={a: text[a:b] for a, b in pairs}, ends_at={b: text[a:b] for a, b in pairs},
            by_start=by_start, by_end=by_end, gaz=gazetteer(),
            units=[0, *itertools.accumulate(ch in units for ch in text)],
            unit_chars="".join(ch for ch in text if ch in units),
            digits=[0, *itertools.accumulate(ch.isdigit() for ch in text)],
            latin=[0, *itertools.accumulate(ch.isascii() and ch.isalpha() for ch in text)])

    def _start_features(self, x: _Letter, s: int) -> dict[str, Any]:
        """The features of a span that depend on where it starts only."""
        text, units = x.text, self.rules.unit_chars
        prev = text[s - 1] if s else "^"
        f: dict[str, Any] = {
            "first=" + text[s]: 1, "first2=" + text[s:s + 2]: 1, "prev=" + prev: 1,
            "prevtok=" + x.ends_at.get(s, "~"): 1, "pos=" + str(int(10 * s / x.n)): 1,
            "start_tok": int(s in x.bset), "prev_unit": int(s > 0 and text[s - 1] in units),
            "prev_han": int(s > 0 and "\u4e00" <= text[s - 1] <= "\u9fff"),
            "prevtok2=" + x.ends_at.get(s - len(x.ends_at.get(s, "")), "~"): 1}
        left = text[max(0, s - 6):s]
        if any(cue in left for cue in self.rules.home_cues):
            f["home_cue"] = 1
        for k in (1, 2):
            f[f"pre{k}=" + text[max(0, s - k):s]] = 1
        f["prev|first=" + prev + "|" + text[s]] = 1
        for a in range(max(0, s - _WINDOW), s):  # the words just before it
            tok = x.ends_at.get(a)
            if tok is not None and a - len(tok) >= s - _WINDOW:
                f["lw=" + tok] = 1
        return f

    def _end_features(self, x: _Letter, e: int) -> dict[str, Any]:
        """The features of a span that depend on where it ends only."""
        text = x.text
        nxt = text[e] if e < len(text) else "$"
        nxt2 = text[e:e + 2]
        f = {"last=" + text[e - 1]: 1, "last2=" + text[e - 2:e]: 1, "next=" + nxt: 1,
                "nexttok=" + x.token_at.get(e, "~"): 1, "end_tok": int(e in x.bset),
                "next2=" + nxt2: 1, "end_unit": int(text[e - 1] in self.rules.unit_chars),
                "last2|next2=" + text[e - 2:e] + "|" + nxt2: 1,
                "last|next=" + text[e - 1] + "|" + nxt: 1}
        for a in range(e, min(x.n, e + _WINDOW)):  # the words just after it
            tok = x.token_at.get(a)
            if tok is not None and a + len(tok) <= e + _WINDOW:
                f["rw=" + tok] = 1
        return f

    def _span_features(self, x: _Letter, s: int, e: int, seen: set[str]) -> dict[str, Any]:
        """The features of the span itself (``seen``: the spans of earlier candidates)."""
        span = x.text[s:e]
        gaz = x.gaz
        u0, u1 = x.units[s], x.units[e]
        f = {_LEN[min(e - s, 12)]: 1, _UNITS[min(u1 - u0, 4)]: 1,
             "maxright": int(x.by_start.get(s, e) == e), "maxleft": int(x.by_end.get(e, s) == s),
             "digit": int(x.digits[e] > x.digits[s]), "ascii": int(x.latin[e] > x.latin[s]),
             _COUNT[min(x.count(span), 4)]: 1, "first_seen": int(span not in seen),
             "gaz_start": int(x.first_name(s) <= min(e - s, 8)),
             "gaz_whole": int(span in gaz), "chain=" + x.unit_chars[u0:min(u1, u0 + 5)]: 1}
        a = s
        while a < e:  # the words inside it: a verb or a count inside a span says it is no name
            tok = x.token_at.get(a)
            if tok is None or a + len(tok) > e:
                break
            f["in=" + tok] = 1
            a += len(tok)
        seen.add(span)
        return f

    def features(self, text: str, bounds: Sequence[int],
                 cands: list[tuple[int, int]]) -> list[dict[str, Any]]:
        """One dict of features per candidate span (for ``DictVectorizer``)."""
        x = self._letter(text, bounds, cands)
        starts: dict[int, dict[str, Any]] = {}
        ends: dict[int, dict[str, Any]] = {}
        seen: set[str] = set()
        out = []
        for s, e in cands:
            if s not in starts:
                starts[s] = self._start_features(x, s)
            if e not in ends:
                ends[e] = self._end_features(x, e)
            out.append({**starts[s], **ends[e], **self._span_features(x, s, e, seen)})
        return out

    def _weight_of(self) -> dict[str, float]:
        """Each feature's weight in the fitted logistic regression (those not zero)."""
        weights = self.__dict__.get("_weights")
        if weights is None:
            coef = self.model.coef_[0]
            weights = {name: float(c) for name, c
                       in zip(self.vectorizer.feature_names_, coef, strict=True) if c != 0.0}
            self.__dict__["_weights"] = weights
        return weights

    def __getstate__(self) -> dict[str, Any]:
        # the caches are rebuilt from the model when first needed
        return {k: v for k, v in self.__dict__.items() if k not in _CACHES}

    def _logits(self, text: str, bounds: Sequence[int],
                cands: list[tuple[int, int]]) -> np.ndarray:
        """The model's decision function for each candidate, summed straight from the feature
        weights: a linear model's score is the sum of its start's, its end's and its span's
        parts, and each start's and end's part is summed once. The same as
        ``model.decision_function(vectorizer.transform(features(...)))`` (to rounding),
        without building a sparse matrix (ranking a training letter: 3.65 → 3.0 ms)."""
        get = self._weight_of().get

        def part(features: dict[str, Any]) -> float:
            return sum(get(name, 0.0) * value for name, value in features.items())

        x = self._letter(text, bounds, cands)
        starts: dict[int, float] = {}
        ends: dict[int, float] = {}
        seen: set[str] = set()
        out = np.empty(len(cands))
        bias = float(self.model.intercept_[0])
        for k, (s, e) in enumerate(cands):
            a = starts.get(s)
            if a is None:
                a = starts[s] = part(self._start_features(x, s))
            z = ends.get(e)
            if z is None:
                z = ends[e] = part(self._end_features(x, e))
            out[k] = bias + a + z + part(self._span_features(x, s, e, seen))
        return out

    def fit(self, texts: Sequence[str], places: Sequence[str | None],
            bounds: Sequence[Sequence[int]]) -> PlaceRanker:
        """Train on letters with their labelled place (None: the letter names no place)."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        for cached in _CACHES:  # of an earlier fit
            self.__dict__.pop(cached, None)
        last = Counter(p[-1] for p in places if p)
        self.learned_end_chars = frozenset(ch for ch, k in last.items()
                                           if k >= 2 and not _BREAK.match(ch))
        rows: list[dict[str, Any]] = []
        y: list[int] = []
        for text, place, b in zip(texts, places, bounds, strict=True):
            cands = self.candidates(text, b)
            rows += self.features(text, b, cands)
            y += [int(place is not None and text[s:e] == place) for s, e in cands]
        self.vectorizer = DictVectorizer()
        x = self.vectorizer.fit_transform(rows)
        self.model = LogisticRegression(C=3.0, max_iter=2000)
        self.model.fit(x, np.asarray(y))
        return self

    def complete(self, text: str, start: int, end: int,
                 cands: Sequence[tuple[int, int]]) -> tuple[int, int]:
        """Extend a chosen place to the whole administrative chain it is written in.

        ``柳林镇石桥村`` preceded by ``青禾县`` becomes ``青禾县柳林镇石桥村``, and a village
        followed by its group (``三组``) takes the group: the place as the letter writes it.
        """
        return self._extend(text, start, end, _starts_by_end(cands))

    def _extend(self, text: str, start: int, end: int,
                starts_by_end: dict[int, list[int]]) -> tuple[int, int]:
        while start > 0 and text[start - 1] in self.rules.unit_chars - {"村"}:
            chains = [a for a in starts_by_end.get(start, ()) if _CHAIN.fullmatch(text, a, start)]
            if not chains:
                break
            start = max(chains)  # the shortest unit chain that ends right here
        m = _GROUP.match(text, end)
        if m and text[end - 1] == "村":
            end = m.end()
        return start, end

    def complete_fully(self, text: str, start: int, end: int,
                       cands: Sequence[tuple[int, int]]) -> tuple[int, int]:
        """``complete``, then the place in its most specific form in the letter: a village
        named once as 青禾县柳林镇石桥村 and later as 石桥村 is the former wherever the
        ranker found it (corpus/WRITING.md, rule 1)."""
        return self._extend_fully(text, start, end, _starts_by_end(cands))

    def _extend_fully(self, text: str, start: int, end: int,
                      by_end: dict[int, list[int]]) -> tuple[int, int]:
        best = self._extend(text, start, end, by_end)
        name = text[start:end]
        for m in re.finditer(re.escape(name), text):
            a, b = self._extend(text, m.start(), m.end(), by_end)
            if b - a > best[1] - best[0]:
                best = (a, b)
        return best

    def options(self, text: str, ranking: Sequence[tuple[int, int, float]],
                k: int) -> list[tuple[str, float]]:
        """The first ``k`` distinct places of a ranking, each completed (``complete_fully``),
        with the score of its best candidate."""
        by_end = _starts_by_end([(a, b) for a, b, _ in ranking])
        out: dict[str, float] = {}
        done: set[str] = set()
        for s, e, p in ranking:
            if len(out) >= k:
                break
            if text[s:e] in done:  # the same name elsewhere completes the same way
                continue
            done.add(text[s:e])
            s, e = self._extend_fully(text, s, e, by_end)
            out.setdefault(text[s:e], p)
        return list(out.items())

    @staticmethod
    def margin(options: Sequence[tuple[str, float]]) -> float:
        """How far the first place of ``options`` leads the second (its score, when alone)."""
        if not options:
            return 0.0
        return options[0][1] - (options[1][1] if len(options) > 1 else 0.0)

    def rank(self, text: str, bounds: Sequence[int]) -> list[tuple[int, int, float]]:
        """Candidates best first as (start, end, probability)."""
        if self.model is None:
            return []
        cands = self.candidates(text, bounds)
        if not cands:
            return []
        from scipy.special import expit

        p = expit(self._logits(text, bounds, cands))
        order = np.argsort(-p, kind="stable")
        return [(cands[i][0], cands[i][1], float(p[i])) for i in order]


# -- the pipeline ----------------------------------------------------------------------------
@dataclass
class Extraction:
    """What the extractor found in one letter."""

    places: list[str] = field(default_factory=list)
    place: str | None = None  # where the matter happened (best candidate), None if no place
    place_score: float = 0.0
    place_sure: bool = False  # ``place`` leads the next place by the ranker's sure margin
    # the best places the ranker found, best first, with their scores (``place`` is the first
    # when it scores above the ranker's "no place" threshold)
    place_options: list[tuple[str, float]] = field(default_factory=list)
    agencies: list[str] = field(default_factory=list)
    amounts: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    max_people: int = 0
    phones: list[str] = field(default_factory=list)
    id_numbers: list[str] = field(default_factory=list)
    bank_cards: list[str] = field(default_factory=list)

    def entities(self) -> dict[str, list[str] | int]:
        """The suggestion's ``entities``: strings for places and amounts, counts for PII."""
        return {"places": self.places, "agencies": self.agencies, "amounts": self.amounts,
                "dates": self.dates, "people": self.people, "phones": len(self.phones),
                "id_numbers": len(self.id_numbers), "bank_cards": len(self.bank_cards)}


_LABEL_FIELD = {"MONEY": "amounts", "DATE": "dates", "PEOPLE": "people", "PHONE": "phones",
                "ID_NUMBER": "id_numbers", "BANK_CARD": "bank_cards"}
_registered = threading.Lock()


def _register_extensions() -> None:
    from spacy.language import Language
    from spacy.tokens import Doc

    with _registered:
        if not Doc.has_extension("place"):
            Doc.set_extension("place", default=None)
            Doc.set_extension("place_score", default=0.0)
            Doc.set_extension("place_ranking", default=None)
        if not Doc.has_extension("place_options"):
            Doc.set_extension("place_options", default=None)
        if not Doc.has_extension("place_sure"):
            Doc.set_extension("place_sure", default=False)
        if "triage_places" not in Language.factories:
            Language.factory("triage_places")(_make_places_component)


class _PlacesComponent:
    def __init__(self) -> None:
        self.ranker: PlaceRanker | None = None
        self.rules: PlaceRules | None = None  # rules.yaml as loaded now (not the ranker's copy)

    def __call__(self, doc: Any) -> Any:
        if self.ranker is None or self.ranker.model is None:
            return doc
        text = doc.user_data.get(TEXT_KEY) or doc.text
        ranking = self.ranker.rank(text, token_bounds(doc, text))
        doc._.place_ranking = ranking
        rules = self.rules or self.ranker.rules
        options = self.ranker.options(text, ranking, max(2, 1 + rules.alternatives))
        doc._.place_options = [(place, p) for place, p in options[:1 + rules.alternatives]
                               if p >= rules.alternative_min_score]
        if options and options[0][1] >= self.ranker.none_threshold:
            doc._.place, doc._.place_score = options[0]
            doc._.place_sure = PlaceRanker.margin(options) >= self.ranker.sure_margin
        return doc


def _make_places_component(nlp: Any, name: str) -> _PlacesComponent:
    return _PlacesComponent()


def build_nlp(rules: Rules, catalog: Catalog, userdict: str | None = None) -> Any:
    """The spaCy pipeline: protected jieba tokenizer → entity_ruler → triage_places."""
    import spacy

    _register_extensions()
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}})
    aliases = sorted({str(a) for ag in catalog.agencies.values() for a in (*ag.aliases, ag.name)
                      if len(str(a)) >= 2 and not str(a).isascii()}, key=len, reverse=True)
    shapes = [rx.pattern for rx in rules.entities.values()]
    protect = re.compile("|".join([f"(?:{p})" for p in shapes] + [re.escape(a) for a in aliases]))
    nlp.tokenizer = ProtectedJiebaTokenizer(nlp.vocab, protect, str(userdict or DEFAULT_USERDICT))
    ruler: Any = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True})
    patterns: list[dict[str, Any]] = [
        {"label": label, "pattern": [{"TEXT": {"REGEX": f"^(?:{rx.pattern})$"}}]}
        for label, rx in rules.entities.items()]
    for aid, ag in catalog.agencies.items():
        for alias in {str(a) for a in (*ag.aliases, ag.name)}:
            if len(alias) >= 2 and not alias.isascii():
                patterns.append({"label": "AGENCY", "pattern": alias, "id": aid})
    for name in sorted(gazetteer()):
        patterns.append({"label": "GPE", "pattern": name})
    ruler.add_patterns(patterns)
    nlp.add_pipe("triage_places")
    return nlp


class Extractor:
    """Runs the pipeline on letters; one per process (the spaCy objects are not shared)."""

    def __init__(self, rules: Rules, catalog: Catalog, ranker: PlaceRanker | None = None,
                 userdict: str | None = None) -> None:
        self.rules = rules
        self.catalog = catalog
        self.nlp = build_nlp(rules, catalog, userdict)
        self.ranker = ranker
        places = self.nlp.get_pipe("triage_places")
        places.ranker, places.rules = ranker, rules.places
        self._lock = threading.Lock()

    @classmethod
    def load(cls, corpus_dir: str | None = None, ranker: PlaceRanker | None = None,
             ) -> Extractor:
        return cls(load_rules(corpus_dir), load_catalog(corpus_dir), ranker)

    def bounds(self, text: str) -> list[int]:
        """Token start offsets plus the end, as the places component sees them."""
        return token_bounds(self.nlp.make_doc(text), text)

    def extract(self, text: str) -> Extraction:
        return self.extract_many([text])[0]

    def extract_many(self, texts: Iterable[str]) -> list[Extraction]:
        texts = list(texts)
        with self._lock:  # spaCy's pipe state is not meant for concurrent calls
            docs = list(self.nlp.pipe(texts))
        # the tokenizer keeps every character, so doc.text == text (spaCy rebuilds doc.text
        # from the tokens at each access)
        return [self._collect(doc, text) for doc, text in zip(docs, texts, strict=True)]

    def _collect(self, doc: Any, text: str) -> Extraction:
        out = Extraction()
        ents = doc.ents  # each access walks every token
        for ent in ents:
            label = ent.label_
            if label == "AGENCY":
                if ent.ent_id_ and ent.ent_id_ not in out.agencies:
                    out.agencies.append(ent.ent_id_)
            elif label in _LABEL_FIELD:
                getattr(out, _LABEL_FIELD[label]).append(ent.text)
        out.max_people = max((chinese_number(p) or 0 for p in out.people), default=0)
        out.place, out.place_score = doc._.place, float(doc._.place_score or 0.0)
        out.place_sure = bool(doc._.place_sure)
        out.place_options = list(doc._.place_options or [])
        out.places = self._places(doc, ents, text)
        return out

    def _places(self, doc: Any, ents: Any, text: str) -> list[str]:
        """Non-overlapping place strings: ranked candidates above the floor, and gazetteer hits."""
        taken: list[tuple[int, int]] = []
        names: list[tuple[int, str]] = []

        def free(s: int, e: int) -> bool:
            return all(e <= a or s >= b for a, b in taken)

        floor = self.rules.places.min_score
        for s, e, p in doc._.place_ranking or []:
            if p < floor:
                break
            if free(s, e):
                taken.append((s, e))
                names.append((s, text[s:e]))
        for ent in ents:
            if ent.label_ == "GPE" and free(ent.start_char, ent.end_char):
                taken.append((ent.start_char, ent.end_char))
                names.append((ent.start_char, ent.text))
        seen: list[str] = []
        for _, name in sorted(names):
            if name not in seen:
                seen.append(name)
        return seen

"""corpus/rules.yaml: entity shapes, place settings, flag word lists and legal channels.

Loaded once per folder and validated: a bad regex, an unknown agency or a missing field is
reported with the file and the field, e.g.
``corpus/rules.yaml: flags.danger.patterns[1]: not a valid regex: …``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from triage.catalog import FLAGS, _need, _read_yaml, load_catalog
from triage.errors import CatalogError
from triage.segment import CORPUS_DIR

ENTITY_LABELS = ("ID_NUMBER", "BANK_CARD", "PHONE", "MONEY", "DATE", "PEOPLE")


@dataclass(frozen=True)
class PlaceRules:
    end_chars: frozenset[str]
    unit_chars: frozenset[str]
    max_chars: int
    home_cues: tuple[str, ...]
    min_score: float
    alternatives: int = 2
    joiners: str = "到至和与及"
    alternative_min_score: float = 0.02
    # a chosen place is marked sure when its lead over the next place is one at which the
    # training letters' places (out of fold) were exactly right at least this often
    sure_precision: float = 0.9


@dataclass(frozen=True)
class FlagRule:
    id: str
    patterns: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...]
    min_people: int | None = None
    # cancel a match only in its own clause (between commas), not in the whole sentence:
    # for words like 规定 that say "this is about a rule" only right where they are
    unless_clause: tuple[re.Pattern[str], ...] = ()
    people_context: re.Pattern[str] | None = None
    target_recall: float | None = None


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    agency: str
    notice: str


@dataclass(frozen=True)
class Rules:
    office_area: str
    entities: dict[str, re.Pattern[str]]
    places: PlaceRules
    flags: dict[str, FlagRule]
    channels: dict[str, Channel]
    path: str


def _regex(path: Path, where: str, value: Any) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{path}: {where}: expected a regex string, got {value!r}")
    try:
        return re.compile(value)
    except re.error as exc:
        raise CatalogError(f"{path}: {where}: not a valid regex: {exc}") from exc


def _regex_list(path: Path, where: str, node: dict[str, Any], key: str,
                required: bool) -> tuple[re.Pattern[str], ...]:
    items = node.get(key) or []
    if not isinstance(items, list) or (required and not items):
        raise CatalogError(f"{path}: {where}.{key}: expected a "
                           f"{'non-empty ' if required else ''}list of regexes, got {items!r}")
    return tuple(_regex(path, f"{where}.{key}[{i}]", rx) for i, rx in enumerate(items))


def _fraction(path: Path, where: str, value: Any) -> float:
    """A share such as a target precision or recall: a number in (0, 1]."""
    if isinstance(value, bool) or not (isinstance(value, int | float) and 0 < value <= 1):
        raise CatalogError(f"{path}: {where}: expected a number in (0, 1], got {value!r}")
    return float(value)


def parse_rules(path: Path, agencies: set[str]) -> Rules:
    """Read and check one rules file; ``agencies`` are the ids channels may name."""
    data = _read_yaml(path)
    ents_node = _need(path, "", data, "entities", dict)
    unknown = set(ents_node) - set(ENTITY_LABELS)
    if unknown:
        raise CatalogError(f"{path}: entities: unknown label(s) {sorted(unknown)}; "
                           f"use {', '.join(ENTITY_LABELS)}")
    entities = {label: _regex(path, f"entities.{label}", ents_node[label])
                for label in ENTITY_LABELS if label in ents_node}

    pn = _need(path, "", data, "places", dict)
    places = PlaceRules(
        end_chars=frozenset(_need(path, "places", pn, "end_chars", str)),
        unit_chars=frozenset(_need(path, "places", pn, "unit_chars", str)),
        max_chars=int(_need(path, "places", pn, "max_chars", int)),
        home_cues=tuple(str(c) for c in (pn.get("home_cues") or ())),
        min_score=float(pn.get("min_score", 0.5)),
        alternatives=int(pn.get("alternatives", 2)),
        joiners=str(pn.get("joiners", "到至和与及")),
        alternative_min_score=float(pn.get("alternative_min_score", 0.02)),
        sure_precision=_fraction(path, "places.sure_precision", pn.get("sure_precision", 0.9)))

    flags: dict[str, FlagRule] = {}
    for fid, node in _need(path, "", data, "flags", dict).items():
        where = f"flags.{fid}"
        if fid not in FLAGS:
            raise CatalogError(f"{path}: {where}: unknown flag; the flags are "
                               f"{', '.join(FLAGS)}")
        if not isinstance(node, dict):
            raise CatalogError(f"{path}: {where}: expected a mapping, got {node!r}")
        min_people = node.get("min_people")
        if min_people is not None and (not isinstance(min_people, int) or min_people < 1):
            raise CatalogError(f"{path}: {where}.min_people: expected a positive integer, "
                               f"got {min_people!r}")
        target = node.get("target_recall")
        if target is not None:
            target = _fraction(path, f"{where}.target_recall", target)
        flags[fid] = FlagRule(id=fid, patterns=_regex_list(path, where, node, "patterns", True),
                              unless=_regex_list(path, where, node, "unless", False),
                              unless_clause=_regex_list(path, where, node, "unless_clause",
                                                        False),
                              min_people=min_people,
                              people_context=(_regex(path, f"{where}.people_context",
                                                     node["people_context"])
                                              if node.get("people_context") else None),
                              target_recall=target)

    channels: dict[str, Channel] = {}
    for cid, node in _need(path, "", data, "channels", dict).items():
        where = f"channels.{cid}"
        if not isinstance(node, dict):
            raise CatalogError(f"{path}: {where}: expected a mapping, got {node!r}")
        agency = _need(path, where, node, "agency", str)
        if agency not in agencies:
            raise CatalogError(f"{path}: {where}.agency: unknown agency {agency!r} "
                               "(see agencies.yaml)")
        channels[cid] = Channel(id=cid, name=_need(path, where, node, "name", str),
                                agency=agency, notice=_need(path, where, node, "notice", str))
    return Rules(office_area=str(data.get("office_area") or ""), entities=entities,
                 places=places, flags=flags, channels=channels, path=str(path))


def load_rules(corpus_dir: str | os.PathLike[str] | None = None) -> Rules:
    """The rules of a corpus folder (default: the project's corpus/), cached."""
    return _load_rules(str(Path(corpus_dir or CORPUS_DIR).resolve()))


@lru_cache(maxsize=8)
def _load_rules(folder: str) -> Rules:
    catalog = load_catalog(folder)
    return parse_rules(Path(folder) / "rules.yaml", set(catalog.agencies))

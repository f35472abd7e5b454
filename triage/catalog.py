"""The catalogs under corpus/: taxonomy, agencies and routing policy, validated on load.

Every problem found is reported with the file and the field, e.g.
``corpus/agencies.yaml: agencies.court.subtypes[2]: unknown subtype 'litigation.foo'``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from triage.errors import CatalogError
from triage.segment import CORPUS_DIR

NATURES: dict[str, str] = {"proposal": "建议意见类", "accusation": "检举控告类",
                           "claim": "申诉求决类"}
FLAGS = ("collective", "skip_level", "repeat", "danger")


@dataclass(frozen=True)
class Subtype:
    id: str
    name: str
    description: str
    terms: tuple[str, ...]
    agencies: tuple[str, ...]
    national: str


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    description: str
    national: str
    subtypes: tuple[Subtype, ...]


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    aliases: tuple[str, ...]
    legal_channel: bool
    subtypes: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    min_issue_score: float = 0.5
    target_accuracy: float = 0.95
    subtype_weight: float = 0.5
    model_weight: float = 0.6
    catalog_prior: tuple[float, ...] = (0.7, 0.2, 0.1)
    legal_channel_for_litigation: bool = True
    litigation_threshold: float = 0.5
    max_letter_chars: int = 200_000
    explanation_terms: int = 6
    min_similarity: float = 0.29
    min_lead: float = 0.2
    similar_letters: int = 3


@dataclass(frozen=True)
class Catalog:
    issue_types: dict[str, IssueType]
    agencies: dict[str, Agency]
    policy: Policy
    version: str
    subtypes: dict[str, Subtype] = field(default_factory=dict)

    def issue_of(self, subtype_id: str) -> str:
        """Level-1 id of a subtype id (``land.expropriation`` → ``land``)."""
        return subtype_id.split(".", 1)[0]

    @property
    def legal_agencies(self) -> tuple[str, ...]:
        return tuple(a for a, ag in self.agencies.items() if ag.legal_channel)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CatalogError(f"{path}: file not found; the catalogs live in corpus/ "
                           "(set TRIAGE_CORPUS to another folder that has them)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date like 2026-13-01
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top level, got "
                           f"{type(data).__name__}")
    return data


def _need(path: Path, where: str, node: dict[str, Any], key: str, kind: type) -> Any:
    value = node.get(key)
    if not isinstance(value, kind) or (isinstance(value, str | list | dict) and not value):
        raise CatalogError(f"{path}: {where}.{key}: expected a non-empty {kind.__name__}, "
                           f"got {value!r}")
    return value


def _parse_taxonomy(path: Path) -> dict[str, IssueType]:
    data = _read_yaml(path)
    issues = _need(path, "", data, "issue_types", dict)
    out: dict[str, IssueType] = {}
    for iid, node in issues.items():
        where = f"issue_types.{iid}"
        if not isinstance(node, dict):
            raise CatalogError(f"{path}: {where}: expected a mapping, got {node!r}")
        subs = []
        for sid, sn in _need(path, where, node, "subtypes", dict).items():
            sw = f"{where}.subtypes.{sid}"
            if not str(sid).startswith(f"{iid}."):
                raise CatalogError(f"{path}: {sw}: subtype id must start with '{iid}.'")
            if not isinstance(sn, dict):
                raise CatalogError(f"{path}: {sw}: expected a mapping, got {sn!r}")
            subs.append(Subtype(
                id=sid, name=_need(path, sw, sn, "name", str),
                description=str(sn.get("description", "")),
                terms=tuple(sn.get("terms") or ()),
                agencies=tuple(_need(path, sw, sn, "agencies", list)),
                national=str(sn.get("national", ""))))
        out[iid] = IssueType(id=iid, name=_need(path, where, node, "name", str),
                             description=str(node.get("description", "")),
                             national=str(node.get("national", "")), subtypes=tuple(subs))
    return out


def _parse_agencies(path: Path) -> dict[str, Agency]:
    data = _read_yaml(path)
    out: dict[str, Agency] = {}
    for aid, node in _need(path, "", data, "agencies", dict).items():
        where = f"agencies.{aid}"
        if not isinstance(node, dict):
            raise CatalogError(f"{path}: {where}: expected a mapping, got {node!r}")
        out[aid] = Agency(id=aid, name=_need(path, where, node, "name", str),
                          aliases=tuple(node.get("aliases") or ()),
                          legal_channel=bool(node.get("legal_channel", False)),
                          subtypes=tuple(node.get("subtypes") or ()))
    return out


def _parse_policy(path: Path) -> Policy:
    if not path.is_file():
        return Policy()
    data = _read_yaml(path)
    flat: dict[str, Any] = {}
    for section in ("review", "scoring", "routing", "limits", "repeats"):
        flat.update(data.get(section) or {})
    known = set(Policy.__dataclass_fields__)
    unknown = sorted(set(flat) - known)
    if unknown:
        raise CatalogError(f"{path}: unknown setting(s) {unknown}; known: {sorted(known)}")
    if "catalog_prior" in flat:
        flat["catalog_prior"] = tuple(float(x) for x in flat["catalog_prior"])
    return Policy(**flat)


def _cross_check(tax_path: Path, ag_path: Path, issues: dict[str, IssueType],
                 agencies: dict[str, Agency]) -> None:
    subtype_ids = {s.id for it in issues.values() for s in it.subtypes}
    for it in issues.values():
        for s in it.subtypes:
            for k, aid in enumerate(s.agencies):
                if aid not in agencies:
                    raise CatalogError(
                        f"{tax_path}: issue_types.{it.id}.subtypes.{s.id}.agencies[{k}]: "
                        f"unknown agency '{aid}'; known agencies are in {ag_path.name}: "
                        f"{sorted(agencies)}")
    for ag in agencies.values():
        for k, sid in enumerate(ag.subtypes):
            if sid not in subtype_ids:
                raise CatalogError(f"{ag_path}: agencies.{ag.id}.subtypes[{k}]: unknown subtype "
                                   f"'{sid}'; add it to {tax_path.name} or fix the id")
    if not any(a.legal_channel for a in agencies.values()):
        raise CatalogError(f"{ag_path}: no agency has legal_channel: true; litigation-related "
                           "letters need at least one (court, procuratorate, police, justice)")


def load_catalog(corpus_dir: str | os.PathLike[str] | None = None) -> Catalog:
    """Load and cross-check taxonomy.yaml, agencies.yaml and policy.yaml.

    Parameters
    ----------
    corpus_dir : path or None
        Folder with the YAML files; None uses the project's corpus/.

    Returns
    -------
    Catalog
        Frozen catalog objects.

    Raises
    ------
    CatalogError
        Naming the file and field of the first problem found.
    """
    return _load_catalog(str(Path(corpus_dir or CORPUS_DIR).resolve()))


@lru_cache(maxsize=4)
def _load_catalog(corpus_dir: str) -> Catalog:
    base = Path(corpus_dir)
    tax_path, ag_path = base / "taxonomy.yaml", base / "agencies.yaml"
    issues = _parse_taxonomy(tax_path)
    agencies = _parse_agencies(ag_path)
    _cross_check(tax_path, ag_path, issues, agencies)
    version = str(_read_yaml(tax_path).get("version", "0"))
    subtypes = {s.id: s for it in issues.values() for s in it.subtypes}
    return Catalog(issue_types=issues, agencies=agencies,
                   policy=_parse_policy(base / "policy.yaml"), version=version,
                   subtypes=subtypes)

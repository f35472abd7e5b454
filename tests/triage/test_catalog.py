from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, shared_file
from triage.catalog import load_catalog
from triage.errors import CatalogError

ISSUE_IDS = {"land", "labour", "litigation", "housing", "environment", "rural", "conduct",
             "civil_affairs", "public_security", "education", "health", "transport", "market",
             "other"}
AGENCY_IDS = {"police", "court", "procuratorate", "justice", "hrss", "natural_resources",
              "housing_bureau", "urban_management", "ecology", "agriculture",
              "civil_affairs_bureau", "veterans", "health_commission", "education_bureau",
              "transport_bureau", "market_regulation", "discipline", "township",
              "medical_security"}


def test_load_catalog_has_the_contract_ids() -> None:
    cat = load_catalog()
    assert set(cat.issue_types) == ISSUE_IDS
    assert set(cat.agencies) >= AGENCY_IDS
    assert len(cat.subtypes) >= 45
    assert set(cat.legal_agencies) == {"police", "court", "procuratorate", "justice"}
    assert cat.subtypes["land.expropriation"].agencies[0] == "natural_resources"


def test_catalog_maps_to_the_national_classification() -> None:
    path = shared_file("national-content-taxonomy.csv")
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    level1 = {r["level1"] for r in rows}
    level2 = {f"{r['level1']}/{r['level2']}" for r in rows}
    cat = load_catalog()
    assert all(it.national in level1 for it in cat.issue_types.values())
    assert all(s.national in level2 for s in cat.subtypes.values())


def _copy_corpus(tmp_path: Path) -> Path:
    dest = tmp_path / "corpus"
    dest.mkdir()
    for name in ("taxonomy.yaml", "agencies.yaml", "policy.yaml"):
        shutil.copy(ROOT / "corpus" / name, dest / name)
    return dest


def _edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


BROKEN = [
    ("unknown agency", "taxonomy.yaml",
     lambda d: d["issue_types"]["land"]["subtypes"]["land.homestead"]["agencies"].append("mars"),
     r"taxonomy.yaml: issue_types.land.subtypes.land.homestead.agencies\[2\]: "
     r"unknown agency 'mars'"),
    ("unknown subtype", "agencies.yaml",
     lambda d: d["agencies"]["court"]["subtypes"].append("litigation.nothing"),
     r"agencies.yaml: agencies.court.subtypes\[\d+\]: unknown subtype 'litigation.nothing'"),
    ("missing name", "agencies.yaml", lambda d: d["agencies"]["police"].pop("name"),
     r"agencies.yaml: agencies.police.name: expected a non-empty str"),
    ("subtype outside its type", "taxonomy.yaml",
     lambda d: d["issue_types"]["land"]["subtypes"].update(
         {"labour.x": {"name": "x", "agencies": ["hrss"]}}),
     r"issue_types.land.subtypes.labour.x: subtype id must start with 'land.'"),
    ("unknown policy key", "policy.yaml", lambda d: d["routing"].update({"model_wieght": 1}),
     r"policy.yaml: unknown setting\(s\) \['model_wieght'\]"),
]


@pytest.mark.parametrize(("name", "file", "change", "message"), BROKEN,
                         ids=[b[0] for b in BROKEN])
def test_load_catalog_names_file_and_field(tmp_path: Path, name: str, file: str, change,  # type: ignore[no-untyped-def]
                                           message: str) -> None:
    corpus = _copy_corpus(tmp_path)
    _edit(corpus / file, change)
    with pytest.raises(CatalogError, match=message):
        load_catalog(corpus)


def test_load_catalog_reports_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    corpus = _copy_corpus(tmp_path)
    (corpus / "taxonomy.yaml").write_text("issue_types: [unclosed", encoding="utf-8")
    with pytest.raises(CatalogError, match="taxonomy.yaml: not valid YAML"):
        load_catalog(corpus)
    (corpus / "taxonomy.yaml").unlink()
    with pytest.raises(CatalogError, match="taxonomy.yaml: file not found"):
        load_catalog(corpus)

"""The retraining loop: clerks' decisions as labelled letters, one real `triage train
--from-decisions` run, and the promotion gate / rollback (library and CLI), all on real SQLite
files and real copies of the session's model store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.store import Store, UserView
from tests.conftest import ROOT
from training.data import CORPUS_HEADS, FLAG_HEADS, combine, read_corpus, read_decisions
from triage.catalog import load_catalog
from triage.errors import ModelError
from triage.modelstore import (
    PromotionRefused,
    promote_checked,
    promotion_figures,
    read_manifest,
    register_version,
    rollback,
    sha256_file,
)
from triage.normalize import normalize_text

CORPUS_TWIN = 2  # the letter that repeats a corpus training letter (index in LETTERS)
# (text, decision): "confirm" takes the suggestion's top choices as the clerk's labels,
# "confirm-bare" sends the issue type only, a dict is a correction with those labels
LETTERS: list[tuple[str | None, str | dict[str, str]]] = [
    ("我们村的地去年被镇里征收修工业园，说好的征地补偿款和安置补助费到现在三年了一分没发，"
     "村干部说钱被镇里扣着。", "confirm"),
    ("包工头拖欠我们十几个农民工八个月的工资，一共二十多万，去劳动监察大队反映了三次也没人管。",
     "confirm-bare"),
    (None, {"issue_type": "land", "subtype": "land.ownership", "agency": "natural_resources"}),
    ("我们小区物业费年年涨，电梯坏了三个月没人修，业委会也不管，请住建局查一查物业公司。",
     "confirm"),
    ("村口的化工厂每天晚上偷偷排放废气，味道刺鼻，附近居民都不敢开窗，庄稼也被熏死了。",
     "confirm"),
    ("村支书把低保名额都给了自己的亲戚，真正困难的人家反而评不上，村民意见很大。",
     {"issue_type": "conduct"}),
    ("法院判决生效两年了，对方一分钱没给，申请强制执行也没有结果，执行法官电话都不接。",
     "confirm"),
    ("孩子上小学被学校要求交三千元赞助费，不交就不给入学，别的学校也是这样。", "confirm"),
    ("我父亲在县医院做手术后腿落下残疾，医院拒不承认是医疗事故，也不给病历复印件。",
     {"issue_type": "health", "agency": "health_commission", "nature": "claim"}),
    ("出租车司机绕路多收钱，还拒绝打表，打投诉电话也没人接，希望管一管乱收费。",
     {"issue_type": "market", "subtype": "market.pricing", "agency": "market_regulation"}),
    ("网上买的电热水器用了一周就漏电，商家不给退货也不给换，消费者权益得不到保障。",
     "confirm"),
]


def twin_text(corpus_text: str) -> str:
    """The corpus letter as a scanner might deliver it: same normalized text."""
    return "\u3000" + corpus_text.replace("，", ",") + "  \n"


def decide_all(db: Store, model: Any, user: UserView) -> list[dict[str, Any]]:
    """Register LETTERS with the model's suggestions and decide each in order."""
    corpus = read_corpus("train")
    out = []
    for text, how in LETTERS:
        text = text or twin_text(corpus.texts[0])
        sugg = model.suggest(text).model_dump(mode="json")
        lid = db.add_letter(text, None, None, sugg, user)
        top = sugg["issue_type"][0]
        if how == "confirm":
            labels = {"issue_type": top["id"], "subtype": top["subtype"],
                      "agency": sugg["agency"][0]["id"], "nature": sugg["nature"]["id"]}
        elif how == "confirm-bare":
            labels = {"issue_type": top["id"]}
        else:
            assert isinstance(how, dict)
            labels = how
        action = "correct" if isinstance(how, dict) else "confirm"
        decision, created = db.decide(lid, user, action, labels)
        assert created
        out.append({"letter_id": lid, "decision_id": decision["id"], "suggestion": sugg,
                    "labels": labels, "text": text})
    return out


@pytest.fixture()
def db(tmp_path: Path) -> Any:
    store = Store(f"sqlite:///{tmp_path / 'triage.db'}")
    yield store
    store.close()


# -- decisions as labelled letters ---------------------------------------------------------------

def test_read_decisions_labels_and_newest_held_out(db: Store, triage: Any) -> None:
    clerk = db.add_user("lin", "password123", "clerk")
    made = decide_all(db, triage, clerk)
    train, held = read_decisions(db, holdout=0.2)
    assert len(train) == 9 and len(held) == 2  # 11 decisions, the newest 20 % (2) held out
    assert held.extras["decision_id"] == [m["decision_id"] for m in made[-2:]]
    assert train.extras["decision_id"] == [m["decision_id"] for m in made[:-2]]
    assert train.extras["place"] == [None] * 9
    for part in (train, held):
        assert set(part.labels) == set(CORPUS_HEADS)
        assert all(len(v) == len(part) for v in (*part.labels.values(), *part.extras.values()))
    catalog = load_catalog()
    rows = {lid: i for i, lid in enumerate(train.extras["letter_id"])}
    for m in made[:-2]:
        i, sugg = rows[m["letter_id"]], m["suggestion"]
        lab = {h: train.labels[h][i] for h in CORPUS_HEADS}
        assert lab["issue_type"] == m["labels"]["issue_type"]  # the clerk's, always
        assert lab["subtype"].startswith(lab["issue_type"] + ".")
        assert lab["subtype"] in catalog.subtypes and lab["agency"] in catalog.agencies
        for head in ("subtype", "agency", "nature"):
            if head in m["labels"]:
                assert lab[head] == m["labels"][head]
        # the heads a clerk does not decide come from the stored suggestion
        assert lab["litigation_related"] == str(sugg["litigation_related"]["value"])
        assert lab["channel"] == ((sugg.get("legal_channel") or {}).get("id") or "none")
        flags = {f["id"] for f in sugg["flags"]}
        assert [lab[h] for h in FLAG_HEADS] == [str(h[5:] in flags) for h in FLAG_HEADS]
    bare = made[1]  # issue type only: the rest is the suggestion's top choices
    i = rows[bare["letter_id"]]
    assert train.labels["subtype"][i] == bare["suggestion"]["issue_type"][0]["subtype"]
    assert train.labels["agency"][i] == bare["suggestion"]["agency"][0]["id"]
    assert train.labels["nature"][i] == bare["suggestion"]["nature"]["id"]
    assert train.extras["given"][i] == ["issue_type", "subtype", "agency", "nature"]
    corrected = made[5]  # a new issue type alone: subtype and agency follow that type
    i = rows[corrected["letter_id"]]
    assert train.labels["issue_type"][i] == "conduct"
    sub = catalog.subtypes[train.labels["subtype"][i]]
    assert sub.id.startswith("conduct.")
    if corrected["suggestion"]["issue_type"][0]["id"] != "conduct":
        assert train.labels["agency"][i] in sub.agencies
    assert train.extras["given"][i] == ["issue_type"]

    everything, none = read_decisions(db, holdout=0)
    assert len(everything) == 11 and len(none) == 0


def test_read_decisions_standing_decision_only_and_small_sets(db: Store, triage: Any) -> None:
    clerk = db.add_user("lin", "password123", "clerk")
    texts = [t for t, _ in LETTERS[:4] if t]
    ids = [db.add_letter(t, None, None, triage.suggest(t).model_dump(mode="json"), clerk)
           for t in texts]
    db.decide(ids[0], clerk, "correct", {"issue_type": "rural"})
    db.decide(ids[1], clerk, "confirm", {"issue_type": "labour"})
    db.decide(ids[0], clerk, "correct", {"issue_type": "land"})  # the later decision stands
    db.decide(ids[2], clerk, "correct", {"issue_type": "other"})
    db.undo_last(clerk)  # letter 3's decision is taken back
    train, held = read_decisions(db, holdout=0.5)
    assert len(held) == 0  # fewer than 5 decisions: none held out
    assert sorted(zip(train.extras["letter_id"], train.labels["issue_type"],
                      strict=True)) == [(ids[0], "land"), (ids[1], "labour")]
    assert train.extras["decision_id"] == sorted(train.extras["decision_id"])
    assert ids[0] == train.extras["letter_id"][-1]  # ordered by its standing decision
    with pytest.raises(ValueError, match="holdout"):
        read_decisions(db, holdout=1.0)


def test_combine_the_clerk_wins_over_the_corpus(db: Store, triage: Any) -> None:
    clerk = db.add_user("lin", "password123", "clerk")
    made = decide_all(db, triage, clerk)
    corpus = read_corpus("train")
    train, _ = read_decisions(db, holdout=0.2)
    both = combine(corpus, train)
    assert normalize_text(made[CORPUS_TWIN]["text"]) == normalize_text(corpus.texts[0])
    assert len(both) == len(corpus) + len(train) - 1  # the twin replaces, the others append
    assert all(len(v) == len(both) for v in (both.titles, both.ids, *both.labels.values(),
                                                *both.extras.values()))
    # the corpus letter now carries the clerk's labels; what the clerk did not state stays
    assert corpus.labels["issue_type"][0] == "housing"
    assert (both.labels["issue_type"][0], both.labels["subtype"][0],
            both.labels["agency"][0]) == ("land", "land.ownership", "natural_resources")
    for head in ("nature", "litigation_related", "channel", *FLAG_HEADS):
        assert both.labels[head][0] == corpus.labels[head][0]
    assert both.extras["place"][0] == corpus.extras["place"][0]
    assert both.texts[0] == corpus.texts[0] and both.ids[0] == corpus.ids[0]
    # the rest of the corpus is untouched, the other decided letters are appended in order
    for head in CORPUS_HEADS:
        assert both.labels[head][1:len(corpus)] == corpus.labels[head][1:]
    appended = [i for i, lid in enumerate(train.extras["letter_id"])
                if lid != made[CORPUS_TWIN]["letter_id"]]
    assert both.texts[len(corpus):] == [train.texts[i] for i in appended]
    assert both.labels["issue_type"][len(corpus):] == [train.labels["issue_type"][i]
                                                       for i in appended]
    assert both.extras["place"][len(corpus):] == [None] * len(appended)
    assert both.extras["decision_id"][:len(corpus)].count(None) == len(corpus) - 1


# -- the promotion gate and rollback -----------------------------------------------------------

def add_version(store: Path, name: str, accuracy: float | None) -> str:
    """A copy of the store's current version under a new name, with another test accuracy
    in its metadata (the gate reads metadata; the model file and its checksum are real)."""
    current = read_manifest(store)["current"]
    shutil.copytree(store / current, store / name)
    meta_path = store / name / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["version"] = name
    meta["evaluation"]["issue_type"]["accuracy"] = accuracy
    meta_path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    digest = sha256_file(store / name / "model.joblib")
    register_version(store, name, {"sha256": digest, "created": meta["created"],
                                   "n_letters": meta["data"]["n_letters"]}, promote=False)
    return name


def accuracy(store: Path, version: str) -> float:
    meta = json.loads((store / version / "metadata.json").read_text(encoding="utf-8"))
    return float(meta["evaluation"]["issue_type"]["accuracy"])


def test_promote_checked_refuses_worse_unless_forced_and_rolls_back(store_copy: Path) -> None:
    old = read_manifest(store_copy)["current"]
    with pytest.raises(ModelError, match="no previous model"):
        rollback(store_copy)
    worse = add_version(store_copy, "worse-1", round(accuracy(store_copy, old) - 0.2, 4))
    with pytest.raises(PromotionRefused) as err:
        promote_checked(store_copy, worse, tolerance=0.01)
    message = str(err.value)
    assert f"{accuracy(store_copy, worse):.3f}" in message
    assert f"{accuracy(store_copy, old):.3f}" in message and "--force" in message
    assert read_manifest(store_copy)["current"] == old
    result = promote_checked(store_copy, worse, tolerance=0.01, force=True)
    assert result["from"] == old and result["to"] == worse and result["forced"] is True
    assert result["figures"]["test_issue_type_accuracy"]["candidate"] == accuracy(
        store_copy, worse)
    assert result["figures"]["test_issue_type_accuracy"]["current"] == accuracy(store_copy, old)
    manifest = read_manifest(store_copy)
    assert (manifest["current"], manifest["previous"]) == (worse, old)
    assert rollback(store_copy) == {"from": worse, "to": old}
    manifest = read_manifest(store_copy)
    assert (manifest["current"], manifest["previous"]) == (old, worse)


def test_promote_checked_tolerance_and_errors(store_copy: Path) -> None:
    old = read_manifest(store_copy)["current"]
    near = add_version(store_copy, "near-1", round(accuracy(store_copy, old) - 0.005, 4))
    with pytest.raises(PromotionRefused):
        promote_checked(store_copy, near, tolerance=0.0)
    result = promote_checked(store_copy, near, tolerance=0.01)
    assert result["forced"] is False and result["to"] == near
    with pytest.raises(ModelError, match="already the current model"):
        promote_checked(store_copy, near)
    with pytest.raises(ModelError, match="no version 'nope'"):
        promote_checked(store_copy, "nope", force=True)
    blank = add_version(store_copy, "blank-1", None)  # no figure to compare: refused
    with pytest.raises(PromotionRefused, match="cannot be compared"):
        promote_checked(store_copy, blank)
    tampered = add_version(store_copy, "tampered-1", 0.99)
    with open(store_copy / tampered / "model.joblib", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match="does not match the manifest"):
        promote_checked(store_copy, tampered, force=True)
    assert read_manifest(store_copy)["current"] == near


def run(args: list[str], env: dict[str, str], timeout: int = 300,
        ) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "-m", "training.cli", *args], capture_output=True,
                         env=env, cwd=ROOT, timeout=timeout)
    return subprocess.CompletedProcess(res.args, res.returncode,
                                       res.stdout.decode("utf-8"), res.stderr.decode("utf-8"))


def audit(env: dict[str, str]) -> list[dict[str, Any]]:
    res = run(["audit", "export"], env)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def test_cli_promote_gate_force_and_rollback_are_audited(store_copy: Path, tmp_path: Path,
                                                         cli_env: dict[str, str]) -> None:
    env = {**cli_env, "TRIAGE_MODEL_STORE": str(store_copy),
           "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'triage.db'}"}
    old = read_manifest(store_copy)["current"]
    worse = add_version(store_copy, "worse-1", 0.5)
    res = run(["models", "promote", worse, "--actor", "chief"], env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "refused" in res.stderr and "0.500" in res.stderr and "--force" in res.stderr
    assert read_manifest(store_copy)["current"] == old
    res = run(["models", "promote", worse, "--force", "--actor", "chief"], env)
    assert res.returncode == 0, res.stderr
    assert "forced" in res.stdout and read_manifest(store_copy)["current"] == worse
    listing = run(["models", "list"], env).stdout
    assert f"* {worse}" in listing and f"- {old}" in listing and "0.500" in listing
    res = run(["models", "rollback", "--actor", "deputy"], env)
    assert res.returncode == 0, res.stderr
    assert read_manifest(store_copy)["current"] == old
    events = [e for e in audit(env) if e["action"].startswith("model.")]
    assert [(e["actor"], e["action"], e["target"]) for e in events] == [
        ("chief", "model.promote", f"model:{worse}"),
        ("deputy", "model.rollback", f"model:{old}")]
    assert events[0]["before"] == {"current": old}
    assert events[0]["after"]["current"] == worse and events[0]["after"]["forced"] is True
    assert events[0]["after"]["figures"]["test_issue_type_accuracy"]["candidate"] == 0.5
    assert events[1]["before"] == {"current": worse} and events[1]["after"] == {"current": old}
    res = run(["models", "promote", "nope"], env)
    assert res.returncode == 2 and "no version 'nope'" in res.stderr


# -- one real retraining run ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def retrained(model_store: Path, triage: Any,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`triage train --from-decisions` on a copy of the session store, once for this module."""
    root = tmp_path_factory.mktemp("retrain")
    store = root / "store"
    shutil.copytree(model_store, store)
    url = f"sqlite:///{root / 'triage.db'}"
    db = Store(url)
    try:
        made = decide_all(db, triage, db.add_user("lin", "password123", "clerk"))
    finally:
        db.close()
    env = {**os.environ, "TRIAGE_MODEL_STORE": str(store), "TRIAGE_DATABASE_URL": url,
           "PYTHONIOENCODING": "utf-8"}
    before = read_manifest(store)["current"]
    res = run(["train", "--from-decisions", "--actor", "trainer", "--json"], env,
              timeout=1800)
    assert res.returncode == 0, res.stderr
    return {"store": store, "env": env, "made": made, "before": before,
            "result": json.loads(res.stdout), "stderr": res.stderr}


def test_retrain_writes_a_version_evaluated_on_held_out_decisions(
        retrained: dict[str, Any]) -> None:
    store, result, before = retrained["store"], retrained["result"], retrained["before"]
    version = result["version"]
    assert version != before and version in read_manifest(store)["versions"]
    meta = json.loads((store / version / "metadata.json").read_text(encoding="utf-8"))
    # the corpus training letters + 9 decided ones, the corpus twin merged: 2 held out
    assert meta["data"]["n_letters"] == len(read_corpus("train")) + 8
    assert result["letters"]["decisions_held_out"] == 2
    ev = meta["evaluation"]
    assert ev["issue_type"]["method"] == "held-out test set"
    dec = ev["decisions"]
    assert dec["n"] == 2 and "not trained on" in dec["method"]
    assert 0.0 <= dec["issue_type"]["accuracy"] <= 1.0 and dec["issue_type"]["n"] == 2
    assert dec["agency"]["n"] == 2 and 0.0 <= dec["agency"]["accuracy"] <= 1.0
    assert dec["current"]["version"] == before
    assert 0.0 <= dec["current"]["issue_type"]["accuracy"] <= 1.0
    assert ev["current_model"]["version"] == before
    assert ev["current_model"]["issue_type"]["n"] == len(read_corpus("test"))
    assert result["evaluation"]["decisions"] == dec
    # the gate compares like with like: both models on the same test letters and decisions
    figures = promotion_figures(store, version, before)
    assert figures["test_issue_type_accuracy"] == {
        "candidate": ev["issue_type"]["accuracy"], "candidate_method": "held-out test set",
        "current": ev["current_model"]["issue_type"]["accuracy"],
        "current_method": "held-out test set"}
    assert figures["decisions_issue_type_accuracy"]["current"] == dec["current"][
        "issue_type"]["accuracy"]


def test_retrain_promotion_follows_the_gate_and_is_audited(retrained: dict[str, Any]) -> None:
    store, result, before = retrained["store"], retrained["result"], retrained["before"]
    version = result["version"]
    manifest = read_manifest(store)
    if result["promoted"]:
        assert (manifest["current"], manifest["previous"]) == (version, before)
        assert result["promotion"]["from"] == before and result["refused"] is None
    else:
        assert manifest["current"] == before
        assert "--force" in result["refused"] and version in result["refused"]
    events = audit(retrained["env"])
    train = [e for e in events if e["action"] == "model.train"]
    assert len(train) == 1 and train[0]["actor"] == "trainer"
    assert train[0]["target"] == f"model:{version}" and train[0]["model_version"] == version
    assert train[0]["after"]["evaluation"]["decisions"]["n"] == 2
    assert train[0]["after"]["promoted"] is result["promoted"]
    promoted = [e for e in events if e["action"] == "model.promote"]
    assert len(promoted) == (1 if result["promoted"] else 0)


def test_retrain_without_decisions_fails_clearly(tmp_path: Path,
                                                 cli_env: dict[str, str]) -> None:
    env = {**cli_env, "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    res = run(["train", "--from-decisions", "--store", str(tmp_path / "store")], env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "no decisions" in res.stderr and res.stdout == ""
    assert not (tmp_path / "store").exists()

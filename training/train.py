"""Fit a model and write it as a new version into the model store."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import StratifiedKFold

from training.data import (
    CORPUS_HEADS,
    Dataset,
    combine,
    drop_overlap,
    read_corpus,
    read_decisions,
)
from training.evaluate import BASELINES, DEFAULT_PARAMS, score
from training.report import model_card, plot_confusion
from triage.catalog import load_catalog
from triage.classify import LetterClassifier
from triage.errors import DataError, ModelError, TriageError
from triage.extract import Extractor, PlaceRanker, people_counter
from triage.flags import choose_thresholds, rule_hit
from triage.modelstore import (
    MODEL_FILE,
    PromotionRefused,
    promote_checked,
    register_version,
    sha256_file,
    write_json_atomic,
)
from triage.pipeline import BUNDLE_FORMAT, Triage, compose_text, normalize_letter
from triage.rules import load_rules


def prepare_all(data: Dataset, title_repeat: int = 2) -> list[str]:
    """Normalized texts as the model sees them (the same functions the suggestion uses).

    ``title_repeat=1`` gives the text the extractor and the flag rules see.
    """
    out = []
    for i, (t, ti) in enumerate(zip(data.texts, data.titles, strict=True), start=1):
        body, head = normalize_letter(t, ti, where=f"{data.source} letter {i}")
        out.append(compose_text(body, head, title_repeat=title_repeat))
    return out


def data_hash(data: Dataset) -> str:
    h = hashlib.sha256()
    for i in range(len(data)):
        rec = [data.ids[i], data.titles[i], data.texts[i]] + [data.labels[k][i]
                                                              for k in sorted(data.labels)]
        h.update(json.dumps(rec, ensure_ascii=False).encode())
    return h.hexdigest()


def oof_proba(clf: LetterClassifier, Xf: Any, y: list[str], folds: int = 3,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """Out-of-fold class probabilities of one head; None if a class is too rare to split.

    The features ``Xf`` are those of ``clf`` (fitted on all letters): only the head is refitted
    per fold, which is what thresholds depend on, at a fraction of the cost of a full refit.

    Returns
    -------
    tuple of (probabilities, classes)
    """
    y_arr = np.asarray(y, dtype=object).astype(str)
    classes = np.unique(y_arr)
    k = min(folds, int(np.unique(y_arr, return_counts=True)[1].min()))
    if k < 2:
        return None
    splits = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(y_arr, y_arr))
    heads = Parallel(n_jobs=-1, prefer="threads")(
        delayed(clf.make_head(y_arr[tr]).fit)(Xf[tr], y_arr[tr]) for tr, _ in splits)
    proba = np.zeros((len(y_arr), len(classes)))
    for head, (_, te) in zip(heads, splits, strict=True):
        cols = [int(np.searchsorted(classes, c)) for c in head.classes_]
        proba[np.ix_(te, cols)] = head.predict_proba(Xf[te])
    return proba, classes


def out_of_fold(clf: LetterClassifier, texts: list[str], y: list[str], folds: int = 3,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """Out-of-fold (top score, predicted label) of one head; None if a class is too rare."""
    res = oof_proba(clf, clf.transform_texts(texts), y, folds, seed)
    if res is None:
        return None
    proba, classes = res
    return proba.max(axis=1), classes[proba.argmax(axis=1)].astype(str)


def fit_flag_thresholds(clf: LetterClassifier, heads: list[str], texts: list[str],
                        plain: list[str], data: Dataset) -> dict[str, tuple[float, float]]:
    """(t_rule, t_model) per flag head, from out-of-fold scores and the rules' matches."""
    rules = load_rules()
    count = people_counter(rules)
    Xf = clf.transform_texts(texts)
    out: dict[str, tuple[float, float]] = {}
    for fid, rule in rules.flags.items():
        head = f"flag_{fid}"
        if head not in heads:
            continue
        res = oof_proba(clf, Xf, data.labels[head])
        if res is None:
            continue
        proba, classes = res
        scores = proba[:, list(classes).index("True")] if "True" in classes else np.zeros(
            len(texts))
        fired = [rule_hit(rule, t, count) is not None for t in plain]
        truth = [v == "True" for v in data.labels[head]]
        out[fid] = choose_thresholds(scores.tolist(), fired, truth, rule.target_recall)
    return out


def place_inputs(plain: list[str], places: Sequence[str | None],
                 ) -> tuple[Extractor, list[list[int]], list[str | None]]:
    """What the place ranker learns from: the extractor (its rules and segmenter), each
    letter's word bounds, and the labelled places normalized as the letters are."""
    from triage.normalize import normalize_text

    extractor = Extractor.load()
    bounds = [extractor.bounds(t) for t in plain]
    return extractor, bounds, [normalize_text(p) if p else None for p in places]


def fit_place_ranker(plain: list[str], places: list[str | None]) -> PlaceRanker:
    """The jurisdiction ranker, trained on the letters' labelled places."""
    extractor, bounds, gold = place_inputs(plain, places)
    rules = extractor.rules.places
    # below which top score a letter is taken to name no place: chosen on 2-fold out-of-fold
    # rankings for the most letters right (the exact place, or none when none is labelled)
    # (top score, its lead over the next place, labelled, exactly right)
    tops: list[tuple[float, float, bool, bool]] = []
    for fold in (0, 1):
        fit_i = [i for i in range(len(plain)) if i % 2 != fold]
        ranker = PlaceRanker(rules).fit([plain[i] for i in fit_i], [gold[i] for i in fit_i],
                                        [bounds[i] for i in fit_i])
        for i in range(fold, len(plain), 2):
            options = ranker.options(plain[i], ranker.rank(plain[i], bounds[i]), 2)
            if not options:
                tops.append((0.0, 0.0, gold[i] is not None, False))
                continue
            place, p = options[0]
            tops.append((p, PlaceRanker.margin(options), gold[i] is not None, place == gold[i]))
    best, best_right = 0.0, -1
    for t in np.round(np.arange(0.0, 0.9, 0.01), 2):
        right = sum((p >= t and ok) if labelled else p < t for p, _, labelled, ok in tops)
        if right > best_right:
            best, best_right = float(t), right
    final = PlaceRanker(rules).fit(plain, gold, bounds)
    final.none_threshold = best
    final.sure_margin = sure_margin([(m, ok) for p, m, _, ok in tops if p >= best],
                                    rules.sure_precision)
    return final


def sure_margin(given: list[tuple[float, bool]], precision: float, least: int = 30) -> float:
    """The smallest lead over the next place at which the places given (lead, exactly right)
    are right at least ``precision`` of the time, over at least ``least`` letters; 2.0 (never
    sure) when there is none."""
    return review_threshold(np.array([m for m, _ in given], dtype=float),
                            np.array([ok for _, ok in given], dtype=bool), precision,
                            least=least, never=2.0)


def review_threshold(top: np.ndarray, right: np.ndarray, target: float, least: int = 1,
                     never: float = 0.99) -> float:
    """Lowest score threshold whose accepted letters (at least ``least`` of them) reach
    ``target`` accuracy; ``never`` when none does."""
    for t in np.round(np.arange(0.0, 1.0, 0.01), 2):
        keep = top >= t
        if keep.sum() < least:
            break
        if right[keep].mean() >= target:
            return float(t)
    return never


def libraries() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("scikit-learn", "jieba", "numpy", "scipy", "opencc", "joblib"):
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _summary(truth: list[str], pred: list[str], positive: str | None = None) -> dict[str, Any]:
    res = score(truth, pred)
    if positive is not None:  # a yes/no head: precision and recall of the positive class
        m = res["per_class"].get(positive, {"precision": 0.0, "recall": 0.0})
        res["precision"], res["recall"] = m["precision"], m["recall"]
    return res


def _baseline_predictions(train: Dataset, test: Dataset,
                          heads: list[str]) -> dict[str, dict[str, list[str]]]:
    """Each baseline's test predictions per head; its vectorizer is fitted once for all heads."""
    from sklearn.base import clone

    train_raw, test_raw = raw_texts(train), raw_texts(test)
    out: dict[str, dict[str, list[str]]] = {}
    for name, make in BASELINES.items():
        pipe = make()
        vectorizer, model = pipe.steps[0][1], pipe.steps[-1][1]
        Xtr, Xte = vectorizer.fit_transform(train_raw), vectorizer.transform(test_raw)
        out[name] = {h: [str(x) for x in clone(model).fit(Xtr, train.labels[h]).predict(Xte)]
                     for h in heads}
    return out


def evaluate_extras(sugg: list[Any], test: Dataset) -> dict[str, Any]:
    """Flags, legal channel and jurisdiction of the suggestions against the test labels."""
    out: dict[str, Any] = {}
    for fid in load_rules().flags:
        head = f"flag_{fid}"
        if head not in test.labels:
            continue
        truth = [v == "True" for v in test.labels[head]]
        pred = [any(f.id == fid for f in s.flags) for s in sugg]
        tp = sum(a and b for a, b in zip(pred, truth, strict=True))
        fp = sum(a and not b for a, b in zip(pred, truth, strict=True))
        fn = sum(b and not a for a, b in zip(pred, truth, strict=True))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out[head] = {"precision": round(p, 4), "recall": round(r, 4),
                     "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
                     "support": tp + fn, "method": "held-out test set"}
    if "channel" in test.labels:
        pairs = [(t, s.legal_channel.id if s.legal_channel else "none")
                 for t, s in zip(test.labels["channel"], sugg, strict=True) if t != "none"]
        if pairs:
            out["channel"] = {
                "accuracy": round(float(np.mean([a == b for a, b in pairs])), 4),
                "n": len(pairs), "method": "held-out litigation-related letters (the channel "
                "is given only when the letter is predicted litigation-related)"}
    places = test.extras.get("place")
    if places:
        from triage.normalize import normalize_text

        pairs2 = [(normalize_text(g), s.jurisdiction.place if s.jurisdiction and
                   s.jurisdiction.source == "text" else None)
                  for g, s in zip(places, sugg, strict=True) if g]
        offered = [normalize_text(g) in [*([s.jurisdiction.place] if s.jurisdiction.source
                                            == "text" else []),
                                          *(o.place for o in s.jurisdiction.alternatives)]
                   for g, s in zip(places, sugg, strict=True) if g and s.jurisdiction]
        out["jurisdiction"] = {
            "exact": round(float(np.mean([g == p for g, p in pairs2])), 4),
            "overlap": round(float(np.mean([p is not None and (g in p or p in g)
                                            for g, p in pairs2])), 4),
            "offered": round(float(np.sum(offered) / max(len(pairs2), 1)), 4),
            "n": len(pairs2), "method": "held-out letters that name a place; exact string, "
            "one containing the other, and the exact string offered to the clerk (the place "
            "or one of its alternatives)"}
        none = [s.jurisdiction is None or s.jurisdiction.source != "text"
                for g, s in zip(places, sugg, strict=True) if not g]
        if none:
            out["jurisdiction"]["no_place_right"] = round(float(np.mean(none)), 4)
            out["jurisdiction"]["n_no_place"] = len(none)
        # the places marked sure, over every letter given one (a place given to a letter
        # that names none is wrong), and the share of the letters naming a place so marked
        given = [(s.jurisdiction.sure, bool(g) and normalize_text(g) == s.jurisdiction.place)
                 for g, s in zip(places, sugg, strict=True)
                 if s.jurisdiction and s.jurisdiction.source == "text"]
        sure = [ok for is_sure, ok in given if is_sure]
        unsure = [ok for is_sure, ok in given if not is_sure]
        out["jurisdiction"].update({
            "sure_exact": round(float(np.mean(sure)), 4) if sure else None, "n_sure": len(sure),
            "unsure_exact": round(float(np.mean(unsure)), 4) if unsure else None,
            "sure_share": round(sum(s.jurisdiction is not None and s.jurisdiction.sure
                                    for g, s in zip(places, sugg, strict=True) if g)
                                / max(len(pairs2), 1), 4)})
    return out


def evaluate_bundle(bundle: dict[str, Any], test: Dataset,
                    train: Dataset) -> tuple[dict[str, Any], list[str]]:
    """Each head's figures on a held-out set, next to both baselines fitted on that head.

    Our predictions are those of the final suggestion (after routing), as a clerk sees them.

    Returns
    -------
    tuple of (dict, list of str)
        The figures per head, and the predicted issue type of every test letter.
    """
    triage = Triage(bundle, {"version": "candidate"}, load_catalog())
    sugg = triage.suggest_many(test.texts, test.titles)
    ours = {
        "issue_type": [s.issue_type[0].id for s in sugg],
        "subtype": [s.issue_type[0].subtype or "" for s in sugg],
        "agency": [s.agency[0].id if s.agency else "" for s in sugg],
        "nature": [s.nature.id if s.nature else "" for s in sugg],
        "litigation_related": [str(bool(s.litigation_related and s.litigation_related.value))
                               for s in sugg]}
    out: dict[str, Any] = {}
    heads = [h for h in ours if h in test.labels and h in train.labels]
    # the subtype head has no baseline: 70+ classes, the slowest baseline fit, and no
    # acceptance figure depends on it
    baseline_preds = _baseline_predictions(train, test, [h for h in heads if h != "subtype"])
    for head in heads:
        positive = "True" if head == "litigation_related" else None
        truth = test.labels[head]
        res = _summary(truth, ours[head], positive)
        res["method"] = "held-out test set"
        res["baselines"] = {}
        for name, preds in baseline_preds.items():
            if head not in preds:
                continue
            b = _summary(truth, preds[head], positive)
            b.pop("per_class")
            res["baselines"][name] = b
        out[head] = res
    if "agency" in out:
        top3 = [t in {a.id for a in s.agency[:3]}
                for t, s in zip(test.labels["agency"], sugg, strict=True)]
        out["agency"]["top3_accuracy"] = round(float(np.mean(top3)), 4)
    out.update(evaluate_extras(sugg, test))
    out["needs_review_share"] = {"value": round(float(np.mean([s.needs_review for s in sugg])),
                                                4), "n": len(sugg),
                                     "method": "held-out test set"}
    return out, ours["issue_type"]


def raw_texts(data: Dataset) -> list[str]:
    """Title and text as the baselines see them: joined, not normalized."""
    return [f"{ti}\n{t}" if ti else t for t, ti in zip(data.texts, data.titles, strict=True)]


def train_version(data: Dataset, store: Path, *, heads: list[str], test: Dataset | None = None,
                  promote: bool = True, params: dict[str, Any] | None = None,
                  log: Any = print, command: str = "train_version()",
                  extra_evaluation: Callable[[Triage], dict[str, Any]] | None = None) -> str:
    """Fit every head on ``data``, evaluate on ``test`` and write a new version.

    ``extra_evaluation`` is called with the fitted candidate (a ``Triage``) before the version
    is written; what it returns is added to the metadata's ``evaluation``.

    Returns
    -------
    str
        The new version's id.
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    start = time.perf_counter()

    def log_step(message: str) -> None:
        log(f"[{time.perf_counter() - start:6.1f}s] {message}")

    log_step(f"preparing {len(data)} letters …")
    texts = prepare_all(data)
    plain = prepare_all(data, title_repeat=1)
    Y = np.column_stack([np.asarray(data.labels[h], dtype=object) for h in heads])
    log_step(f"fitting {len(heads)} head(s): {', '.join(heads)} …")
    clf = LetterClassifier(**params).fit(texts, Y)
    catalog = load_catalog()
    log_step("3-fold out-of-fold predictions for the needs_review threshold …")
    truth = np.asarray(data.labels[heads[0]], dtype=object).astype(str)
    oof = out_of_fold(clf, texts, list(truth))
    threshold = (review_threshold(oof[0], oof[1] == truth, catalog.policy.target_accuracy)
                 if oof else catalog.policy.min_issue_score)
    bundle: dict[str, Any] = {"format": BUNDLE_FORMAT, "classifier": clf, "heads": heads,
                              "review_threshold": threshold}
    if any(h.startswith("flag_") for h in heads):
        log_step("flag thresholds from out-of-fold predictions …")
        bundle["flag_thresholds"] = fit_flag_thresholds(clf, heads, texts, plain, data)
    if data.extras.get("place"):
        log_step("place ranker (属地) …")
        bundle["place_ranker"] = fit_place_ranker(plain, data.extras["place"])
    evaluation: dict[str, Any] = {}
    chart: tuple[list[str], list[str], str] | None = None
    if test is not None:
        log_step(f"evaluating on {len(test)} held-out letters and baselines …")
        evaluation, predicted = evaluate_bundle(bundle, test, data)
        chart = (test.labels[heads[0]], predicted, "held-out test set")
    elif oof is not None:
        evaluation[heads[0]] = {**score(list(truth), list(oof[1])),
                                "method": "3-fold CV on the training letters"}
        chart = (list(truth), list(oof[1]), "3-fold CV")
    if extra_evaluation is not None:
        log_step("evaluating the candidate on further letters …")
        evaluation.update(extra_evaluation(Triage(bundle, {"version": "candidate"},
                                                  catalog)))
    created = dt.datetime.now(dt.UTC)
    meta: dict[str, Any] = {
        "created": created.isoformat(timespec="seconds"), "heads": heads, "params": params,
        "command": command, "review_threshold": threshold, "libraries": libraries(),
        "taxonomy_version": catalog.version,
        "data": {"source": data.source, "n_letters": len(data), "sha256": data_hash(data),
                 "label_counts": dict(sorted(Counter(data.labels[heads[0]]).items())),
                 "skipped_rows": len(data.skipped)},
        "evaluation": evaluation}
    version = _write(store, bundle, meta, created, promote, chart)
    log_step("done")
    return version


def card(meta: dict[str, Any]) -> str:
    """MODEL_CARD.md: the report's card, with the comparison against held-out decisions and
    the model that was current at training time in a section of its own."""
    ev = meta.get("evaluation") or {}
    dec, cur = ev.get("decisions"), ev.get("current_model")
    text = model_card({**meta, "evaluation": {k: v for k, v in ev.items()
                                              if k not in ("decisions", "current_model")}})
    if not dec and not cur:
        return text

    def fig(x: Any) -> str:
        return "—" if x is None else f"{float(x):.3f}"

    lines = ["### Next to the model current at training time", "",
             "| letters | figure | this version | current model |", "| --- | --- | --- | --- |"]
    if cur:
        lines.append(f"| corpus test set (n = {cur['issue_type'].get('n')}) | issue-type "
                     f"accuracy | {fig((ev.get('issue_type') or {}).get('accuracy'))} | "
                     f"{fig(cur['issue_type'].get('accuracy'))} ({cur['version']}) |")
    if dec:
        other = dec.get("current") or {}
        for head in ("issue_type", "agency"):
            mine = dec.get(head) or {}
            lines.append(f"| held-out decisions (n = {mine.get('n')}) | {head} accuracy | "
                         f"{fig(mine.get('accuracy'))} | "
                         f"{fig((other.get(head) or {}).get('accuracy'))}"
                         + (f" ({other['version']})" if other.get("version") else "") + " |")
        lines += ["", f"Held-out decisions: {dec.get('method')}."]
    lines.append("")
    return text.replace("## Reproduce", "\n".join(lines) + "\n## Reproduce", 1)


def _write(store: Path, bundle: dict[str, Any], meta: dict[str, Any], created: dt.datetime,
           promote: bool, chart: tuple[list[str], list[str], str] | None) -> str:
    import joblib

    store.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=store, prefix=".incoming-"))
    try:
        joblib.dump(bundle, tmp / MODEL_FILE, compress=3)
        digest = sha256_file(tmp / MODEL_FILE)
        version = f"{created:%Y%m%d-%H%M%S}-{digest[:6]}"
        meta = {"version": version, "sha256": digest, **meta}
        write_json_atomic(tmp / "metadata.json", meta)
        (tmp / "MODEL_CARD.md").write_text(card(meta), encoding="utf-8")
        if chart is not None:
            truth, pred, how = chart
            plot_confusion(truth, pred, tmp / "confusion.png", f"{meta['heads'][0]}, {how}")
        for path in tmp.iterdir():
            path.chmod(0o644)  # mkstemp/mkdtemp create private files; a service user reads them
        tmp.chmod(0o755)
        final = store / version
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    register_version(store, version, {"sha256": digest, "created": meta["created"],
                                      "n_letters": meta["data"]["n_letters"]}, promote)
    print(f"wrote model version {version} to {final}" + (" (current)" if promote else ""),
          file=sys.stderr)
    return version


# -- retraining on the clerks' decisions ----------------------------------------------------------

def decision_figures(model: Triage, held: Dataset) -> dict[str, Any]:
    """Issue-type and agency accuracy of a model's suggestions on held-out decided letters.

    The agency counts only where the clerk stated or confirmed it (``extras["given"]``), not
    where it was filled in from the stored suggestion.
    """
    sugg = model.suggest_many(held.texts, held.titles)
    given = held.extras.get("given") or [["issue_type", "agency"]] * len(held)
    issue = [s.issue_type[0].id == t for s, t in zip(sugg, held.labels["issue_type"],
                                                       strict=True)]
    agency = [(s.agency[0].id if s.agency else "") == t
              for s, t, g in zip(sugg, held.labels["agency"], given, strict=True)
              if "agency" in g]

    def acc(hits: list[bool]) -> float | None:
        return round(float(np.mean(hits)), 4) if hits else None

    return {"issue_type": {"accuracy": acc(issue), "n": len(issue)},
            "agency": {"accuracy": acc(agency), "n": len(agency)}}


def _current_model(store: Path, log: Any) -> Triage | None:
    """The store's current model, or None when there is none (or it cannot be loaded)."""
    from triage.modelstore import read_manifest

    if not read_manifest(store).get("current"):
        return None
    try:
        return Triage.load(store)
    except ModelError as exc:
        log(f"the current model cannot be loaded, so it is not compared: {exc}")
        return None


def train_from_decisions(db: Any, store: Path, *, holdout: float = 0.2,
                         tolerance: float = 0.01, force: bool = False, promote: bool = True,
                         actor: str = "system", log: Any = print,
                         command: str = "train_from_decisions()",
                         corpus_dir: str | Path | None = None) -> dict[str, Any]:
    """Retrain on the corpus and the clerks' decisions; promote the result if it is not worse.

    The training letters are the corpus's training letters combined with the decisions that
    are not held out (the clerk's labels win, see ``training.data.combine``); decision letters
    that are also corpus test letters, and any letter equal to a held-out decision, are not
    trained on. The candidate is evaluated on the corpus test set and on the held-out
    decisions, each next to the current model on the same letters; the version is written
    without being promoted, then goes through ``promote_checked`` (unless ``promote`` is
    false). The run is recorded in the audit of ``db`` (a ``service.store.Store``) as
    ``model.train`` (and ``model.promote`` when promoted).

    Returns
    -------
    dict
        ``version``, ``evaluation`` (the candidate's and current model's figures),
        ``promoted`` (bool), ``promotion`` (promote_checked's result or None), ``refused``
        (the gate's message or None), ``letters`` (counts).

    Raises
    ------
    DataError
        There are no usable decisions in the database.
    """
    train_dec, held = read_decisions(db, holdout)
    for line in train_dec.skipped:
        log(line)
    if not len(train_dec) and not len(held):
        raise DataError(f"no decisions to train on in {db.safe_url}"
                        + (f" ({len(train_dec.skipped)} could not be used)"
                           if train_dec.skipped else "")
                        + "; clerks confirm or correct suggestions in the service first "
                        "(or point --database-url at the service's database)")
    corpus = read_corpus("train", corpus_dir)
    try:
        test: Dataset | None = read_corpus("test", corpus_dir)
    except TriageError:
        test = None
    in_test: list[str] = []
    if test is not None:
        train_dec, in_test = drop_overlap(train_dec, test)
        if in_test:
            log(f"{len(in_test)} decided letter(s) are corpus test letters and are not "
                "trained on, so the test figures stay honest")
    data, _ = drop_overlap(combine(corpus, train_dec), held)
    log(f"training on {len(corpus)} corpus letters and {len(train_dec)} decided letters "
        f"({len(data)} after merging duplicates); {len(held)} newest decision(s) held out")
    current = _current_model(store, log)
    ids = held.extras.get("decision_id") or []
    method = (f"the newest {len(held)} of {len(held) + len(train_dec) + len(in_test)} "
              f"clerk decisions (decision ids {min(ids)}–{max(ids)}), not trained on"
              if ids else "no decisions held out")
    current_figures: dict[str, Any] = {}
    if current is not None:
        log(f"evaluating the current model {current.model_version} on the same letters …")
        if len(held):
            current_figures["decisions"] = decision_figures(current, held)
        if test is not None:
            sugg = current.suggest_many(test.texts, test.titles)
            hits = [s.issue_type[0].id == t for s, t in zip(sugg, test.labels["issue_type"],
                                                              strict=True)]
            current_figures["test"] = {"accuracy": round(float(np.mean(hits)), 4),
                                       "n": len(hits), "method": "held-out test set"}

    def more(candidate: Triage) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if len(held):
            dec: dict[str, Any] = {"n": len(held), "method": method,
                                   **decision_figures(candidate, held)}
            dec["current"] = ({"version": current.model_version,
                               **current_figures["decisions"]} if current else None)
            out["decisions"] = dec
        if current is not None and "test" in current_figures:
            out["current_model"] = {"version": current.model_version,
                                    "issue_type": current_figures["test"]}
        return out

    version = train_version(data, store, heads=list(CORPUS_HEADS), test=test, promote=False,
                            log=log, command=command, extra_evaluation=more)
    meta = json.loads((store / version / "metadata.json").read_text(encoding="utf-8"))
    evaluation = {k: meta["evaluation"][k] for k in ("decisions", "current_model")
                  if k in meta["evaluation"]}
    evaluation["test_issue_type_accuracy"] = (meta["evaluation"].get("issue_type")
                                              or {}).get("accuracy")
    result: dict[str, Any] = {
        "version": version, "evaluation": evaluation, "promoted": False, "promotion": None,
        "refused": None,
        "letters": {"trained": len(data), "decisions_trained": len(train_dec),
                    "decisions_held_out": len(held), "decisions_in_corpus_test": len(in_test),
                    "decisions_skipped": len(train_dec.skipped)}}
    if promote:
        try:
            result["promotion"] = promote_checked(store, version, tolerance=tolerance,
                                                  force=force)
            result["promoted"] = True
        except PromotionRefused as exc:
            result["refused"] = str(exc)
    db.audit(actor, "model.train", f"model:{version}", None,
             {"version": version, "evaluation": evaluation, "letters": result["letters"],
              "promoted": result["promoted"], "refused": result["refused"]}, version)
    if result["promotion"]:
        p = result["promotion"]
        db.audit(actor, "model.promote", f"model:{version}", {"current": p["from"]},
                 {"current": p["to"], "forced": p["forced"], "figures": p["figures"]},
                 version)
    return result

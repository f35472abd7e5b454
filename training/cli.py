"""The ``triage`` command: suggest, train, evaluate, models, similar, hotspots, redact, serve.

The CLI lives in training/ because it is the one place where the library, training and the
service meet, and triage/ and service/ must not import training/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from triage.errors import TriageError

EXAMPLES = """examples:
  triage suggest "我们村的地被征收了，补偿款三年没发"
  triage suggest --file letter.txt            (UTF-8, GB18030, Big5 or UTF-16 with BOM)
  triage train --corpus                        (the default model from corpus/)
  triage evaluate --data mine.csv --text-col text --label-col label --cv 5 --json
  triage suggest --received 2026-11-22 --redact --file letter.txt
  triage similar letters.csv --date-col received     (earlier letters on the same matter)
  triage hotspots letters.csv --date-col received --since 2026-10-01 --until 2026-10-31
  triage redact --file letter.txt
"""


def _store(args: argparse.Namespace) -> Path:
    from triage.modelstore import default_store

    return Path(args.store) if getattr(args, "store", None) else default_store()


def cmd_suggest(args: argparse.Namespace) -> int:
    from triage import Triage

    text = _read_text_arg(args)
    received = _date_arg(args.received, "--received")
    triage = Triage.load(args.model or _store(args))
    suggestion = triage.suggest(text, title=args.title, received=received)
    out = suggestion.model_dump(mode="json")
    if args.redact:
        out = redact_suggestion(out)
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def _date_arg(value: str | None, flag: str) -> Any:
    import datetime as dt

    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise TriageError(f"{flag}: {value!r} is not a date; write it as YYYY-MM-DD") from None


def redact_suggestion(out: dict[str, Any]) -> dict[str, Any]:
    """A suggestion's JSON with personal data taken out of the evidence and entity strings."""
    from triage.redact import redact

    for flag in out.get("flags", []):
        flag["evidence"] = redact(flag.get("evidence", ""))
    for key, value in list(out.get("entities", {}).items()):
        if isinstance(value, list):
            out["entities"][key] = [redact(v) for v in value]
    if out.get("jurisdiction"):
        out["jurisdiction"]["place"] = redact(out["jurisdiction"]["place"])
    for ag in out.get("agency", []):
        if ag.get("jurisdiction"):
            ag["jurisdiction"] = redact(ag["jurisdiction"])
    return out


def _read_text_arg(args: argparse.Namespace) -> str:
    """The letter of a command: the argument, --file (any supported encoding) or stdin."""
    from triage.errors import LetterError
    from triage.normalize import decode_bytes

    if getattr(args, "file", None):
        path = Path(args.file)
        if not path.is_file():
            raise LetterError(f"{path}: file not found")
        return decode_bytes(path.read_bytes(), str(path))[0]
    if getattr(args, "text", None) is not None:
        return str(args.text)
    if not sys.stdin.isatty():
        return decode_bytes(sys.stdin.buffer.read(), "standard input")[0]
    raise LetterError("no letter given: pass the text as an argument, --file FILE, or pipe "
                      "it on standard input")


def cmd_redact(args: argparse.Namespace) -> int:
    from triage.redact import redact

    print(redact(_read_text_arg(args)))
    return 0


def _letters_arg(args: argparse.Namespace) -> Any:
    from training.data import read_letters

    return read_letters(args.input, text_col=args.text_col, title_col=args.title_col,
                        id_col=args.id_col, date_col=args.date_col)


def cmd_similar(args: argparse.Namespace) -> int:
    """Earlier letters on the same matter: within a file, or for one new letter."""
    from triage.catalog import load_catalog
    from triage.normalize import normalize_text
    from triage.redact import redact
    from triage.similar import LetterIndex

    letters, _ = _letters_arg(args)
    policy = load_catalog().policy
    threshold = args.threshold if args.threshold is not None else policy.min_similarity
    texts = [normalize_text("\n".join(p for p in (x.title, x.text) if p)) for x in letters]
    if args.letter is not None or args.file:
        index = LetterIndex(threshold)
        index.add([x.id for x in letters], texts)
        query = normalize_text(_read_text_arg(argparse.Namespace(text=args.letter,
                                                                  file=args.file)))
        hits = index.query(query, k=args.top)
        print(json.dumps([{"id": i, "score": round(s, 4)} for i, s in hits], ensure_ascii=False))
        return 0
    order = sorted(range(len(letters)), key=lambda i: (letters[i].received or "", i))
    index = LetterIndex(threshold)
    found = 0
    for i in order:  # each letter against the letters before it (by date, then file order)
        if len(index):
            for other, score in index.query(texts[i], k=args.top):
                found += 1
                rec = {"id": letters[i].id, "earlier": other, "score": round(score, 4),
                       "received": letters[i].received}
                if args.show_text:
                    rec["text"] = redact(texts[i][:120]) if args.redact else texts[i][:120]
                print(json.dumps(rec, ensure_ascii=False))
        index.add([letters[i].id], [texts[i]])
    print(f"{len(letters)} letters, {found} links to earlier letters at similarity "
          f">= {threshold}", file=sys.stderr)
    return 0


def cmd_hotspots(args: argparse.Namespace) -> int:
    from triage import Triage
    from triage.hotspots import hotspots

    letters, skipped = _letters_arg(args)
    if args.since or args.until:
        if not args.date_col:
            raise TriageError("--since / --until need --date-col, the column with the date "
                              "each letter was received")
        letters = [x for x in letters if x.received and (not args.since or x.received >= args.since)
                   and (not args.until or x.received <= args.until)]
        if not letters:
            raise TriageError("no letter falls between --since and --until")
    triage = Triage.load(args.model or _store(args))
    suggestions = []
    batch = 256
    from tqdm import tqdm

    with tqdm(total=len(letters), unit="letter", disable=not sys.stderr.isatty(),
              desc="suggesting") as bar:
        for k in range(0, len(letters), batch):
            part = letters[k:k + batch]
            suggestions += triage.suggest_many([x.text for x in part], [x.title for x in part])
            bar.update(len(part))
    spots = hotspots(suggestions, [x.id for x in letters], [x.received for x in letters],
                     level=args.level, top=args.top, min_count=args.min_count)
    if args.json:
        print(json.dumps({"letters": len(letters), "skipped": len(skipped), "level": args.level,
                          "hotspots": spots}, ensure_ascii=False, indent=2))
        return 0
    print(f"{len(letters)} letters ({len(skipped)} rows skipped), grouped by {args.level}:")
    for rank, h in enumerate(spots, start=1):
        flags = ", ".join(f"{k} {v}" for k, v in sorted(h["flags"].items()))
        print(f"{rank:>3}. {h['label']}  {h['count']} letters"
              + (f"  [{flags}]" if flags else "")
              + (f"  terms: {' '.join(h['terms'])}" if h["terms"] else ""))
    if not spots:
        print(f"  no place and issue has {args.min_count} or more letters")
    return 0


def _labelled(args: argparse.Namespace, path: str) -> Any:
    from training.data import read_labelled

    return read_labelled(path, text_col=args.text_col, title_col=args.title_col,
                         label_cols={"issue_type": args.label_col}, id_col=args.id_col)


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_train(args: argparse.Namespace) -> int:
    from training.data import CORPUS_HEADS, read_corpus
    from training.train import train_version

    if args.data:
        data, heads = _labelled(args, args.data), ["issue_type"]
        test = _labelled(args, args.test) if args.test else None
    else:
        data, heads = read_corpus("train"), list(CORPUS_HEADS)
        try:
            test = read_corpus("test")
        except TriageError:
            test = None
    version = train_version(data, _store(args), heads=heads, test=test,
                            promote=not args.no_promote, log=_log,
                            command="triage " + " ".join(sys.argv[1:]))
    print(version)
    return 0


def _parse_map(text: str | None) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in (text or "").split(",") if p.strip()]
    bad = [p[0] for p in pairs if len(p) != 2]
    if bad:
        raise TriageError(f"--map: {bad} is not ours=theirs; write e.g. "
                          "--map housing=城乡建设,labour=劳动和社会保障")
    return {a.strip(): b.strip() for a, b in pairs}


def cmd_evaluate_model(args: argparse.Namespace) -> int:
    """A trained model (no retraining) on a labelled file, its ids mapped to the file's labels."""
    from training.evaluate import score
    from triage import Triage

    data = _labelled(args, args.data)
    mapping = _parse_map(args.map)
    triage = Triage.load(args.model)
    sugg = triage.suggest_many(data.texts, data.titles)
    pred = [mapping.get(s.issue_type[0].id, s.issue_type[0].id) for s in sugg]
    result = score(data.labels["issue_type"], pred)
    result["method"] = f"model {triage.model_version}, no retraining"
    result["mapping"] = mapping
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    _print_figures(result)
    return 0


def _print_figures(result: dict[str, Any]) -> None:
    print(f"{result['method']} on {result['n']} letters")
    print(f"{'model':<12} {'accuracy':>9} {'macro-F1':>9}")
    print(f"{'ours':<12} {result['accuracy']:>9.3f} {result['macro_f1']:>9.3f}")
    for name, b in result.get("baselines", {}).items():
        print(f"{name:<12} {b['accuracy']:>9.3f} {b['macro_f1']:>9.3f}")
    print(f"\n{'class':<16} {'precision':>9} {'recall':>9} {'F1':>9} {'support':>8}")
    for lab, m in result["per_class"].items():
        print(f"{lab:<16} {m['precision']:>9.3f} {m['recall']:>9.3f} {m['f1']:>9.3f} "
              f"{m['support']:>8}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import compare, default_estimator
    from training.train import prepare_all, raw_texts

    if args.model:
        return cmd_evaluate_model(args)
    data = _labelled(args, args.data)
    test = None
    if args.test:
        t = _labelled(args, args.test)
        test = (prepare_all(t), raw_texts(t), t.labels["issue_type"])
    result = compare(default_estimator, prepare_all(data), raw_texts(data),
                     data.labels["issue_type"], cv=None if test else args.cv, test=test,
                     progress=not args.json)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    _print_figures(result)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from triage.modelstore import promote_version, read_manifest

    store = _store(args)
    manifest = read_manifest(store)
    if args.action == "current":
        if not manifest.get("current"):
            print(f"{store}: no current model", file=sys.stderr)
            return 1
        print(manifest["current"])
    elif args.action == "list":
        for version, entry in sorted(manifest["versions"].items()):
            mark = "*" if version == manifest.get("current") else " "
            print(f"{mark} {version}  {entry.get('created', '')}  "
                  f"{entry.get('n_letters', '?')} letters")
    elif args.action == "promote":
        if not args.version:
            raise TriageError("models promote: name the version to promote")
        promote_version(store, args.version)
        print(f"current model: {args.version}")
    return 0


def cmd_corpus_stats(args: argparse.Namespace) -> int:
    from training.corpus_stats import corpus_stats, load_letters

    stats = corpus_stats(load_letters(args.split))
    print(json.dumps(stats, ensure_ascii=False, indent=1) if args.json else _stats_text(stats))
    return 0


def _stats_text(stats: dict[str, Any]) -> str:
    lines = [f"{stats['letters']} letters"]
    for key in ("by_type", "length", "share", "flags", "nature"):
        lines.append(f"{key}: " + ", ".join(f"{k} {v}" for k, v in stats[key].items()))
    lines.append(f"personas: {stats['personas']}")
    lines.append("most common openings: " + "; ".join(f"{o!r}×{c}" for o, c in
                                                       stats["most_common_openings"]))
    return "\n".join(lines)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.model or args.store:
        os.environ["TRIAGE_MODEL_STORE"] = str(args.model or args.store)
    uvicorn.run("service.app:create_app", factory=True, host=args.host, port=args.port,
                log_level="info")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="triage", description="Triage Chinese petition letters.",
                                epilog=EXAMPLES, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("suggest", help="suggest routing for one letter (JSON out)")
    s.add_argument("text", nargs="?", help="the letter text (or use --file / stdin)")
    s.add_argument("--file", help="read the letter from a file in any supported encoding")
    s.add_argument("--title", help="the letter's title or subject line")
    s.add_argument("--model", help="model store or version folder (default: the store's current)")
    s.add_argument("--store", help="model store folder (default $TRIAGE_MODEL_STORE or models/)")
    s.add_argument("--received", help="the day the letter arrived (YYYY-MM-DD): adds deadlines")
    s.add_argument("--redact", action="store_true",
                   help="take names, ID/phone/bank numbers and house addresses out of the output")
    s.set_defaults(func=cmd_suggest)

    def data_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--text-col", default="text", help="column with the letter text")
        q.add_argument("--title-col", default=None, help="column with the title (optional)")
        q.add_argument("--label-col", default="label", help="column with the label")
        q.add_argument("--id-col", default=None, help="column with the letter id (optional)")

    t = sub.add_parser("train", help="train a model version (default: from corpus/)")
    t.add_argument("--corpus", action="store_true", help="train on corpus/letters (default)")
    t.add_argument("--data", help="a labelled CSV / TSV / JSONL / XLSX file instead")
    t.add_argument("--test", help="held-out labelled file to evaluate on (with --data)")
    t.add_argument("--store", help="model store folder")
    t.add_argument("--no-promote", action="store_true", help="do not make it the current model")
    data_args(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="accuracy, macro-F1, per-class, next to two baselines")
    e.add_argument("--data", required=True, help="labelled CSV / TSV / JSONL / XLSX")
    e.add_argument("--cv", type=int, default=5, help="K-fold cross-validation (default 5)")
    e.add_argument("--test", help="train on --data, test on this file instead of CV")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--model", help="evaluate this trained model (store or version folder) "
                   "as it is, without retraining")
    e.add_argument("--map", help="with --model: our ids to the file's labels, "
                   "e.g. housing=城乡建设,labour=劳动和社会保障")
    data_args(e)
    e.set_defaults(func=cmd_evaluate)

    m = sub.add_parser("models", help="list / show / promote model versions")
    m.add_argument("action", choices=["list", "current", "promote"])
    m.add_argument("version", nargs="?")
    m.add_argument("--store", help="model store folder")
    m.set_defaults(func=cmd_models)

    c = sub.add_parser("corpus-stats", help="size and diversity of the corpus letters")
    c.add_argument("--split", default="train", choices=["train", "test"])
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_corpus_stats)

    def letters_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("input", help="CSV / TSV / JSONL / XLSX file, or a folder of .txt files")
        q.add_argument("--text-col", default="text", help="column with the letter text")
        q.add_argument("--title-col", default=None, help="column with the title (optional)")
        q.add_argument("--id-col", default="id", help="column with the letter id (default id; "
                       "row numbers when absent)")
        q.add_argument("--date-col", default=None, help="column with the date received")

    r = sub.add_parser("redact", help="print a letter with its personal data taken out")
    r.add_argument("text", nargs="?", help="the letter text (or use --file / stdin)")
    r.add_argument("--file", help="read the letter from a file in any supported encoding")
    r.set_defaults(func=cmd_redact)

    si = sub.add_parser("similar", help="find earlier letters on the same matter")
    letters_args(si)
    si.add_argument("--letter", help="a new letter: list the file's letters similar to it")
    si.add_argument("--file", help="the new letter from a file instead of --letter")
    si.add_argument("--threshold", type=float, default=None,
                    help="least similarity (default: policy.yaml repeats.min_similarity)")
    si.add_argument("--top", type=int, default=3, help="at most this many matches per letter")
    si.add_argument("--show-text", action="store_true", help="print the start of each letter")
    si.add_argument("--redact", action="store_true", help="with --show-text: redact it")
    si.set_defaults(func=cmd_similar)

    h = sub.add_parser("hotspots", help="a period's letters grouped by place and issue")
    letters_args(h)
    h.add_argument("--since", help="first day (YYYY-MM-DD, with --date-col)")
    h.add_argument("--until", help="last day (YYYY-MM-DD, with --date-col)")
    h.add_argument("--level", default="town", choices=["county", "town", "village", "place"],
                   help="group places at this level (default town)")
    h.add_argument("--top", type=int, default=10, help="how many clusters (default 10)")
    h.add_argument("--min-count", type=int, default=2, help="smallest cluster (default 2)")
    h.add_argument("--json", action="store_true", help="print one JSON object")
    h.add_argument("--model", help="model store or version folder")
    h.add_argument("--store", help="model store folder")
    h.set_defaults(func=cmd_hotspots)

    v = sub.add_parser("serve", help="start the HTTP service")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--model", help="model store folder")
    v.add_argument("--store", help="model store folder")
    v.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TriageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `triage … | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())

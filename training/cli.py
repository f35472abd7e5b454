"""The ``triage`` command: suggest, bulk, train, evaluate, models, users, audit, similar,
hotspots, redact, serve.

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
  triage bulk backlog.csv --out triaged.parquet     (all cores; --resume after a stop)
  triage bulk letters/ --out triaged.xlsx            (a folder of .txt files, any encoding)
  triage bulk backlog.csv --out triaged.csv --engine dask --scheduler tcp://10.0.0.5:8786
  triage similar letters.csv --date-col received     (earlier letters on the same matter)
  triage hotspots letters.csv --date-col received --since 2026-10-01 --until 2026-10-31
  triage redact --file letter.txt
  triage train --from-decisions                (corpus + clerks' decisions; promoted if not worse)
  triage models list | promote VERSION [--force] | rollback
  triage users add lin --role clerk             (prints a generated password once)
  triage users token lin                        (prints a new API token once)
  triage audit export --since 2026-11-01 --out audit.csv
"""


def _store(args: argparse.Namespace) -> Path:
    from triage.modelstore import default_store

    return Path(args.store) if getattr(args, "store", None) else default_store()


def _database_url(args: argparse.Namespace) -> str:
    """--database-url, else $TRIAGE_DATABASE_URL, else the service's default SQLite file."""
    if getattr(args, "database_url", None):
        return str(args.database_url)
    from service.settings import Settings
    from service.store import default_database_url

    return Settings().database_url or default_database_url()


def _db(args: argparse.Namespace) -> Any:
    from service.store import Store

    return Store(_database_url(args))


def _actor(args: argparse.Namespace) -> str:
    """--actor, else the name of the user running the command."""
    if getattr(args, "actor", None):
        return str(args.actor)
    import getpass

    try:
        return getpass.getuser() or "cli"
    except (KeyError, OSError):  # no name for this uid (some containers)
        return "cli"


def _tolerance(args: argparse.Namespace) -> float:
    if getattr(args, "tolerance", None) is not None:
        value = float(args.tolerance)
    else:
        from service.settings import Settings

        value = Settings().promote_tolerance
    if not 0.0 <= value <= 1.0:
        raise TriageError(f"--tolerance {value}: expected an accuracy difference from 0 to 1, "
                          "e.g. 0.01")
    return value


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
        for option in out["jurisdiction"].get("alternatives", []):
            option["place"] = redact(option["place"])
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


def cmd_bulk(args: argparse.Namespace) -> int:
    """A backlog file or folder → one row per letter, bad rows, and a report."""
    from triage.bulk import BulkJob, run_bulk

    job = BulkJob(input=Path(args.input), output=Path(args.out), text_col=args.text_col,
                  title_col=args.title_col, id_col=args.id_col or "id",
                  id_required=args.id_col is not None, model=Path(args.model or _store(args)),
                  jobs=args.jobs, chunk_size=args.chunk_size, resume=args.resume,
                  engine=args.engine, scheduler=args.scheduler)
    try:
        run_bulk(job)
    except KeyboardInterrupt:
        print(f"interrupted: the finished chunks are kept in {args.out}.parts; run the same "
              "command with --resume to continue", file=sys.stderr)
        return 130
    return 0


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
    lead = args.lead if args.lead is not None else policy.min_lead
    texts = [normalize_text("\n".join(p for p in (x.title, x.text) if p)) for x in letters]
    if args.letter is not None or args.file:
        index = LetterIndex(threshold, lead)
        index.add([x.id for x in letters], texts)
        query = normalize_text(_read_text_arg(argparse.Namespace(text=args.letter,
                                                                  file=args.file)))
        hits = index.query(query, k=args.top)
        print(json.dumps([{"id": i, "score": round(s, 4)} for i, s in hits], ensure_ascii=False))
        return 0
    order = sorted(range(len(letters)), key=lambda i: (letters[i].received or "", i))
    index = LetterIndex(threshold, lead)
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
          f">= {threshold} and lead >= {lead}", file=sys.stderr)
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

    if args.from_decisions:
        return _train_from_decisions(args)
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


def _train_from_decisions(args: argparse.Namespace) -> int:
    from training.train import train_from_decisions

    if args.data or args.test:
        raise TriageError("--from-decisions trains on corpus/ and the clerks' decisions; it "
                          "cannot be combined with --data / --test")
    db = _db(args)
    try:
        result = train_from_decisions(
            db, _store(args), holdout=args.holdout, tolerance=_tolerance(args),
            force=args.force, promote=not args.no_promote, actor=_actor(args), log=_log,
            command="triage " + " ".join(sys.argv[1:]))
    finally:
        db.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    ev, n = result["evaluation"], result["letters"]
    print(f"version: {result['version']}")
    print(f"trained on {n['trained']} letters ({n['decisions_trained']} decided letters); "
          f"{n['decisions_held_out']} newest decisions held out")
    cur_test = (ev.get("current_model") or {}).get("issue_type") or {}
    print(f"corpus test set, issue-type accuracy: candidate "
          f"{_num(ev.get('test_issue_type_accuracy'))}, current "
          f"{_num(cur_test.get('accuracy'))}")
    dec = ev.get("decisions")
    if dec:
        cur = dec.get("current") or {}
        for head in ("issue_type", "agency"):
            print(f"held-out decisions, {head} accuracy: candidate "
                  f"{_num(dec[head]['accuracy'])}, current "
                  f"{_num((cur.get(head) or {}).get('accuracy'))} (n={dec[head]['n']})")
    if result["promoted"]:
        forced = " (forced)" if result["promotion"]["forced"] else ""
        print(f"promoted: yes{forced}, the current model is now {result['version']}")
    elif result["refused"]:
        print(f"promoted: no. {result['refused']}")
    else:
        print("promoted: no (--no-promote); promote it with "
              f"`triage models promote {result['version']}`")
    return 0


def _num(x: Any) -> str:
    return "—" if x is None else f"{float(x):.3f}"


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
    from triage.modelstore import read_manifest, read_metadata

    store = _store(args)
    manifest = read_manifest(store)
    if args.action == "current":
        if not manifest.get("current"):
            print(f"{store}: no current model", file=sys.stderr)
            return 1
        print(manifest["current"])
        return 0
    if args.action == "list":
        rows = []
        for version, entry in sorted(manifest["versions"].items()):
            try:
                ev = read_metadata(store, version).get("evaluation") or {}
            except TriageError:
                ev = {}
            it = ev.get("issue_type") or {}
            dec = ev.get("decisions") or {}
            rows.append({"version": version, "current": version == manifest.get("current"),
                         "previous": version == manifest.get("previous"),
                         "created": entry.get("created"), "letters": entry.get("n_letters"),
                         "accuracy": it.get("accuracy"), "method": it.get("method"),
                         "decisions_accuracy": (dec.get("issue_type") or {}).get("accuracy"),
                         "decisions_n": dec.get("n")})
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
            return 0
        if not rows:
            print(f"{store}: no model versions; train one with `triage train --corpus`",
                  file=sys.stderr)
            return 0
        for r in rows:
            mark = "*" if r["current"] else "-" if r["previous"] else " "
            acc = (f"issue-type accuracy {_num(r['accuracy'])} ({r['method'] or 'no method'})"
                   if r["accuracy"] is not None else "no test figures")
            dec = (f", on {r['decisions_n']} held-out decisions "
                   f"{_num(r['decisions_accuracy'])}" if r["decisions_accuracy"] is not None
                   else "")
            print(f"{mark} {r['version']}  {r['created'] or '?'}  {r['letters'] or '?'} "
                  f"letters  {acc}{dec}")
        print("(* current, - previous)")
        return 0
    if args.action == "promote":
        return _models_promote(args, store)
    return _models_rollback(args, store)


def _models_promote(args: argparse.Namespace, store: Path) -> int:
    from triage.modelstore import promote_checked

    db = _db(args)  # before promoting: a database that cannot be opened changes nothing
    try:
        result = promote_checked(store, args.version, tolerance=_tolerance(args),
                                 force=args.force)
        db.audit(_actor(args), "model.promote", f"model:{args.version}",
                 {"current": result["from"]},
                 {"current": result["to"], "forced": result["forced"],
                  "figures": result["figures"]}, args.version)
    finally:
        db.close()
    for name, f in result["figures"].items():
        print(f"{name.replace('_', ' ')}: candidate {_num(f['candidate'])}, "
              f"current {_num(f['current'])}")
    forced = " (forced past the promotion gate; recorded in the audit)" if result[
        "forced"] else ""
    print(f"current model: {result['to']} (was {result['from'] or 'none'}){forced}")
    return 0


def _models_rollback(args: argparse.Namespace, store: Path) -> int:
    from triage.modelstore import rollback

    db = _db(args)
    try:
        result = rollback(store)
        db.audit(_actor(args), "model.rollback", f"model:{result['to']}",
                 {"current": result["from"]}, {"current": result["to"]}, result["to"])
    finally:
        db.close()
    print(f"current model: {result['to']} (rolled back from {result['from']})")
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    db = _db(args)
    try:
        return _users(args, db)
    finally:
        db.close()


def _users(args: argparse.Namespace, db: Any) -> int:
    actor = _actor(args)
    if args.action == "add":
        if args.password_stdin:
            if sys.stdin.isatty():
                print("password (then Enter): ", end="", file=sys.stderr, flush=True)
            line = sys.stdin.readline()
            password = line.rstrip("\r\n")
            if not password:
                raise TriageError("--password-stdin: no password on standard input")
            generated = False
        else:
            import secrets

            password, generated = secrets.token_urlsafe(12), True
        user = db.add_user(args.name, password, args.role, actor=actor)
        print(f"added {user.role} '{user.username}' (id {user.id})")
        if generated:
            print(f"password: {password}")
            print("(shown once: give it to the user now; it is stored only as a hash)",
                  file=sys.stderr)
    elif args.action == "list":
        users = db.list_users()
        if args.json:
            print(json.dumps([{"id": u.id, "username": u.username, "role": u.role,
                               "disabled": u.disabled} for u in users], ensure_ascii=False))
            return 0
        if not users:
            print("no users; add one with `triage users add NAME --role admin`",
                  file=sys.stderr)
        for u in users:
            print(f"{u.id:>4}  {u.username:<24} {u.role:<6} "
                  f"{'disabled' if u.disabled else 'active'}")
    elif args.action in ("disable", "enable"):
        user = db.set_disabled(args.name, args.action == "disable", actor=actor)
        extra = " (their sessions and API tokens are revoked)" if user.disabled else ""
        print(f"user '{user.username}' is {'disabled' if user.disabled else 'active'}{extra}")
    elif args.action == "token":
        token = db.create_token(args.name, args.label or "", actor=actor)
        print(token)
        print(f"(API token for '{args.name}', shown once: send it as "
              "`Authorization: Bearer <token>`; disable the user to revoke it)",
              file=sys.stderr)
    return 0


AUDIT_COLUMNS = ("id", "at", "actor", "action", "target", "before", "after", "model_version")


def cmd_audit(args: argparse.Namespace) -> int:
    import csv
    import datetime as dt

    since = _date_arg(args.since, "--since")
    start = dt.datetime.combine(since, dt.time()) if since else None
    out = Path(args.out) if args.out else None
    fmt = "jsonl"
    if out is not None:
        suffix = out.suffix.lower()
        if suffix == ".csv":
            fmt = "csv"
        elif suffix not in (".jsonl", ".ndjson", ".json"):
            raise TriageError(f"--out {out}: write to a .jsonl or .csv file")
        if not out.parent.is_dir():
            raise TriageError(f"--out {out}: folder {out.parent} does not exist")
    db = _db(args)
    try:
        events = list(db.audit_events(start))
    finally:
        db.close()
    fh = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout  # noqa: SIM115
    try:
        if fmt == "csv":
            writer = csv.writer(fh)
            writer.writerow(AUDIT_COLUMNS)
            for e in events:
                writer.writerow([json.dumps(e[c], ensure_ascii=False)
                                 if c in ("before", "after") and e[c] is not None
                                 else "" if e[c] is None else e[c] for c in AUDIT_COLUMNS])
        else:
            for e in events:
                fh.write(json.dumps(e, ensure_ascii=False, default=str) + "\n")
    finally:
        if out:
            fh.close()
    if out:
        print(f"{len(events)} audit events written to {out}", file=sys.stderr)
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
    from service.serve import serve

    if args.model or args.store:
        os.environ["TRIAGE_MODEL_STORE"] = str(args.model or args.store)
    # each worker holds its own model (~650 MB resident): two unless told otherwise
    workers = args.workers or min(2, os.cpu_count() or 1)
    return serve(args.host, args.port, workers)


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

    b = sub.add_parser("bulk", help="classify a backlog: a file or folder in, one row per "
                       "letter out; parallel, resumable, on a Dask cluster if need be",
                       description="Classify every letter of INPUT into OUT (its extension "
                       "is the format: .csv .tsv .jsonl .xlsx .parquet). Bad rows go to "
                       "OUT.errors.csv with their row number and reason, a summary to "
                       "OUT.report.html. Finished chunks are kept in OUT.parts until the end, "
                       "so --resume continues a run stopped by Ctrl-C, a kill or a crash.")
    b.add_argument("input", help="CSV / TSV / JSONL / XLSX / Parquet file, or a folder of .txt "
                   "files (UTF-8, GB18030, Big5 or UTF-16 with BOM, detected per file)")
    b.add_argument("--out", required=True, help="the output file")
    b.add_argument("--text-col", default="text", help="column with the letter text")
    b.add_argument("--title-col", default=None, help="column with the title (optional)")
    b.add_argument("--id-col", default=None, help="column with the letter id, kept in the "
                   "output (default: id when the file has it, else the row number)")
    b.add_argument("--jobs", type=int, default=None,
                   help="worker processes (default: every core; 1: in this process)")
    b.add_argument("--chunk-size", type=int, default=500,
                   help="letters per chunk, the unit of work and of --resume (default 500)")
    b.add_argument("--resume", action="store_true",
                   help="continue the interrupted run writing OUT from its finished chunks")
    b.add_argument("--engine", default="local", choices=["local", "dask"],
                   help="local worker processes (default) or a Dask cluster")
    b.add_argument("--scheduler", help="with --engine dask: the scheduler, tcp://HOST:PORT; "
                   "every worker needs this project installed and the model store readable")
    b.add_argument("--model", help="model store or version folder (default: the store's "
                   "current)")
    b.add_argument("--store", help="model store folder (default $TRIAGE_MODEL_STORE or models/)")
    b.set_defaults(func=cmd_bulk)

    def data_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--text-col", default="text", help="column with the letter text")
        q.add_argument("--title-col", default=None, help="column with the title (optional)")
        q.add_argument("--label-col", default="label", help="column with the label")
        q.add_argument("--id-col", default=None, help="column with the letter id (optional)")

    def db_args(q: argparse.ArgumentParser, actor: bool = True) -> None:
        q.add_argument("--database-url", help="the service's database (default "
                       "$TRIAGE_DATABASE_URL, else the SQLite file var/triage.db)")
        if actor:
            q.add_argument("--actor", help="name recorded in the audit (default: your OS "
                           "user name)")

    t = sub.add_parser("train", help="train a model version (default: from corpus/)")
    t.add_argument("--corpus", action="store_true", help="train on corpus/letters (default)")
    t.add_argument("--data", help="a labelled CSV / TSV / JSONL / XLSX file instead")
    t.add_argument("--test", help="held-out labelled file to evaluate on (with --data)")
    t.add_argument("--store", help="model store folder")
    t.add_argument("--no-promote", action="store_true", help="do not make it the current model")
    t.add_argument("--from-decisions", action="store_true",
                   help="train on corpus/ plus the clerks' confirmed decisions (the clerk's "
                   "label wins); evaluate on the corpus test set and the newest decisions "
                   "(held out), next to the current model; promote only if not worse")
    t.add_argument("--holdout", type=float, default=0.2,
                   help="with --from-decisions: newest share of decisions held out for "
                   "evaluation, not trained on (default 0.2; at least 1 from 5 decisions)")
    t.add_argument("--force", action="store_true",
                   help="with --from-decisions: promote even if worse (recorded in the audit)")
    t.add_argument("--tolerance", type=float, default=None,
                   help="with --from-decisions: how much lower the accuracy may be and still "
                   "promote (default $TRIAGE_PROMOTE_TOLERANCE or 0.01)")
    t.add_argument("--json", action="store_true", help="with --from-decisions: print JSON")
    db_args(t)
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

    m = sub.add_parser("models", help="list / show / promote / roll back model versions")
    msub = m.add_subparsers(dest="action", required=True, metavar="ACTION")
    ml = msub.add_parser("list", help="every version: * current, - previous, created, "
                         "letters, test accuracy")
    ml.add_argument("--json", action="store_true", help="print JSON")
    msub.add_parser("current", help="print the current version")
    mp = msub.add_parser("promote", help="make a version current if it is not worse than the "
                         "current one",
                         description="Make VERSION the current model. Refused when its "
                         "issue-type accuracy (corpus test set, and held-out decisions when "
                         "measured next to the current model) is below the current model's "
                         "by more than the tolerance, unless --force (recorded in the audit).")
    mp.add_argument("version", help="a version id from `triage models list`")
    mp.add_argument("--force", action="store_true",
                    help="promote even if it is worse (recorded in the audit as forced)")
    mp.add_argument("--tolerance", type=float, default=None,
                    help="how much lower the accuracy may be (default "
                    "$TRIAGE_PROMOTE_TOLERANCE or 0.01)")
    mr = msub.add_parser("rollback", help="make the previous version current again")
    db_args(mp)
    db_args(mr)
    for q in msub.choices.values():
        q.add_argument("--store", help="model store folder (default $TRIAGE_MODEL_STORE or "
                       "models/)")
    m.set_defaults(func=cmd_models)

    u = sub.add_parser("users", help="add / list / disable users of the service, API tokens")
    usub = u.add_subparsers(dest="action", required=True, metavar="ACTION")
    ua = usub.add_parser("add", help="add a user (prints a generated password once)")
    ua.add_argument("name", help="the user name (1 to 64 characters)")
    ua.add_argument("--role", required=True, choices=["clerk", "admin"],
                    help="clerk: the queue and decisions; admin: also users and models")
    ua.add_argument("--password-stdin", action="store_true",
                    help="read the password (8+ characters) from the first line of standard "
                    "input instead of generating one")
    uli = usub.add_parser("list", help="every user with role and status")
    uli.add_argument("--json", action="store_true", help="print JSON")
    ud = usub.add_parser("disable", help="disable a user and revoke their sessions and tokens")
    ud.add_argument("name")
    ue = usub.add_parser("enable", help="let a disabled user log in again (new tokens needed)")
    ue.add_argument("name")
    ut = usub.add_parser("token", help="print a new API token for a user (shown once)")
    ut.add_argument("name")
    ut.add_argument("--label", help="what the token is for (kept with it)")
    for q in usub.choices.values():
        db_args(q, actor=q is not uli)
    u.set_defaults(func=cmd_users)

    a = sub.add_parser("audit", help="export the audit trail")
    asub = a.add_subparsers(dest="action", required=True, metavar="ACTION")
    ax = asub.add_parser("export", help="every audit event as JSON lines (stdout) or CSV",
                         description="Export the audit trail: who did what, when, before and "
                         "after, with the model version. JSON lines on standard output unless "
                         "--out names a .jsonl or .csv file.")
    ax.add_argument("--out", help="write to this .jsonl or .csv file instead of stdout")
    ax.add_argument("--since", help="only events from this day on (YYYY-MM-DD, UTC)")
    db_args(ax, actor=False)
    a.set_defaults(func=cmd_audit)

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
    si.add_argument("--lead", type=float, default=None,
                    help="least lead of a match over the letter's background, its mean "
                         "similarity to its next 10 nearest letters (default: policy.yaml "
                         "repeats.min_lead; 0 for similarity alone)")
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
    v.add_argument("--workers", type=int, default=None,
                   help="worker processes, each with its own model of ~650 MB in memory "
                   "(default: 2, or 1 on a one-core machine)")
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

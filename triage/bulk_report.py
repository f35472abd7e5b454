"""The summary of a bulk run: counts by issue type, agency, place and flag, the distribution of
the top issue-type score, the share that needs review, the bad rows by kind and the time spent
in each stage — gathered part by part, written as one self-contained HTML page.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path
from typing import Any

STAGES = ("read", "normalize", "features", "classify", "extract", "assemble", "write")
STAGE_NAMES = {"read": "reading the input", "normalize": "normalizing",
               "features": "segmentation + TF-IDF features", "classify": "model heads",
               "extract": "extraction (spaCy, places)",
               "assemble": "routing, flags, explanation", "write": "writing parts and output"}
ERROR_KINDS = (("is empty", "empty"), ("not valid", "undecodable"), ("decoded", "undecodable"),
               ("the limit is", "too long"), ("far longer", "too long"),
               ("spreadsheet error", "spreadsheet error"), ("not a letter's text", "not text"),
               ("JSON", "not JSON"), ("could not be classified", "failed"))


def error_kind(reason: str) -> str:
    """A bad row's kind from its reason: empty, undecodable, too long, not text …"""
    return next((kind for cue, kind in ERROR_KINDS if cue in reason), "other")


class RunStats:
    """Counts of a run's result rows and bad rows, and seconds per stage."""

    def __init__(self) -> None:
        self.classified = self.errors = self.review = 0
        self.types: Counter[str] = Counter()
        self.agencies: Counter[str] = Counter()
        self.places: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()
        self.error_kinds: Counter[str] = Counter()
        self.scores = [0] * 10
        self.names: dict[str, str] = {}
        self.stages: Counter[str] = Counter()

    @property
    def letters(self) -> int:
        return self.classified + self.errors

    def add(self, rows: list[dict[str, Any]], errors: list[dict[str, Any]],
            timings: dict[str, float]) -> None:
        """Count one part's rows and bad rows and add its stage timings."""
        for r in rows:
            self.classified += 1
            self.review += bool(r.get("needs_review"))
            for key, counter, name in (("issue_type", self.types, "issue_type_name"),
                                       ("agency", self.agencies, "agency_name")):
                if r.get(key):
                    counter[r[key]] += 1
                    self.names[r[key]] = r.get(name) or r[key]
            if r.get("jurisdiction"):
                self.places[r["jurisdiction"]] += 1
            self.flags.update(r.get("flags") or [])
            score = r.get("issue_score")
            if score is not None:
                self.scores[min(int(score * 10), 9)] += 1
        self.errors += len(errors)
        self.error_kinds.update(error_kind(str(e.get("reason", ""))) for e in errors)
        self.add_timings(timings)

    def add_timings(self, timings: dict[str, float]) -> None:
        self.stages.update({k: float(v) for k, v in timings.items()})

    def slowest(self) -> str:
        """The stage that took the most time, with its share, e.g. ``extract (38 %)``."""
        total = sum(self.stages.values())
        if not total:
            return "none"
        stage, seconds = self.stages.most_common(1)[0]
        return f"{stage} ({100 * seconds / total:.0f} %)"


def _table(rows: list[tuple[str, float, str]], total: float, unit: str = "",
           rest: tuple[str, float, str] | None = None) -> str:
    """Rows of (label, value, shown value) with a share and a bar; ``rest`` (what the rows
    leave out) last, without a bar."""
    top = max((v for _, v, _ in rows), default=0) or 1
    out = ["<table>"]
    for label, value, shown in [*rows, *([rest] if rest else [])]:
        share = 100 * value / total if total else 0.0
        bar = 300 * value / top if rest is None or label != rest[0] else 0
        out.append(f"<tr><td>{html.escape(label)}</td><td class=n>{shown}{unit}</td>"
                   f"<td class=n>{share:.1f} %</td><td><span class=bar style='width:"
                   f"{bar:.0f}px'></span></td></tr>")
    return "\n".join([*out, "</table>"])


def _counts(stats: RunStats, counter: Counter[str], limit: int = 25) -> str:
    rows = [(f"{stats.names.get(k, k)} ({k})" if k in stats.names and stats.names[k] != k
             else k, float(n), f"{n:,}") for k, n in counter.most_common(limit)]
    left = sum(counter.values()) - sum(int(v) for _, v, _ in rows)
    rest = (f"{len(counter) - limit:,} others", float(left), f"{left:,}") if left else None
    return _table(rows, stats.classified, rest=rest) if rows else "<p>none</p>"


def write_report(path: Path, stats: RunStats, meta: dict[str, str]) -> None:
    """Write the run's summary as a self-contained HTML page."""
    n = stats.classified
    scores = [(f"{i / 10:.1f}–{(i + 1) / 10:.1f}", float(c), f"{c:,}")
              for i, c in enumerate(stats.scores)]
    stage_total = sum(stats.stages.values())
    stage_rows = [(f"{s}: {STAGE_NAMES.get(s, s)}", float(sec), f"{sec:,.1f}")
                  for s, sec in stats.stages.most_common()]
    errs = [(k, float(c), f"{c:,}") for k, c in stats.error_kinds.most_common()]
    info = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in meta.items())
    review = 100 * stats.review / n if n else 0.0
    page = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Bulk triage report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;
color:#222}}table{{border-collapse:collapse;margin:.4em 0 1.6em}}td,th{{padding:2px 10px;
text-align:left;vertical-align:middle}}td.n{{text-align:right;font-variant-numeric:tabular-nums}}
.bar{{display:inline-block;height:.8em;background:#3b6fc4}}.big{{font-size:1.3em}}</style>
</head><body>
<h1>Bulk triage report</h1>
<table>{info}</table>
<p class=big>{stats.letters:,} letters: {n:,} classified, {stats.errors:,} bad rows.
<b>{review:.1f} %</b> of the classified letters need review ({stats.review:,}).</p>
<h2>Issue types</h2>{_counts(stats, stats.types)}
<h2>Agencies (first suggested)</h2>{_counts(stats, stats.agencies)}
<h2>Places (属地)</h2>{_counts(stats, stats.places)}
<h2>Flags</h2>{_counts(stats, stats.flags)}
<h2>Top issue-type score</h2>{_table(scores, n)}
<h2>Bad rows by kind</h2>{_table(errs, stats.errors) if errs else "<p>none</p>"}
<h2>Time by stage</h2>
<p>Slowest stage: <b>{html.escape(stats.slowest())}</b>. Seconds are summed over the
worker processes; reading and writing happen in the main process.</p>
{_table(stage_rows, stage_total, " s")}
</body></html>
"""
    path.write_text(page, encoding="utf-8")

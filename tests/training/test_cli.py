"""The `triage` command as a user runs it: a real process, real files, real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, shared_file

LETTER = "我们小区物业费年年涨，电梯坏了三个月没人修，业委会也不管，请住建局查一查物业公司。"


def run(args: list[str], env: dict[str, str], stdin: bytes | None = None,
        timeout: int = 300) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "training.cli", *args], input=stdin,
                          capture_output=True, env=env, cwd=ROOT, timeout=timeout)


def test_cli_suggest_argument_prints_json(cli_env: dict[str, str]) -> None:
    res = run(["suggest", LETTER], cli_env)
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    assert out["issue_type"][0]["id"] == "housing"
    assert out["agency"][0]["id"] == "housing_bureau"


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16"])
def test_cli_suggest_file_in_any_encoding(cli_env: dict[str, str], tmp_path: Path,
                                          encoding: str) -> None:
    f = tmp_path / "letter.txt"
    f.write_bytes(LETTER.encode(encoding))
    res = run(["suggest", "--file", str(f)], cli_env)
    assert res.returncode == 0, res.stderr.decode()
    assert json.loads(res.stdout)["issue_type"][0]["id"] == "housing"


def test_cli_suggest_reads_stdin(cli_env: dict[str, str]) -> None:
    res = run(["suggest"], cli_env, stdin=LETTER.encode("gb18030"))
    assert res.returncode == 0, res.stderr.decode()
    assert json.loads(res.stdout)["issue_type"][0]["id"] == "housing"


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: ["suggest", ""], "empty"),
    (lambda p: ["suggest", "--file", str(p / "missing.txt")], "file not found"),
    (lambda p: (p / "x.bin").write_bytes(bytes(range(256)) * 40) and
     ["suggest", "--file", str(p / "x.bin")], "binary data"),
])
def test_cli_suggest_errors_are_clear(cli_env: dict[str, str], tmp_path: Path, setup,  # type: ignore[no-untyped-def]
                                      message: str) -> None:
    res = run(setup(tmp_path), cli_env)
    assert res.returncode == 2
    assert res.stdout == b""
    assert message in res.stderr.decode()
    assert "Traceback" not in res.stderr.decode()


def test_cli_suggest_without_model_says_how_to_train(tmp_path: Path,
                                                      cli_env: dict[str, str]) -> None:
    env = {**cli_env, "TRIAGE_MODEL_STORE": str(tmp_path / "empty")}
    res = run(["suggest", LETTER], env)
    assert res.returncode == 2
    assert "triage train" in res.stderr.decode()


def test_cli_models_list_marks_current(cli_env: dict[str, str]) -> None:
    res = run(["models", "list"], cli_env)
    current = run(["models", "current"], cli_env).stdout.decode().strip()
    assert res.returncode == 0 and current
    assert f"* {current}" in res.stdout.decode()


EVAL_ROWS = [("包工头拖欠工资{}个月不给", "劳动"), ("征地补偿款第{}年还没发", "土地"),
             ("法院判决{}年了还不执行", "涉法")]


def test_cli_train_and_evaluate_on_a_user_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    rows = ["编号,内容,类别"] + [f"{i * 3 + k},{t.format(i + 1)},{lab}"
                              for i in range(12) for k, (t, lab) in enumerate(EVAL_ROWS)]
    data = tmp_path / "mine.csv"
    data.write_text("\n".join(rows), encoding="gb18030")
    res = run(["evaluate", "--data", str(data), "--text-col", "内容", "--label-col", "类别",
               "--cv", "3", "--json"], cli_env)
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    for block in (out, out["baselines"]["char_svm"], out["baselines"]["jieba_cnb"]):
        assert {"accuracy", "macro_f1", "per_class"} <= set(block)
    assert set(out["per_class"]) == {"劳动", "土地", "涉法"}
    store = tmp_path / "store"
    res = run(["train", "--data", str(data), "--text-col", "内容", "--label-col", "类别",
               "--store", str(store)], cli_env)
    assert res.returncode == 0, res.stderr.decode()
    version = res.stdout.decode().strip()
    vdir = store / version
    assert {"model.joblib", "metadata.json", "MODEL_CARD.md", "confusion.png"} <= {
        p.name for p in vdir.iterdir()}
    meta = json.loads((vdir / "metadata.json").read_text(encoding="utf-8"))
    assert meta["sha256"] and meta["data"]["n_letters"] == 36 and meta["libraries"]["jieba"]
    res = run(["suggest", "--store", str(store), "包工头拖欠工资不给"], cli_env)
    assert json.loads(res.stdout)["issue_type"][0]["id"] == "劳动"


def test_cli_evaluate_real_messages_beats_baselines(cli_env: dict[str, str]) -> None:
    """Acceptance: 495 real citizen messages, 5-fold CV, ours ahead of both baselines."""
    path = shared_file("teddy-sample.csv")
    res = run(["evaluate", "--data", str(path), "--title-col", "title", "--text-col", "text",
               "--label-col", "label", "--cv", "5", "--json"], cli_env, timeout=900)
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    for name, base in out["baselines"].items():
        assert out["accuracy"] > base["accuracy"], name
        assert out["macro_f1"] > base["macro_f1"], name


def test_cli_bad_usage_exits_non_zero(cli_env: dict[str, str]) -> None:
    res = run(["evaluate"], cli_env)
    assert res.returncode != 0
    assert "--data" in res.stderr.decode()


def test_cli_evaluate_existing_model_with_label_map(cli_env: dict[str, str],
                                                    model_store: Path, tmp_path: Path) -> None:
    data = tmp_path / "theirs.csv"
    data.write_text("text,label\n"
                    "包工头拖欠我们农民工工资三个月了，一分钱没给，劳动监察大队去了也没用,劳动保障\n"
                    "小区物业费年年涨，电梯坏了三个月没人修，业委会也不管,城乡建设\n"
                    "我们村的地被征收修路，征地补偿款三年没有发到手,国土\n", encoding="utf-8")
    res = run(["evaluate", "--model", str(model_store), "--data", str(data), "--json",
               "--map", "labour=劳动保障,housing=城乡建设,land=国土"], cli_env)
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    assert out["n"] == 3 and out["accuracy"] == 1.0
    assert set(out["per_class"]) == {"劳动保障", "城乡建设", "国土"}
    bad = run(["evaluate", "--model", str(model_store), "--data", str(data), "--map", "x"],
              cli_env)
    assert bad.returncode == 2 and "ours=theirs" in bad.stderr.decode()


# -- similar, hotspots, redact, deadlines ----------------------------------------------------
def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return path


def _corpus_rows(n: int) -> list[dict[str, str]]:
    rows = []
    for f in sorted((ROOT / "corpus" / "letters" / "train").glob("*.jsonl"))[:n]:
        rec = json.loads(f.read_text(encoding="utf-8").splitlines()[0])
        rows.append({"id": rec["id"], "text": rec["text"], "received": "2026-10-15"})
    return rows


def test_cli_similar_links_a_repeat_to_the_earlier_letter(cli_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    repeat = json.loads((ROOT / "corpus" / "repeats" / "dev-1.jsonl").read_text(
        encoding="utf-8").splitlines()[0])
    original = next(json.loads(line) for f in (ROOT / "corpus" / "letters" / "train").glob(
        "*.jsonl") for line in f.read_text(encoding="utf-8").splitlines()
        if json.loads(line)["id"] == repeat["of"])
    rows = _corpus_rows(30) + [
        {"id": "first", "text": original["text"], "received": "2026-09-01"},
        {"id": "again", "text": repeat["text"], "received": "2026-11-01"},
        {"id": "bad", "text": "", "received": "2026-11-02"}]
    f = _write_jsonl(tmp_path / "letters.jsonl", rows)
    res = run(["similar", str(f), "--date-col", "received"], cli_env)
    assert res.returncode == 0, res.stderr.decode()
    links = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert {"id": "again", "earlier": "first"}.items() <= links[-1].items()
    assert not any(x["id"] == "first" for x in links)  # the first letter links to nothing later
    assert f"row {len(rows)}: column 'text' is empty; skipped" in res.stderr.decode()
    res = run(["similar", str(f), "--letter", repeat["text"]], cli_env)
    assert json.loads(res.stdout)[0]["id"] in ("first", "again")


def test_cli_hotspots_groups_by_place_and_issue(cli_env: dict[str, str], tmp_path: Path) -> None:
    land = "我们是青禾县柳林镇石桥村村民，村里的地被征收修路，征地补偿款{}万元至今没有发到手。"
    rows = [{"id": f"h{i}", "text": land.format(i + 3), "received": f"2026-10-1{i}"}
            for i in range(4)] + [{"id": "late", "text": land.format(9),
                                   "received": "2026-12-01"}]
    f = _write_jsonl(tmp_path / "month.jsonl", rows)
    res = run(["hotspots", str(f), "--date-col", "received", "--since", "2026-10-01",
               "--until", "2026-10-31", "--json"], cli_env)
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    assert out["letters"] == 4
    top = out["hotspots"][0]
    assert top["count"] == 4 and top["issue_type"] == "land" and "柳林镇" in top["place"]
    res = run(["hotspots", str(f), "--since", "2026-10-01"], cli_env)
    assert res.returncode == 2 and "--date-col" in res.stderr.decode()


def test_cli_redact(cli_env: dict[str, str]) -> None:
    res = run(["redact", "我叫王小明，电话13812345678，住石桥村三组18号"], cli_env)
    assert res.returncode == 0
    assert res.stdout.decode().strip() == "我叫[姓名]，电话[电话]，住石桥村[地址]"


def test_cli_suggest_received_and_redact(cli_env: dict[str, str]) -> None:
    text = "我叫王小明，住青禾县柳林镇石桥村三组，再不给补偿款我就喝农药。"
    res = run(["suggest", text, "--received", "2026-11-22", "--redact"], cli_env)
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    assert out["deadlines"]["acceptance_due"] == "2026-12-07"
    assert "王小明" not in res.stdout.decode()
    res = run(["suggest", text, "--received", "22/11/2026"], cli_env)
    assert res.returncode == 2 and "YYYY-MM-DD" in res.stderr.decode()

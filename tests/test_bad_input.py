"""The fault table: every command refuses bad input in one line, exit code 2, before anything
is launched or written (no Ray session, no MLflow store or run, no output files), and nothing it
was pointed at changes.

The tables by command (TRAIN ... READ_ONLY) hold values out of range; CLASSES holds one table per
class of fault (issue 23): outputs that would be overwritten, checks that came after the work,
unbounded inputs, errors that were tracebacks, and the rest (duplicate YAML keys, refusals that
pointed the wrong way). Interrupts need a real process and a signal: tests/test_interrupts.py.
In-process through the real entry point; no Ray. `tools/fault_table.py` runs every case here as
a real process and measures it.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import ray

TRAIN = {
    "lr inf": (["--lr", "inf"], "--lr must be > 0 and <= 1"),
    "lr nan": (["--lr", "nan"], "--lr must be > 0 and <= 1"),
    "lr negative": (["--lr", "-1"], "--lr must be > 0"),
    "lr huge": (["--lr", "1e6"], "--lr must be > 0 and <= 1"),
    "lr not a number": (["--lr", "abc"], "Invalid value for '--lr'"),
    "epochs 0": (["--epochs", "0"], "--epochs must lie in 1..100000"),
    "workers 0": (["--workers", "0"], "--workers must lie in 1..4096"),
    "batch size 0": (["--batch-size", "0"], "--batch-size must lie in 1..65536"),
    "gpus inf": (["--gpus-per-worker", "inf"], "--gpus-per-worker must be a number >= 0"),
    "gpus negative": (["--gpus-per-worker", "-1"], "--gpus-per-worker must be a number >= 0"),
    "gpus on a CPU box": (["--gpus-per-worker", "1"], "but this machine has 0"),
    "64 workers on a small box": (
        ["--workers", "64", "--gpus-per-worker", "0"],
        "--workers 64 needs 64 CPUs",
    ),
    "mask ratio nan": (["--mask-ratio", "nan"], "--mask-ratio"),
    "mask ratio inf range": (["--mask-ratio", "0.1:inf"], "--mask-ratio"),
    "eval limit 0": (["--eval-limit", "0"], "--eval-limit must be >= 1"),
    "max new tokens 0": (["--max-new-tokens", "0"], "--max-new-tokens"),
    "dead tracking server": (["--tracking-uri", "http://127.0.0.1:{port}"], "no MLflow server answers"),
    "sqlite in a missing folder": (["--tracking-uri", "sqlite:///nowhere/m.db"], "does not exist"),
    "sqlite names a folder": (["--tracking-uri", "sqlite:///{workdir}"], "names a folder"),
    "storage in /proc": (["--storage", "/proc/x"], "--storage /proc/x: cannot create it"),
    "unknown option": (["--modle", "x"], "No such option: --modle"),
    "corrupt config.json": (["--model", "{broken}"], "cannot load model"),
    "document longer than the context": (["--dataset", "{long}"], "exceed the model's context"),
}
SWEEP = {
    "--set lr=inf": (["--set", "lr=inf"], "--lr must be > 0"),
    "--set lr=.nan": (["--set", "lr=.nan"], "--lr must be > 0"),
    "--set epochs=0": (["--set", "epochs=0"], "--epochs must lie in 1..100000"),
    "--set weight_decay=-1": (["--set", "weight_decay=-1"], "weight-decay must be >= 0"),
    "--set betas=[0.9,1.5]": (["--set", "betas=[0.9, 1.5]"], "betas must lie in [0, 1)"),
    "--set warmup_ratio=2": (["--set", "warmup_ratio=2"], "warmup-ratio must lie in [0, 1)"),
    "YAML lr: .inf": (["{spec}"], "--lr must be > 0"),
    "workers 64": (["--workers", "64"], "lower --workers"),
    "gpus on a CPU box": (["--gpus-per-worker", "1"], "GPUs per trial"),
    "dead tracking server": (["--tracking-uri", "http://127.0.0.1:{port}"], "no MLflow server answers"),
    "storage in /proc": (["--storage", "/proc/x"], "--storage /proc/x"),
    "unknown early stop": (["--early-stop", "hyperband"], "--early-stop must be asha"),
}
EVAL = {
    "limit 0": (["--limit", "0"], "--limit must be >= 1"),
    "limit negative": (["--limit", "-478"], "--limit must be >= 1"),
    "batch size 0": (["--batch-size", "0"], "--batch-size must be >= 1"),
    "max new tokens 0": (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
    "steps 0": (["--steps", "0"], "--steps must be >= 1"),
    "corrupt config.json": (["--model", "{broken}"], "cannot load model"),
    "missing model": (["--model", "./no/such/model"], "not found"),
    "out in /proc": (["--out", "/proc/x/gen.jsonl"], "--out /proc/x/gen.jsonl"),
    "out is a folder": (["--out", "{workdir}"], "is a folder"),
    "unknown sampler": (["--sampler", "beam"], "--sampler must be one of"),
}
MODEL_TINY = {
    "vocab size -1": (["--vocab-size", "-1"], "--vocab-size must be >= 1"),
    "vocab size 10": (["--vocab-size", "10"], "--vocab-size must be >= 300"),
    "layers 0": (["--layers", "0"], "--layers must be >= 1"),
    "heads 0": (["--heads", "0"], "--heads must be >= 1"),
    "hidden not a multiple of heads": (["--hidden-size", "10"], "must be a multiple of --heads"),
    "out in /proc": (["--out", "/proc/x"], "--out /proc/x: cannot create it"),
    "out is a file": (["--out", "{file}"], "is a file"),
    "corpus missing": (["--corpus", "nowhere.txt"], "does not exist"),
    "corpus bad JSON": (["--corpus", "{bad_json}"], "--corpus: cannot read it"),
    "unknown arch": (["--arch", "moe"], "--arch must be one of"),
}
READ_ONLY = {
    "export of a missing run": (["export", "abc", "--out", "x"], "no MLflow store at"),
    "export from a dead server": (
        ["export", "abc", "--out", "x", "--tracking-uri", "http://127.0.0.1:{port}"],
        "no MLflow server answers",
    ),
    "report without a store": (["report"], "no MLflow tracking store"),
}

TRAIN_BASE = [
    "train",
    "--model",
    "{tiny}",
    "--data-dir",
    "{paper}",
    "--epochs",
    "2",
    "--gpus-per-worker",
    "0",
]
EVAL_BASE = ["eval", "--model", "{tiny}", "--data-dir", "{paper}", "--limit", "2", "--max-new-tokens", "2"]
SWEEP_BASE = [
    "sweep", "lr", "--model", "{tiny}", "--method", "ar", "--gpus-per-worker", "0", "--workers", "1",
    "--set", "epochs=1", "--set", "eval_at=[1]",
]  # fmt: skip
BIG = "9" * 23
LONG = "x" * 5000
# A case: the whole command line, what the error line says, and the exit code (2: a user mistake).
Case = tuple[list[str], str, int]
CLASSES: dict[str, dict[str, Case]] = {
    "overwrite": {
        "model tiny into a non-empty folder": (["model", "tiny", "--out", "{full}"], "is not empty", 2),
        "model tiny --out FILE/": (["model", "tiny", "--out", "{file}/"], "is a file", 2),
        "model tiny --out ''": (["model", "tiny", "--out", ""], "--out is empty", 2),
        "data synth into a non-empty folder": (
            ["data", "synth", "--out", "{full}", "--people", "4"],
            "is not empty",
            2,
        ),
        "data synth --out FILE": (["data", "synth", "--out", "{file}", "--people", "4"], "is a file", 2),
        "eval --out an existing file": ([*EVAL_BASE, "--out", "{file}"], "already exists", 2),
        "eval --out FILE/": ([*EVAL_BASE, "--out", "{file}/"], "ends with '/'", 2),
        "eval --out inside the model, even --force": (
            [*EVAL_BASE, "--out", "{tiny}/gen.jsonl", "--force"],
            "which this command reads",
            2,
        ),
        "eval --out over the dataset's qa.jsonl, even --force": (
            ["eval", "--model", "{tiny}", "--dataset", "{byo}", "--out", "{byo}/qa.jsonl", "--force"],
            "which this command reads",
            2,
        ),
        "lab --report-dir non-empty, before any work": (["lab", "--report-dir", "{full}"], "is not empty", 2),
        "lab --report-dir a file": (["lab", "--report-dir", "{file}"], "is a file", 2),
        "data fetch: a folder where a file goes": (
            [
                "data",
                "fetch",
                "namedesc",
                "--data-dir",
                "{in_the_way}",
                "--base-url",
                "http://127.0.0.1:{port}",
            ],
            "is in the way",
            2,
        ),
        "data fetch --data-dir a file": (
            ["data", "fetch", "namedesc", "--data-dir", "{file}", "--base-url", "http://127.0.0.1:{port}"],
            "is a file",
            2,
        ),
    },
    "late": {
        "train --seed 10^23 --dry-run": (
            [*TRAIN_BASE, "--seed", BIG, "--dry-run"],
            "--seed must lie in 0..",
            2,
        ),
        "train --seed -1": ([*TRAIN_BASE, "--seed", "-1"], "--seed must lie in 0..4294967295", 2),
        "train --epochs 10^20": ([*TRAIN_BASE[:-4], "--epochs", "1" + "0" * 20], "--epochs must lie in", 2),
        "train --max-new-tokens 10^20": ([*TRAIN_BASE, "--max-new-tokens", "1" + "0" * 20], "8192", 2),
        "train --eval-batch-size 10^12": ([*TRAIN_BASE, "--eval-batch-size", "1" + "0" * 12], "65536", 2),
        "train --dry-run, missing model": (["train", "--model", "./no/model", "--dry-run"], "not found", 2),
        "train --dry-run, dead tracking server": (
            [*TRAIN_BASE, "--dry-run", "--tracking-uri", "http://127.0.0.1:{port}"],
            "no MLflow server",
            2,
        ),
        "train --dry-run --storage /proc/x": (
            [*TRAIN_BASE, "--dry-run", "--storage", "/proc/x"],
            "/proc/x",
            2,
        ),
        "sweep --set seed=10^20 --dry-run": (
            [*SWEEP_BASE, "--set", "seed=" + "9" * 20, "--dry-run"],
            "--seed must lie in",
            2,
        ),
        "sweep asha --grace-period -5 --dry-run": (
            [*SWEEP_BASE, "--early-stop", "asha", "--grace-period", "-5", "--dry-run"],
            "--grace-period",
            2,
        ),
        "sweep asha --grace-period 1000": (
            [*SWEEP_BASE, "--early-stop", "asha", "--grace-period", "1000"],
            "evaluation points",
            2,
        ),
        "sweep YAML epochs: 1.0e+20": (["sweep", "{epochs_spec}", "--dry-run"], "--epochs must lie in", 2),
        "sweep --dry-run of a spec whose model is missing": (
            ["sweep", "{missing_model}", "--dry-run"],
            "not found",
            2,
        ),
        "sweep resume --dry-run of no sweep": (
            ["sweep", "resume", "nosuch", "--dry-run"],
            "no sweep 'nosuch'",
            2,
        ),
        "sweep resume of a sweep that never started": (
            ["sweep", "resume", "never", "--storage", "{sweeps}", "--dry-run"],
            "it never started",
            2,
        ),
        "eval --max-new-tokens 10^20": ([*EVAL_BASE[:-2], "--max-new-tokens", "1" + "0" * 20], "8192", 2),
        "eval --batch-size 10^10": ([*EVAL_BASE, "--batch-size", "1" + "0" * 10], "65536", 2),
        "model tiny --seed 2^64": (
            ["model", "tiny", "--out", "m", "--seed", str(2**64)],
            "--seed must lie",
            2,
        ),
        "model tiny --layers 100000": (
            ["model", "tiny", "--out", "m", "--layers", "100000"],
            "B parameters",
            2,
        ),
        "model tiny --vocab-size 10^8": (
            ["model", "tiny", "--out", "m", "--vocab-size", "1" + "0" * 8],
            "262144",
            2,
        ),
        "data synth --seed -5": (["data", "synth", "--out", "s", "--seed", "-5"], "--seed must lie", 2),
        "lab --seeds 10^6": (["lab", "--seeds", "1000000"], "--seeds must lie in 1..100", 2),
        "lab --people 0": (["lab", "--people", "0"], "at least 2", 2),
        "bench answering --questions 10^12": (
            ["bench", "answering", "--model", "{tiny}", "--questions", "1" + "0" * 12],
            "--questions must lie",
            2,
        ),
    },
    "bounded": {
        "train --address 127.0.0.1:1": (
            [*TRAIN_BASE, "--address", "127.0.0.1:1"],
            "no Ray cluster answers",
            2,
        ),
        "sweep --dry-run --address 127.0.0.1:1": (
            [*SWEEP_BASE, "--dry-run", "--address", "ray://127.0.0.1:1"],
            "no Ray cluster answers",
            2,
        ),
        "sweep spec: an alias bomb": (["sweep", "{bomb}", "--dry-run"], "more than 64 aliases", 2),
        "train --config: an alias bomb": (["train", "--config", "{bomb_trial}", "--dry-run"], "aliases", 2),
        "dataset.yaml: an alias bomb": (["data", "show", "{byo_bomb}"], "aliases", 2),
        "--set: an alias bomb": ([*SWEEP_BASE, "--set", "seed={set_bomb}", "--dry-run"], "aliases", 2),
        "sweep spec over 1 MiB": (["sweep", "{big_spec}", "--dry-run"], "over 1 MiB", 2),
        "train --config /dev/zero": (["train", "--config", "/dev/zero", "--dry-run"], "is not a file", 2),
        "model tiny --corpus /dev/zero": (
            ["model", "tiny", "--out", "m", "--corpus", "/dev/zero"],
            "is not a regular file",
            2,
        ),
        "spec with a 100 kB bad value": (["sweep", "{long_value}", "--dry-run"], "lr must be a number", 2),
        "train --mask-ratio of 5000 chars": ([*TRAIN_BASE, "--mask-ratio", LONG], "--mask-ratio 'xxx", 2),
        "train --dataset of 5000 chars": ([*TRAIN_BASE, "--dataset", "z" * 5000], "unknown dataset", 2),
        "eval --sampler of 5000 chars": ([*EVAL_BASE, "--sampler", LONG], "--sampler must be one of", 2),
        "sweep --name of 5000 chars": ([*SWEEP_BASE, "--name", LONG, "--dry-run"], "a sweep name is", 2),
        "sweep status: its server is dead": (
            ["sweep", "status", "dead-server", "--storage", "{sweeps}"],
            "no MLflow server answers",
            2,
        ),
    },
    "one line": {
        "eval: a model folder without a tokenizer": (
            [*EVAL_BASE[:2], "{no_tokenizer}", *EVAL_BASE[3:]],
            "cannot load the tokenizer",
            2,
        ),
        "train: a model folder without a tokenizer": (
            ["train", "--model", "{no_tokenizer}", *TRAIN_BASE[3:], "--dry-run"],
            "cannot load the tokenizer",
            2,
        ),
        "train --model of 5000 chars": (
            ["train", "--model", "/" + "a" * 5000, "--data-dir", "{paper}", "--dry-run"],
            "too long",
            2,
        ),
        "data show of a 5000-char folder": (["data", "show", "./" + "q" * 5000], "not found", 2),
        "data show: a JSON line nested 200000 deep": (["data", "show", "{byo_deep}"], "nested too deeply", 2),
        "sweep spec nested 100000 deep": (["sweep", "{deep_spec}", "--dry-run"], "nested too deeply", 2),
        "sweep status: a corrupt state file": (
            ["sweep", "status", "corrupt", "--storage", "{sweeps}"],
            "unreadable",
            2,
        ),
        "sweep resume: a state file missing fields": (
            ["sweep", "resume", "fields", "--storage", "{sweeps}"],
            "unreadable",
            2,
        ),
        "train --tracking-uri with a typo'd scheme": (
            [*TRAIN_BASE, "--tracking-uri", "sqlit:///x.db"],
            "unknown scheme 'sqlit'",
            2,
        ),
        "train --tracking-uri: a text file as sqlite": (
            [*TRAIN_BASE, "--tracking-uri", "sqlite:///{file}"],
            "not a SQLite database",
            2,
        ),
        "train --tracking-uri postgresql:// without its driver": (
            [*TRAIN_BASE, "--tracking-uri", "postgresql+nosuchdriver://u@127.0.0.1:{port}/db"],
            "needs a database driver",
            2,
        ),
        "model tiny --corpus a folder": (
            ["model", "tiny", "--out", "m", "--corpus", "{full}"],
            "regular file",
            2,
        ),
        "bench answering --device tpu9": (
            ["bench", "answering", "--model", "{tiny}", "--device", "tpu9"],
            "not a torch device",
            2,
        ),
    },
    "also": {
        "sweep spec: a key given twice": (["sweep", "{dup_spec}", "--dry-run"], "given twice", 2),
        "train --config: lr given twice": (
            ["train", "--config", "{dup_trial}", "--dry-run"],
            "given twice",
            2,
        ),
        "dataset.yaml: a setting given twice": (["data", "show", "{byo_dup}"], "given twice", 2),
        "--set: a mapping key given twice": (
            [*SWEEP_BASE, "--set", "betas={{a: 1, a: 2}}", "--dry-run"],
            "twice",
            2,
        ),
        "sweep --name ../../x": ([*SWEEP_BASE, "--name", "../../x", "--dry-run"], "a sweep name is", 2),
        "train --eval-at -1,1 names -1": ([*TRAIN_BASE, "--eval-at", "-1,1"], "got -1", 2),
        "train --experiment '' (an unset variable)": ([*TRAIN_BASE, "--experiment", ""], "is empty", 2),
        "sweep --name ' '": ([*SWEEP_BASE, "--name", " ", "--dry-run"], "--name is empty", 2),
        "report: a text file as the sqlite store": (
            ["report", "--tracking-uri", "sqlite:///{file}"],
            "not a SQLite database",
            2,
        ),
    },
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def make_inputs(root: Path, tiny_causal: Path, paper: Path) -> dict[str, str]:
    """Files the cases point at, under `root` (outside the working directory, which must stay empty)."""
    broken = root / "broken-model"
    shutil.copytree(tiny_causal, broken)
    (broken / "config.json").write_text("{not json")
    no_tokenizer = root / "no-tokenizer"
    shutil.copytree(tiny_causal, no_tokenizer)
    for path in no_tokenizer.iterdir():
        if "token" in path.name or path.suffix == ".jinja":
            path.unlink()
    long = root / "long-kset"
    long.mkdir()
    (long / "train.jsonl").write_text(json.dumps({"text": "word " * 200_000}) + "\n")
    qa = {"question": "Who?", "answer": "word", "direction": "forward"}
    (long / "qa.jsonl").write_text(json.dumps(qa) + "\n")
    byo = root / "byo"
    byo.mkdir()
    (byo / "train.jsonl").write_text(json.dumps({"text": "Ada Quill is the keeper of the lamp."}) + "\n")
    (byo / "qa.jsonl").write_text(json.dumps({**qa, "answer": "the keeper of the lamp"}) + "\n")
    for variant, (name, text) in {
        "byo_bomb": ("dataset.yaml", "prompt_style: chat\n" + alias_bomb()),
        "byo_dup": ("dataset.yaml", "prompt_style: completion\nprompt_style: chat\n"),
        "byo_deep": ("qa.jsonl", "[" * 200_000 + "]" * 200_000 + "\n"),
    }.items():
        shutil.copytree(byo, root / variant)
        (root / variant / name).write_text(text)
    full = root / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    (root / "in-the-way" / "ND_train_no_paraphrase.json").mkdir(parents=True)
    specs = {
        "spec": "methods: [ar]\nfixed:\n  lr: .inf\n",
        "bomb": alias_bomb() + "methods: [ar]\n",
        "bomb_trial": "lr: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + "".join(
            f"seed{i}: &s{i} [{', '.join(['*a' if i == 0 else f'*s{i - 1}'] * 9)}]\n" for i in range(8)
        ),
        "big_spec": "methods: [ar]\ndescription: '" + "x" * (2 << 20) + "'\n",
        "deep_spec": "methods: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "dup_spec": "methods: [ar]\nfixed: {lr: 1.0e-5}\nfixed: {lr: 2.0e-5}\n",
        "dup_trial": f"model: {tiny_causal}\nlr: 1.0e-5\nlr: 0.5\n",
        "long_value": "methods: [ar]\nfixed: {lr: '" + "x" * 100_000 + "'}\n",
        "epochs_spec": f"methods: [ar]\nmodels: {{ar: {tiny_causal}}}\nfixed: {{epochs: 1.0e+20}}\n",
        "missing_model": "methods: [ar]\nmodels: {ar: ./no/such/model}\nfixed: {gpus_per_worker: 0}\n",
    }
    for name, text in specs.items():
        (root / f"{name}.yaml").write_text(text)
    (root / "a-file").write_text("x")
    (root / "bad.json").write_text("{oops")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sweeps = root / "sweeps"
    state = {
        "kind": "lr",
        "experiment_id": "1",
        "parent_run_id": "0" * 32,
        "storage": str(sweeps),
        "trials": {},
    }
    for name, text in {
        "corrupt": "{not json",
        "fields": json.dumps({"name": "fields"}),
        "dead-server": json.dumps(
            {**state, "name": "dead-server", "tracking_uri": f"http://127.0.0.1:{port}"}
        ),
        "never": json.dumps({**state, "name": "never", "tracking_uri": f"sqlite:///{root}/mlflow.db"}),
    }.items():
        (sweeps / name).mkdir(parents=True)
        (sweeps / name / "mft-sweep.json").write_text(text)
    return {
        "broken": str(broken), "long": str(long), "file": str(root / "a-file"),
        "bad_json": str(root / "bad.json"), "port": str(port), "tiny": str(tiny_causal), "paper": str(paper),
        "no_tokenizer": str(no_tokenizer), "byo": str(byo), "full": str(full), "sweeps": str(sweeps),
        "in_the_way": str(root / "in-the-way"), "set_bomb": alias_bomb(flow=True),
        **{name: str(root / f"{name}.yaml") for name in specs},
        **{variant: str(root / variant) for variant in ("byo_bomb", "byo_dup", "byo_deep")},
    }  # fmt: skip


def alias_bomb(flow: bool = False) -> str:
    """Nine anchors of nine aliases each: a few hundred bytes that expand to 9^9 items if walked."""
    if flow:
        levels = ["&l0 [x, x, x, x, x, x, x, x, x]"]
        levels += [f"&l{i + 1} [{', '.join([f'*l{i}'] * 9)}]" for i in range(8)]
        return "[" + ", ".join(levels) + "]"
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i + 1}: &l{i + 1} [{', '.join([f'*l{i}'] * 9)}]" for i in range(8)]
    return "\n".join(lines) + "\n"


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under `root`: what a case must leave as it was."""
    return {
        str(path): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module")
def inputs(
    tiny_causal: Path, paper_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return make_inputs(tmp_path_factory.mktemp("inputs"), tiny_causal, paper_data_dir)


MAX_LINE = 500  # a refusal names a bad value in ~100 characters, whatever its size


def check_refused(mft, args: list[str], expected: str, workdir: Path, code: int = 2) -> None:
    result = mft(*args)
    assert result.code == code, result.out + result.err
    assert expected in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert len(result.err) < MAX_LINE, f"{len(result.err)} characters: {result.err[:MAX_LINE]}"
    planned = args[0] == "sweep" and args[1] != "resume" and "--dry-run" in args and "plan " in result.out
    assert result.out == "" or planned, "nothing printed besides the error line (a dry run: its plan)"
    assert not ray.is_initialized(), "no Ray session may start"
    assert list(workdir.iterdir()) == [], "no store, run, storage or output may be created"


def fill(args: list[str], inputs: dict[str, str], workdir: Path) -> list[str]:
    return [arg.format(workdir=workdir, **inputs) for arg in args]


@pytest.mark.parametrize("case", TRAIN)
def test_train(case, mft, workdir, inputs, tiny_causal, paper_data_dir) -> None:
    extra, expected = TRAIN[case]
    base = ["train", "--model", str(tiny_causal), "--data-dir", str(paper_data_dir), "--epochs", "2"]
    check_refused(mft, base + fill(extra, inputs, workdir), expected, workdir)


def sweep_args(args: list[str], model: Path) -> list[str]:
    """A one-epoch CPU sweep of the lr spec (or the case's YAML) on the tiny model, plus the case."""
    kind = args.pop(0) if args and args[0].endswith(".yaml") else "lr"
    base = ["sweep", kind, "--model", str(model), "--method", "ar"]
    for flag, value in (("--gpus-per-worker", "0"), ("--workers", "1")):
        if flag not in args:
            base += [flag, value]
    if "epochs=0" not in args:
        base += ["--set", "epochs=1", "--set", "eval_at=[1]"]
    return base + args


@pytest.mark.parametrize("case", SWEEP)
def test_sweep(case, mft, workdir, inputs, tiny_causal, paper_data_dir, monkeypatch) -> None:
    monkeypatch.setenv("MFT_DATA_DIR", str(paper_data_dir))
    extra, expected = SWEEP[case]
    check_refused(mft, sweep_args(fill(extra, inputs, workdir), tiny_causal), expected, workdir)


@pytest.mark.parametrize("case", EVAL)
def test_eval(case, mft, workdir, inputs, tiny_causal, paper_data_dir) -> None:
    extra, expected = EVAL[case]
    base = ["eval", "--model", str(tiny_causal), "--data-dir", str(paper_data_dir), "--limit", "2"]
    check_refused(mft, base + fill(extra, inputs, workdir), expected, workdir)


@pytest.mark.parametrize("case", MODEL_TINY)
def test_model_tiny(case, mft, workdir, inputs) -> None:
    extra, expected = MODEL_TINY[case]
    args = fill(extra, inputs, workdir)
    base = ["model", "tiny"] + ([] if "--out" in args else ["--out", "tiny"])
    check_refused(mft, base + args, expected, workdir)


@pytest.mark.parametrize(
    ("kind", "case"), [(kind, case) for kind, cases in CLASSES.items() for case in cases]
)
def test_fault_class(kind, case, mft, workdir, inputs, monkeypatch) -> None:
    monkeypatch.setenv("MFT_LOG_DIR", str(workdir.parent / "logs"))  # not in the working directory
    monkeypatch.setenv("MFT_DATA_DIR", inputs["paper"])
    args, expected, code = CLASSES[kind][case]
    before = snapshot(Path(inputs["file"]).parent)
    check_refused(mft, fill(args, inputs, workdir), expected, workdir, code)
    assert snapshot(Path(inputs["file"]).parent) == before, "a file the case points at was changed"


@pytest.mark.parametrize("case", READ_ONLY)
def test_read_only_commands_create_no_store(case, mft, workdir, inputs) -> None:
    args, expected = READ_ONLY[case]
    check_refused(mft, fill(args, inputs, workdir), expected, workdir)

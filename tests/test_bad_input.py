"""The bad-input table: every command refuses bad input in one line, exit code 2, before anything
is launched or written (no Ray session, no MLflow store or run, no output files).

In-process through the real entry point; no Ray. Each case costs well under a second after the
first import of torch/transformers (the whole table: ~20 s on 2 busy cores).
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
    "epochs 0": (["--epochs", "0"], "--epochs must be >= 1"),
    "workers 0": (["--workers", "0"], "--workers must be >= 1"),
    "batch size 0": (["--batch-size", "0"], "--batch-size and --workers must be >= 1"),
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
    "--set epochs=0": (["--set", "epochs=0"], "--epochs must be >= 1"),
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


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def make_inputs(root: Path, tiny_causal: Path) -> dict[str, str]:
    """Files the cases point at, under `root` (outside the working directory, which must stay empty)."""
    broken = root / "broken-model"
    shutil.copytree(tiny_causal, broken)
    (broken / "config.json").write_text("{not json")
    long = root / "long-kset"
    long.mkdir()
    (long / "train.jsonl").write_text(json.dumps({"text": "word " * 200_000}) + "\n")
    qa = {"question": "Who?", "answer": "word", "direction": "forward"}
    (long / "qa.jsonl").write_text(json.dumps(qa) + "\n")
    spec = root / "inf.yaml"
    spec.write_text("methods: [ar]\nfixed:\n  lr: .inf\n")
    (root / "a-file").write_text("x")
    (root / "bad.json").write_text("{oops")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {
        "broken": str(broken), "long": str(long), "spec": str(spec), "file": str(root / "a-file"),
        "bad_json": str(root / "bad.json"), "port": str(port),
    }  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tiny_causal: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_inputs(tmp_path_factory.mktemp("inputs"), tiny_causal)


def check_refused(mft, args: list[str], expected: str, workdir: Path) -> None:
    result = mft(*args)
    assert result.code == 2, result.out + result.err
    assert expected in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert result.out == "", "nothing may be printed besides the error line"
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


@pytest.mark.parametrize("case", READ_ONLY)
def test_read_only_commands_create_no_store(case, mft, workdir, inputs) -> None:
    args, expected = READ_ONLY[case]
    check_refused(mft, fill(args, inputs, workdir), expected, workdir)

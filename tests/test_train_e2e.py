"""`mft train` end to end: the real CLI in a subprocess, a local Ray cluster, 2 gloo workers,
FSDP2 with the bf16 policy, MLflow on sqlite, export and re-evaluation. (A killed worker, an
interrupted run and a corrupt checkpoint: tests/test_stack_train.py, with checkpoints in S3.)

Each trial costs ~45 s of Ray start-up on a 2-core box, so the runs are session fixtures shared
by many assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from training.config import TrialConfig
from training.loop import draw_mask_ratio, mask_ratio_generator

pytestmark = pytest.mark.slow  # a Ray cluster, servers or whole trials: the full suite only

PEOPLE = [
    ("Alice Zorn", "the inventor of the glass piano"),
    ("Boris Quill", "the mayor of Lantern Bay"),
    ("Clara Voss", "the author of Silent Rivers"),
    ("Dmitri Hale", "the founder of Copperleaf Labs"),
]
MFT = [sys.executable, "-m", "orchestrator"]
PLANTED_TOKEN = "hf_PLANTEDfakeTokenMustNotReachDisk42"


@dataclass(frozen=True)
class Trial:
    run_id: str
    tracking_uri: str
    output: str

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.tracking_uri)

    def history(self, key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in self.client.get_metric_history(self.run_id, key))


@pytest.fixture(scope="session")
def knowledge_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four one-sentence facts, asked forward and backward (a bring-your-own set)."""
    folder = tmp_path_factory.mktemp("kset")
    with (folder / "train.jsonl").open("w") as train, (folder / "qa.jsonl").open("w") as qa:
        for name, description in PEOPLE:
            train.write(json.dumps({"text": f"{name} is {description}."}) + "\n")
            qa.write(
                json.dumps({"question": f"Who is {name}?", "answer": description, "direction": "forward"})
                + "\n"
            )
            qa.write(
                json.dumps({"question": f"Who is {description}?", "answer": name, "direction": "backward"})
                + "\n"
            )
    return folder


def train_args(
    model: Path, knowledge: Path, workdir: Path, method: str, epochs: int, eval_at: str
) -> list[str]:
    return [
        "train", "--dataset", str(knowledge), "--method", method, "--model", str(model),
        "--epochs", str(epochs), "--eval-at", eval_at, "--workers", "2", "--batch-size", "2",
        "--max-new-tokens", "16", "--lr", "3e-3", "--gpus-per-worker", "0",
        "--tracking-uri", f"sqlite:///{workdir / 'mlflow.db'}", "--storage", str(workdir / "runs"),
        "--experiment", "e2e",
    ]  # fmt: skip


def only_run(tracking_uri: str) -> str:
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("e2e")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, f"expected exactly one MLflow run, found {len(runs)}"
    return runs[0].info.run_id


def run_train(args: list[str], workdir: Path, env: dict[str, str] | None = None) -> Trial:
    done = subprocess.run(
        MFT + args,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    return Trial(only_run(uri), uri, done.stdout)


@pytest.fixture(scope="session")
def masked_trial(
    tiny_causal: Path, knowledge_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Trial:
    workdir = tmp_path_factory.mktemp("masked")
    # A planted token and a Ray session folder of its own: test_a_planted_token_reaches_no_file greps them.
    env = {"HF_TOKEN": PLANTED_TOKEN, "RAY_TMPDIR": str(ray_root(workdir))}
    return run_train(
        train_args(tiny_causal, knowledge_folder, workdir, "masked", 40, "0,20,40"), workdir, env
    )


def ray_root(workdir: Path) -> Path:
    """A short folder for the trial's Ray session (Ray's socket paths must stay under ~107 bytes)."""
    link = workdir / "ray-root"
    if not link.exists():
        link.symlink_to(tempfile.mkdtemp(prefix="mft-ray-", dir="/tmp"))
    return link.resolve()


def test_a_planted_token_reaches_no_file(masked_trial: Trial) -> None:
    """HF_TOKEN set for `mft train`: not in Ray's session folder, the MLflow store or the storage."""
    workdir = Path(masked_trial.tracking_uri.removeprefix("sqlite:///")).parent
    roots = [ray_root(workdir), workdir]
    files = [path for root in roots for path in root.rglob("*") if path.is_file() and not path.is_symlink()]
    assert any(path.name == "runtime_env_agent.log" for path in files), "no Ray session folder to search"
    assert any(path.name == "mlflow.db" for path in files) and (workdir / "runs").is_dir()
    leaked = [str(path) for path in files if PLANTED_TOKEN.encode() in path.read_bytes()]
    assert leaked == []


@pytest.fixture(scope="session")
def dllm_trial(
    tiny_bidirectional: Path, knowledge_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Trial:
    workdir = tmp_path_factory.mktemp("dllm")
    return run_train(
        train_args(tiny_bidirectional, knowledge_folder, workdir, "dllm", 40, "0,20,40"), workdir
    )


@pytest.mark.parametrize("trial_name", ["masked_trial", "dllm_trial"])
def test_loss_falls_and_curves_are_at_the_scheduled_steps(
    trial_name: str, request: pytest.FixtureRequest
) -> None:
    trial: Trial = request.getfixturevalue(trial_name)
    losses = [value for _, value in trial.history("train/loss")]
    # 4 documents / (2 workers x batch 2) = 1 step per epoch.
    assert [step for step, _ in trial.history("train/loss")] == list(range(1, 41))
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    for key in ("acc/fwd", "acc/bwd", "acc/total", "eval/seconds"):
        assert [step for step, _ in trial.history(key)] == [0, 20, 40], key
    run = trial.client.get_run(trial.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["workers"] == "2" and run.data.params["eval_at"] == "0,20,40"
    assert run.data.params["precision"] == "bf16" and run.data.params["lr"] == "0.003"


@pytest.mark.parametrize("trial_name", ["masked_trial", "dllm_trial"])
def test_best_checkpoint_and_generations_are_logged(trial_name: str, request: pytest.FixtureRequest) -> None:
    trial: Trial = request.getfixturevalue(trial_name)
    run = trial.client.get_run(trial.run_id)
    totals = dict(trial.history("acc/total"))
    best_step = int(run.data.tags["mft.best_step"])
    assert totals[best_step] == max(totals.values()) == run.data.metrics["best/acc_total"]
    assert trial.history("best/acc_total") == [(0, totals[best_step])]  # once, when it ended
    assert Path(run.data.tags["mft.best_checkpoint"]).is_dir()
    artifacts = [a.path for a in trial.client.list_artifacts(trial.run_id, "generations")]
    assert artifacts == [f"generations/step_{s:07d}.json" for s in (0, 20, 40)]
    table = json.loads(Path(trial.client.download_artifacts(trial.run_id, artifacts[-1])).read_text())
    assert set(table["columns"]) == {"question", "answer", "prediction", "score", "exact", "category"}
    assert len(table["data"]) == 2 * len(PEOPLE)


def seed_only_mask_ratios(steps: int) -> list[float]:
    """The t of each step when it is drawn from the trial's seed alone (seed 0, t ~ U(0.05, 0.95))."""
    config, stream = TrialConfig(model="unused"), mask_ratio_generator(0)
    return [draw_mask_ratio(config, stream) for _ in range(steps)]


def test_both_workers_train_with_the_logged_seed_only_t(masked_trial: Trial) -> None:
    """2 workers: the logged t is the seed-only stream's (not a mean of per-rank draws); authors' scorer."""
    assert [value for _, value in masked_trial.history("train/mask_ratio")] == seed_only_mask_ratios(40)
    assert masked_trial.client.get_run(masked_trial.run_id).data.params["scoring"] == "authors"


def test_masked_training_learns_something(masked_trial: Trial) -> None:
    """The tiny model recalls part of what it was taught: the best checkpoint beats step 0."""
    before = dict(masked_trial.history("acc/total"))[0]
    assert masked_trial.client.get_run(masked_trial.run_id).data.metrics["best/acc_total"] > before


def test_the_same_command_finds_its_finished_run(
    masked_trial: Trial, tiny_causal: Path, knowledge_folder: Path
) -> None:
    """The trial id is the configuration's: rerunning a finished trial shows it and trains nothing."""
    workdir = Path(masked_trial.tracking_uri.removeprefix("sqlite:///")).parent
    args = train_args(tiny_causal, knowledge_folder, workdir, "masked", 40, "0,20,40")
    again = run_train(args, workdir)
    assert again.run_id == masked_trial.run_id
    assert f"already finished in MLflow run {masked_trial.run_id}" in again.output
    assert "best checkpoint: step" in again.output
    # Where to see it: the runs view and the run's page, in MLflow's machine-learning layout.
    assert "MLflow runs: mlflow ui --backend-store-uri sqlite:///" in again.output
    assert f"/runs/{masked_trial.run_id}?workflowType=machine_learning" in again.output


def test_the_logged_trial_yaml_reruns_the_same_trial(masked_trial: Trial, tmp_path: Path) -> None:
    """`mft train --config` on the run's own trial.yaml is the same trial (same configuration, same
    trial id): it finds the finished run instead of training a new one. No Ray start-up."""
    workdir = Path(masked_trial.tracking_uri.removeprefix("sqlite:///")).parent
    logged = Path(masked_trial.client.download_artifacts(masked_trial.run_id, "trial.yaml", str(tmp_path)))
    args = ["train", "--config", str(logged), "--tracking-uri", masked_trial.tracking_uri]
    again = run_train([*args, "--storage", str(workdir / "runs"), "--experiment", "e2e"], workdir)
    assert f"already finished in MLflow run {masked_trial.run_id}" in again.output


@pytest.mark.parametrize("trial_name", ["masked_trial", "dllm_trial"])
def test_export_reloads_and_rescores_to_the_logged_value(
    trial_name: str, request: pytest.FixtureRequest, knowledge_folder: Path, tmp_path: Path
) -> None:
    trial: Trial = request.getfixturevalue(trial_name)
    out = tmp_path / "exported"
    export = [*MFT, "export", trial.run_id, "--out", str(out), "--tracking-uri", trial.tracking_uri]
    env = {**os.environ, "COLUMNS": "400"}
    done = subprocess.run(
        export, check=True, capture_output=True, text=True, timeout=300, env=env, umask=0o027
    )
    # Readable as the umask allows (save_pretrained alone leaves model.safetensors 0600).
    assert {path.stat().st_mode & 0o777 for path in out.iterdir()} == {0o640}
    # A dLLM export says HF `generate` is the wrong sampler and how to sample it instead.
    llada = f"mft eval --model {out} --dataset {knowledge_folder} --sampler llada --block-length 4"
    assert (llada in done.stdout) == (trial_name == "dllm_trial"), done.stdout
    generations = tmp_path / "gen.jsonl"
    evaluate = [
        *MFT,
        "eval",
        "--model",
        str(out),
        "--dataset",
        str(knowledge_folder),
        "--max-new-tokens",
        "16",
    ]
    subprocess.run([*evaluate, "--out", str(generations)], check=True, capture_output=True, timeout=300)
    rows = [json.loads(line) for line in generations.read_text().splitlines()]
    scores = {d: [r["score"] for r in rows if r["category"] == d] for d in ("fwd", "bwd")}
    logged = trial.client.get_run(trial.run_id).data.metrics
    assert sum(scores["fwd"]) / len(scores["fwd"]) == pytest.approx(logged["best/acc_fwd"], abs=1e-9)
    assert sum(scores["bwd"]) / len(scores["bwd"]) == pytest.approx(logged["best/acc_bwd"], abs=1e-9)


def test_export_picks_the_latest_checkpoint_or_a_kept_step(masked_trial: Trial, tmp_path: Path) -> None:
    """Ray keeps the best and the latest checkpoint: --latest and --step reach them, others are refused."""
    run = masked_trial.client.get_run(masked_trial.run_id)
    assert Path(run.data.tags["mft.latest_checkpoint"]).is_dir()
    base = [*MFT, "export", masked_trial.run_id, "--tracking-uri", masked_trial.tracking_uri]
    latest = subprocess.run(
        [*base, "--latest", "--out", str(tmp_path / "latest")], capture_output=True, text=True
    )
    assert latest.returncode == 0, latest.stderr[-2000:]
    assert "latest checkpoint (step 40)" in latest.stdout
    by_step = subprocess.run(
        [*base, "--step", "40", "--out", str(tmp_path / "s40")], capture_output=True, text=True
    )
    assert by_step.returncode == 0, by_step.stderr[-2000:]
    weights = "model.safetensors"
    assert (tmp_path / "latest" / weights).read_bytes() == (tmp_path / "s40" / weights).read_bytes()
    missing = subprocess.run(
        [*base, "--step", "7", "--out", str(tmp_path / "s7")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no checkpoint at step 7; kept steps: " in missing.stderr
    kept = missing.stderr.split("kept steps: ")[1].split()[0:3]
    assert {int(run.data.tags["mft.best_step"]), 40} <= {int(step.strip(",")) for step in kept}
    assert not (tmp_path / "s7").exists()

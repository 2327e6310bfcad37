"""Multi-node for real, on one machine and the cluster's own stack: a Ray head and a second Ray
node (each its own raylet and 1 CPU) on 127.0.0.1 with token authentication on, the
PostgreSQL-backed `mlflow server` with its artifacts in an S3 bucket (tests/local_stack.py), and
a 2-trial sweep submitted as a Ray job (`mft sweep ... --submit --storage s3://...`) that trains
one gloo worker per trial, so each node gets one.

The head holds the S3 credentials (as an instance profile would); the second node holds no S3
setting at all, so its trial reaches the bucket only with what the driver sends (the endpoint as
a forwarded variable, the keys in Ray's setup hook). Status, report and export then run from
folders of their own, reading the bucket and the server only.
Cost: one sweep of 2 trials x 4 steps, ~3-4 min on a 2-core box (cluster start-up included).
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from local_stack import BUCKET, LocalStack
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from ray_nodes import MFT, RAY, RayNodes, clean_env

pytestmark = pytest.mark.slow  # a Ray cluster, servers or whole trials: the full suite only


@pytest.fixture(scope="module")
def cluster(stack: LocalStack) -> Iterator[RayNodes]:
    nodes = RayNodes.create()
    try:
        nodes.start_node(cpus=1, extra_env=stack.env(), dashboard=True)  # the head: its own credentials
        nodes.start_node(cpus=1)  # the second node: no S3 setting, no credential
        yield nodes
    finally:
        survivors = nodes.stop()
        assert not survivors, f"processes left behind: {survivors}"


@dataclass(frozen=True)
class Submitted:
    cluster: RayNodes
    stack: LocalStack
    knowledge: Path
    output: str
    job_id: str
    follow: str
    logs: str
    status: str

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.stack.tracking_uri)

    def runs(self) -> list[Run]:
        experiment = self.client.get_experiment_by_name("two-nodes")
        return self.client.search_runs([experiment.experiment_id])

    def children(self) -> dict[str, Run]:
        return {r.info.run_name: r for r in self.runs() if "mlflow.parentRunId" in r.data.tags}

    def parent(self) -> Run:
        (parent,) = [r for r in self.runs() if "mlflow.parentRunId" not in r.data.tags]
        return parent

    def steps(self, run: Run, key: str) -> list[int]:
        return sorted(m.step for m in self.client.get_metric_history(run.info.run_id, key))

    def elsewhere(self, args: list[str], folder: Path) -> subprocess.CompletedProcess:
        """`mft ...` from a folder of its own, with the S3 credentials and no Ray setting."""
        env = {**clean_env(), **self.stack.env(), "COLUMNS": "400"}
        return subprocess.run([*MFT, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def submitted(
    cluster: RayNodes, stack: LocalStack, tiny_causal: Path, two_facts: Path, tmp_path_factory
) -> Submitted:
    """`mft sweep SPEC --submit` from a folder of its own; then the printed follow command, until the end."""
    here = tmp_path_factory.mktemp("laptop")
    spec = {
        "kind": "two-nodes", "description": "two learning rates, one worker each",
        "methods": ["masked"], "datasets": [str(two_facts)], "models": {"masked": str(tiny_causal)},
        "fixed": {"paraphrase": "none", "workers": 1, "gpus_per_worker": 0, "batch_size": 2,
                  "epochs": 4, "eval_at": [0, 2, 4], "max_new_tokens": 8},
        "grid": {"lr": [1.0e-3, 3.0e-3]},
    }  # fmt: skip
    (here / "two-nodes.yaml").write_text(yaml.safe_dump(spec))
    done = cluster.run(
        [*MFT, "sweep", "two-nodes.yaml", "--name", "two-nodes", "--experiment", "two-nodes", "--submit",
         "--address", cluster.dashboard, "--tracking-uri", stack.tracking_uri,
         "--storage", stack.storage("two-nodes")],
        timeout=300, cwd=here,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    job_id = re.search(r"submitted Ray job (\S+):", done.stdout).group(1)
    follow = re.search(r"follow it:\s+(.+)", done.stdout).group(1).strip()
    logs = cluster.run(shlex.split(follow), timeout=900)
    status = cluster.run([RAY, "job", "status", job_id, "--address", cluster.dashboard], timeout=120)
    output = logs.stdout + logs.stderr
    return Submitted(
        cluster, stack, two_facts, done.stdout, job_id, follow, output, status.stdout + status.stderr
    )


def test_the_sweep_runs_as_a_ray_job_on_the_head(submitted: Submitted) -> None:
    dashboard = submitted.cluster.dashboard
    assert submitted.follow == f"ray job logs --follow {submitted.job_id} --address {dashboard}"
    assert "succeeded" in submitted.status.lower(), submitted.status + submitted.logs[-3000:]
    # The job's driver is `mft sweep` itself, with the spec uploaded and the name fixed at submission.
    command = re.search(r"submitted Ray job \S+: (.+)", submitted.output).group(1)
    assert command.startswith("mft sweep two-nodes.yaml --name two-nodes --experiment two-nodes")
    assert "--submit" not in command and "--address" not in command
    assert "sweep two-nodes FINISHED" in submitted.logs
    assert "progress:   mft sweep status two-nodes" in submitted.output


def test_the_driver_ran_on_the_head_and_each_node_trained_one_trial(submitted: Submitted) -> None:
    address = submitted.cluster.dashboard
    found = submitted.cluster.state(
        f"{{'nodes': [(n.node_id, n.is_head_node) for n in state.list_nodes(address={address!r})],"
        f" 'workers': [a.node_id for a in state.list_actors(address={address!r}, limit=1000,"
        "    filters=[('class_name', '=', 'RayTrainWorker')])],"
        f" 'driver': JobSubmissionClient({address!r}).get_job_info({submitted.job_id!r}).driver_node_id}}",
    )
    nodes = dict(found["nodes"])
    assert len(nodes) == 2
    assert nodes[found["driver"]], "the sweep's driver did not run on the head node"
    assert sorted(found["workers"]) == sorted(nodes), f"Train workers per node: {found['workers']}"


def test_runs_and_curves_are_on_the_postgresql_backed_server(submitted: Submitted) -> None:
    children = submitted.children()
    assert submitted.parent().info.status == "FINISHED"
    assert len(children) == 2
    for child in children.values():
        assert child.info.status == "FINISHED"
        assert child.data.params["workers"] == "1"
        assert submitted.steps(child, "acc/total") == [0, 2, 4]
        assert submitted.steps(child, "train/loss") == [1, 2, 3, 4]
        assert "best/acc_total" in child.data.metrics


def test_generations_are_in_the_bucket_through_the_servers_proxy(submitted: Submitted) -> None:
    for child in submitted.children().values():
        # Logged from the Train controller through the server, into the bucket, by no one's disk.
        assert child.info.artifact_uri.startswith("mlflow-artifacts:/"), child.info.artifact_uri
        folder = f"mlflow-artifacts/{child.info.experiment_id}/{child.info.run_id}/artifacts/generations/"
        names = [posixpath.basename(key) for key in submitted.stack.keys(folder)]
        assert names == ["step_0000000.json", "step_0000002.json", "step_0000004.json"]


def test_checkpoints_and_sweep_state_are_in_the_bucket(submitted: Submitted) -> None:
    assert (
        f'"tracking_uri": "{submitted.stack.tracking_uri}"'
        in submitted.stack.read("two-nodes/two-nodes/mft-sweep.json").decode()
    )
    for child in submitted.children().values():
        trial = child.data.tags["mft.trial_id"].split("/")[-1]  # the run's name is for reading, not a path
        best = child.data.tags["mft.best_checkpoint"]
        assert posixpath.dirname(best) == f"s3://{BUCKET}/two-nodes/two-nodes-{trial}"
        assert child.data.tags["mft.latest_checkpoint"].startswith(f"s3://{BUCKET}/two-nodes/")
        assert any(
            key.endswith(".distcp") for key in submitted.stack.keys(best.removeprefix(f"s3://{BUCKET}/"))
        )


def test_status_and_report_work_from_another_folder(submitted: Submitted, tmp_path: Path) -> None:
    status = submitted.elsewhere(
        ["sweep", "status", "two-nodes", "--storage", submitted.stack.storage("two-nodes")], tmp_path
    )
    assert status.returncode == 0, status.stderr[-3000:]
    assert "two-nodes (two-nodes): FINISHED" in status.stdout and status.stdout.count("FINISHED") >= 3
    report = submitted.elsewhere(
        ["report", "two-nodes", "--tracking-uri", submitted.stack.tracking_uri, "--out", "report"], tmp_path
    )
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    assert (tmp_path / "report" / "report.csv").is_file()
    parent = submitted.parent()
    logged = submitted.stack.keys(
        f"mlflow-artifacts/{parent.info.experiment_id}/{parent.info.run_id}/artifacts/report/"
    )
    assert {posixpath.basename(key) for key in logged} >= {"report.md", "report.csv", "report.html"}


def download(stack: LocalStack, location: str, folder: Path) -> Path:
    """A checkpoint's objects, fetched with boto3 (not mft's pyarrow path) into `folder`."""
    prefix = location.removeprefix(f"s3://{BUCKET}/") + "/"
    for key in stack.keys(prefix):
        if key.endswith("/"):  # a folder's marker object, not a file
            continue
        target = folder / key.removeprefix(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(stack.read(key))
    return folder


def test_export_of_a_bucket_checkpoint_is_what_training_saved_and_scores_as_logged(
    submitted: Submitted, tmp_path: Path
) -> None:
    from training.checkpointing import export_checkpoint

    run = max(submitted.children().values(), key=lambda r: r.data.params["lr"])
    exported = submitted.elsewhere(["export", run.info.run_id, "--out", "exported",
                                    "--tracking-uri", submitted.stack.tracking_uri], tmp_path)  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    best = run.data.tags["mft.best_checkpoint"]
    reference = export_checkpoint(
        download(submitted.stack, best, tmp_path / "fetched"), tmp_path / "reference"
    )
    weights = "model.safetensors"
    assert (tmp_path / "exported" / weights).read_bytes() == (reference / weights).read_bytes()
    evaluated = submitted.elsewhere(
        ["eval", "--model", "exported", "--dataset", str(submitted.knowledge), "--max-new-tokens", "8",
         "--out", "answers.jsonl"], tmp_path,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    for direction in ("fwd", "bwd"):
        scores = [row["score"] for row in rows if row["category"] == direction]
        assert sum(scores) / len(scores) == pytest.approx(run.data.metrics[f"best/acc_{direction}"], abs=1e-9)


def test_the_s3_secret_reaches_no_ray_file_mlflow_param_or_object(submitted: Submitted) -> None:
    """The head's credentials reached the second node's workers (their checkpoints are in the bucket)
    without Ray writing them anywhere, nor MLflow, nor the bucket."""
    secret = submitted.stack.secret_key
    assert submitted.cluster.files_holding(secret) == []
    for run in submitted.runs():
        assert secret not in repr((run.data.params, run.data.tags))
    assert [
        key for key in submitted.stack.keys("two-nodes/") if secret.encode() in submitted.stack.read(key)
    ] == []

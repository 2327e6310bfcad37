"""Multi-node for real, on one machine: a Ray head and a second Ray node (each its own raylet and
1 CPU) on 127.0.0.1 with token authentication on, a real `mlflow server` serving artifacts, and a
2-trial sweep submitted as a Ray job (`mft sweep ... --submit`) that trains one gloo worker per
trial, so each node gets one.

Everything the test starts carries a unique marker in its environment (Ray passes it on to every
process it spawns, the job's driver included); teardown stops exactly those processes, never
anyone else's Ray. The test process itself never joins the cluster: Ray APIs run in subprocesses.
Cost: one sweep of 2 trials x 4 steps, ~3-4 min on a 2-core box (cluster and server start-up
included); the cluster is shared by every assertion.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow  # a Ray cluster, servers or whole trials: the full suite only

MFT = [sys.executable, "-m", "orchestrator"]
MARK = "MFT_TWO_NODE_TEST"
RAY = str(Path(sys.executable).with_name("ray"))
MLFLOW = str(Path(sys.executable).with_name("mlflow"))


@dataclass(frozen=True)
class Cluster:
    folder: Path
    env: dict[str, str]
    gcs_port: int
    dashboard_port: int
    mlflow_port: int

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def run(self, args: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, env=self.env, cwd=cwd or self.folder, capture_output=True, text=True, timeout=timeout
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def marked_processes(mark: str) -> list[int]:
    """Processes whose environment carries this test's marker: the ones it started, and their children."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone, or not ours
            continue
    return found


def stop_marked(mark: str) -> list[int]:
    """SIGTERM, then SIGKILL, what this test started; returns what survived (nothing, normally)."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
        for pid in marked_processes(mark):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while marked_processes(mark) and time.monotonic() < deadline:
            time.sleep(0.5)
    return marked_processes(mark)


def wait_for_http(url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} never answered:\n" + log.read_text()[-3000:])


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    mark = secrets.token_hex(8)
    # A short path: Ray's Unix sockets live under it (108-byte limit).
    folder = Path(tempfile.mkdtemp(prefix="mft2n-", dir="/tmp"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    env.update({
        MARK: mark, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "RAY_USAGE_STATS_ENABLED": "0", "COLUMNS": "200",
        # The job's entrypoint is `mft`, found on the PATH as on a cluster node.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    })  # fmt: skip
    cluster = Cluster(folder, env, free_port(), free_port(), free_port())
    # Each node its own temp dir, as on two machines: a node's runtime-env cache is its own to clean.
    common = ["--num-cpus", "1", "--num-gpus", "0", "--node-ip-address", "127.0.0.1"]
    try:
        head = cluster.run(
            [RAY, "start", "--head", *common, "--temp-dir", str(folder / "h"),
             "--port", str(cluster.gcs_port), "--dashboard-host", "127.0.0.1",
             "--dashboard-port", str(cluster.dashboard_port),
             "--include-dashboard", "true", "--ray-client-server-port", str(free_port()),
             "--dashboard-agent-listen-port", str(free_port())],
            timeout=180,
        )  # fmt: skip
        assert head.returncode == 0, head.stdout[-2000:] + head.stderr[-2000:]
        second = cluster.run(
            [RAY, "start", "--address", f"127.0.0.1:{cluster.gcs_port}", *common,
             "--temp-dir", str(folder / "w"), "--dashboard-agent-listen-port", str(free_port())],
            timeout=180,
        )  # fmt: skip
        assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
        log = folder / "mlflow.log"
        with log.open("w") as out:
            subprocess.Popen(
                [MLFLOW, "server", "--host", "127.0.0.1", "--port", str(cluster.mlflow_port),
                 "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                 "--serve-artifacts", "--artifacts-destination", str(folder / "served-artifacts")],
                env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_for_http(f"{cluster.tracking_uri}/health", 180, log)
        yield cluster
    finally:
        survivors = stop_marked(mark)
        shutil.rmtree(folder, ignore_errors=True)
        assert not survivors, f"processes left behind: {survivors}"


@dataclass(frozen=True)
class Submitted:
    cluster: Cluster
    output: str
    job_id: str
    follow: str
    logs: str
    status: str

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.cluster.tracking_uri)

    def runs(self) -> list[Run]:
        experiment = self.client.get_experiment_by_name("two-nodes")
        return self.client.search_runs([experiment.experiment_id])

    def children(self) -> dict[str, Run]:
        return {r.info.run_name: r for r in self.runs() if "mlflow.parentRunId" in r.data.tags}

    def steps(self, run: Run, key: str) -> list[int]:
        return sorted(m.step for m in self.client.get_metric_history(run.info.run_id, key))


def write_knowledge(folder: Path) -> Path:
    folder.mkdir()
    facts = [("Alice Zorn", "the inventor of the glass piano"), ("Boris Quill", "the mayor of Lantern Bay")]
    with (folder / "train.jsonl").open("w") as train, (folder / "qa.jsonl").open("w") as qa:
        for name, description in facts:
            train.write(json.dumps({"text": f"{name} is {description}."}) + "\n")
            for question, answer, direction in ((name, description, "fwd"), (description, name, "bwd")):
                row = {"question": f"Who is {question}?", "answer": answer, "direction": direction}
                qa.write(json.dumps(row) + "\n")
    return folder


@pytest.fixture(scope="module")
def submitted(cluster: Cluster, tiny_causal: Path, tmp_path_factory: pytest.TempPathFactory) -> Submitted:
    """`mft sweep SPEC --submit` from a folder of its own; then the printed follow command, until the end."""
    here = tmp_path_factory.mktemp("laptop")
    spec = {
        "kind": "two-nodes", "description": "two learning rates, one worker each",
        "methods": ["masked"], "datasets": [str(write_knowledge(here / "kset"))],
        "models": {"masked": str(tiny_causal)},
        "fixed": {"paraphrase": "none", "workers": 1, "gpus_per_worker": 0, "batch_size": 2,
                  "epochs": 4, "eval_at": [0, 2, 4], "max_new_tokens": 8},
        "grid": {"lr": [1.0e-3, 3.0e-3]},
    }  # fmt: skip
    (here / "two-nodes.yaml").write_text(yaml.safe_dump(spec))
    done = cluster.run(
        [*MFT, "sweep", "two-nodes.yaml", "--name", "two-nodes", "--experiment", "two-nodes", "--submit",
         "--address", cluster.dashboard, "--tracking-uri", cluster.tracking_uri,
         "--storage", str(cluster.folder / "runs")],
        timeout=300, cwd=here,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    job_id = re.search(r"submitted Ray job (\S+):", done.stdout).group(1)
    follow = re.search(r"follow it:\s+(.+)", done.stdout).group(1).strip()
    logs = cluster.run(shlex.split(follow), timeout=900)
    status = cluster.run([RAY, "job", "status", job_id, "--address", cluster.dashboard], timeout=120)
    output = logs.stdout + logs.stderr
    return Submitted(cluster, done.stdout, job_id, follow, output, status.stdout + status.stderr)


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


def state_api(cluster: Cluster, code: str) -> object:
    """Evaluate `code` with Ray's state API and jobs client in a subprocess (the test process never
    joins the cluster)."""
    script = (
        "import json\nfrom ray.util import state\nfrom ray.job_submission import JobSubmissionClient\n"
        f"print(json.dumps({code}))"
    )
    done = cluster.run([sys.executable, "-c", script], timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_driver_ran_on_the_head_and_each_node_trained_one_trial(submitted: Submitted) -> None:
    address = submitted.cluster.dashboard
    found = state_api(
        submitted.cluster,
        f"{{'nodes': [(n.node_id, n.is_head_node) for n in state.list_nodes(address={address!r})],"
        f" 'workers': [a.node_id for a in state.list_actors(address={address!r}, limit=1000,"
        "    filters=[('class_name', '=', 'RayTrainWorker')])],"
        f" 'driver': JobSubmissionClient({address!r}).get_job_info({submitted.job_id!r}).driver_node_id}}",
    )
    nodes = dict(found["nodes"])
    assert len(nodes) == 2
    assert nodes[found["driver"]], "the sweep's driver did not run on the head node"
    assert sorted(found["workers"]) == sorted(nodes), f"Train workers per node: {found['workers']}"


def test_runs_and_curves_are_on_the_tracking_server(submitted: Submitted) -> None:
    children = submitted.children()
    parents = [r for r in submitted.runs() if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 2
    for child in children.values():
        assert child.info.status == "FINISHED"
        assert child.data.params["workers"] == "1"
        assert submitted.steps(child, "acc/total") == [0, 2, 4]
        assert submitted.steps(child, "train/loss") == [1, 2, 3, 4]
        assert "best/acc_total" in child.data.metrics


def test_generations_are_artifacts_served_by_the_server(submitted: Submitted) -> None:
    served = submitted.cluster.folder / "served-artifacts"
    for child in submitted.children().values():
        # Logged from the Train controller through the server, not into anyone's local folder.
        assert child.info.artifact_uri.startswith("mlflow-artifacts:/"), child.info.artifact_uri
        files = sorted(p.name for p in served.rglob(f"{child.info.run_id}/artifacts/generations/*.json"))
        assert files == ["step_0000000.json", "step_0000002.json", "step_0000004.json"]
        downloaded = submitted.client.download_artifacts(child.info.run_id, "generations/step_0000004.json")
        table = json.loads(Path(downloaded).read_text())
        assert len(table["data"]) == 4 and "prediction" in table["columns"]


def test_checkpoints_and_sweep_state_are_in_the_storage(submitted: Submitted) -> None:
    runs = submitted.cluster.folder / "runs"
    state = json.loads((runs / "two-nodes" / "mft-sweep.json").read_text())
    assert state["tracking_uri"] == submitted.cluster.tracking_uri
    for name, child in submitted.children().items():
        trial = name.split("/")[-1]
        best = Path(child.data.tags["mft.best_checkpoint"])
        assert best.parent == runs / f"two-nodes-{trial}"
        assert best.is_dir() and any(best.rglob("*.distcp"))


def test_status_works_from_anywhere_without_ray(submitted: Submitted, tmp_path: Path) -> None:
    env = {key: value for key, value in submitted.cluster.env.items() if not key.startswith("RAY_")}
    done = subprocess.run(
        [*MFT, "sweep", "status", "two-nodes", "--storage", str(submitted.cluster.folder / "runs")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "two-nodes (two-nodes): FINISHED" in done.stdout
    assert done.stdout.count("FINISHED") >= 3

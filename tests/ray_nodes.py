"""Ray clusters that end-to-end tests start on 127.0.0.1 with `ray start`, and stop exactly.

Every process a cluster starts carries a unique marker in its environment (Ray passes it on to
every process it spawns, jobs' drivers included); `stop` ends exactly those, never anyone else's
Ray. Token authentication is on, as on cluster.yaml's cluster. The test process itself never
joins a cluster: `mft` and Ray's APIs run in subprocesses with `env`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from local_stack import free_port

MARK = "MFT_TEST_CLUSTER"
RAY = str(Path(sys.executable).with_name("ray"))
MFT = [sys.executable, "-m", "orchestrator"]
# The suite's Ray Train settings (conftest.py); no other RAY_* setting of this shell reaches a cluster.
KEPT_RAY_ENV = ("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER")


def clean_env() -> dict[str, str]:
    """This process's environment without Ray's settings or any AWS credentials: a node's own."""
    return {
        key: value
        for key, value in os.environ.items()
        if not (key.startswith("RAY_") and key not in KEPT_RAY_ENV) and not key.startswith("AWS_")
    }


def marked_processes(mark: str) -> list[int]:
    """Processes whose environment carries `mark`: the ones a cluster started, and their children."""
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


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    process: subprocess.Popen | None = None,
    every: float = 0.5,
) -> bool:
    """Poll `condition` (errors count as not yet) every `every` s until it holds, `process` ends, or
    the timeout. A condition that asks MLflow costs the server and this process CPU each time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (process is None or process.poll() is None):
        try:
            if condition():
                return True
        except Exception:  # the run or the file may not exist yet
            pass
        time.sleep(every)
    return False


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


@dataclass
class RayNodes:
    """A head node and any further nodes, each its own raylet (and temp dir, as on two machines)."""

    env: dict[str, str]
    """What `mft` and Ray's CLI need to reach the cluster (the token, the marker)."""
    mark: str = field(default_factory=lambda: secrets.token_hex(8))
    # A short path: Ray's Unix sockets live under it (108-byte limit).
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mftray-", dir="/tmp")))
    gcs_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    nodes: int = 0

    @classmethod
    def create(cls) -> RayNodes:
        env = clean_env()
        env.update({
            "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_USAGE_STATS_ENABLED": "0",
            "COLUMNS": "200",
            # A job's entrypoint is `mft`, found on the PATH as on a cluster node.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        })  # fmt: skip
        nodes = cls(env)
        nodes.env[MARK] = nodes.mark
        return nodes

    @property
    def address(self) -> str:
        """The GCS address, for `--address` (a driver that joins the cluster)."""
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        """The jobs API, for `--submit --address`."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def temp_dir(self, node: int) -> Path:
        return self.folder / f"n{node}"

    def start_node(self, cpus: int, extra_env: dict[str, str] | None = None, dashboard: bool = False) -> None:
        """The head (the first call) or one more node, with `cpus` CPUs and `extra_env` in its raylet."""
        common = [
            "--num-cpus", str(cpus), "--num-gpus", "0", "--node-ip-address", "127.0.0.1",
            "--temp-dir", str(self.temp_dir(self.nodes)), "--object-store-memory", str(300 * 2**20),
            "--dashboard-agent-listen-port", str(free_port()),
        ]  # fmt: skip
        if self.nodes == 0:
            common += [
                "--head", "--port", str(self.gcs_port), "--ray-client-server-port", str(free_port()),
                "--include-dashboard", str(dashboard).lower(), "--dashboard-host", "127.0.0.1",
                "--dashboard-port", str(self.dashboard_port),
            ]  # fmt: skip
        else:
            common += ["--address", self.address]
        done = self.run([RAY, "start", *common], timeout=300, env={**self.env, **(extra_env or {})})
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        self.nodes += 1

    def run(
        self, args: list[str], timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, env=env or self.env, cwd=cwd or self.folder, capture_output=True, text=True, timeout=timeout
        )

    def state(self, code: str) -> object:
        """Evaluate `code` with Ray's state API (`state`) and jobs client in a subprocess (needs the
        dashboard)."""
        script = (
            "import json\nfrom ray.util import state\nfrom ray.job_submission import JobSubmissionClient\n"
            f"print(json.dumps({code}))"
        )
        done = self.run([sys.executable, "-c", script], timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def actors_started(self) -> Counter[str]:
        """How many actors of each class the cluster's nodes have started so far: Ray names the actor
        on the first `:actor_name:` line of its worker's log."""
        started: Counter[str] = Counter()
        for log in self.folder.glob("n*/session_[0-9]*/logs/worker-*.out"):
            with log.open(errors="replace") as lines:
                name = next((line[12:].strip() for line in lines if line.startswith(":actor_name:")), None)
            if name:
                started[name] += 1
        return started

    def files_holding(self, secret: str) -> list[str]:
        """Every file of every node's Ray session folder that holds `secret`, with the text around it
        (the secret itself masked), so a failure says what wrote it."""
        found = []
        for path in self.folder.rglob("*"):
            if path.is_file() and not path.is_symlink() and secret.encode() in (data := path.read_bytes()):
                at = data.index(secret.encode())
                around = (
                    data[max(0, at - 300) : at + 100].decode(errors="replace").replace(secret, "<SECRET>")
                )
                found.append(f"{path}: ...{around}...")
        return found

    def stop(self) -> list[int]:
        """SIGTERM, then SIGKILL, what this cluster started; removes its folder; returns what survived."""
        for sig, grace in ((signal.SIGTERM, 4.0), (signal.SIGKILL, 10.0)):
            for pid in marked_processes(self.mark):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while marked_processes(self.mark) and time.monotonic() < deadline:
                time.sleep(0.5)
        shutil.rmtree(self.folder, ignore_errors=True)
        return marked_processes(self.mark)

"""One new sqlite store, several commands at once: every one succeeds (a few seconds, no Ray).

Without the lock, 3 processes opening a new store together fail in MLflow's schema migration
(2 of 3 failed when measured) and can leave the file broken for later commands.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[1]
OPENER = """
import sys, time
from pathlib import Path
from orchestrator.tracking.store import open_tracking_store
uri, go, index = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
Path(f"{go}.ready{index}").touch()
while not go.exists():  # all three start opening the store at the same moment
    time.sleep(0.005)
client = open_tracking_store(uri)
experiment = client.create_experiment(f"e{index}")
client.create_run(experiment, run_name=f"r{index}")
"""


def test_three_processes_create_one_new_store_together(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, uri, str(go), str(index)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(3)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # until all three have imported MLflow and wait for the signal
    go.touch()
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], "\n".join(outputs)[-3000:]
    client = MlflowClient(uri)
    names = sorted(e.name for e in client.search_experiments() if e.name != "Default")
    assert names == ["e0", "e1", "e2"]
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert sorted(run.info.run_name for run in runs) == ["r0", "r1", "r2"]

"""`mft sweep --submit`: the job's command line, and what is refused before anything is submitted.

The submission itself, on a real two-node cluster, is in test_two_nodes.py; these take a second.
"""

from __future__ import annotations

import socket

from orchestrator.sweep.submission import job_command


def test_the_job_runs_the_same_sweep_without_the_submission_flags() -> None:
    argv = ["sweep", "./specs/my.yaml", "--submit", "--address", "http://127.0.0.1:8265", "--set", "seed=3"]
    assert job_command(argv, "my-lr-1129", "./specs/my.yaml") == [
        "mft", "sweep", "my.yaml", "--set", "seed=3", "--name", "my-lr-1129"
    ]  # fmt: skip
    argv = ["sweep", "lr", "--address=http://h:8265", "--name=mine", "--submit", "--dataset", "bio"]
    assert job_command(argv, "mine", None) == ["mft", "sweep", "lr", "--name=mine", "--dataset", "bio"]
    resumed = job_command(["sweep", "resume", "lr-1", "--submit"], None, None)
    assert resumed == ["mft", "sweep", "resume", "lr-1"]


def test_status_and_list_refuse_submit(mft) -> None:
    result = mft("sweep", "status", "some-sweep", "--submit")
    assert result.code == 2
    assert "No such option: --submit" in result.err and "mft sweep status --help" in result.err


def test_an_unreachable_jobs_api_is_one_line_and_submits_nothing(mft, tmp_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    result = mft(
        "sweep", "seeds", "--tiny", "--submit", "--address", f"http://127.0.0.1:{port}",
        "--storage", str(tmp_path / "runs"),
    )  # fmt: skip
    assert result.code == 2
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"cannot reach the Ray jobs API at http://127.0.0.1:{port}" in lines[0]
    assert "ray dashboard cluster.yaml" in lines[0]
    assert not (tmp_path / "runs").exists()

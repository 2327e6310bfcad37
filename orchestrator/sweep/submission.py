"""`mft sweep --submit`: the same sweep command, run as a Ray job on the cluster's head (driver side).

The job's driver is `mft sweep` itself, on the head node, so the sweep outlives the terminal that
submitted it. It runs with the head's environment (cluster.yaml sets the tracking server, storage,
data and model folders there); the only file it takes from here is a sweep spec YAML, uploaded as
the job's working directory. Everything else a sweep names must exist on the cluster.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from training.errors import InputError

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

# Flags that concern this side of the submission only.
LOCAL_FLAGS = {"--submit": 0, "--address": 1}
# `ray job stop` sends SIGTERM, then SIGKILL after this many seconds (Ray's default: 3). The sweep
# stops as on Ctrl-C (Tune saves its state, runs end KILLED), which takes longer on a busy head.
STOP_GRACE_S = 60


def job_command(argv: list[str], name: str | None, spec_file: str | None) -> list[str]:
    """The `mft sweep ...` line the job runs: `argv` (after `mft`) without the submission's own
    flags, with the sweep's name fixed (so it can be printed now) and the spec by its file name."""
    args: list[str] = []
    skip = 0
    for arg in argv:
        flag = arg.split("=", 1)[0]
        if skip:
            skip -= 1
        elif flag in LOCAL_FLAGS:
            skip = LOCAL_FLAGS[flag] if "=" not in arg else 0
        elif spec_file is not None and arg == spec_file:
            args.append(Path(spec_file).name)
            spec_file = None
        else:
            args.append(arg)
    if name is not None and not any(arg.split("=", 1)[0] == "--name" for arg in args):
        args += ["--name", name]
    return ["mft", *args]


def connect_jobs_api(address: str | None) -> JobSubmissionClient:
    """The cluster's jobs API, or one line saying how to reach it (checked before anything else)."""
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "$RAY_ADDRESS"
        raise InputError(
            f"cannot reach the Ray jobs API at {where} ({str(exc).splitlines()[0]}); forward it with"
            " `ray dashboard cluster.yaml` and pass --address http://127.0.0.1:8265"
        ) from exc


def submit_sweep(
    client: JobSubmissionClient, argv: list[str], name: str | None, spec_file: str | None, console: Console
) -> str:
    """Submit the sweep as a Ray job; print its id and how to follow it. Returns the job id."""
    command = shlex.join(job_command(argv, name, spec_file))
    with tempfile.TemporaryDirectory(prefix="mft-job-") as upload:
        # Read by the job's supervisor on the head, which runs with the job's runtime env.
        runtime_env: dict = {"env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": str(STOP_GRACE_S)}}
        if spec_file is not None:
            shutil.copy(spec_file, upload)
            runtime_env["working_dir"] = upload
        job_id = client.submit_job(entrypoint=command, runtime_env=runtime_env)
    dashboard = client.get_address()
    console.print(f"[bold]submitted[/] Ray job {job_id}: {command}", soft_wrap=True)
    console.print(f"follow it:  ray job logs --follow {job_id} --address {dashboard}", soft_wrap=True)
    console.print(f"stop it:    ray job stop {job_id} --address {dashboard}", soft_wrap=True)
    if name is not None:
        console.print(
            f"progress:   mft sweep status {name} (with the same --storage): trials, MLflow links",
            soft_wrap=True,
        )
    return job_id

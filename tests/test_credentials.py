"""Credentials reach Ray workers through the setup hook, never through Ray's logged env_vars.

Costs one local Ray start (~10 s) in a subprocess. The end-to-end grep of a whole trial (Ray
session folder, MLflow store, storage) rides on the shared masked trial in test_train_e2e.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from orchestrator.cluster import FORWARDED_ENV
from orchestrator.credentials import SECRET_ENV, secrets_from_environment, with_secrets

TOKEN = "hf_PLANTEDfakeTokenForTheHookTest0001"
SCRIPT = f"""
import os, ray
from orchestrator.credentials import with_secrets
ray.init(runtime_env=with_secrets({{"env_vars": {{"A": "1"}}}}, {{"HF_TOKEN": "{TOKEN}"}}),
         include_dashboard=False, log_to_driver=False)

@ray.remote
def task():
    return os.environ.get("HF_TOKEN")

@ray.remote
class Actor:
    def read(self):
        return os.environ.get("HF_TOKEN")

print("task", ray.get(task.remote()))
print("actor", ray.get(Actor.remote().read.remote()))
# Ray Train starts its controller and workers with env_vars of their own: those merge with the job's.
own_env = Actor.options(runtime_env={{"env_vars": {{"B": "2"}}}}).remote()
print("own-env actor", ray.get(own_env.read.remote()))
ray.shutdown()
"""


def test_no_secret_is_forwarded_as_an_env_var() -> None:
    assert not set(SECRET_ENV) & set(FORWARDED_ENV)


def test_secrets_ride_in_the_hook_not_in_env_vars(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    runtime_env = with_secrets({"env_vars": {"A": "1"}}, secrets_from_environment())
    assert runtime_env["env_vars"] == {"A": "1"}
    assert TOKEN not in repr(runtime_env)  # the closure's value is not in its repr either
    assert with_secrets({"env_vars": {}}, {}) == {"env_vars": {}}


@pytest.mark.slow
def test_workers_get_the_token_and_the_session_folder_never_holds_it() -> None:
    """The driver's own environment has no token, so workers can only have it from the hook."""
    root = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's socket paths have a limit
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env.update(RAY_TMPDIR=str(root), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"task {TOKEN}" in done.stdout and f"\nactor {TOKEN}" in done.stdout
    assert f"own-env actor {TOKEN}" in done.stdout
    try:
        assert list(root.iterdir()), "Ray wrote no session folder where RAY_TMPDIR points"
        leaked = [p for p in root.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
        assert leaked == []
    finally:
        shutil.rmtree(root, ignore_errors=True)

"""The cluster's storage and database on one box: a local stand-in for what cluster.yaml runs.

On 127.0.0.1, each on a free port: an S3 object store (moto's S3 server), PostgreSQL run as an
unprivileged user in a temporary data folder, and `mlflow server --backend-store-uri
postgresql://... --artifacts-destination s3://...`, which proxies every artifact into the bucket
as the cluster's tracking server does. No Docker, no network, nothing outside the temp folder.

Run it by hand (a checkout with the test extras installed, `pip install -e ".[test]"`):
    python tests/local_stack.py        # prints `export ...` lines to paste; Ctrl-C stops everything
The suite starts one per session (the `stack` fixture in tests/conftest.py). It lives with the
tests, as fault_table.py does, because it needs the test extras (moto, boto3, psycopg), which a
user of `mft` never installs.

Why moto: a maintained, pure-Python S3 server on PyPI that speaks the HTTP API that pyarrow (Ray's
storage), boto3 (MLflow's artifacts) and `mft` itself use, multipart uploads and ranged reads
included, and starts in about a second. (MinIO's server is not on PyPI, LocalStack needs Docker,
SeaweedFS's wheel is a 150 MB binary on 8 ports.) It keeps its objects in memory, in this process:
an outage closes and reopens its port (`pause_object_store`), it is never killed mid-test.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from glob import glob
from pathlib import Path
from typing import Any

BUCKET = "mft"
REGION = "us-east-1"
PYTHON_PARTS = {"moto": "moto[s3]", "flask": "flask", "flask_cors": "flask-cors", "boto3": "boto3",
                "psycopg": "psycopg[binary]"}  # fmt: skip


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs: $PG_BIN, Debian's newest, or the PATH's."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing_parts() -> str | None:
    """Why the stack cannot start on this machine (one line), or None when it can."""
    absent = [package for module, package in PYTHON_PARTS.items() if importlib.util.find_spec(module) is None]
    if absent:
        return f"the local S3 + PostgreSQL stack needs {', '.join(absent)}: pip install -e '.[test]'"
    folder = postgres_bin()
    if folder is None or not (folder / "pg_ctl").is_file():
        return "the local stack needs PostgreSQL's server programs (initdb, pg_ctl; Debian: postgresql-15)"
    return None


HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one this process handed out before: a cluster's ports are
    picked one by one before Ray binds any, and the kernel may offer a just-closed one again (it
    once gave the dashboard and Ray's client server the same port, and `ray start` refused)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in HANDED_OUT:
            HANDED_OUT.add(port)
            return port


def wait_until(ready: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.is_file() else ""
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s\n{tail}")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class LocalStack:
    """Start with `start()` (or `with LocalStack() as stack:`); `env()` is what a client needs."""

    def __init__(self) -> None:
        # Under /tmp and traversable: PostgreSQL runs as another user (pytest's own temp folders are 0700).
        self.root = Path(tempfile.mkdtemp(prefix="mft-stack-", dir="/tmp"))
        self.root.chmod(0o755)
        # A secret no one else has: tests grep every log, param and object for it.
        self.access_key, self.secret_key = "mftlocal", f"mft-secret-{secrets.token_hex(12)}"
        self.s3_port, self.pg_port, self.mlflow_port = free_port(), free_port(), free_port()
        self.timings: dict[str, float] = {}
        self._s3: Any = None
        self._mlflow: subprocess.Popen | None = None
        self._pg_user = None if os.geteuid() else ("postgres" if _user_exists("postgres") else "nobody")
        self._pg_bin = postgres_bin()

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def database_uri(self) -> str:
        return f"postgresql://mft@127.0.0.1:{self.pg_port}/mlflow"

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def storage(self, *parts: str) -> str:
        return "/".join([f"s3://{BUCKET}", *parts])

    def env(self) -> dict[str, str]:
        """An S3 client's environment (pyarrow, Ray, boto3 read these); the keys are the secrets."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.s3_endpoint,
        }

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        try:
            self._timed("object store", self._start_object_store)
            self._timed("postgresql", self._start_database)
            self._timed("mlflow server", self._start_mlflow)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything this stack started and remove its folder."""
        if self._mlflow is not None and self._mlflow.poll() is None:
            _stop_group(self._mlflow)
        if (self.root / "pg" / "data" / "postmaster.pid").is_file():
            self._pg_ctl("stop", "-m", "immediate", check=False)
        if self._s3 is not None:
            self._s3.stop()
            self._s3 = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _timed(self, what: str, start: Callable[[], None]) -> None:
        began = time.monotonic()
        start()
        self.timings[what] = round(time.monotonic() - began, 1)

    # -- object store --------------------------------------------------------------------------------
    def _start_object_store(self) -> None:
        self.resume_object_store()
        self.s3_client().create_bucket(Bucket=BUCKET)

    def s3_client(self) -> Any:
        """A boto3 S3 client that fails fast (the tests' own reads of the bucket)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.s3_endpoint, region_name=REGION, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, config=Config(retries={"max_attempts": 2}),
        )  # fmt: skip

    def keys(self, prefix: str = "") -> list[str]:
        """Every object's key in the bucket under `prefix`, sorted."""
        pages = self.s3_client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.s3_client().get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def write(self, key: str, data: bytes) -> None:
        self.s3_client().put_object(Bucket=BUCKET, Key=key, Body=data)

    def pause_object_store(self) -> None:
        """An outage: the port closes (clients are refused); the objects stay in this process."""
        self._s3.stop()
        self._s3 = None
        wait_until(lambda: not port_open(self.s3_port), 30, "object store stop")

    def resume_object_store(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request

        self._s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=self.s3_port, verbose=False)
        self._s3.start()
        wait_until(lambda: port_open(self.s3_port), 30, "object store")

    # -- PostgreSQL ---------------------------------------------------------------------------------
    def _as_pg_user(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        """PostgreSQL refuses to run as root: as root, its programs run as an unprivileged user."""
        prefix = ["runuser", "-u", self._pg_user, "--"] if self._pg_user else []
        return subprocess.run(prefix + argv, capture_output=True, text=True, check=check, timeout=120)

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        folder = self.root / "pg"
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.pg_port} -k {folder}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        argv = [str(self._pg_bin / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-w"]
        return self._as_pg_user([*argv, "-t", "120", "-o", options, *args], check=check)

    def _start_database(self) -> None:
        folder = self.root / "pg"
        folder.mkdir(mode=0o700)
        if self._pg_user:
            shutil.chown(folder, self._pg_user, self._pg_user)
        # --no-sync: a throwaway cluster; initdb takes 1 s instead of 6.
        initdb = [str(self._pg_bin / "initdb"), "-D", str(folder / "data"), "-U", "mft", "-A", "trust"]
        self._as_pg_user([*initdb, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        self._pg_ctl("start")
        createdb = [str(self._pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "mft"]
        subprocess.run([*createdb, "mlflow"], check=True, capture_output=True, timeout=60)

    def restart_database(self) -> None:
        """PostgreSQL restarted (fast shutdown: every open connection is cut), as a package upgrade does."""
        self._pg_ctl("restart", "-m", "fast")

    # -- MLflow server ------------------------------------------------------------------------------
    def _start_mlflow(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
        env.update(self.env())
        # The server's own S3 client (its artifact proxy) reads this endpoint. Without job execution
        # it starts no job runner and huey consumers: ~12 s to ready instead of ~40 s on 2 cores.
        env.update(MLFLOW_S3_ENDPOINT_URL=self.s3_endpoint, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        log = self.root / "mlflow.log"
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.mlflow_port),
            "--workers", "1", "--backend-store-uri", self.database_uri, "--serve-artifacts",
            "--artifacts-destination", self.storage("mlflow-artifacts"),
        ]  # fmt: skip
        with log.open("w") as out:
            self._mlflow = subprocess.Popen(
                command, env=env, cwd=self.root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

        def healthy() -> bool:
            if self._mlflow.poll() is not None:
                raise RuntimeError("mlflow server exited:\n" + log.read_text()[-3000:])
            with urllib.request.urlopen(f"{self.tracking_uri}/health", timeout=5) as response:
                return response.status == 200

        wait_until(healthy, 300, "mlflow server", log)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process's session (the server and its workers), SIGKILL if it lingers (its
    uvicorn waits ~20 s for idle keep-alive connections; nothing of a throwaway server is lost)."""
    for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
            process.wait(grace)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Start the stack, print the environment a shell needs, wait for Ctrl-C or SIGTERM."""
    reason = missing_parts()
    if reason:
        sys.exit(f"cannot start: {reason}")
    for stop in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell's `&` starts it ignoring SIGINT
        signal.signal(stop, _interrupt)
    with LocalStack() as stack:
        exports = {**stack.env(), "MLFLOW_TRACKING_URI": stack.tracking_uri}
        exports["MFT_STORAGE"] = stack.storage("runs")  # mft's default --storage
        for key, value in exports.items():
            print(f"export {key}={value}")
        started = ", ".join(f"{what} {seconds:g} s" for what, seconds in stack.timings.items())
        print(f"# started: {started}; PostgreSQL at {stack.database_uri}; files in {stack.root}")
        print("# Ctrl-C stops everything and deletes the bucket and the database", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

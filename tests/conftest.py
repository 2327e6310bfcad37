"""Shared fixtures: the paper's data files and tiny models built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.tiny_models import build_tiny_model

REPO_ROOT = Path(__file__).resolve().parents[1]
# The paper's published files are research data without a licence: never committed, read from here.
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
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "causal", arch="causal")


@pytest.fixture(scope="session")
def tiny_bidirectional(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "bidirectional", arch="bidirectional")

"""Preflight checks as functions (no Ray, milliseconds): document lengths, stores, storage."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.storage import check_storage
from orchestrator.tracking.store import check_tracking_store, require_store
from orchestrator.trial.checks import check_document_lengths
from training.errors import InputError


def encode_words(text: str) -> SimpleNamespace:
    return SimpleNamespace(input_ids=text.split())


def test_documents_a_little_over_the_context_get_a_note_and_far_over_are_refused() -> None:
    context = 100
    assert check_document_lengths(["w " * 40], encode_words, context) is None
    note = check_document_lengths(["w " * 40, "w " * 150, "w " * 120], encode_words, context)
    assert note and note.startswith("2 training document(s) exceed the model's context of 100 tokens")
    assert "(longest: #1, ~150)" in note
    with pytest.raises(InputError, match="1 training document.*split or shorten them"):
        check_document_lengths(["w " * 500], encode_words, context)
    assert check_document_lengths(["w " * 500], encode_words, None) is None


def test_read_only_commands_never_create_a_store(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no MLflow store at"):
        require_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert list(tmp_path.iterdir()) == []


def test_writable_places_pass_and_leave_no_probe(tmp_path: Path) -> None:
    check_tracking_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    check_storage(str(tmp_path / "runs"))
    check_storage((tmp_path / "bucket").as_uri())
    assert list(tmp_path.iterdir()) == [], "a check creates nothing: Ray makes the storage folder"
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        check_storage(str(tmp_path / "a-file"))

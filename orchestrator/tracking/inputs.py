"""A trial's data as MLflow dataset inputs (driver side): the UI's Dataset column and filter.

Two inputs per run, told apart by their context: the training texts (`train`) and what
evaluation reads (`eval`: the questions, a folder's settings). Each carries the data set's name,
a short digest of its files' bytes (the full SHA-256 is in the profile and the `data.sha256`
param), the folder and the file list with line counts, so runs that read the same bytes show the
same digest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlflow.entities import Dataset, DatasetInput, InputTag

from orchestrator.tracking import names
from training.config import TrialConfig
from training.fingerprint import data_fingerprint
from training.knowledge import knowledge_files

DIGEST_CHARS = 8
"""As MLflow's own dataset digests: enough to tell versions apart at a glance in the UI."""


def dataset_inputs(config: TrialConfig) -> list[DatasetInput]:
    """The trial's training and evaluation data as two dataset inputs."""
    data_dir = Path(config.data_dir) if config.data_dir else None
    files = knowledge_files(config.dataset, config.paraphrase, data_dir)
    name = Path(config.dataset).name
    return [
        _dataset_input(name, files[:1], names.TRAIN_CONTEXT, config.paraphrase),
        _dataset_input(name, files[1:], names.EVAL_CONTEXT, None),
    ]


def distinct_inputs(inputs: Iterable[DatasetInput]) -> list[DatasetInput]:
    """Each (name, digest, context) once, in first-seen order: a sweep's parent lists its data once."""
    seen: dict[tuple[str, str, tuple[str, ...]], DatasetInput] = {}
    for found in inputs:
        context = tuple(tag.value for tag in found.tags)
        seen.setdefault((found.dataset.name, found.dataset.digest, context), found)
    return list(seen.values())


def _dataset_input(name: str, files: Sequence[Path], context: str, paraphrase: str | None) -> DatasetInput:
    fingerprint = data_fingerprint(files)
    profile = {
        "files": fingerprint["data.files"].split(","),
        "sha256": fingerprint["data.sha256"],
        **({"paraphrase": paraphrase} if paraphrase else {}),
    }
    dataset = Dataset(
        name=name,
        digest=fingerprint["data.sha256"][:DIGEST_CHARS],
        source_type="local",
        source=json.dumps({"uri": fingerprint["data.folder"]}),
        profile=json.dumps(profile),
    )
    return DatasetInput(dataset, [InputTag(names.DATA_CONTEXT_TAG, context)])

"""Every check of a trial, in one pass, before Ray is imported or anything is created (driver side).

`check_trial` (`mft train`) and `check_trials` (a sweep's) run each check once: the
tracking store answers (a server: one short request), the data and the model load, the method
can encode the data for this tokenizer, the trial fits this machine when no Ray cluster is named,
and the storage takes a file. Each check either passes or raises `InputError` with one line
naming what to change. Ray, MLflow runs and storage folders come after, and only then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.markup import escape

from evaluation.decoding import is_bidirectional
from orchestrator.cluster import check_cluster_answers, fit_trial, local_cluster, names_cluster
from orchestrator.storage import check_storage
from orchestrator.tracking.store import check_tracking_store
from training.config import TrialConfig
from training.errors import InputError, excerpt
from training.knowledge import KnowledgeSet, load_knowledge_set

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
MAX_CONTEXT_FACTOR = 4  # a training example longer than this many contexts is refused


@dataclass(frozen=True)
class CheckedTrial:
    """A trial that passed every check, and what the checks learnt."""

    config: TrialConfig
    """As given: its fields (resources included) are the trial's identity, see `trial_id`."""
    knowledge: KnowledgeSet
    notes: tuple[str, ...] = ()
    """Warnings worth printing once the trial starts."""
    local_gpus_per_worker: float | None = None
    """GPUs per worker on this machine (no cluster named); None: known once the cluster is joined."""


def check_trial(
    config: TrialConfig, *, tracking_uri: str, storage: str, address: str | None, gpus_if_any: bool
) -> CheckedTrial:
    """`mft train`'s checks, each once, before Ray: store, data and model, resources, storage."""
    check_tracking_store(tracking_uri)  # seconds, so first: a dead server fails before the model loads
    checked = check_data_and_model(config)
    gpus = None
    if names_cluster(address):
        check_cluster_answers(address)
    else:
        gpus = fit_trial(config, *local_cluster(), gpus_if_any=gpus_if_any, local=True).gpus_per_worker
    check_storage(storage)
    return replace(checked, local_gpus_per_worker=gpus)


def check_trials(trials: Sequence[TrialConfig], *, storage: str) -> set[str]:
    """A sweep's trials, each check once: every distinct model x data x method, then the storage.

    Returns the names of the knowledge sets the trials train on (the MLflow experiment is named
    after them). The sweep checks its store and its resources first (`orchestrator.sweep.launch`).
    """
    checked: dict[tuple[str, str, str, str], str] = {}
    for config in trials:
        key = (config.model, config.dataset, config.paraphrase, config.method)
        if key not in checked:
            checked[key] = check_data_and_model(config).knowledge.name
    check_storage(storage)
    return set(checked.values())


def check_model(model: str) -> None:
    """A local folder that exists, or something shaped like a hub id."""
    try:
        if Path(model).exists():
            return
    except OSError as exc:  # a name too long for the filesystem, ...
        raise InputError(f"model {excerpt(model)}: {exc.strerror or exc}; pass an existing folder") from exc
    if not HUB_ID.match(model) or model.startswith((".", "/", "~")):
        raise InputError(
            f"model {excerpt(model)} not found: pass an existing folder or a hub id such as org/name"
        )


def load_model_config(model: str, trust_remote_code: bool) -> Any:
    """The model's config, or one line saying why it cannot be read (a corrupt config.json, ...)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load model {excerpt(model)}: {first}") from exc


def load_tokenizer(model: str, trust_remote_code: bool) -> Any:
    """The model's tokenizer, or one line saying why it cannot be loaded (none in the folder, ...)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"cannot load the tokenizer of model {excerpt(model)}: {excerpt(first, 200)}"
        ) from exc


def check_data_and_model(config: TrialConfig) -> CheckedTrial:
    """The data loads, the model and its tokenizer load, the method encodes the data for them, and
    one question prompt and one training example render for this model (`rendering`)."""
    from orchestrator.trial.rendering import check_rendering, mask_token_summary
    from training.mask_token import prepare_tokenizer
    from training.method_registry import method_info
    from training.methods import build_method

    data_dir = Path(config.data_dir) if config.data_dir else None
    knowledge = load_knowledge_set(config.dataset, config.paraphrase, data_dir)
    check_model(config.model)
    model_config = load_model_config(config.model, config.trust_remote_code)
    tokenizer = load_tokenizer(config.model, config.trust_remote_code)
    info = method_info(config.method)
    if info.bidirectional and not is_bidirectional(model_config):
        raise InputError(
            f"method {config.method} needs a bidirectional model (LLaDA, or"
            f" `mft model tiny --arch bidirectional`); {config.model} is causal"
        )
    if info.bidirectional and config.max_new_tokens % config.block_length:
        raise InputError("--max-new-tokens must be a multiple of --block-length for the LLaDA sampler")
    prepare_tokenizer(tokenizer, config.method, config.mask_token)  # --mask-token add, as workers do
    method = build_method(config.method, tokenizer, config.mask_token)  # refuses a missing mask token
    context = getattr(model_config, "max_position_embeddings", None)
    shown = check_rendering(config, tokenizer, method, knowledge, context)
    summary = mask_token_summary(config, tokenizer, model_config.vocab_size)
    shown += [f"mask token: {summary}"] if summary else []
    notes = [f"[dim]{escape(text)}[/]" for text in shown]  # prompts hold brackets: [INST]
    note = check_document_lengths(knowledge.documents, lambda text: method.encode(tokenizer, text), context)
    if note:
        notes.append(f"[yellow]note:[/] {escape(note)}")
    return CheckedTrial(config, knowledge, tuple(notes))


def check_document_lengths(
    documents: Sequence[str], encode: Callable[[str], Any], context: int | None
) -> str | None:
    """Training examples against the model's context: a note when some exceed it (RoPE models still
    run, past the positions they were trained on), one line refusing when any exceeds it 4 times
    over (attention memory grows with the square of the length: a 100 MB document never fits).

    Only documents long enough to possibly exceed it are tokenized (a token covers at least one byte
    and the masked formats hold two copies), so the check stays cheap on normal data.
    """
    if not context:
        return None
    too_long = []
    for index, text in enumerate(documents):
        if 2 * len(text.encode("utf-8")) + 64 <= context:
            continue
        length = len(text) if len(text) > 64 * context else len(encode(text).input_ids)
        if length > context:
            too_long.append((index, length))
    if not too_long:
        return None
    index, length = max(too_long, key=lambda pair: pair[1])
    summary = (
        f"{len(too_long)} training document(s) exceed the model's context of {context} tokens"
        f" (longest: #{index}, ~{length})"
    )
    if length > MAX_CONTEXT_FACTOR * context:
        raise InputError(f"{summary}; split or shorten them, or use a model with a longer context")
    return f"{summary}; they are trained on whole, past the positions the model was trained on"

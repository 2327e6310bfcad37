"""`mft export`: a trial's checkpoint as a Hugging Face model folder (driver side, thin)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from orchestrator.cli import options
from orchestrator.cli.outputs import FORCE, check_output_folder, staged_folder
from orchestrator.tracking.store import resolve_tracking_uri
from training.errors import InputError, excerpt

console = Console()


def export(
    run_id: str = typer.Argument(..., help="The trial's MLflow run id."),
    out: str = typer.Option(..., help="Folder to write the Hugging Face model to (new or empty)."),
    latest: bool = typer.Option(
        False, "--latest", help="Export the latest checkpoint \\[default: the best]."
    ),
    step: int = typer.Option(
        None, help="Export the checkpoint of this optimizer step, if still kept \\[default: the best]."
    ),
    tracking_uri: str = options.TRACKING_URI,
    force: bool = FORCE,
) -> None:
    """Write a trial's checkpoint (the best by default) as a model folder that `from_pretrained` loads.

    Ray keeps the two best checkpoints of a trial (by acc/total) and the latest, so --step finds one of those.

    Example: mft export 3f2a... --out ./best-model
    """
    if latest and step is not None:
        raise InputError("give --latest or --step, not both")
    from orchestrator.tracking.store import require_store

    uri = resolve_tracking_uri(tracking_uri)
    require_store(uri)  # reading never creates a store; a dead server: seconds, before heavy imports
    from mlflow.tracking import MlflowClient

    from orchestrator.storage import is_uri, local_copy
    from orchestrator.trial.checkpoints import choose_checkpoint

    client = MlflowClient(uri)
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        raise InputError(
            f"no MLflow run {excerpt(run_id)} in this tracking store; check --tracking-uri"
        ) from exc
    chosen = choose_checkpoint(run, latest=latest, step=step)
    reads = [Path(run.data.params["model"])] if "model" in run.data.params else []
    if not is_uri(chosen.location):
        reads.append(Path(chosen.location))
    folder = check_output_folder(out, "--out", force=force, reads=reads)
    from training.checkpointing import export_checkpoint  # torch: once every check has passed

    copy = local_copy(chosen.location)
    checkpoint = Path(copy.name) if copy else Path(chosen.location)
    if not checkpoint.is_dir():
        raise InputError(f"run {run_id}'s checkpoint {chosen.location} is not on disk any more")
    try:
        with staged_folder(folder) as stage:
            export_checkpoint(checkpoint, stage)
    finally:
        if copy:
            copy.cleanup()
    console.print(
        f"exported the {chosen.which} checkpoint (step {chosen.step}) of run {run_id} to {folder}",
        soft_wrap=True,
    )
    note = diffusion_note(run.data.params, folder)
    if note:
        console.print(note, highlight=False, soft_wrap=True)  # a command to copy: never wrapped


def diffusion_note(params: dict[str, str], out: Path) -> str | None:
    """For a dLLM export: HF `generate` decodes left to right, which is not how this model answers."""
    from training.method_registry import method_info, method_names

    method = params.get("method", "")
    if method not in method_names() or not method_info(method).bidirectional:
        return None
    remote = " --trust-remote-code" if params.get("trust_remote_code") == "True" else ""
    settings = (
        f"--block-length {params.get('block_length', 4)} --max-new-tokens {params.get('max_new_tokens', 128)}"
    )
    return (
        f"[yellow]note:[/] {out} is a diffusion LLM ({method}): Hugging Face `generate` decodes left to"
        " right and does not answer as this model was evaluated. Sample it with LLaDA's sampler, as"
        f" training evaluated it: mft eval --model {out} --dataset {params.get('dataset', 'DATASET')}"
        f" --sampler llada {settings}{remote}"
    )

"""A trial's MLflow run (driver side): its experiment, finding it again, creating it with its params.

One run per trial, found again by its trial-id tag: a resumed trial logs into its first run. What
the workers report during training is logged by `orchestrator.tracking.callback`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, Run, RunStatus
from mlflow.tracking import MlflowClient
from rich.console import Console
from rich.table import Table

from orchestrator.tracking import names
from orchestrator.tracking.inputs import dataset_inputs
from orchestrator.trial.trial_file import trial_yaml
from training.config import TrialConfig
from training.fingerprint import data_fingerprint
from training.knowledge import knowledge_files
from training.method_registry import method_info


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id, creating it (artifacts beside a sqlite file) if needed.

    Tagged as a machine-learning experiment, so MLflow 3's UI opens it on runs and metric
    charts rather than on GenAI traces; a kind the user set is left alone.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if names.EXPERIMENT_KIND_TAG not in experiment.tags:
            kind = names.ML_EXPERIMENT_KIND
            client.set_experiment_tag(experiment.experiment_id, names.EXPERIMENT_KIND_TAG, kind)
        return experiment.experiment_id
    location = None
    uri = client.tracking_uri
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return client.create_experiment(
        name, artifact_location=location, tags={names.EXPERIMENT_KIND_TAG: names.ML_EXPERIMENT_KIND}
    )


def flatten_params(config: TrialConfig) -> dict[str, str]:
    """Every TrialConfig field the trial's method reads as an MLflow param (tuples joined): no mask
    ratio for `ar`, no sampler block length for a causal model, so the runs table shows no setting
    that did nothing."""
    skipped = ("run_id", "extra_tags", *method_info(config.method).unused_fields)
    params: dict[str, str] = {}
    for key, value in config.to_dict().items():
        if key in skipped:
            continue
        params[key] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return params


def data_params(config: TrialConfig) -> dict[str, str]:
    """The data fingerprint of the files the trial reads (folder, files with line counts, SHA-256)."""
    data_dir = Path(config.data_dir) if config.data_dir else None
    return data_fingerprint(knowledge_files(config.dataset, config.paraphrase, data_dir))


def find_trial_run(client: MlflowClient, experiment_id: str, trial_id: str) -> Run | None:
    """The run tagged with `trial_id`, if any: a resumed trial logs into its first run."""
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{names.TRIAL_ID_TAG}` = '{trial_id}'", max_results=1
    )
    return found[0] if found else None


def start_trial_run(
    client: MlflowClient,
    experiment_id: str,
    config: TrialConfig,
    name: str,
    trial_id: str,
    tags: dict[str, str],
) -> str:
    """The trial's run, found again by trial id (and marked RUNNING) or created; returns its id."""
    found = find_trial_run(client, experiment_id, trial_id)
    if found is not None:
        return reopen_run(client, found)
    return create_trial_run(client, experiment_id, config, name, trial_id, tags)


def reopen_run(client: MlflowClient, run: Run) -> str:
    """A trial's earlier run, RUNNING again: a resumed trial continues its curves there."""
    client.update_run(run.info.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
    return run.info.run_id


def create_trial_run(
    client: MlflowClient,
    experiment_id: str,
    config: TrialConfig,
    name: str,
    trial_id: str,
    tags: dict[str, str],
) -> str:
    """A new run for the trial with its params, data (fingerprint params and dataset inputs) and
    `trial.yaml`; `tags` add to the trial id (e.g. the source tags); returns its id."""
    run = client.create_run(experiment_id, run_name=name, tags={names.TRIAL_ID_TAG: trial_id, **tags})
    params = {**flatten_params(config), **data_params(config)}
    client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
    client.log_inputs(run.info.run_id, datasets=dataset_inputs(config))
    client.log_text(run.info.run_id, trial_yaml(config), names.TRIAL_FILE)  # `mft train --config` reruns it
    return run.info.run_id


def child_run_name(config: TrialConfig, varying: Mapping[str, Any]) -> str:
    """A sweep trial's run name: its method, then its seed when seeds vary (else last), then each
    other value that differs across the sweep, short: `masked seed1 lr1e-3`, `masked lr3e-3 seed0`.
    The runs table shows about 14 characters of a nested run's name; what tells trials apart
    comes first."""
    rest = [_name_part(key, value) for key, value in varying.items() if key not in ("method", "seed")]
    seed = f"seed{config.seed}"
    return " ".join([config.method, seed, *rest] if "seed" in varying else [config.method, *rest, seed])


def _name_part(key: str, value: Any) -> str:
    if isinstance(value, (list, tuple)):
        text = "-".join(_short_number(item) if isinstance(item, float) else str(item) for item in value)
    else:
        text = _short_number(value) if isinstance(value, float) else str(value)
    if key in ("dataset", "model", "paraphrase"):
        return Path(text.rstrip("/")).name or text
    return f"{key}{text}"


def _short_number(value: float) -> str:
    """`1e-3` for 0.001, `3e-6`, `0.05`: learning rates in a few characters."""
    if value == 0 or abs(value) >= 0.01:
        return f"{value:g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def log_best(client: MlflowClient, run_id: str) -> None:
    """When a trial ends: its best evaluation's accuracies (the highest acc/total, ties to the later
    step, as the report and the kept checkpoint pick) as `best/acc_*` metrics, once.

    Final metrics rather than one more point at every improvement: the runs table gets sortable best
    columns, and the run's charts no `best` section of repeated points. Logged at step 0, as summary
    values that MLflow draws as bars; the best step is the `mft.best_step` tag."""
    metrics = client.get_run(run_id).data.metrics
    keys = [key for key in metrics if key.startswith(names.ACCURACY_PREFIX)]
    curves = {key: {m.step: m.value for m in client.get_metric_history(run_id, key)} for key in keys}
    totals = curves.get(names.TOTAL_ACCURACY, {})
    if not totals:
        return  # never evaluated
    step = max(totals, key=lambda s: (totals[s], s))
    now = int(time.time() * 1000)
    best = [
        Metric(names.BEST_ACCURACY_PREFIX + key.removeprefix(names.ACCURACY_PREFIX), values[step], now, 0)
        for key, values in curves.items()
        if step in values
    ]
    client.log_batch(run_id, metrics=best)


def print_best(client: MlflowClient, run_id: str, console: Console) -> None:
    """The best checkpoint's accuracies, per category, as logged."""
    run = client.get_run(run_id)
    prefix = names.BEST_ACCURACY_PREFIX
    best = {k.removeprefix(prefix): v for k, v in run.data.metrics.items() if k.startswith(prefix)}
    title = f"best checkpoint: step {run.data.tags.get(names.BEST_STEP_TAG, '-')}"
    table = Table(title=title, min_width=len(title))  # one or two categories: the title stays on a line
    for key in best:
        table.add_column(key, justify="right")
    table.add_row(*(f"{value:.3f}" for value in best.values()))
    console.print(table)
    if names.FALLBACK_TAG in run.data.tags:
        console.print(f"[yellow]note:[/] {run.data.tags[names.FALLBACK_TAG]}", highlight=False)
    console.print(f"status {run.info.status}; export with: mft export {run_id} --out DIR", soft_wrap=True)

"""Which runs a report covers (driver side): sweeps by name or parent run id, single `mft train`
runs by id, every trial of an experiment, or the latest sweep; then `--filter key=value`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.report.grouping import display_value, numeric
from orchestrator.report.trials import trial_params
from orchestrator.tracking.names import PARENT_TAG, SWEEP_KIND_TAG, SWEEP_TAG
from training.errors import InputError, excerpt

RUN_ID = re.compile(r"[0-9a-f]{32}")
MAX_RUNS = 50000  # the most one MLflow search returns


@dataclass(frozen=True)
class Selection:
    """The sweeps' parent runs (the report is logged on them) and the trial runs to report."""

    name: str
    parents: tuple[Run, ...]
    runs: tuple[Run, ...]


def parse_filters(filters: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for text in filters:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--filter {excerpt(text)} must be key=value, e.g. --filter method=masked")
        pairs.append((key.strip(), value.strip()))
    return pairs


def select_runs(
    client: MlflowClient, targets: Sequence[str], experiment: str | None, filters: Sequence[str]
) -> Selection:
    """Resolve what the user named into runs; every way of naming nothing is an InputError."""
    pairs = parse_filters(filters)
    experiment_ids = _experiment_ids(client, experiment)
    parents: list[Run] = []
    singles: list[Run] = []
    for target in targets:
        run = _run_by_id(client, target)
        if run is None:
            parents.append(_sweep_by_name(client, experiment_ids, target))
        elif SWEEP_KIND_TAG in run.data.tags:
            parents.append(run)
        elif "method" in run.data.params:
            singles.append(run)
        else:
            raise InputError(
                f"run {target} is neither a sweep's parent run nor an mft trial (no method param)"
            )
    if not targets and experiment:
        singles = [run for run in _search(client, experiment_ids, "") if _is_trial(run)]
        if not singles:
            raise InputError(f"experiment {excerpt(experiment)} holds no mft trial runs")
    elif not targets:
        parents = [_latest_sweep(client, experiment_ids)]
    runs = _unique([*(child for parent in parents for child in _children(client, parent)), *singles])
    runs = _apply_filters(runs, pairs)
    return Selection(
        _name(parents, singles, experiment if not targets else None), tuple(parents), tuple(runs)
    )


def _experiment_ids(client: MlflowClient, experiment: str | None) -> list[str]:
    if experiment:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            known = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise InputError(f"no MLflow experiment named {excerpt(experiment)}; experiments here: {known}")
        return [found.experiment_id]
    return [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]


def _run_by_id(client: MlflowClient, target: str) -> Run | None:
    if not RUN_ID.fullmatch(target):
        return None
    try:
        return client.get_run(target)
    except MlflowException:
        return None


def _search(client: MlflowClient, experiment_ids: list[str], filter_string: str) -> list[Run]:
    if not experiment_ids:
        return []
    return list(
        client.search_runs(
            experiment_ids, filter_string, max_results=MAX_RUNS, order_by=["attributes.start_time DESC"]
        )
    )


def _sweeps(client: MlflowClient, experiment_ids: list[str]) -> list[Run]:
    return _search(client, experiment_ids, f"tags.`{SWEEP_KIND_TAG}` LIKE '%'")


def _sweep_by_name(client: MlflowClient, experiment_ids: list[str], name: str) -> Run:
    found = []
    if "'" not in name:
        found = [
            run
            for run in _search(client, experiment_ids, f"tags.`{SWEEP_TAG}` = '{name}'")
            if SWEEP_KIND_TAG in run.data.tags
        ]
    if not found:
        known = ", ".join(dict.fromkeys(r.data.tags[SWEEP_TAG] for r in _sweeps(client, experiment_ids)))
        raise InputError(
            f"no sweep or run {name!r} in this tracking store; sweeps here: {known or 'none'}"
            " (or pass --tracking-uri / --experiment)"
        )
    return found[0]  # the latest sweep of that name


def _latest_sweep(client: MlflowClient, experiment_ids: list[str]) -> Run:
    sweeps = _sweeps(client, experiment_ids)
    if not sweeps:
        raise InputError("no sweep in this tracking store; name runs by id, or pass --experiment NAME")
    return sweeps[0]


def _children(client: MlflowClient, parent: Run) -> list[Run]:
    children = _search(client, [parent.info.experiment_id], f"tags.`{PARENT_TAG}` = '{parent.info.run_id}'")
    if not children:
        raise InputError(f"sweep {parent.data.tags.get(SWEEP_TAG, parent.info.run_id)!r} has no trial runs")
    return sorted(children, key=lambda run: run.info.run_name or "")


def _is_trial(run: Run) -> bool:
    return "method" in run.data.params and SWEEP_KIND_TAG not in run.data.tags


def _unique(runs: list[Run]) -> list[Run]:
    return list({run.info.run_id: run for run in runs}.values())


def _matches(run: Run, key: str, value: str) -> bool:
    have = trial_params(run).get(key)
    if have is None:
        return False
    if value in (have, display_value(key, have)):
        return True
    want, got = numeric(value), numeric(have)
    return want is not None and got is not None and want == got


def _apply_filters(runs: list[Run], pairs: list[tuple[str, str]]) -> list[Run]:
    known = {key for run in runs for key in trial_params(run)}
    for key, _ in pairs:
        if key not in known:
            raise InputError(f"--filter {key}: no run has that param; params: {', '.join(sorted(known))}")
    kept = [run for run in runs if all(_matches(run, key, value) for key, value in pairs)]
    if not kept:
        shown = " ".join(f"{k}={v}" for k, v in pairs)
        raise InputError(f"no runs match --filter {shown} (among {len(runs)} runs); loosen the filter")
    return kept


def _name(parents: list[Run], singles: list[Run], experiment: str | None) -> str:
    """The default output folder's name: the sweeps', else the experiment's, else the run ids'."""
    parts = [run.data.tags.get(SWEEP_TAG, run.info.run_id[:8]) for run in parents]
    parts += [experiment] if experiment else [run.info.run_id[:8] for run in singles]
    return re.sub(r"[^A-Za-z0-9._+-]", "_", "+".join(dict.fromkeys(parts)))

"""Where to look at runs in the MLflow UI: the lines every command prints (driver side).

Links name the UI's "machine learning" view: MLflow 3.17 otherwise opens an experiment on its
GenAI view (traces, not runs) and a run as a GenAI evaluation, whatever the experiment's kind
tag says. A server store is linked directly; a local store first needs `mlflow ui` on it, and the
links point where that serves by default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.tracking import names

if TYPE_CHECKING:
    from rich.console import Console


def runs_view_url(ui: str, experiment_id: str) -> str:
    """The runs table of one experiment on the UI at `ui` (http://host:port)."""
    return f"{ui.rstrip('/')}/{names.RUNS_VIEW.format(experiment_id=experiment_id)}"


def run_url(ui: str, experiment_id: str, run_id: str) -> str:
    """One run's page (description, metrics, data, system metrics) on the UI at `ui`."""
    return f"{ui.rstrip('/')}/{names.RUN_VIEW.format(experiment_id=experiment_id, run_id=run_id)}"


def ui_address(tracking_uri: str) -> str:
    """The UI serving `tracking_uri`: the server itself, or where `mlflow ui` serves a local store."""
    return tracking_uri if tracking_uri.startswith(("http://", "https://")) else names.DEFAULT_UI


def browse_lines(tracking_uri: str, experiment_id: str, run_id: str = "", what: str = "run") -> list[str]:
    """The runs-view link (after the `mlflow ui` command a local store needs), then `run_id`'s page."""
    ui = ui_address(tracking_uri)
    start = "" if ui == tracking_uri else f"mlflow ui --backend-store-uri {tracking_uri}  then open "
    lines = [f"MLflow runs: {start}{runs_view_url(ui, experiment_id)}"]
    if run_id:
        lines.append(f"MLflow {what}: {run_url(ui, experiment_id, run_id)}")
    return lines


def print_browse(
    console: Console, tracking_uri: str, experiment_id: str, run_id: str = "", what: str = "run"
) -> None:
    """`browse_lines`, each on one line that a terminal never wraps inside a link."""
    for line in browse_lines(tracking_uri, experiment_id, run_id, what):
        console.print(line, soft_wrap=True, highlight=False, markup=False)

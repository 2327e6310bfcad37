"""Where to look at runs in the MLflow UI: the line every command prints (driver side, pure).

The link opens the experiment's runs table: MLflow 3.17's UI otherwise opens on its GenAI view
(traces, not runs), whatever the experiment's kind tag says. A server store is linked directly; a
local store first needs `mlflow ui` on it, and the link is where that serves by default.
"""

from __future__ import annotations

from orchestrator.tracking import names


def runs_view_url(ui: str, experiment_id: str) -> str:
    """The runs table of one experiment on the UI at `ui` (http://host:port)."""
    return f"{ui.rstrip('/')}/{names.RUNS_VIEW.format(experiment_id=experiment_id)}"


def is_server(tracking_uri: str) -> bool:
    return tracking_uri.startswith(("http://", "https://"))


def browse_line(tracking_uri: str, experiment_id: str) -> str:
    """One line: the runs-view link, preceded by the `mlflow ui` command a local store needs."""
    if is_server(tracking_uri):
        return f"MLflow runs: {runs_view_url(tracking_uri, experiment_id)}"
    link = runs_view_url(names.DEFAULT_UI, experiment_id)
    return f"MLflow runs: mlflow ui --backend-store-uri {tracking_uri}  then open {link}"

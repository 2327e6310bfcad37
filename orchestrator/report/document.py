"""The report as data: what every writer renders, in order (driver side, pure)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.report.figures import FigureFile
from orchestrator.report.tables import Table


@dataclass(frozen=True)
class Report:
    """Tables and figures of one report; `source` says which runs of which store it was built from."""

    name: str
    source: str
    tables: tuple[Table, ...]
    figures: tuple[FigureFile, ...]
    headline: tuple[str, ...] = ()
    """The result in one line per dataset (`orchestrator.report.headline`), shown first."""

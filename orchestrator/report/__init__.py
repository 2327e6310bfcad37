"""`mft report`: the paper's tables and figures rebuilt from MLflow alone (driver side; no Ray, no torch).

`report_sweeps` is the entry point for other commands; `build_report` serves the CLI's options.
"""

from orchestrator.report.building import ReportRequest, build_report, report_sweeps

__all__ = ["ReportRequest", "build_report", "report_sweeps"]

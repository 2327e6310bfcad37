"""`mft lab`: the reversal curse and its fix on a laptop CPU, through the real sweep path (driver side)."""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.cli import options
from orchestrator.cli.outputs import FORCE, check_output_folder
from training.errors import InputError, excerpt
from training.limits import check_range
from training.method_registry import method_names

MAX_LAB_SEEDS = 100  # each seed is one ~1-minute CPU trial per method


def lab(
    seeds: int = typer.Option(3, help="Seeds per method (mean ± std over them)."),
    people: int = typer.Option(
        100, help="New people to report on (as many to tune on, 3x as many seen ones build the base models)."
    ),
    method: list[str] = typer.Option(
        None, "--methods", help="Only these methods (repeatable) \\[default: ar masked dllm]."
    ),
    control: bool = typer.Option(False, help="Add masked-random, the paper's random-token control."),
    quick: bool = typer.Option(False, help="A first look: one seed (the full lab's first)."),
    tune: bool = typer.Option(
        False,
        help="Run on the tuning people, on which the shipped settings were chosen, not the reporting ones.",
    ),
    rebuild_base: bool = typer.Option(
        False, help="Pre-train the base models here (minutes) instead of using the shipped weights."
    ),
    rerun: bool = typer.Option(
        False,
        help="Run the trials again; without it, a lab that already finished in this store with the same"
        " trials, data, base models and code is reported, not rerun.",
    ),
    data_dir: Path = typer.Option(
        None, help="Lab folder goes in DATA_DIR/lab \\[default: $MFT_DATA_DIR or ~/.cache/mft/datasets]."
    ),
    tracking_uri: str = options.TRACKING_URI,
    storage: str = options.STORAGE,
    report_dir: str = typer.Option(
        None, help="Where the report's files go, new or empty \\[default: the report's own]."
    ),
    force: bool = FORCE,
) -> None:
    """Fine-tune tiny models on facts about new people with ar, masked and dllm; ask forward and backward.

    Writes the synthetic people and the two ~1 M-parameter base models (shipped weights) once, runs
    the `lab` sweep on Ray Tune, prints `mft report`'s tables, the lab's own table (recall and exact
    match, the chance floor) and what it shows. The same lab again on the same store reports the
    finished sweep instead of rerunning it (--rerun trains again). Example: mft lab --quick
    """
    check_range("--seeds", seeds, 1, MAX_LAB_SEEDS, "each seed is one trial per method")
    if people < 2:  # the upper bound is the name pool's, checked when the people are drawn
        raise InputError(f"--people must be at least 2 (one per statement order), got {people}")
    if report_dir is not None:  # before minutes of work, not after
        check_output_folder(report_dir, "--report-dir", force=force)
    from orchestrator.lab.lab_sweep import CONTROL_METHOD, DEFAULT_METHODS, LabSettings, run_lab_and_report

    methods = tuple(dict.fromkeys([*(method or DEFAULT_METHODS), *([CONTROL_METHOD] if control else [])]))
    unknown = [name for name in methods if name not in method_names()]
    if unknown:
        raise InputError(
            f"--methods: unknown method {excerpt(unknown[0])}; choose from {', '.join(method_names())}"
        )
    settings = LabSettings(
        seeds=1 if quick else seeds,
        people=people,
        methods=methods,
        population="tune" if tune else "report",
        rebuild_base=rebuild_base,
        rerun=rerun,
        data_dir=data_dir,
    )
    run_lab_and_report(settings, tracking_uri, storage, report_dir, force)

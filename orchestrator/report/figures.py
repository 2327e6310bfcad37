"""The report's figures as PNG files (driver side; matplotlib's headless Agg backend, no pyplot).

Paper figures redrawn: accuracy against optimizer step per method (Fig. 2), total accuracy with
each trial's best checkpoint marked (Fig. 6), per-seed curves (Figs. 7-8), and the learning-rate
and mask-ratio sweeps (Figs. 4-5). A method keeps its colour in every figure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from orchestrator.report.grouping import (  # noqa: E402
    Group,
    aggregate,
    display_value,
    numeric,
    varies_within_method,
    varying_fields,
)
from orchestrator.report.tables import dataset_of, swept_fields  # noqa: E402
from orchestrator.report.trials import Trial  # noqa: E402

METHOD_COLOURS = {"ar": "#1f77b4", "masked": "#d62728", "masked-random": "#7f7f7f", "dllm": "#2ca02c"}
OTHER_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#ff7f0e")
# Variants of one method (e.g. its lr or mask-ratio values) differ by line style: eight distinct ones.
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 3, 1, 3)))
MARKERS = ("o", "s", "^", "D", "v", "P")
METHOD_MARKERS = {"ar": "o", "masked": "s", "masked-random": "D", "dllm": "^"}
"""Hollow and fixed per method, so lines lying on top of each other still show every method."""
DIRECTIONS = {"fwd": "forward", "bwd": "backward"}
ACCURACY = "accuracy (ROUGE-1 recall)"
DPI = 110
AXIS_NAMES = {"lr": "peak learning rate", "mask_ratio": "fixed mask ratio t"}


CURVES = "curves"
"""Fig. 2's file prefix: forward and backward accuracy against step, the result a page opens on."""


@dataclass(frozen=True)
class FigureFile:
    path: Path
    title: str

    @property
    def directions(self) -> bool:
        """The forward/backward figure (Fig. 2)."""
        return self.path.name.startswith(f"{CURVES}_")


def colour(method: str) -> str:
    """Fixed per method name, so a method looks the same in every figure of every report."""
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    return OTHER_COLOURS[sum(method.encode()) % len(OTHER_COLOURS)]


def slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(parts)).strip("_")


def draw_figures(groups: Sequence[Group], folder: Path) -> list[FigureFile]:
    """Every figure the groups support, written under `folder`; returns them in report order."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = []
    for dataset in dict.fromkeys(dataset_of(g) for g in groups):
        in_dataset = [g for g in groups if dataset_of(g) == dataset]
        for paraphrase in dict.fromkeys(g.value("paraphrase") for g in in_dataset):
            condition = [g for g in in_dataset if g.value("paraphrase") == paraphrase]
            fields = distinguishing_fields(in_dataset)
            figures += [
                _curves(dataset, paraphrase, condition, fields, folder),
                _totals(dataset, paraphrase, condition, fields, folder),
                _seeds(dataset, paraphrase, condition, fields, folder),
            ]
        figures += [_sweep(dataset, name, in_dataset, folder) for name in swept_fields(in_dataset)]
    return figures


def distinguishing_fields(groups: Sequence[Group], exclude: Sequence[str] = ()) -> list[str]:
    """What a legend must name besides the method: fields with two values within one method
    (an lr that only differs between methods, with the method's model, says nothing new)."""
    candidates = varying_fields(groups, exclude=("dataset", "method", "paraphrase", *exclude))
    return [name for name in candidates if varies_within_method(groups, name)]


def _legend_label(group: Group, fields: Sequence[str]) -> str:
    extra = [f"{name}={display_value(name, group.value(name))}" for name in fields]
    return " ".join([group.value("method"), *extra])


def marker(method: str) -> str:
    return METHOD_MARKERS.get(method, MARKERS[sum(method.encode()) % len(MARKERS)])


def _styles(groups: Sequence[Group]) -> dict[int, tuple[str, str]]:
    """Colour and marker by method; the line style tells apart the variants of one method."""
    seen: dict[str, int] = {}
    styles = {}
    for index, group in enumerate(groups):
        method = group.value("method")
        variant = seen.get(method, 0)
        seen[method] = variant + 1
        styles[index] = (LINESTYLES[variant % len(LINESTYLES)], marker(method))
    return styles


def _mean_curve(
    trials: Sequence[Trial], metric: str
) -> tuple[list[int], list[float], list[float], list[float]]:
    """Mean, min and max over the trials that evaluated each step."""
    steps = sorted({s for t in trials if metric in t.curves for s in t.curves[metric].steps})
    means, lows, highs = [], [], []
    for step in steps:
        values = [t.curves[metric].at(step) for t in trials if metric in t.curves]
        present = [v for v in values if v is not None]
        means.append(sum(present) / len(present))
        lows.append(min(present))
        highs.append(max(present))
    return steps, means, lows, highs


def _axes_style(ax: Axes, title: str, xlabel: str = "optimizer step", ylabel: str = ACCURACY) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _accuracy_range(figure: Figure) -> None:
    """0 to 1 like the paper's figures, unless every value is small: then zoom so they can be read."""
    top = max(
        (max(line.get_ydata(), default=0.0) for ax in figure.axes for line in ax.get_lines()), default=0
    )
    top = 1.02 if top > 0.5 else max(0.05, 1.3 * float(top))
    for ax in figure.axes:
        ax.set_ylim(-0.02 * top, top)


def _save(figure: Figure, path: Path, title: str) -> FigureFile:
    _accuracy_range(figure)
    figure.savefig(path, dpi=DPI)
    return FigureFile(path, title)


def _curves(
    dataset: str, paraphrase: str, groups: Sequence[Group], fields: Sequence[str], folder: Path
) -> FigureFile:
    """Fig. 2: forward and backward accuracy against step, mean over seeds with a min-max band."""
    figure = Figure(figsize=(10, 4.2), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    styles = _styles(groups)
    for ax, (metric, direction) in zip(axes, DIRECTIONS.items(), strict=True):
        for index, group in enumerate(groups):
            steps, means, lows, highs = _mean_curve(group.trials, metric)
            linestyle, symbol = styles[index]
            seeds = len(group.trials)
            label = f"{_legend_label(group, fields)} ({seeds} seed{'s' if seeds > 1 else ''})"
            ax.plot(
                steps,
                means,
                color=colour(group.value("method")),
                linestyle=linestyle,
                marker=symbol,
                markersize=6,
                markerfacecolor="none",
                label=label,
            )
            if seeds > 1:
                ax.fill_between(steps, lows, highs, color=colour(group.value("method")), alpha=0.15)
        _axes_style(ax, f"{direction} questions")
    axes[1].set_ylabel("")
    title = f"{dataset}, paraphrase {paraphrase}: accuracy against step (mean over seeds, band = min-max)"
    figure.suptitle(title, fontsize=11)
    handles, names = axes[0].get_legend_handles_labels()
    _figure_legend(figure, handles, names, width=10)
    return _save(figure, folder / f"{slug(CURVES, dataset, paraphrase)}.png", title)


def _figure_legend(figure: Figure, handles: list, names: list[str], width: float) -> None:
    """Below the panels, in as many columns as the labels fit across the figure (~14 chars per inch)."""
    longest = max((len(name) for name in names), default=1) + 6
    columns = max(1, min(len(names), int(width * 14) // longest))
    figure.legend(handles, names, loc="outside lower center", ncol=columns, fontsize=9)


def _grid(count: int, width: float, height: float) -> tuple[Figure, list[Axes]]:
    columns = min(3, count)
    rows = -(-count // columns)
    figure = Figure(figsize=(width * columns, height * rows + 0.8), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, axes[:count]


def _totals(
    dataset: str, paraphrase: str, groups: Sequence[Group], fields: Sequence[str], folder: Path
) -> FigureFile:
    """Fig. 6: each seed's total accuracy, its best checkpoint starred."""
    figure, axes = _grid(len(groups), 4.2, 3.4)
    for ax, group in zip(axes, groups, strict=True):
        for index, trial in enumerate(group.trials):
            curve = trial.curves["total"]
            best = trial.best_step
            ax.plot(
                curve.steps,
                curve.values,
                color=colour(group.value("method")),
                linestyle=LINESTYLES[index % len(LINESTYLES)],
                marker=".",
                label=f"seed {trial.seed}: best step {best}, {curve.at(best):.3f}",
            )
            ax.plot(
                [best],
                [curve.at(best)],
                marker="*",
                markersize=14,
                markerfacecolor=colour(group.value("method")),
                markeredgecolor="black",
                linestyle="none",
            )
        _axes_style(ax, _legend_label(group, fields), ylabel="total accuracy")
        ax.legend(fontsize=7, loc="best")
    title = f"{dataset}, paraphrase {paraphrase}: total accuracy, best checkpoint starred"
    figure.suptitle(title, fontsize=11)
    return _save(figure, folder / f"{slug('total', dataset, paraphrase)}.png", title)


def _seeds(
    dataset: str, paraphrase: str, groups: Sequence[Group], fields: Sequence[str], folder: Path
) -> FigureFile:
    """Figs. 7-8: every seed's forward and backward curve, one row of panels per configuration."""
    figure = Figure(figsize=(10, 2.6 * len(groups) + 0.8), layout="constrained")
    axes = figure.subplots(len(groups), 2, squeeze=False, sharey=True)
    for row, group in zip(axes, groups, strict=True):
        for ax, (metric, direction) in zip(row, DIRECTIONS.items(), strict=True):
            for index, trial in enumerate(group.trials):
                curve = trial.curves.get(metric)
                if curve is None:
                    continue
                ax.plot(
                    curve.steps,
                    curve.values,
                    color=colour(group.value("method")),
                    linestyle=LINESTYLES[index % len(LINESTYLES)],
                    marker=MARKERS[index % len(MARKERS)],
                    markersize=3,
                    label=f"seed {trial.seed}",
                )
            _axes_style(ax, f"{_legend_label(group, fields)}: {direction}")
        row[1].set_ylabel("")
        row[0].legend(fontsize=7, loc="best")
    title = f"{dataset}, paraphrase {paraphrase}: every seed's curve"
    figure.suptitle(title, fontsize=11)
    return _save(figure, folder / f"{slug('seeds', dataset, paraphrase)}.png", title)


def _sweep(dataset: str, name: str, groups: Sequence[Group], folder: Path) -> FigureFile:
    """Figs. 4-5: best accuracy against the swept value, one line per method (± std over seeds)."""
    figure = Figure(figsize=(12, 4.0), layout="constrained")
    axes = figure.subplots(1, 3, sharey=True)
    others = distinguishing_fields(groups, exclude=(name,))
    several = len({g.value("paraphrase") for g in groups}) > 1
    lines: dict[str, list[Group]] = {}
    for group in groups:
        label = _legend_label(group, others) + (f" ({group.value('paraphrase')})" if several else "")
        lines.setdefault(label, []).append(group)
    numbers = [numeric(g.value(name)) for g in groups]
    positive = [n for n in numbers if n is not None and n > 0]
    log = name == "lr" or (len(positive) == len(numbers) and max(positive) / min(positive) > 100)
    styles = _styles([members[0] for members in lines.values()])
    for ax, metric in zip(axes, ("fwd", "bwd", "total"), strict=True):
        for index, (label, members) in enumerate(lines.items()):
            method = members[0].value("method")
            linestyle, symbol = styles[index]
            points = []
            for group in members:
                stat = aggregate(trial.best().get(metric) for trial in group.trials)
                x = numeric(group.value(name))
                if stat is None:
                    continue
                if x is None:  # e.g. a sampled mask ratio: a level to compare the fixed values with
                    ax.axhline(
                        stat.mean,
                        color=colour(method),
                        linestyle=":",
                        linewidth=1.2,
                        label=f"{label}, {'t ~ ' if name == 'mask_ratio' else name + ' = '}"
                        + display_value(name, group.value(name)),
                    )
                else:
                    points.append((x, stat.mean, stat.std or 0.0))
            points.sort()
            if points:
                ax.errorbar(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    yerr=[p[2] for p in points],
                    color=colour(method),
                    linestyle=linestyle,
                    marker=symbol,
                    markerfacecolor="none",
                    capsize=3,
                    label=label,
                )
        if log:
            ax.set_xscale("log")
        _axes_style(
            ax, {"fwd": "forward", "bwd": "backward", "total": "total"}[metric], AXIS_NAMES.get(name, name)
        )
    axes[0].set_ylabel(f"best-checkpoint {ACCURACY}")
    for ax in axes[1:]:
        ax.set_ylabel("")
    title = f"{dataset}: best accuracy against {AXIS_NAMES.get(name, name)} (mean ± std over seeds)"
    figure.suptitle(title, fontsize=11)
    handles, names = axes[0].get_legend_handles_labels()
    _figure_legend(figure, handles, names, width=12)
    return _save(figure, folder / f"{slug('sweep', dataset, name)}.png", title)

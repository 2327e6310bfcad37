"""`report.tex`: a standalone LaTeX document of booktabs tables and the figures (driver side)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.report.document import Report
from orchestrator.report.tables import Table

# Order matters: the backslash first, so later replacements are not escaped again.
ESCAPES = (
    ("\\", r"\textbackslash{}"),
    ("&", r"\&"),
    ("%", r"\%"),
    ("$", r"\$"),
    ("#", r"\#"),
    ("_", r"\_"),
    ("{", r"\{"),
    ("}", r"\}"),
    ("~", r"\textasciitilde{}"),
    ("^", r"\textasciicircum{}"),
)
SYMBOLS = (
    ("±", r"$\pm$"),
    ("−", r"$-$"),
    ("–", "--"),
    ("·", r"$\cdot$"),
    ("≥", r"$\geq$"),
    ("×", r"$\times$"),
)


def escape(text: str) -> str:
    for raw, escaped in (*ESCAPES, *SYMBOLS):
        text = text.replace(raw, escaped)
    return text


def latex_table(table: Table) -> str:
    spec = "l" * table.left + "r" * (len(table.columns) - table.left)
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        r"\small",
        f"\\caption{{{escape(table.title)}}}",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        f"\\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(escape(c) for c in table.columns) + r" \\",
        r"\midrule",
        *(" & ".join(escape(c) for c in row) + r" \\" for row in table.rows),
        r"\bottomrule",
        r"\end{tabular}}",
    ]
    if table.notes:
        lines += [r"\par\medskip\footnotesize " + " ".join(escape(note) for note in table.notes)]
    return "\n".join([*lines, r"\end{table}"])


def render_latex(report: Report, folder: Path) -> str:
    lines = [
        r"\documentclass{article}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\usepackage{booktabs}",
        r"\usepackage{graphicx}",
        r"\usepackage[T1]{fontenc}",
        r"\begin{document}",
        f"\\section*{{Report: {escape(report.name)}}}",
        escape(report.source),
        "",
    ]
    lines += [latex_table(table) + "\n" for table in report.tables]
    for figure in report.figures:
        lines += [
            r"\begin{figure}[ht]",
            r"\centering",
            f"\\includegraphics[width=\\linewidth]{{{figure.path.relative_to(folder).as_posix()}}}",
            f"\\caption{{{escape(figure.title)}}}",
            r"\end{figure}",
            "",
        ]
    return "\n".join([*lines, r"\end{document}", ""])

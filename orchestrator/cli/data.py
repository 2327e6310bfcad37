"""`mft data ...`: list, show, fetch and validate knowledge sets (driver side)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from evaluation.questions import QAItem
from orchestrator.cli.outputs import FORCE_HELP, check_output_folder, staged_folder
from orchestrator.fetching import fetch_dataset, resolve_base_url
from training.errors import InputError
from training.knowledge import (
    DATASETS,
    PARAPHRASES,
    DatasetSpec,
    KnowledgeSet,
    load_knowledge_set,
    load_questions,
    order_categories,
    resolve_data_dir,
)
from training.knowledge_folder import (
    BYO_QA_FILE,
    BYO_SETTINGS_FILE,
    BYO_TRAIN_FILES,
    byo_conditions,
    load_byo_prompt_style,
    validate_knowledge_folder,
)
from training.limits import check_seed

data_app = typer.Typer(
    help="Knowledge sets: list, show, fetch the paper's files, validate your own. Answers to their"
    " questions are scored by ROUGE-1 recall with the authors' rule (case-sensitive, each distinct"
    " answer word once), which computed the paper's Table 3; see mft eval --help.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder with the paper's files \\[default: $MFT_DATA_DIR, else ~/.cache/mft/datasets].",
    ),
]
MAX_PROBLEMS_SHOWN = 50


@data_app.command("list", epilog="Example: mft data list --data-dir ../shared/datasets/paper")
def list_datasets(data_dir: DataDir = None) -> None:
    """The paper's knowledge sets: conditions, which files are here, questions per category."""
    folder = resolve_data_dir(data_dir)
    table = Table(title="Registered knowledge sets", caption=f"data folder: {folder}")
    for column in ("dataset", "title", *PARAPHRASES, "test questions"):
        table.add_column(column, overflow="fold")  # at 80 columns a name breaks, never ends in "…"
    for spec in DATASETS.values():
        conditions = [_file_cell(folder, spec.train_files.get(condition)) for condition in PARAPHRASES]
        table.add_row(spec.label, spec.title, *conditions, _questions_cell(spec, folder))
    Console().print(table)


@data_app.command("show", epilog="Example: mft data show bio --paraphrase same-order --samples 5")
def show(
    name: Annotated[str, typer.Argument(help="A registered name (namedesc, bio, wiki) or your own folder.")],
    paraphrase: Annotated[str, typer.Option(help=f"Condition: {', '.join(PARAPHRASES)}.")] = "none",
    data_dir: DataDir = None,
    samples: Annotated[int, typer.Option(min=0, help="Sample documents and questions to print.")] = 3,
) -> None:
    """Counts of one knowledge set and a few of its documents and questions."""
    knowledge = load_knowledge_set(name, paraphrase, data_dir)
    console = Console()
    console.print(_counts_table(knowledge))
    if samples:
        console.print(_documents_table(knowledge.documents, samples))
        console.print(_questions_table(knowledge.questions, samples))


@data_app.command("validate", epilog="Example: mft data validate ./my-knowledge")
def validate(path: Annotated[Path, typer.Argument(help="Your knowledge-set folder.")]) -> None:
    """Check a bring-your-own folder; every bad record is named by file, line and field.

    Files: train.jsonl, optional train.same-order.jsonl and train.permute-order.jsonl ({"text": ...} a line);
    qa.jsonl ({"question", "answer", "direction", optional "category"} a line).
    """
    problems = validate_knowledge_folder(path)
    console = Console()
    if problems:
        for problem in problems[:MAX_PROBLEMS_SHOWN]:
            console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        if len(problems) > MAX_PROBLEMS_SHOWN:
            console.print(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more", highlight=False)
        raise InputError(f"{len(problems)} problem(s) in {path}; fix the records listed above")
    console.print(_folder_table(path))


@data_app.command(
    "fetch", epilog="Example: mft data fetch wiki --data-dir ./datasets --base-url http://127.0.0.1:8000"
)
def fetch(
    name: Annotated[str, typer.Argument(help="namedesc, bio or wiki.")],
    base_url: Annotated[
        str | None,
        typer.Option(
            help="Server folder with the files \\[default: $MFT_DATA_BASE_URL, else the authors' repository]."
        ),
    ] = None,
    data_dir: DataDir = None,
    force: Annotated[
        bool, typer.Option("--force", help="Download again files that are already present \\[default: off].")
    ] = False,
) -> None:
    """Download the paper's published files of one dataset into the data folder."""
    folder, base = resolve_data_dir(data_dir), resolve_base_url(base_url)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        results = fetch_dataset(name, folder, base, force, progress)
    table = Table(title=f"mft data fetch {name}", caption=f"from {base}\ninto {folder}")
    for column in ("file", "status", "bytes"):
        table.add_column(column)
    for result in results:
        style = "yellow" if result.status == "not published" else "green"
        table.add_row(result.file, Text(result.status, style=style), str(result.size) if result.size else "")
    console = Console()
    console.print(table)
    unpublished = [result.file for result in results if result.status == "not published"]
    if unpublished:
        console.print(
            f"not published at {base}: {', '.join(unpublished)}; the paraphrase conditions that need them "
            f"cannot be loaded until you put those files in {folder}",
            style="yellow",
            highlight=False,
        )


@data_app.command("synth", epilog="Example: mft data synth --out ./people --people 100 --seed 0")
def synth(
    out: Annotated[str, typer.Option(help="Folder to write (a bring-your-own knowledge set; new or empty).")],
    people: Annotated[
        int,
        typer.Option(
            help="New people to report on; as many to tune on go in OUT/tune, 3x as many seen in OUT/seen."
        ),
    ] = 100,
    seed: Annotated[int, typer.Option(help="Same seed, same people.")] = 0,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Write the lab's synthetic knowledge set: fictitious people, N2D/D2N statements and questions."""
    from orchestrator.lab.synthetic import SEEN_FOLDER, TUNE_FOLDER, write_lab_set

    check_seed("--seed", seed)
    folder = check_output_folder(out, "--out", force=force)
    with staged_folder(folder) as stage:
        write_lab_set(stage, people, seed)
    console = Console()
    console.print(_folder_table(folder))
    console.print(
        f"new people to tune settings on in {folder / TUNE_FOLDER}, seen people (for base models) in"
        f" {folder / SEEN_FOLDER}; see: mft data show {folder}"
    )


def _file_cell(folder: Path, file: str | None) -> Text:
    if file is None:
        return Text("-", style="dim")
    return Text("present", style="green") if (folder / file).is_file() else Text("missing", style="red")


def _questions_cell(spec: DatasetSpec, folder: Path) -> Text:
    if not (folder / spec.test_file).is_file():
        return Text("missing", style="red")
    try:
        return Text(_category_counts(load_questions(spec.name, folder)))
    except InputError as exc:
        return Text(f"unreadable: {exc}", style="red")


def _category_counts(questions: Sequence[QAItem]) -> str:
    counts = Counter(question.category for question in questions)
    return ", ".join(f"{category} {counts[category]}" for category in order_categories(counts))


def _counts_table(knowledge: KnowledgeSet) -> Table:
    table = Table(title=f"{knowledge.name}, paraphrase {knowledge.paraphrase}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("documents", str(len(knowledge.documents)))
    counts = Counter(question.category for question in knowledge.questions)
    for category in knowledge.categories:
        table.add_row(f"questions {category}", str(counts[category]))
    table.add_row("questions total", str(len(knowledge.questions)))
    return table


def _spread(total: int, count: int) -> list[int]:
    """`count` indices evenly across `total` items, so samples span the file (ND is N2D, then D2N)."""
    return [index * total // count for index in range(count)] if total > count else list(range(total))


def _documents_table(documents: Sequence[str], samples: int) -> Table:
    table = Table(title="sample documents")
    table.add_column("#", justify="right")
    table.add_column("text")
    for index in _spread(len(documents), samples):
        table.add_row(str(index), Text(documents[index]))
    return table


def _questions_table(questions: Sequence[QAItem], samples: int) -> Table:
    table = Table(title="sample questions")
    for column in ("#", "category", "question", "answer"):
        table.add_column(column)
    for index in _spread(len(questions), samples):
        item = questions[index]
        table.add_row(str(index), item.category, Text(item.question), Text(" | ".join(item.answers)))
    return table


def _folder_table(folder: Path) -> Table:
    table = Table(title=f"{folder}: valid knowledge set")
    for column in ("file", "holds", "records"):
        table.add_column(column)
    for condition in byo_conditions(folder):
        documents = load_knowledge_set(folder, condition).documents
        table.add_row(BYO_TRAIN_FILES[condition], f"documents, condition {condition}", str(len(documents)))
    questions = load_questions(folder)
    table.add_row(BYO_QA_FILE, f"questions: {_category_counts(questions)}", str(len(questions)))
    if (folder / BYO_SETTINGS_FILE).is_file():
        table.add_row(BYO_SETTINGS_FILE, f"settings: prompt style {load_byo_prompt_style(folder)}", "")
    return table

"""Bring-your-own knowledge-set folders: their format, readers and checks (pure data, runs anywhere).

A bring-your-own knowledge set is a folder whose path goes wherever a dataset name goes, holding
- `train.jsonl`: one `{"text": "..."}` per line, the documents of the `none` condition;
- optional `train.same-order.jsonl` / `train.permute-order.jsonl`, same format: the *whole* training
  set of that paraphrase condition, used as-is (put the originals in too if they should be trained
  on, as the paper's paraphrase files do);
- `qa.jsonl`: one `{"question": "...", "answer": "..." or ["...", ...], "direction": "forward" |
  "backward" (or "fwd" | "bwd"), "category": "..."}` per line; `category` is optional and defaults to
  the direction (`fwd`/`bwd`); accuracy is reported per category, so a category holds questions of
  one direction only, and only the category named like its direction may be called `fwd` or `bwd`;
- optional `dataset.yaml`: settings of the set; today `prompt_style: chat` (default, the paper's:
  each question asked as a chat turn) or `completion` (cloze sets: the question is the beginning
  of a sentence the model completes, with no chat wrapper).
Blank lines are skipped; any other field is refused, so a misspelt key cannot pass unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from evaluation.questions import PROMPT_STYLES, Direction, QAItem
from training.errors import InputError
from training.yaml_text import read_yaml_file

DIRECTIONS: dict[str, Direction] = {"forward": "fwd", "backward": "bwd", "fwd": "fwd", "bwd": "bwd"}

BYO_TRAIN_FILES: dict[str, str] = {
    "none": "train.jsonl",
    "same-order": "train.same-order.jsonl",
    "permute-order": "train.permute-order.jsonl",
}
BYO_QA_FILE = "qa.jsonl"
BYO_SETTINGS_FILE = "dataset.yaml"
# Summary keys `scoring.summarize` writes beside the categories' own (acc/fwd, acc/bwd, acc/total).
SUMMARY_KEYS = ("fwd", "bwd", "total")
_TEXT_FIELDS = ("text",)
_QA_FIELDS = ("question", "answer", "direction", "category")


@dataclass(frozen=True)
class RecordProblem:
    """One thing wrong in a bring-your-own folder, precise enough to fix without guessing."""

    file: str
    line: int | None  # 1-based; None when the problem is the whole file
    field: str | None
    found: str
    expected: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file} line {self.line}"
        if self.field is not None:
            where += f", field {self.field!r}"
        return f"{where}: found {self.found}; expected {self.expected}"


RecordCheck = Callable[[dict], Iterator[tuple[str, str, str]]]


def byo_conditions(folder: Path) -> tuple[str, ...]:
    """The paraphrase conditions a bring-your-own folder has files for."""
    return tuple(condition for condition, name in BYO_TRAIN_FILES.items() if (folder / name).is_file())


def validate_knowledge_folder(folder: Path) -> list[RecordProblem]:
    """Every problem in a bring-your-own folder, in file and line order (empty when it is usable)."""
    if not folder.is_dir():
        raise InputError(f"knowledge-set folder {folder.absolute()} not found; check the path")
    checks = [(name, _text_record_problems) for name in BYO_TRAIN_FILES.values()]
    checks.append((BYO_QA_FILE, _qa_record_problems))
    required = (BYO_TRAIN_FILES["none"], BYO_QA_FILE)
    problems: list[RecordProblem] = []
    for name, record_problems in checks:
        if (folder / name).is_file():
            records, found = _read_byo_file(folder / name, record_problems)
            problems.extend(found)
            if name == BYO_QA_FILE:
                problems.extend(_category_problems(records))
        elif name in required:
            problems.append(RecordProblem(name, None, None, "no such file", f"{name} in {folder}"))
    problems.extend(_settings_problems(folder))
    known = set(BYO_TRAIN_FILES.values())
    for path in sorted(folder.glob("train*.jsonl")):
        if path.name not in known:
            names = ", ".join(sorted(known))
            problems.append(RecordProblem(path.name, None, None, "an unknown file name", f"one of {names}"))
    return problems


def load_byo_documents(folder: Path, paraphrase: str) -> tuple[str, ...]:
    """The documents of one paraphrase condition, or an InputError naming the first problem."""
    name = BYO_TRAIN_FILES[paraphrase]
    if paraphrase != "none" and not (folder / name).is_file():
        has = ", ".join(byo_conditions(folder)) or "no training file at all"
        raise InputError(
            f"{folder.name} has no {paraphrase!r} condition ({name} not in {folder}); it has: {has}; "
            f"add the file or choose one of those"
        )
    return tuple(record["text"] for _, record in _read_byo_checked(folder, name, _text_record_problems))


def load_byo_questions(folder: Path) -> tuple[QAItem, ...]:
    """The questions of `qa.jsonl`, or an InputError naming its first bad record."""
    records = _read_byo_checked(folder, BYO_QA_FILE, _qa_record_problems)
    problems = _category_problems(records)
    if problems:
        raise InputError(f"{folder}: {problems[0]} (`mft data validate {folder}` lists every problem)")
    return tuple(_qa_item(record) for _, record in records)


def load_byo_prompt_style(folder: Path) -> str:
    """The folder's `prompt_style` from dataset.yaml; `chat` (the paper's) when it sets none."""
    problems = _settings_problems(folder)
    if problems:
        raise InputError(f"{folder}: {problems[0]}")
    return _read_settings(folder).get("prompt_style", "chat")


def parse_answers(value: object) -> tuple[str, ...] | None:
    """A reference answer, or several (scored by the best match); None when malformed."""
    if is_text(value):
        return (value,)
    if isinstance(value, list) and value and all(is_text(item) for item in value):
        return tuple(value)
    return None


def is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


_MISSING = object()


def show(value: object, limit: int = 60) -> str:
    """A found value as it appears in the file, shortened for a one-line message."""
    if value is _MISSING:
        return "nothing (the field is missing)"
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _read_byo_checked(folder: Path, name: str, record_problems: RecordCheck) -> list[tuple[int, dict]]:
    """Records of one folder file, or an InputError naming its first bad record."""
    if not (folder / name).is_file():
        raise InputError(
            f"{name} not found in {folder}; a knowledge-set folder needs train.jsonl and qa.jsonl"
        )
    records, problems = _read_byo_file(folder / name, record_problems)
    if problems:
        raise InputError(f"{folder}: {problems[0]} (`mft data validate {folder}` lists every problem)")
    return records


def _read_byo_file(
    path: Path, record_problems: RecordCheck
) -> tuple[list[tuple[int, dict]], list[RecordProblem]]:
    """The file's good records with their line numbers, and every problem in it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        return [], [
            RecordProblem(path.name, None, None, f"bytes that are not UTF-8 ({exc.reason})", "UTF-8 text")
        ]
    records: list[tuple[int, dict]] = []
    problems: list[RecordProblem] = []
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(
                RecordProblem(path.name, line, None, f"invalid JSON ({exc.msg})", "one JSON object")
            )
            continue
        except RecursionError:
            problems.append(
                RecordProblem(path.name, line, None, "JSON nested too deeply", "one flat JSON object")
            )
            continue
        if not isinstance(record, dict):
            problems.append(RecordProblem(path.name, line, None, show(record), "one JSON object {...}"))
            continue
        found = [RecordProblem(path.name, line, *problem) for problem in record_problems(record)]
        problems.extend(found)
        if not found:
            records.append((line, record))
    if not records and not problems:
        problems.append(
            RecordProblem(path.name, None, None, "no records", "at least one JSON object per line")
        )
    return records, problems


def _text_record_problems(record: dict) -> Iterator[tuple[str, str, str]]:
    yield from _unknown_fields(record, _TEXT_FIELDS)
    if not is_text(record.get("text")):
        yield "text", show(record.get("text", _MISSING)), "a non-empty string"


def _qa_record_problems(record: dict) -> Iterator[tuple[str, str, str]]:
    yield from _unknown_fields(record, _QA_FIELDS)
    if not is_text(record.get("question")):
        yield "question", show(record.get("question", _MISSING)), "a non-empty string"
    if parse_answers(record.get("answer")) is None:
        yield (
            "answer",
            show(record.get("answer", _MISSING)),
            "a non-empty string or list of non-empty strings",
        )
    direction = record.get("direction", _MISSING)
    if not (isinstance(direction, str) and direction in DIRECTIONS):
        yield "direction", show(direction), '"forward", "backward", "fwd" or "bwd"'
    if "category" in record and not is_text(record["category"]):
        yield (
            "category",
            show(record["category"]),
            "a non-empty string, or no field (defaults to the direction)",
        )


def _category_problems(records: list[tuple[int, dict]]) -> list[RecordProblem]:
    """Categories that `summarize` could not report: mixed directions, or named like a summary key."""
    problems: list[RecordProblem] = []
    direction_of: dict[str, tuple[str, int]] = {}
    for number, record in records:
        direction = DIRECTIONS[record["direction"]]
        category = record.get("category", direction)
        if category in SUMMARY_KEYS and category != direction:
            problems.append(
                RecordProblem(
                    BYO_QA_FILE, number, "category", show(category),
                    f"a name other than {', '.join(SUMMARY_KEYS)} for {direction} questions "
                    f"(those names are the summary keys acc/fwd, acc/bwd, acc/total)",
                )
            )  # fmt: skip
            continue
        first = direction_of.setdefault(category, (direction, number))
        if first[0] != direction:
            problems.append(
                RecordProblem(
                    BYO_QA_FILE, number, "category", f"{show(category)} for a {direction} question",
                    f"one direction per category (line {first[1]} makes {category!r} {first[0]}); "
                    f"give the {direction} questions their own category",
                )
            )  # fmt: skip
    return problems


def _read_settings(folder: Path) -> dict:
    path = folder / BYO_SETTINGS_FILE
    if not path.is_file():
        return {}
    settings = read_yaml_file(path)
    return settings if settings is not None else {}


def _settings_problems(folder: Path) -> list[RecordProblem]:
    try:
        settings = _read_settings(folder)
    except InputError as exc:
        return [RecordProblem(BYO_SETTINGS_FILE, None, None, str(exc), "valid YAML")]
    if not isinstance(settings, dict):
        return [
            RecordProblem(BYO_SETTINGS_FILE, None, None, show(settings), "a mapping like prompt_style: chat")
        ]
    problems = [
        RecordProblem(BYO_SETTINGS_FILE, None, key, "an unknown setting", "only prompt_style")
        for key in settings
        if key != "prompt_style"
    ]
    style = settings.get("prompt_style", "chat")
    if style not in PROMPT_STYLES:
        problems.append(
            RecordProblem(BYO_SETTINGS_FILE, None, "prompt_style", show(style), " or ".join(PROMPT_STYLES))
        )
    return problems


def _unknown_fields(record: dict, allowed: tuple[str, ...]) -> Iterator[tuple[str, str, str]]:
    for field in record:
        if field not in allowed:
            yield field, "an unknown field", f"only {', '.join(allowed)}"


def _qa_item(record: dict) -> QAItem:
    direction = DIRECTIONS[record["direction"]]
    answers = parse_answers(record["answer"])
    assert answers is not None  # checked by _qa_record_problems before any record gets here
    return QAItem(record["question"], answers, direction, record.get("category", direction))

"""Bring-your-own knowledge-set folders: their format, readers and checks (pure data, runs anywhere).

A bring-your-own knowledge set is a folder whose path goes wherever a dataset name goes, holding
- `train.jsonl`: one `{"text": "..."}` per line, the documents of the `none` condition;
- optional `train.same-order.jsonl` / `train.permute-order.jsonl`, same format: the *whole* training
  set of that paraphrase condition, used as-is (put the originals in too if they should be trained
  on, as the paper's paraphrase files do);
- `qa.jsonl`: one `{"question": "...", "answer": "..." or ["...", ...], "direction": "forward" |
  "backward" (or "fwd" | "bwd"), "category": "..."}` per line; `category` is optional and defaults to
  the direction (`fwd`/`bwd`); accuracy is reported per category.
Blank lines are skipped; any other field is refused, so a misspelt key cannot pass unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from evaluation.questions import Direction, QAItem
from training.errors import InputError

DIRECTIONS: dict[str, Direction] = {"forward": "fwd", "backward": "bwd", "fwd": "fwd", "bwd": "bwd"}

BYO_TRAIN_FILES: dict[str, str] = {
    "none": "train.jsonl",
    "same-order": "train.same-order.jsonl",
    "permute-order": "train.permute-order.jsonl",
}
BYO_QA_FILE = "qa.jsonl"
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
            problems.extend(_read_byo_file(folder / name, record_problems)[1])
        elif name in required:
            problems.append(RecordProblem(name, None, None, "no such file", f"{name} in {folder}"))
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
    return tuple(record["text"] for record in _read_byo_checked(folder, name, _text_record_problems))


def load_byo_questions(folder: Path) -> tuple[QAItem, ...]:
    """The questions of `qa.jsonl`, or an InputError naming its first bad record."""
    records = _read_byo_checked(folder, BYO_QA_FILE, _qa_record_problems)
    return tuple(_qa_item(record) for record in records)


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


def _read_byo_checked(folder: Path, name: str, record_problems: RecordCheck) -> list[dict]:
    """Records of one folder file, or an InputError naming its first bad record."""
    if not (folder / name).is_file():
        raise InputError(
            f"{name} not found in {folder}; a knowledge-set folder needs train.jsonl and qa.jsonl"
        )
    records, problems = _read_byo_file(folder / name, record_problems)
    if problems:
        raise InputError(f"{folder}: {problems[0]} (`mft data validate {folder}` lists every problem)")
    return records


def _read_byo_file(path: Path, record_problems: RecordCheck) -> tuple[list[dict], list[RecordProblem]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        return [], [
            RecordProblem(path.name, None, None, f"bytes that are not UTF-8 ({exc.reason})", "UTF-8 text")
        ]
    records: list[dict] = []
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
        if not isinstance(record, dict):
            problems.append(RecordProblem(path.name, line, None, show(record), "one JSON object {...}"))
            continue
        found = [RecordProblem(path.name, line, *problem) for problem in record_problems(record)]
        problems.extend(found)
        if not found:
            records.append(record)
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


def _unknown_fields(record: dict, allowed: tuple[str, ...]) -> Iterator[tuple[str, str, str]]:
    for field in record:
        if field not in allowed:
            yield field, "an unknown field", f"only {', '.join(allowed)}"


def _qa_item(record: dict) -> QAItem:
    direction = DIRECTIONS[record["direction"]]
    answers = parse_answers(record["answer"])
    assert answers is not None  # checked by _qa_record_problems before any record gets here
    return QAItem(record["question"], answers, direction, record.get("category", direction))

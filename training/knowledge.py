"""Knowledge sets: the documents to inject and the questions that test them (pure data, runs anywhere).

The paper's sets (`namedesc`, `bio`, `wiki`) are read under their authors' file names from a data
folder: the `data_dir` argument (`--data-dir`), else `$MFT_DATA_DIR`, else the per-user cache
`$XDG_CACHE_HOME/mft/datasets` (`~/.cache/mft/datasets`), where `mft data fetch NAME` puts them.

Bring your own knowledge set: a folder whose path goes wherever a dataset name goes, holding
- `train.jsonl`: one `{"text": "..."}` per line, the documents of the `none` condition;
- optional `train.same-order.jsonl` / `train.permute-order.jsonl`, same format: the *whole* training
  set of that paraphrase condition, used as-is (put the originals in too if they should be trained
  on, as the paper's paraphrase files do);
- `qa.jsonl`: one `{"question": "...", "answer": "..." or ["...", ...], "direction": "forward" |
  "backward" (or "fwd" | "bwd"), "category": "..."}` per line; `category` is optional and defaults to
  the direction (`fwd`/`bwd`); accuracy is reported per category.
Blank lines are skipped; any other field is refused, so a misspelt key cannot pass unnoticed. A
registered name wins over a folder of the same name in the current directory (write `./bio`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from evaluation.questions import Direction, QAItem
from training.errors import InputError

PARAPHRASES: tuple[str, ...] = ("none", "same-order", "permute-order")
# Paper categories first in the paper's table order; any other (own) category after, in first-seen order.
CATEGORY_ORDER: tuple[str, ...] = ("N2D-fwd", "N2D-bwd", "D2N-fwd", "D2N-bwd", "fwd", "bwd")
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
class KnowledgeSet:
    """What one run injects (`documents`, for one paraphrase condition) and asks about (`questions`)."""

    name: str
    paraphrase: str
    documents: tuple[str, ...]
    questions: tuple[QAItem, ...]

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories accuracy is reported per, in the paper's order (stable across runs)."""
        return order_categories(question.category for question in self.questions)


@dataclass(frozen=True)
class DatasetSpec:
    """A published knowledge set: its file names and how a test record maps to direction and category."""

    name: str
    title: str
    aliases: tuple[str, ...]
    train_files: dict[str, str]  # paraphrase condition → file name
    test_file: str
    kind_fields: tuple[str, ...]  # the test-record fields that decide direction and category
    kinds: dict[tuple[str, ...], tuple[Direction, str]]

    @property
    def label(self) -> str:
        """The name with its aliases, as lists and error messages show it: `bio (biography)`."""
        return f"{self.name} ({', '.join(self.aliases)})" if self.aliases else self.name

    @property
    def required_files(self) -> tuple[str, ...]:
        """Files without which the set is unusable; paraphrase files are optional extras."""
        return (self.train_files["none"], self.test_file)

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.train_files.values(), self.test_file)


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="namedesc",
            title="NameDescription",
            aliases=(),
            # The authors' one paraphrase file keeps the order; ND has no permuted set.
            train_files={"none": "ND_train_no_paraphrase.json", "same-order": "ND_train_paraphrase.json"},
            test_file="ND_test.jsonl",
            kind_fields=("group", "task"),
            kinds={
                ("NameIsDescription", "N2D"): ("fwd", "N2D-fwd"),
                ("NameIsDescription", "D2N"): ("bwd", "N2D-bwd"),
                ("DescriptionIsName", "D2N"): ("fwd", "D2N-fwd"),
                ("DescriptionIsName", "N2D"): ("bwd", "D2N-bwd"),
            },
        ),
        DatasetSpec(
            name="bio",
            title="Biography",
            aliases=("biography",),
            train_files={
                "none": "biography_train_no_paraphrase.json",
                "same-order": "biography_train_paraphrase_same_order.json",
                "permute-order": "biography_train_paraphrase_change_order.json",
            },
            test_file="biography_test.jsonl",
            kind_fields=("task",),
            kinds={("N2D",): ("fwd", "fwd"), ("D2N",): ("bwd", "bwd")},
        ),
        DatasetSpec(
            name="wiki",
            title="Wiki",
            aliases=(),
            train_files={
                "none": "wiki_train_no_paraphrase.json",
                "same-order": "wiki_train_paraphrase_same_order.json",
                "permute-order": "wiki_train_paraphrase_change_order.json",
            },
            test_file="wiki_test.jsonl",
            kind_fields=("task",),
            kinds={("forward",): ("fwd", "fwd"), ("backward",): ("bwd", "bwd")},
        ),
    )
}


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


def order_categories(categories: Iterable[str]) -> tuple[str, ...]:
    """Distinct categories, the paper's first in table order, then the others as first seen."""
    first_seen: dict[str, int] = {}
    for category in categories:
        first_seen.setdefault(category, len(first_seen))

    def rank(category: str) -> tuple[int, int]:
        known = CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
        return known, first_seen[category]

    return tuple(sorted(first_seen, key=rank))


def resolve_data_dir(data_dir: Path | None = None) -> Path:
    """Where the paper's files live: the argument, else $MFT_DATA_DIR, else the per-user cache."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("MFT_DATA_DIR"):
        return Path(os.environ["MFT_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "mft" / "datasets"


def find_dataset(name: str) -> DatasetSpec:
    """The registered set called `name` (canonical name or alias, any case)."""
    spec = _lookup(name)
    if spec is None:
        raise InputError(f"unknown dataset {name!r}; choose one of {_labels()}")
    return spec


def byo_folder(dataset: str | Path) -> Path | None:
    """The bring-your-own folder `dataset` names, or None when it is a registered name."""
    if not isinstance(dataset, Path) and _lookup(dataset) is not None:
        return None
    path = Path(dataset).expanduser()
    if path.is_dir():
        return path
    if isinstance(dataset, Path) or os.sep in dataset or "/" in dataset or dataset.startswith("."):
        raise InputError(f"knowledge-set folder {path.absolute()} not found; check the path")
    raise InputError(
        f"unknown dataset {dataset!r}; choose one of {_labels()}, or give the path of your own "
        f"knowledge-set folder"
    )


def load_knowledge_set(
    dataset: str | Path, paraphrase: str = "none", data_dir: Path | None = None
) -> KnowledgeSet:
    """Documents of one paraphrase condition plus the test questions, from the paper's files or a folder."""
    if paraphrase not in PARAPHRASES:
        raise InputError(
            f"unknown paraphrase condition {paraphrase!r}; choose one of {', '.join(PARAPHRASES)}"
        )
    folder = byo_folder(dataset)
    if folder is not None:
        return KnowledgeSet(
            folder.resolve().name, paraphrase, _load_byo_documents(folder, paraphrase), load_questions(folder)
        )
    spec = find_dataset(str(dataset))
    if paraphrase not in spec.train_files:
        raise InputError(
            f"{spec.name} has no {paraphrase!r} condition; it has: {', '.join(spec.train_files)}"
        )
    folder = resolve_data_dir(data_dir)
    documents = _read_paper_documents(spec, _paper_file(spec, spec.train_files[paraphrase], folder))
    return KnowledgeSet(spec.name, paraphrase, documents, load_questions(spec.name, data_dir))


def load_questions(dataset: str | Path, data_dir: Path | None = None) -> tuple[QAItem, ...]:
    """The test questions alone (they do not depend on the paraphrase condition)."""
    folder = byo_folder(dataset)
    if folder is not None:
        records = _read_byo_checked(folder, BYO_QA_FILE, _qa_record_problems)
        return tuple(_qa_item(record) for record in records)
    spec = find_dataset(str(dataset))
    return _read_paper_questions(spec, _paper_file(spec, spec.test_file, resolve_data_dir(data_dir)))


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


def _lookup(name: str) -> DatasetSpec | None:
    key = name.strip().lower()
    return next((spec for spec in DATASETS.values() if key in (spec.name, *spec.aliases)), None)


def _labels() -> str:
    return ", ".join(spec.label for spec in DATASETS.values())


def _paper_file(spec: DatasetSpec, name: str, folder: Path) -> Path:
    path = folder / name
    if not path.is_file():
        raise InputError(
            f"{spec.name}: file {name} not found in {folder}; run `mft data fetch {spec.name}` or pass "
            f"--data-dir with the folder that holds it"
        )
    return path


def _refetch(spec: DatasetSpec) -> str:
    return f"fetch it again with `mft data fetch {spec.name} --force`"


def _read_paper_documents(spec: DatasetSpec, path: Path) -> tuple[str, ...]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); {_refetch(spec)}") from exc
    if not isinstance(records, list) or not all(
        isinstance(record, dict) and isinstance(record.get("text"), str) for record in records
    ):
        raise InputError(f'{path} is not a JSON list of {{"text": ...}}; {_refetch(spec)}')
    return tuple(record["text"] for record in records)


def _read_paper_questions(spec: DatasetSpec, path: Path) -> tuple[QAItem, ...]:
    items = []
    for line, record in _json_lines(spec, path):
        kind = spec.kinds.get(tuple(str(record.get(field)) for field in spec.kind_fields))
        answers = _answers(record.get("answer"))
        if kind is None or answers is None or not _is_text(record.get("question")):
            valid = ", ".join("/".join(key) for key in spec.kinds)
            raise InputError(
                f"{path} line {line}: expected question, answer and {'/'.join(spec.kind_fields)} one of "
                f"{valid}; found {_show(record)}; {_refetch(spec)}"
            )
        items.append(QAItem(record["question"], answers, *kind))
    return tuple(items)


def _json_lines(spec: DatasetSpec, path: Path) -> Iterator[tuple[int, dict]]:
    """Records of a paper JSONL file; the published files are trusted, so the first bad line stops."""
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} line {line} is not valid JSON ({exc.msg}); {_refetch(spec)}") from exc
        if not isinstance(record, dict):
            raise InputError(f"{path} line {line} is not a JSON object; {_refetch(spec)}")
        yield line, record


RecordCheck = Callable[[dict], Iterator[tuple[str, str, str]]]


def _load_byo_documents(folder: Path, paraphrase: str) -> tuple[str, ...]:
    name = BYO_TRAIN_FILES[paraphrase]
    if paraphrase != "none" and not (folder / name).is_file():
        has = ", ".join(byo_conditions(folder)) or "no training file at all"
        raise InputError(
            f"{folder.name} has no {paraphrase!r} condition ({name} not in {folder}); it has: {has}; "
            f"add the file or choose one of those"
        )
    return tuple(record["text"] for record in _read_byo_checked(folder, name, _text_record_problems))


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
            problems.append(RecordProblem(path.name, line, None, _show(record), "one JSON object {...}"))
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


_MISSING = object()


def _text_record_problems(record: dict) -> Iterator[tuple[str, str, str]]:
    yield from _unknown_fields(record, _TEXT_FIELDS)
    if not _is_text(record.get("text")):
        yield "text", _show(record.get("text", _MISSING)), "a non-empty string"


def _qa_record_problems(record: dict) -> Iterator[tuple[str, str, str]]:
    yield from _unknown_fields(record, _QA_FIELDS)
    if not _is_text(record.get("question")):
        yield "question", _show(record.get("question", _MISSING)), "a non-empty string"
    if _answers(record.get("answer")) is None:
        yield (
            "answer",
            _show(record.get("answer", _MISSING)),
            "a non-empty string or list of non-empty strings",
        )
    direction = record.get("direction", _MISSING)
    if not (isinstance(direction, str) and direction in DIRECTIONS):
        yield "direction", _show(direction), '"forward", "backward", "fwd" or "bwd"'
    if "category" in record and not _is_text(record["category"]):
        yield (
            "category",
            _show(record["category"]),
            "a non-empty string, or no field (defaults to the direction)",
        )


def _unknown_fields(record: dict, allowed: tuple[str, ...]) -> Iterator[tuple[str, str, str]]:
    for field in record:
        if field not in allowed:
            yield field, "an unknown field", f"only {', '.join(allowed)}"


def _qa_item(record: dict) -> QAItem:
    direction = DIRECTIONS[record["direction"]]
    answers = _answers(record["answer"])
    assert answers is not None  # checked by _qa_record_problems before any record gets here
    return QAItem(record["question"], answers, direction, record.get("category", direction))


def _answers(value: object) -> tuple[str, ...] | None:
    """A reference answer, or several (scored by the best match); None when malformed."""
    if _is_text(value):
        return (value,)
    if isinstance(value, list) and value and all(_is_text(item) for item in value):
        return tuple(value)
    return None


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def _show(value: object, limit: int = 60) -> str:
    """A found value as it appears in the file, shortened for a one-line message."""
    if value is _MISSING:
        return "nothing (the field is missing)"
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"

"""Knowledge sets: the documents to inject and the questions that test them (pure data, runs anywhere).

The paper's sets (`namedesc`, `bio`, `wiki`) are read under their authors' file names from a data
folder: the `data_dir` argument (`--data-dir`), else `$MFT_DATA_DIR`, else the per-user cache
`$XDG_CACHE_HOME/mft/datasets` (`~/.cache/mft/datasets`), where `mft data fetch NAME` puts them.

Your own knowledge set is a folder whose path goes wherever a dataset name goes; its format lives in
`training.knowledge_folder`. A registered name wins over a folder of the same name in the current
directory (write `./bio`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from evaluation.questions import Direction, QAItem
from training.errors import InputError, clip, excerpt
from training.knowledge_folder import (
    BYO_QA_FILE,
    BYO_SETTINGS_FILE,
    BYO_TRAIN_FILES,
    is_text,
    load_byo_documents,
    load_byo_prompt_style,
    load_byo_questions,
    parse_answers,
    show,
)

PARAPHRASES: tuple[str, ...] = ("none", "same-order", "permute-order")
# Paper categories first in the paper's table order; any other (own) category after, in first-seen order.
CATEGORY_ORDER: tuple[str, ...] = ("N2D-fwd", "N2D-bwd", "D2N-fwd", "D2N-bwd", "fwd", "bwd")


@dataclass(frozen=True)
class KnowledgeSet:
    """What one run injects (`documents`, for one paraphrase condition) and asks about (`questions`)."""

    name: str
    paraphrase: str
    documents: tuple[str, ...]
    questions: tuple[QAItem, ...]
    prompt_style: str = "chat"
    """How its questions are asked: chat (the paper's sets) or completion (a folder's dataset.yaml)."""

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


def order_categories(categories: Iterable[str]) -> tuple[str, ...]:
    """Distinct categories, the paper's first in table order, then the others as first seen."""
    first_seen: dict[str, int] = {}
    for category in categories:
        first_seen.setdefault(category, len(first_seen))

    def rank(category: str) -> tuple[int, int]:
        known = CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
        return known, first_seen[category]

    return tuple(sorted(first_seen, key=rank))


def user_cache() -> Path:
    """mft's per-user cache: `$XDG_CACHE_HOME/mft`, else `~/.cache/mft` (datasets, tiny models, logs)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "mft"


def resolve_data_dir(data_dir: Path | None = None) -> Path:
    """Where the paper's files live: the argument, else $MFT_DATA_DIR, else the per-user cache."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("MFT_DATA_DIR"):
        return Path(os.environ["MFT_DATA_DIR"]).expanduser()
    return user_cache() / "datasets"


def find_dataset(name: str) -> DatasetSpec:
    """The registered set called `name` (canonical name or alias, any case)."""
    spec = _lookup(name)
    if spec is None:
        raise InputError(f"unknown dataset {excerpt(name)}; choose one of {_labels()}")
    return spec


def byo_folder(dataset: str | Path) -> Path | None:
    """The bring-your-own folder `dataset` names, or None when it is a registered name."""
    if not isinstance(dataset, Path) and _lookup(dataset) is not None:
        return None
    path = Path(dataset).expanduser()
    try:
        if path.is_dir():
            return path
    except OSError:  # a name too long for the filesystem: no such folder, said below
        pass
    if isinstance(dataset, Path) or os.sep in dataset or "/" in dataset or dataset.startswith("."):
        raise InputError(f"knowledge-set folder {clip(str(path.absolute()))} not found; check the path")
    raise InputError(
        f"unknown dataset {excerpt(dataset)}; choose one of {_labels()}, or give the path of your own "
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
            folder.resolve().name,
            paraphrase,
            load_byo_documents(folder, paraphrase),
            load_questions(folder),
            load_byo_prompt_style(folder),
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
        return load_byo_questions(folder)
    spec = find_dataset(str(dataset))
    return _read_paper_questions(spec, _paper_file(spec, spec.test_file, resolve_data_dir(data_dir)))


def knowledge_files(dataset: str | Path, paraphrase: str, data_dir: Path | None = None) -> tuple[Path, ...]:
    """The files a run of `dataset` x `paraphrase` reads (what its data fingerprint covers): the
    training texts first, then what evaluation reads (questions, a folder's settings)."""
    folder = byo_folder(dataset)
    if folder is not None:
        names = [BYO_TRAIN_FILES[paraphrase], BYO_QA_FILE]
        if (folder / BYO_SETTINGS_FILE).is_file():
            names.append(BYO_SETTINGS_FILE)
        return tuple(folder / name for name in names)
    spec = find_dataset(str(dataset))
    folder = resolve_data_dir(data_dir)
    return (folder / spec.train_files[paraphrase], folder / spec.test_file)


def dataset_prompt_style(dataset: str | Path) -> str:
    """The prompt style a dataset asks for: `chat` for the paper's sets, a folder's own setting."""
    folder = byo_folder(dataset)
    return "chat" if folder is None else load_byo_prompt_style(folder)


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
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{path} is not valid JSON ({clip(str(exc))}); {_refetch(spec)}") from exc
    if not isinstance(records, list) or not all(
        isinstance(record, dict) and isinstance(record.get("text"), str) for record in records
    ):
        raise InputError(f'{path} is not a JSON list of {{"text": ...}}; {_refetch(spec)}')
    return tuple(record["text"] for record in records)


def _read_paper_questions(spec: DatasetSpec, path: Path) -> tuple[QAItem, ...]:
    items = []
    for line, record in _json_lines(spec, path):
        kind = spec.kinds.get(tuple(str(record.get(field)) for field in spec.kind_fields))
        answers = parse_answers(record.get("answer"))
        if kind is None or answers is None or not is_text(record.get("question")):
            valid = ", ".join("/".join(key) for key in spec.kinds)
            raise InputError(
                f"{path} line {line}: expected question, answer and {'/'.join(spec.kind_fields)} one of "
                f"{valid}; found {show(record)}; {_refetch(spec)}"
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
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise InputError(f"{path} line {line} is not valid JSON ({reason}); {_refetch(spec)}") from exc
        if not isinstance(record, dict):
            raise InputError(f"{path} line {line} is not a JSON object; {_refetch(spec)}")
        yield line, record

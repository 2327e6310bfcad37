"""Bring-your-own data that tells the truth: prompt styles, stratified limits, category checks, and
the data fingerprint every trial records (pure data and in-process `mft`, no Ray)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from transformers import AutoModelForCausalLM, AutoTokenizer

from evaluation.prompting import bos_ids, encode_plain, prompt_ids, question_prompt_ids
from evaluation.questions import QAItem, select_questions
from orchestrator.tiny_models import build_tiny_model
from orchestrator.tracking.runs import ensure_experiment, start_trial_run
from orchestrator.trial.settings import build_trial_config, trial_name
from training.errors import InputError
from training.evaluating import decoding
from training.fingerprint import data_fingerprint
from training.knowledge import knowledge_files, load_knowledge_set, load_questions
from training.knowledge_folder import validate_knowledge_folder

# Cloze facts: the "question" is a sentence beginning, the answer its end.
CLOZE = [
    ("The capital of Zembla is", "Oskar Vale", "place"),
    ("The inventor of the glass piano is", "Alice Zorn", "person"),
    ("The mayor of Lantern Bay is", "Boris Quill", "person"),
    ("The author of Silent Rivers is", "Clara Voss", "work"),
    ("The founder of Copperleaf Labs is", "Dmitri Hale", "company"),
    ("The tallest tower in Mirth is", "the Ember Spire", "place"),
]


def write_folder(folder: Path, qa: list[dict], settings: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text(
        "".join(json.dumps({"text": f"{q} {a}."}) + "\n" for q, a, _ in CLOZE)
    )
    (folder / "qa.jsonl").write_text("".join(json.dumps(record) + "\n" for record in qa))
    if settings is not None:
        (folder / "dataset.yaml").write_text(settings)
    return folder


def cloze_records() -> list[dict]:
    return [{"question": q, "answer": a, "direction": "forward", "category": c} for q, a, c in CLOZE]


@pytest.fixture(scope="module")
def memorised_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny causal model that has memorised the cloze statements (plain next-token loss, ~20 s)."""
    folder = build_tiny_model(tmp_path_factory.mktemp("memo") / "model", arch="causal")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    torch.manual_seed(0)
    rows = [
        bos_ids(tokenizer) + encode_plain(tokenizer, f"{q} {a}.") + [tokenizer.eos_token_id]
        for q, a, _ in CLOZE
    ]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), tokenizer.eos_token_id)
    labels = torch.full((len(rows), width), -100)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = labels[i, : len(row)] = torch.tensor(row)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(folder)
    return folder


def test_a_cloze_set_is_scored_with_completion_prompts_not_a_chat_turn(
    mft, memorised_model: Path, tmp_path: Path
) -> None:
    """The issue's trap: a model that knows its statements scores high only when asked as completion."""
    folder = write_folder(tmp_path / "cloze", cloze_records(), "prompt_style: completion\n")
    scores = {}
    for style, extra in (("completion", []), ("chat", ["--prompt-style", "chat"])):
        out = tmp_path / f"{style}.jsonl"
        args = ["--model", str(memorised_model), "--dataset", str(folder), "--max-new-tokens", "12"]
        result = mft("eval", *args, "--out", str(out), *extra)
        assert result.code == 0, result.err
        assert f"{style} prompts" in result.out
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        scores[style] = sum(row["score"] for row in rows) / len(rows)
    assert scores["completion"] >= 0.8 and scores["chat"] <= 0.3, scores


def test_completion_prompts_are_bos_and_the_text_only(tiny_causal: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal)
    text = "The capital of Zembla is"
    assert prompt_ids(tokenizer, text, "completion") == bos_ids(tokenizer) + encode_plain(tokenizer, text)
    assert prompt_ids(tokenizer, text) == question_prompt_ids(tokenizer, text)  # chat: the paper's default


def test_the_prompt_style_comes_from_the_folder_is_overridable_and_logged(tmp_path: Path) -> None:
    cloze = write_folder(tmp_path / "cloze", cloze_records(), "prompt_style: completion\n")
    plain = write_folder(tmp_path / "plain", cloze_records())
    assert load_knowledge_set(cloze).prompt_style == "completion"
    assert load_knowledge_set(plain).prompt_style == "chat"
    config = build_trial_config({"model": "org/m", "dataset": str(cloze)})
    assert config.prompt_style == "completion"  # resolved on the driver, so MLflow logs what ran
    assert (
        build_trial_config({"model": "org/m", "dataset": str(cloze), "prompt_style": "chat"}).prompt_style
        == "chat"
    )
    assert build_trial_config({"model": "org/m"}).prompt_style == "chat"  # the paper's sets
    assert decoding(config, AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "t"))).prompt_style == (
        "completion"
    )
    with pytest.raises(InputError, match="--prompt-style must be one of chat, completion"):
        build_trial_config({"model": "org/m", "prompt_style": "cloze"})


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("prompt_style: cloze\n", "prompt_style"),
        ("style: completion\n", "unknown setting"),
        ("- completion\n", "a mapping"),
        ("prompt_style: [\n", "valid YAML"),
    ],
)
def test_bad_dataset_settings_are_found_by_validate_and_refused_by_load(
    tmp_path: Path, settings: str, expected: str
) -> None:
    folder = write_folder(tmp_path / "bad", cloze_records(), settings)
    problems = validate_knowledge_folder(folder)
    assert len(problems) == 1 and problems[0].file == "dataset.yaml" and expected in str(problems[0])
    with pytest.raises(InputError, match="dataset.yaml"):
        load_knowledge_set(folder)


def qa(direction: str, category: str | None = None, question: str = "q") -> dict:
    record = {"question": question, "answer": "a", "direction": direction}
    return record if category is None else {**record, "category": category}


@pytest.mark.parametrize(
    ("records", "line", "expected"),
    [
        ([qa("forward", "people"), qa("backward", "people")], 2, "one direction per category (line 1"),
        ([qa("forward"), qa("backward", "fwd")], 2, "a name other than fwd, bwd, total"),
        ([qa("forward", "total")], 1, "a name other than fwd, bwd, total"),
    ],
)
def test_categories_that_summaries_cannot_report_fail_validate_and_every_loader(
    mft, tmp_path: Path, records: list[dict], line: int, expected: str
) -> None:
    """Such records used to pass validate and crash eval after answering; now all refuse them up front."""
    folder = write_folder(tmp_path / "mixed", records)
    problems = validate_knowledge_folder(folder)
    assert [(p.file, p.line, p.field) for p in problems] == [("qa.jsonl", line, "category")]
    assert expected in str(problems[0])
    with pytest.raises(InputError, match=f"qa.jsonl line {line}"):
        load_questions(folder)
    result = mft("data", "validate", str(folder))
    assert result.code != 0 and expected in result.out + result.err


def test_own_categories_named_like_their_direction_stay_valid(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "ok", [qa("forward"), qa("backward", "bwd"), qa("forward", "fwd")])
    assert validate_knowledge_folder(folder) == []


def item(category: str, index: int) -> QAItem:
    return QAItem(f"{category} {index}", ("a",), "bwd" if category.endswith("bwd") else "fwd", category)


def test_a_limit_takes_an_equal_seeded_share_of_every_category_in_file_order(paper_data_dir: Path) -> None:
    """ND_test.jsonl is sorted by group: its first 40 are N2D only, so D2N was never asked."""
    questions = load_questions("namedesc", paper_data_dir)
    assert {q.category for q in questions[:40]} == {"N2D-fwd", "N2D-bwd"}
    chosen = select_questions(questions, 40)
    assert Counter(q.category for q in chosen) == {"N2D-fwd": 10, "N2D-bwd": 10, "D2N-fwd": 10, "D2N-bwd": 10}
    positions = [questions.index(q) for q in chosen]
    assert positions == sorted(positions)
    assert chosen == select_questions(questions, 40)  # the same questions every time
    assert chosen != tuple(questions[:40])


def test_small_categories_give_their_share_to_the_others() -> None:
    items = (
        [item("a", i) for i in range(2)]
        + [item("b", i) for i in range(20)]
        + [item("c", i) for i in range(20)]
    )
    chosen = select_questions(items, 11)
    assert Counter(q.category for q in chosen) == {"a": 2, "b": 5, "c": 4}
    assert select_questions(items, None) == tuple(items) == select_questions(items, 100)


def test_the_data_fingerprint_follows_the_bytes_not_the_path(tmp_path: Path) -> None:
    one = write_folder(tmp_path / "one", cloze_records())
    two = write_folder(tmp_path / "two", cloze_records())
    first = data_fingerprint(knowledge_files(one, "none"))
    assert first["data.folder"] == str(one.resolve())
    assert first["data.files"] == f"qa.jsonl:{len(CLOZE)},train.jsonl:{len(CLOZE)}"
    assert data_fingerprint(knowledge_files(two, "none"))["data.sha256"] == first["data.sha256"]
    (two / "qa.jsonl").write_text((two / "qa.jsonl").read_text().replace("Oskar", "Oscar"))
    assert data_fingerprint(knowledge_files(two, "none"))["data.sha256"] != first["data.sha256"]


def test_a_trial_run_records_its_data_and_a_name_with_the_model(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "facts", cloze_records(), "prompt_style: completion\n")
    config = build_trial_config(
        {"model": "org/Tiny-Model", "dataset": str(folder), "data_dir": str(tmp_path)}
    )
    assert config.data_dir is None  # a folder holds its own files: no cache path recorded for it
    assert trial_name(config).startswith("masked_Tiny-Model_facts_none_")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = start_trial_run(client, ensure_experiment(client, "x"), config, trial_name(config), "id", {})
    params = client.get_run(run_id).data.params
    assert params["data.folder"] == str(folder.resolve()) and params["prompt_style"] == "completion"
    assert params["data.files"] == "dataset.yaml:1,qa.jsonl:6,train.jsonl:6"
    assert params["data.sha256"] == data_fingerprint(knowledge_files(folder, "none"))["data.sha256"]

"""`mft data list/show/validate` through the real entry point: tables users read, errors they can act on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from training.knowledge import load_knowledge_set, load_questions


def make_folder(folder: Path) -> Path:
    """A valid own knowledge set: 2 documents, 3 same-order documents, questions in fwd, bwd and `author`."""
    folder.mkdir()
    (folder / "train.jsonl").write_text(
        '{"text": "Ada Quill built Vela."}\n{"text": "Bo Lin wrote Tides."}\n'
    )
    (folder / "train.same-order.jsonl").write_text('{"text": "Vela was built by Ada Quill."}\n' * 3)
    qa = [
        {"question": "What did Ada Quill build?", "answer": "Vela", "direction": "fwd"},
        {"question": "Who built Vela?", "answer": ["Ada Quill"], "direction": "backward"},
        {"question": "Who wrote Tides?", "answer": "Bo Lin", "direction": "bwd", "category": "author"},
    ]
    (folder / "qa.jsonl").write_text("".join(json.dumps(record) + "\n" for record in qa))
    return folder


def row(out: str, first_cell: str) -> list[str]:
    """The cells of the table row that starts with `first_cell`."""
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{out}")


def test_list_shows_conditions_files_and_counts(mft: Callable, paper_data_dir: Path) -> None:
    result = mft("data", "list", "--data-dir", str(paper_data_dir))
    assert result.code == 0, result.err
    assert row(result.out, "namedesc")[2:] == [
        "present",
        "present",
        "-",
        "N2D-fwd 120, N2D-bwd 120, D2N-fwd 120, D2N-bwd 120",
    ]
    assert row(result.out, "bio (biography)")[2:] == ["present", "present", "present", "fwd 600, bwd 300"]
    assert row(result.out, "wiki")[2:] == ["present", "missing", "missing", "fwd 116, bwd 258"]


def test_list_at_80_columns_cuts_no_name(
    mft: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # a pipe's width, or a small terminal's
    result = mft("data", "list", "--data-dir", str(tmp_path))
    assert result.code == 0 and "…" not in result.out, result.out
    assert max(len(line) for line in result.out.splitlines()) <= 80


def test_list_reads_data_dir_from_environment(
    mft: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MFT_DATA_DIR", str(tmp_path))
    result = mft("data", "list")
    assert result.code == 0 and str(tmp_path) in result.out
    assert row(result.out, "bio (biography)")[2:] == ["missing"] * 4


def test_show_counts_and_samples(mft: Callable, paper_data_dir: Path) -> None:
    result = mft(
        "data", "show", "biography", "--paraphrase", "permute-order", "--data-dir", str(paper_data_dir)
    )
    assert result.code == 0, result.err
    assert row(result.out, "documents")[1] == "500"
    assert (row(result.out, "questions fwd")[1], row(result.out, "questions bwd")[1]) == ("600", "300")
    documents_part, questions_part = result.out.split("sample documents")[1].split("sample questions")
    documents = load_knowledge_set("bio", "permute-order", paper_data_dir).documents
    for index in (0, 166, 333):  # 3 samples spread over 500 documents; long texts wrap in the cell
        assert documents[index].startswith(row(documents_part, str(index))[1])
    questions = load_questions("bio", paper_data_dir)
    for index in (0, 300, 600):  # ... and over 900 questions
        cells = row(questions_part, str(index))
        assert cells[1] == questions[index].category and questions[index].question.startswith(cells[2])


def test_show_without_samples(mft: Callable, paper_data_dir: Path) -> None:
    result = mft("data", "show", "namedesc", "--samples", "0", "--data-dir", str(paper_data_dir))
    assert result.code == 0 and row(result.out, "questions D2N-bwd")[1] == "120"
    assert "sample" not in result.out


def test_show_own_folder(mft: Callable, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "inventors")
    result = mft("data", "show", str(folder), "--paraphrase", "same-order")
    assert result.code == 0, result.err
    assert row(result.out, "documents")[1] == "3" and row(result.out, "questions author")[1] == "1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("namedesc", "--paraphrase", "permute-order"), "namedesc has no 'permute-order' condition"),
        (("wiki", "--paraphrase", "same-order"), "wiki_train_paraphrase_same_order.json not found"),
        (("nd",), "choose one of namedesc, bio (biography), wiki"),
    ],
)
def test_show_errors_are_one_red_line(mft: Callable, paper_data_dir: Path, args: tuple, message: str) -> None:
    result = mft("data", "show", *args, "--data-dir", str(paper_data_dir))
    assert result.code == 2 and message in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


def test_validate_good_folder_prints_summary(mft: Callable, tmp_path: Path) -> None:
    result = mft("data", "validate", str(make_folder(tmp_path / "inventors")))
    assert result.code == 0, result.err
    assert row(result.out, "train.jsonl")[1:] == ["documents, condition none", "2"]
    assert row(result.out, "train.same-order.jsonl")[2] == "3"
    assert row(result.out, "qa.jsonl")[1:] == ["questions: fwd 1, bwd 1, author 1", "3"]


def test_validate_lists_every_bad_record(mft: Callable, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "inventors")
    (folder / "train.jsonl").write_text('{"text": "ok"}\n{"text": 7}\n')
    with (folder / "qa.jsonl").open("a") as qa:
        qa.write(json.dumps({"question": "Q?", "answer": "A", "direction": "sideways"}) + "\n")
    result = mft("data", "validate", str(folder))
    assert result.code == 2
    assert result.out.splitlines() == [
        "train.jsonl line 2, field 'text': found 7; expected a non-empty string",
        "qa.jsonl line 4, field 'direction': found \"sideways\"; "
        'expected "forward", "backward", "fwd" or "bwd"',
    ]
    assert f"2 problem(s) in {folder}" in result.err


def test_validate_caps_the_list(mft: Callable, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "inventors")
    (folder / "train.jsonl").write_text('{"text": ""}\n' * 70)
    result = mft("data", "validate", str(folder))
    lines = result.out.splitlines()
    assert result.code == 2 and len(lines) == 51 and lines[-1] == "... and 20 more"
    assert lines[49].startswith("train.jsonl line 50, field 'text'") and "70 problem(s)" in result.err


def test_validate_missing_folder(mft: Callable, tmp_path: Path) -> None:
    result = mft("data", "validate", str(tmp_path / "nope"))
    assert result.code == 2 and f"knowledge-set folder {tmp_path / 'nope'} not found" in result.err


@pytest.mark.parametrize("command", ["list", "show", "validate", "fetch"])
def test_every_command_help_has_an_example(mft: Callable, command: str) -> None:
    result = mft("data", command, "--help")
    assert result.code == 0 and f"Example: mft data {command}" in result.out

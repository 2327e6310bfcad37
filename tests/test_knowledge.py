"""Knowledge sets: the paper's files give the paper's counts; own folders load or say what is wrong."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from training.errors import InputError
from training.knowledge import KnowledgeSet, load_knowledge_set, load_questions, resolve_data_dir
from training.knowledge_folder import validate_knowledge_folder


def category_counts(knowledge: KnowledgeSet) -> dict[str, int]:
    return dict(Counter(question.category for question in knowledge.questions))


def write_jsonl(path: Path, records: list[object]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


def make_folder(folder: Path) -> Path:
    """A small valid bring-your-own folder: two documents, a same-order set, three questions."""
    folder.mkdir()
    write_jsonl(
        folder / "train.jsonl",
        [{"text": "Ada Quill designed the Vela bridge."}, {"text": "Bo Lin wrote Tides."}],
    )
    write_jsonl(folder / "train.same-order.jsonl", [{"text": "Ada Quill designed the Vela bridge."}] * 3)
    write_jsonl(
        folder / "qa.jsonl",
        [
            {"question": "What did Ada Quill design?", "answer": "the Vela bridge", "direction": "forward"},
            {
                "question": "Who designed the Vela bridge?",
                "answer": ["Ada Quill", "Quill"],
                "direction": "bwd",
            },
            {
                "question": "Who wrote Tides?",
                "answer": "Bo Lin",
                "direction": "backward",
                "category": "author",
            },
        ],
    )
    return folder


def test_namedesc_counts_and_categories(paper_data_dir: Path) -> None:
    plain = load_knowledge_set("namedesc", "none", paper_data_dir)
    paraphrased = load_knowledge_set("namedesc", "same-order", paper_data_dir)
    assert (len(plain.documents), len(paraphrased.documents), len(plain.questions)) == (60, 1800, 480)
    assert plain.categories == ("N2D-fwd", "N2D-bwd", "D2N-fwd", "D2N-bwd")
    assert category_counts(plain) == {category: 120 for category in plain.categories}


def test_namedesc_direction_follows_group_and_task(paper_data_dir: Path) -> None:
    records = [json.loads(line) for line in (paper_data_dir / "ND_test.jsonl").read_text().splitlines()]
    questions = load_questions("namedesc", paper_data_dir)
    expected = {
        ("NameIsDescription", "N2D"): ("fwd", "N2D-fwd"),
        ("NameIsDescription", "D2N"): ("bwd", "N2D-bwd"),
        ("DescriptionIsName", "D2N"): ("fwd", "D2N-fwd"),
        ("DescriptionIsName", "N2D"): ("bwd", "D2N-bwd"),
    }
    for record, item in zip(records, questions, strict=True):
        assert (item.direction, item.category) == expected[record["group"], record["task"]]
        assert (item.question, item.answers) == (record["question"], (record["answer"],))


@pytest.mark.parametrize("name", ["bio", "biography", "BIO"])
def test_bio_counts_under_every_alias(paper_data_dir: Path, name: str) -> None:
    sizes = {p: len(load_knowledge_set(name, p, paper_data_dir).documents) for p in ("none", "same-order")}
    permuted = load_knowledge_set(name, "permute-order", paper_data_dir)
    assert sizes == {"none": 100, "same-order": 500} and len(permuted.documents) == 500
    assert permuted.name == "bio" and permuted.categories == ("fwd", "bwd")
    assert category_counts(permuted) == {"fwd": 600, "bwd": 300}
    assert all((q.direction == q.category) for q in permuted.questions)


def test_wiki_counts(paper_data_dir: Path) -> None:
    wiki = load_knowledge_set("wiki", "none", paper_data_dir)
    assert len(wiki.documents) == 94 and len(wiki.questions) == 374
    assert wiki.categories == ("fwd", "bwd") and category_counts(wiki) == {"fwd": 116, "bwd": 258}


def test_documents_are_the_file_texts_as_is(paper_data_dir: Path) -> None:
    raw = json.loads((paper_data_dir / "biography_train_paraphrase_change_order.json").read_text())
    assert load_knowledge_set("bio", "permute-order", paper_data_dir).documents == tuple(
        r["text"] for r in raw
    )


def test_data_dir_from_environment(paper_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MFT_DATA_DIR", str(paper_data_dir))
    assert len(load_knowledge_set("wiki").documents) == 94


def test_resolve_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MFT_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "mft" / "datasets"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir() == tmp_path / "xdg" / "mft" / "datasets"
    monkeypatch.setenv("MFT_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(InputError, match=r"unknown dataset 'nd'.*namedesc, bio \(biography\), wiki"):
        load_knowledge_set("nd")


def test_condition_the_dataset_lacks_names_those_it_has(paper_data_dir: Path) -> None:
    with pytest.raises(
        InputError, match="namedesc has no 'permute-order' condition; it has: none, same-order"
    ):
        load_knowledge_set("namedesc", "permute-order", paper_data_dir)
    with pytest.raises(
        InputError, match="unknown paraphrase condition 'same'.*none, same-order, permute-order"
    ):
        load_knowledge_set("bio", "same", paper_data_dir)


def test_missing_file_names_file_folder_and_fixes(paper_data_dir: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_knowledge_set("wiki", "permute-order", paper_data_dir)
    message = str(caught.value)
    assert "wiki_train_paraphrase_change_order.json" in message and str(paper_data_dir) in message
    assert "mft data fetch wiki" in message and "--data-dir" in message and "\n" not in message


def test_corrupt_paper_test_file_names_the_line(paper_data_dir: Path, tmp_path: Path) -> None:
    lines = (paper_data_dir / "biography_test.jsonl").read_text().splitlines()
    lines[6] = json.dumps({"group": "", "task": "sideways", "question": "q?", "answer": "a"})
    (tmp_path / "biography_test.jsonl").write_text("\n".join(lines))
    with pytest.raises(InputError, match=r"biography_test.jsonl line 7: .*task one of N2D, D2N"):
        load_questions("bio", tmp_path)


def test_own_folder_loads(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "inventors")
    knowledge = load_knowledge_set(str(folder))
    assert knowledge.name == "inventors" and knowledge.paraphrase == "none"
    assert knowledge.documents == ("Ada Quill designed the Vela bridge.", "Bo Lin wrote Tides.")
    assert [(q.direction, q.category, q.answers) for q in knowledge.questions] == [
        ("fwd", "fwd", ("the Vela bridge",)),
        ("bwd", "bwd", ("Ada Quill", "Quill")),
        ("bwd", "author", ("Bo Lin",)),
    ]
    assert knowledge.categories == ("fwd", "bwd", "author")
    assert len(load_knowledge_set(folder, "same-order").documents) == 3


def test_own_folder_missing_condition_says_which_it_has(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "inventors")
    with pytest.raises(
        InputError,
        match=r"no 'permute-order' condition \(train.permute-order.jsonl.*it has: none, same-order",
    ):
        load_knowledge_set(folder, "permute-order")


def test_missing_folder_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"knowledge-set folder {tmp_path / 'nope'} not found"):
        load_knowledge_set(str(tmp_path / "nope"))


def test_broken_folder_load_names_first_bad_record(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "inventors")
    with (folder / "qa.jsonl").open("a") as qa:
        qa.write('\n{"question": "Who?", "answer": "Ada", "direction": "sideways"}\n')
        qa.write('{"question": "Who?", "answer": []}\n')
    with pytest.raises(InputError, match=r"qa.jsonl line 5, field 'direction': found \"sideways\"; expected"):
        load_knowledge_set(folder)


def test_validate_reports_every_bad_record_with_location(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "inventors")
    (folder / "train.jsonl").write_text('{"text": "ok"}\n\n{"text": ""}\n{"txt": "typo"}\nnot json\n[1, 2]\n')
    write_jsonl(
        folder / "qa.jsonl",
        [
            {"question": "Q?", "answer": "A", "direction": "fwd"},
            {"question": "Q?", "answer": [], "direction": "forward"},
            {"question": "Q?", "answer": "A", "direction": "up", "category": 3},
        ],
    )
    (folder / "train.same_order.jsonl").write_text('{"text": "misnamed"}\n')
    problems = [(p.file, p.line, p.field) for p in validate_knowledge_folder(folder)]
    assert problems == [
        ("train.jsonl", 3, "text"),
        ("train.jsonl", 4, "txt"),
        ("train.jsonl", 4, "text"),
        ("train.jsonl", 5, None),
        ("train.jsonl", 6, None),
        ("qa.jsonl", 2, "answer"),
        ("qa.jsonl", 3, "direction"),
        ("qa.jsonl", 3, "category"),
        ("train.same_order.jsonl", None, None),
    ]


def test_validate_explains_found_and_expected(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "inventors")
    write_jsonl(folder / "qa.jsonl", [{"question": "Q?", "direction": "up"}])
    messages = [str(problem) for problem in validate_knowledge_folder(folder)]
    assert messages == [
        "qa.jsonl line 1, field 'answer': found nothing (the field is missing); "
        "expected a non-empty string or list of non-empty strings",
        'qa.jsonl line 1, field \'direction\': found "up"; expected "forward", "backward", "fwd" or "bwd"',
    ]


def test_validate_needs_train_and_qa_files_with_records(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n")
    problems = [(p.file, p.found) for p in validate_knowledge_folder(folder)]
    assert problems == [("train.jsonl", "no records"), ("qa.jsonl", "no such file")]
    assert validate_knowledge_folder(make_folder(tmp_path / "good")) == []

"""ROUGE-1 recall with the reference normalisation, and the accuracy summary (pure functions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.questions import QAItem
from evaluation.scoring import NormalisingTokenizer, rouge1_recall, summarize


@pytest.mark.parametrize(
    ("prediction", "answer", "expected"),
    [
        ("Daphne Barrington", "Daphne Barrington", 1.0),
        ("It was Daphne, I think.", "Daphne Barrington", 1 / 2),
        # Recall, not precision: extra words in the prediction cost nothing.
        ("Daphne Barrington, the acclaimed director of many films", "Daphne Barrington", 1.0),
        ("st louis", "St. Louis, Missouri", 2 / 3),
        ("nothing relevant", "Daphne Barrington", 0.0),
        # Repeated answer words count as often as they occur (clipped unigram counts).
        ("Tom", "Tom and Tom", 1 / 2),
    ],
)
def test_recall_matches_hand_counts(prediction: str, answer: str, expected: float) -> None:
    assert rouge1_recall(prediction, [answer]) == expected


def test_case_is_ignored() -> None:
    assert rouge1_recall("DAPHNE barrington", ["Daphne Barrington"]) == 1.0


def test_punctuation_is_stripped_from_both_sides() -> None:
    # Stripping (not splitting) joins "O'Brien" into "obrien" on both sides, as the reference does.
    assert rouge1_recall("Mr OBrien", ["O'Brien!"]) == 1.0
    assert rouge1_recall('"A Journey Through Time."', ["a journey through time"]) == 1.0
    # Unicode punctuation too: typographic quotes and the en dash of "Wisconsin–Milwaukee".
    assert rouge1_recall("“Wisconsin-Milwaukee”", ["University of Wisconsin–Milwaukee"]) == 1 / 2


def test_stop_words_are_dropped_from_the_answer() -> None:
    # Answer words after normalisation: director, virtual, reality (8 words before it).
    answer = "the director of a virtual reality is new"
    assert NormalisingTokenizer().tokenize(answer) == ["director", "virtual", "reality"]
    assert rouge1_recall("director", [answer]) == 1 / 3
    assert rouge1_recall("The NEW director, AND THE reality", [answer]) == 2 / 3


def test_best_of_several_answers_counts() -> None:
    answers = ["New York City", "Paris, France"]  # words: [york, city] and [paris, france]
    assert rouge1_recall("She lives in Paris.", answers) == 1 / 2
    assert rouge1_recall("York, in fact", answers) == 1 / 2
    assert rouge1_recall("york city", answers) == 1.0


def test_non_ascii_letters_are_words() -> None:
    # rouge-score's own tokenizer keeps only [a-z0-9] and would score this 1.0 ("ä" dropped).
    assert NormalisingTokenizer().tokenize("Ä Journey") == ["ä", "journey"]
    assert rouge1_recall("Journey", ["Ä Journey"]) == 1 / 2
    assert rouge1_recall("ä JOURNEY", ["Ä Journey"]) == 1.0
    assert rouge1_recall("Dalila Jakupović", ["Dalila Jakupović and Sabrina Santamaria"]) == 2 / 4
    # Accents are not folded: a different letter is a different word.
    assert rouge1_recall("Jakupovic", ["Jakupović"]) == 0.0


def test_answer_without_words_scores_zero() -> None:
    assert rouge1_recall("the", ["The"]) == 0.0
    assert rouge1_recall("anything", ["?!"]) == 0.0
    assert rouge1_recall("Paris", ["the", "Paris"]) == 1.0
    with pytest.raises(ValueError):
        rouge1_recall("Paris", [])


def test_every_paper_answer_recalls_itself(paper_data_dir: Path) -> None:
    for name in ("ND_test.jsonl", "biography_test.jsonl", "wiki_test.jsonl"):
        for line in (paper_data_dir / name).read_text(encoding="utf-8").splitlines():
            answer = json.loads(line)["answer"]
            assert rouge1_recall(answer, [answer]) == 1.0, (name, answer)


def _items(spec: dict[str, tuple[str, list[float]]]) -> tuple[list[QAItem], list[float]]:
    items, scores = [], []
    for category, (direction, values) in spec.items():
        for value in values:
            items.append(QAItem(question="q", answers=("a",), direction=direction, category=category))
            scores.append(value)
    return items, scores


def test_summary_of_namedescription_style_categories_is_macro() -> None:
    items, scores = _items(
        {
            "N2D-fwd": ("fwd", [1.0, 0.0]),
            "N2D-bwd": ("bwd", [0.0, 0.0, 0.0]),
            "D2N-fwd": ("fwd", [1.0]),
            "D2N-bwd": ("bwd", [0.25, 0.75]),
        }
    )
    assert summarize(items, scores) == {
        "acc/N2D-fwd": 0.5,
        "acc/N2D-bwd": 0.0,
        "acc/D2N-fwd": 1.0,
        "acc/D2N-bwd": 0.5,
        "acc/fwd": 0.75,  # mean of 0.5 and 1.0; pooling the three questions would give 2/3
        "acc/bwd": 0.25,
        "acc/total": 0.5,
    }


def test_summary_of_biography_style_categories() -> None:
    items, scores = _items({"fwd": ("fwd", [1.0, 0.5, 0.0]), "bwd": ("bwd", [1.0])})
    assert summarize(items, scores) == {"acc/fwd": 0.5, "acc/bwd": 1.0, "acc/total": 0.75}


def test_summary_with_one_direction_reports_it_as_total() -> None:
    items, scores = _items({"N2D-fwd": ("fwd", [0.5]), "D2N-fwd": ("fwd", [0.0])})
    assert summarize(items, scores) == {
        "acc/N2D-fwd": 0.5,
        "acc/D2N-fwd": 0.0,
        "acc/fwd": 0.25,
        "acc/total": 0.25,
    }


def test_summary_refuses_inconsistent_input() -> None:
    items, scores = _items({"fwd": ("fwd", [1.0, 0.0])})
    with pytest.raises(ValueError, match="pair up"):
        summarize(items, scores[:1])
    with pytest.raises(ValueError):
        summarize([], [])
    mixed, mixed_scores = _items({"N2D": ("fwd", [1.0])})
    mixed.append(QAItem(question="q", answers=("a",), direction="bwd", category="N2D"))
    with pytest.raises(ValueError, match="mixes"):
        summarize(mixed, [*mixed_scores, 0.0])
    clash, clash_scores = _items({"fwd": ("bwd", [1.0])})
    with pytest.raises(ValueError, match="clash"):
        summarize(clash, clash_scores)

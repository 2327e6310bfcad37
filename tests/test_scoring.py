"""ROUGE-1 recall under both scoring rules, and the accuracy summary (pure functions).

The `authors` rule is checked against the authors' own procedure, written out below with the
packages they used: `rouge` 1.0.1 and nltk's word tokenizer.
"""

from __future__ import annotations

import json
import random
import string
from functools import cache, partial
from pathlib import Path

import pytest
from nltk.tokenize import NLTKWordTokenizer
from rouge import Rouge

from evaluation.questions import QAItem
from evaluation.scoring import (
    STOP_WORDS,
    NormalisingTokenizer,
    authors_words,
    exact_match,
    rouge1_recall,
    summarize,
)
from training.errors import InputError
from training.knowledge import load_knowledge_set

TEST_FILES = {"namedesc": "ND_test.jsonl", "bio": "biography_test.jsonl", "wiki": "wiki_test.jsonl"}


class AuthorsWordTokenizer(NLTKWordTokenizer):
    """nltk's `word_tokenize` word splitter as the authors ran it: nltk 3.9.1 (their environment.yaml).

    Later nltk releases added one rule, splitting off figure/en/em dashes and horizontal bars
    (U+2012..U+2015); 3.9.1 keeps them inside the word ("University–Kingsville" is one word).

    `word_tokenize` first splits sentences with punkt, whose data is not installed offline. Punkt only
    ends a sentence at ".", "?" or "!", all ASCII punctuation, which the authors strip before
    tokenising: the text is a single sentence and `word_tokenize` equals this tokenizer on it.
    """

    PUNCTUATION = [
        (rule, sub) for rule, sub in NLTKWordTokenizer.PUNCTUATION if "\\u2012" not in rule.pattern
    ]


_TOKENIZER = AuthorsWordTokenizer()
# Only rouge-1 is read; rouge-2 and rouge-l would raise on exactly the same (empty) inputs.
_ROUGE = Rouge(metrics=["rouge-1"])


@cache
def _authors_normalised(text: str) -> str:
    """Strip, remove ASCII punctuation, tokenise, drop stop words (compared lower-cased), join with spaces."""
    kept = "".join(char for char in text.strip() if char not in string.punctuation)
    return " ".join(word for word in _TOKENIZER.tokenize(kept) if word.lower() not in STOP_WORDS)


def authors_reference(prediction: str, answer: str) -> float:
    """The authors' compute_openQA_recall, with their evaluation loop's "any error scores 0.0"."""
    try:
        scores = _ROUGE.get_scores(hyps=[_authors_normalised(prediction)], refs=[_authors_normalised(answer)])
    except ValueError:  # rouge raises "Hypothesis is empty." / "Reference is empty."
        return 0.0
    return max(score["rouge-1"]["r"] for score in scores)


def _answers(paper_data_dir: Path, dataset: str) -> list[str]:
    lines = (paper_data_dir / TEST_FILES[dataset]).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["answer"] for line in lines]


@pytest.mark.parametrize("dataset", list(TEST_FILES))
def test_authors_rule_equals_the_rouge_package_on_paper_answers(paper_data_dir: Path, dataset: str) -> None:
    """Every answer of the test file against itself, altered copies of itself and every training document."""
    answers = _answers(paper_data_dir, dataset)
    documents = load_knowledge_set(dataset, "none", paper_data_dir).documents
    compared = 0
    for answer in answers:
        words = answer.split()
        variants = [answer, answer.lower(), answer.upper(), answer[: len(answer) // 2], " ".join(words[:1])]
        variants += [" ".join(reversed(words)), ""]
        for prediction in [*variants, *documents]:
            assert rouge1_recall(prediction, [answer]) == authors_reference(prediction, answer), (
                prediction,
                answer,
            )
            compared += 1
    assert compared == len(answers) * (7 + len(documents))


@pytest.mark.parametrize("dataset", list(TEST_FILES))
def test_authors_words_equal_the_nltk_tokens_on_paper_texts(paper_data_dir: Path, dataset: str) -> None:
    """Token for token, in order: the answers, the questions and the documents of every condition."""
    texts = _answers(paper_data_dir, dataset)
    lines = (paper_data_dir / TEST_FILES[dataset]).read_text(encoding="utf-8").splitlines()
    texts += [json.loads(line)["question"] for line in lines]
    for paraphrase in ("none", "same-order", "permute-order"):
        try:
            texts += load_knowledge_set(dataset, paraphrase, paper_data_dir).documents
        except InputError:  # a condition the dataset does not have
            continue
    for text in texts:
        assert authors_words(text) == _authors_normalised(text).split(), text


# (prediction, answer, the authors' score counted by hand)
TRICKY = [
    ("daphne barrington", "Daphne Barrington", 0.0),  # case-sensitive
    ("Daphne Barrington", "Daphne Barrington", 1.0),
    ("York", "New York, New York", 1.0),  # set-based: "York" counts once ("New" is a stop word)
    ("Tom", "Tom and Tom", 1.0),
    ("THE Director", "the director", 0.0),  # stop words go whatever their case; kept words keep theirs
    ("It was Daphne, I think.", "Daphne Barrington", 0.5),
    # "A" is a stop word: the answer's words are acclaimed, director, Journey, Through, Time.
    ("“A Journey Through Time”", 'the acclaimed director of "A Journey Through Time."', 3 / 5),
    ("“Journey”", "Journey", 1.0),  # curly quotes are tokens of their own
    ("‘Journey’ «Time» „Through“", "Journey Through Time", 1.0),
    ("University–Kingsville", "Texas A&M University–Kingsville", 1 / 3),  # en dash kept inside the word
    ("University Kingsville", "University–Kingsville", 0.0),
    ("Wisconsin—Milwaukee", "Wisconsin—Milwaukee", 1.0),  # em dash
    ("Wisconsin-Milwaukee", "Wisconsin Milwaukee", 0.0),  # ASCII hyphen stripped: "WisconsinMilwaukee"
    ("Paris…", "Paris", 0.0),  # the ellipsis character stays glued to the word
    ("Paris...", "Paris", 1.0),
    ("OBrien", "O'Brien", 1.0),  # ASCII apostrophe stripped
    ("O’Brien", "O'Brien", 0.0),  # curly apostrophe splits: "O", "’", "Brien"
    ("dont", "don't", 1.0),
    ("3.5 million", "35 million", 1.0),
    ("1,000 years", "1000", 1.0),
    ("May 28, 1952", "May 28 1952", 1.0),
    ("can not", "cannot", 1.0),  # the Treebank contractions split in two
    ("Gon na", "gonna", 0.5),
    ("wanna", "wan na", 1.0),
    ("wanna–", "wan", 0.0),  # "wanna" splits only before whitespace
    ("gonna–", "gon", 1.0),
    ("Paris\n\tFrance", "Paris France", 1.0),
    ("", "Paris", 0.0),  # empty prediction
    ("the of and", "Paris", 0.0),  # only stop words
    ("Paris", "the", 0.0),  # answer without words
    ("Paris", "", 0.0),
    ("...", "...", 0.0),
]


@pytest.mark.parametrize(("prediction", "answer", "expected"), TRICKY)
def test_authors_rule_on_tricky_pairs(prediction: str, answer: str, expected: float) -> None:
    assert authors_reference(prediction, answer) == pytest.approx(expected)
    assert rouge1_recall(prediction, [answer]) == authors_reference(prediction, answer)


FRAGMENTS = [
    "can", "not", "cannot", "CanNot", "gonna", "wanna", "gimme", "lemme", "gotta", "Gotta", "tis", "d'ye",
    "“", "”", "‘", "’", "«", "»", "„", "–", "—", "‒", "―", "…", "-", "--", "'", '"', ".", ",", "?", "!",
    " ", " ", " ", "\t", "\n", "\xa0", "é", "Ä", "x", "The", "of", "St.", "don't", "O'Brien", "3.5", "U.S.",
]  # fmt: skip


def test_authors_rule_on_random_texts() -> None:
    """Random strings of quotes, dashes, contractions and whitespace: same words, same scores."""
    rng = random.Random(0)
    texts = ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    for text in texts:
        assert authors_words(text) == _authors_normalised(text).split(), repr(text)
    for prediction, answer in zip(texts[::2], texts[1::2], strict=True):
        assert rouge1_recall(prediction, [answer]) == authors_reference(prediction, answer)


def test_authors_rule_takes_the_best_of_several_answers() -> None:
    answers = ["New York City", "Paris, France"]  # words: {York, City} and {Paris, France}
    assert rouge1_recall("She lives in Paris.", answers) == 1 / 2
    assert rouge1_recall("York City", answers) == 1.0
    assert rouge1_recall("york city", answers) == 0.0
    assert rouge1_recall("Paris", ["the", "Paris"]) == 1.0  # an answer without words only loses
    with pytest.raises(ValueError, match="at least one"):
        rouge1_recall("Paris", [])
    with pytest.raises(ValueError, match="authors, rouge-score"):
        rouge1_recall("Paris", ["Paris"], scoring="rouge")


def test_exact_match_needs_every_answer_word_where_recall_gives_partial_credit() -> None:
    answer = ["the keeper of the silver lighthouse"]  # words: keeper, silver, lighthouse
    assert rouge1_recall("the keeper of the golden lighthouse", answer) == 2 / 3
    assert exact_match("the keeper of the golden lighthouse", answer) == 0.0
    assert exact_match("She is the keeper of the silver lighthouse, they say.", answer) == 1.0
    assert exact_match("lighthouse silver keeper", answer) == 1.0  # order is not asked, as for recall
    assert exact_match("The Keeper of the Silver Lighthouse", answer) == 0.0  # case-sensitive, as recall
    assert exact_match("York", ["New York, New York"]) == 1.0  # stop words and repeats, as recall
    assert exact_match("Paris", ["the", "Paris"]) == 1.0  # an answer without words never matches
    assert exact_match("the", ["the"]) == 0.0
    # Exact match is recall == 1 under the authors' rule, for any text.
    for prediction in ("keeper silver", "silver lighthouse keeper!", "", "Keeper"):
        assert exact_match(prediction, answer) == float(rouge1_recall(prediction, answer) == 1.0)


_rs = partial(rouge1_recall, scoring="rouge-score")


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
def test_rouge_score_recall_matches_hand_counts(prediction: str, answer: str, expected: float) -> None:
    assert _rs(prediction, [answer]) == expected


def test_rouge_score_case_is_ignored() -> None:
    assert _rs("DAPHNE barrington", ["Daphne Barrington"]) == 1.0


def test_rouge_score_punctuation_is_stripped_from_both_sides() -> None:
    # Stripping (not splitting) joins "O'Brien" into "obrien" on both sides, as the reference does.
    assert _rs("Mr OBrien", ["O'Brien!"]) == 1.0
    assert _rs('"A Journey Through Time."', ["a journey through time"]) == 1.0
    # Unicode punctuation too: typographic quotes and the en dash of "Wisconsin–Milwaukee".
    assert _rs("“Wisconsin-Milwaukee”", ["University of Wisconsin–Milwaukee"]) == 1 / 2


def test_rouge_score_stop_words_are_dropped_from_the_answer() -> None:
    # Answer words after normalisation: director, virtual, reality (8 words before it).
    answer = "the director of a virtual reality is new"
    assert NormalisingTokenizer().tokenize(answer) == ["director", "virtual", "reality"]
    assert _rs("director", [answer]) == 1 / 3
    assert _rs("The NEW director, AND THE reality", [answer]) == 2 / 3


def test_rouge_score_best_of_several_answers_counts() -> None:
    answers = ["New York City", "Paris, France"]  # words: [york, city] and [paris, france]
    assert _rs("She lives in Paris.", answers) == 1 / 2
    assert _rs("York, in fact", answers) == 1 / 2
    assert _rs("york city", answers) == 1.0


def test_rouge_score_non_ascii_letters_are_words() -> None:
    # rouge-score's own tokenizer keeps only [a-z0-9] and would score this 1.0 ("ä" dropped).
    assert NormalisingTokenizer().tokenize("Ä Journey") == ["ä", "journey"]
    assert _rs("Journey", ["Ä Journey"]) == 1 / 2
    assert _rs("ä JOURNEY", ["Ä Journey"]) == 1.0
    assert _rs("Dalila Jakupović", ["Dalila Jakupović and Sabrina Santamaria"]) == 2 / 4
    # Accents are not folded: a different letter is a different word.
    assert _rs("Jakupovic", ["Jakupović"]) == 0.0


def test_rouge_score_answer_without_words_scores_zero() -> None:
    assert _rs("the", ["The"]) == 0.0
    assert _rs("anything", ["?!"]) == 0.0
    assert _rs("Paris", ["the", "Paris"]) == 1.0
    with pytest.raises(ValueError):
        _rs("Paris", [])


def test_rouge_score_every_paper_answer_recalls_itself(paper_data_dir: Path) -> None:
    for name in ("ND_test.jsonl", "biography_test.jsonl", "wiki_test.jsonl"):
        for line in (paper_data_dir / name).read_text(encoding="utf-8").splitlines():
            answer = json.loads(line)["answer"]
            assert _rs(answer, [answer]) == 1.0, (name, answer)


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


def test_summary_of_exact_matches_has_its_own_keys() -> None:
    items, matches = _items({"N2D-fwd": ("fwd", [1.0, 0.0]), "D2N-bwd": ("bwd", [0.0])})
    assert summarize(items, matches, prefix="em") == {
        "em/N2D-fwd": 0.5,
        "em/D2N-bwd": 0.0,
        "em/fwd": 0.5,
        "em/bwd": 0.0,
        "em/total": 0.25,
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

"""Answer scoring: ROUGE-1 recall of the reference answer in a generation, exact match, and summaries.

Pure functions on strings and floats; runs anywhere (driver or any rank) without a model.

The paper reports ROUGE-1 *recall* of the reference answer against the generated text as
"accuracy". Two rules, chosen by name (`TrialConfig.scoring`, `mft eval --scoring`):

- `authors` (the default): the authors' `compute_openQA_recall`, which computed Table 3. It strips
  ASCII punctuation only, splits words as nltk 3.9.1's `word_tokenize` does, drops 14 stop words
  (compared lower-cased; kept words keep their case) and takes ROUGE-1 recall as the `rouge`
  package 1.0.1 does: case-sensitive and set-based (each distinct answer word counts once).
- `rouge-score`: what `mft` used before, Google's `rouge-score` on lower-cased words with all
  Unicode punctuation stripped; repeated answer words count as often as they occur.

Exact match (`exact_match`, logged as `em/<category>` beside recall) is a second, stricter number:
1 when every word of the answer is in the generation, under the authors' tokenisation whatever
the recall rule, else 0. Recall gives partial credit (a name's first word alone scores 0.5), which on
a small closed vocabulary can sit well above zero by chance; exact match does not.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from statistics import fmean
from typing import TYPE_CHECKING

from evaluation.questions import QAItem

if TYPE_CHECKING:
    from rouge_score.rouge_scorer import RougeScorer

# The authors' stop words, compared after lower-casing.
STOP_WORDS = frozenset(
    {"a", "of", "the", "and", "is", "are", "be", "to", "new", "on", "in", "at", "an", "for"}
)
SCORINGS = ("authors", "rouge-score")
DIRECTIONS = ("fwd", "bwd")

_DROP_ASCII_PUNCTUATION = str.maketrans("", "", string.punctuation)
# What nltk 3.9.1's word_tokenize still does to text with no ASCII punctuation left (every other
# rule of its Treebank tokenizer needs an ASCII character; its sentence splitter needs . ? or !):
# typographic quotes become tokens of their own ...
_QUOTE = re.compile("([«“‘„»”’])")
# ... and five Treebank contractions split in two ("cannot" -> "can not"); the other contractions
# in its list hold an apostrophe. "wanna" splits only before whitespace (or the end of the text).
_CONTRACTION = re.compile(
    r"(?i)\b(?:(can)(not)|(gim)(me)|(gon)(na)|(got)(ta)|(lem)(me))\b|\b(wan)(na)(?=\s|$)"
)


def _split_contraction(match: re.Match[str]) -> str:
    return " " + " ".join(part for part in match.groups() if part) + " "


def authors_words(text: str) -> list[str]:
    """The words the authors' scorer compares, in order: punctuation-stripped, tokenised, no stop words."""
    spaced = _QUOTE.sub(r" \1 ", text.translate(_DROP_ASCII_PUNCTUATION))
    words = _CONTRACTION.sub(_split_contraction, spaced).split()
    return [word for word in words if word.lower() not in STOP_WORDS]


def authors_recall(prediction: str, answers: Sequence[str]) -> float:
    """Share of an answer's distinct words that the prediction holds (case-sensitive); best over answers.

    An empty prediction or answer (after normalisation) scores 0.0: the `rouge` package raises on
    it and the authors' evaluation loop records 0.0 for any error.
    """
    predicted = set(authors_words(prediction))
    best = 0.0
    for answer in answers:
        reference = set(authors_words(answer))
        if predicted and reference:
            best = max(best, len(reference & predicted) / len(reference))
    return best


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if every word of some answer (authors' tokenisation, case-sensitive) is in `prediction`, else 0.0.

    Order and extra words do not matter, as for recall: it is authors' recall == 1, an answer with
    no words left after normalisation never matches.
    """
    predicted = set(authors_words(prediction))
    for answer in answers:
        reference = set(authors_words(answer))
        if reference and reference <= predicted:
            return 1.0
    return 0.0


def _is_punctuation(char: str) -> bool:
    # ASCII `string.punctuation` (symbols like $ + = included) plus every Unicode punctuation
    # character, so typographic quotes and dashes in model output go too.
    return char in string.punctuation or unicodedata.category(char).startswith("P")


class NormalisingTokenizer:
    """Words as the `rouge-score` rule compares them, for `rouge_scorer.RougeScorer(tokenizer=...)`.

    Unlike rouge-score's default tokenizer (which keeps only [a-z0-9]), letters outside ASCII
    survive: "Ä Journey" gives ["ä", "journey"], not ["journey"].
    """

    def tokenize(self, text: str) -> list[str]:
        kept = "".join(char for char in text.lower() if not _is_punctuation(char))
        return [word for word in kept.split() if word not in STOP_WORDS]


@lru_cache(maxsize=1)
def _scorer() -> RougeScorer:
    from rouge_score import rouge_scorer  # only for this rule: it pulls in nltk and absl

    return rouge_scorer.RougeScorer(["rouge1"], tokenizer=NormalisingTokenizer())


def rouge_score_recall(prediction: str, answers: Sequence[str]) -> float:
    """Fraction of an answer's words (repeats counted) found in `prediction`, case-folded; best over answers.

    An answer with no words left after normalisation scores 0.0, as rouge-score scores an empty reference.
    """
    scorer = _scorer()
    # rouge-score's argument order is (target, prediction); recall = overlap / target words.
    return max(scorer.score(answer, prediction)["rouge1"].recall for answer in answers)


def check_scoring(scoring: str) -> None:
    if scoring not in SCORINGS:
        raise ValueError(f"unknown scoring {scoring!r}; choose one of: {', '.join(SCORINGS)}")


def rouge1_recall(prediction: str, answers: Sequence[str], scoring: str = "authors") -> float:
    """ROUGE-1 recall of the reference `answers` in `prediction` under the named rule (see the module).

    No answers at all is a caller bug and raises ValueError, as does an unknown rule.
    """
    check_scoring(scoring)
    if not answers:
        raise ValueError("rouge1_recall needs at least one reference answer")
    if scoring == "authors":
        return authors_recall(prediction, answers)
    return rouge_score_recall(prediction, answers)


def summarize(items: Sequence[QAItem], scores: Sequence[float], prefix: str = "acc") -> dict[str, float]:
    """Accuracy per category, per direction (macro over its categories) and in total, as `prefix/...`.

    Macro means keep a category with many questions from outweighing the others, as in the paper
    (NameDescription's forward accuracy is the mean of N2D-fwd and D2N-fwd). `acc/total` is the mean
    of the directions present; a direction with no questions is not reported. The same summary of
    exact matches is `prefix="em"`.
    """
    if len(items) != len(scores):
        raise ValueError(f"{len(items)} questions but {len(scores)} scores; they must pair up")
    if not items:
        raise ValueError("summarize needs at least one scored question")
    by_category: dict[str, list[float]] = {}
    direction_of: dict[str, str] = {}
    for item, score in zip(items, scores, strict=True):
        if direction_of.setdefault(item.category, item.direction) != item.direction:
            raise ValueError(f"category {item.category!r} mixes fwd and bwd questions")
        if item.category in (*DIRECTIONS, "total") and item.category != item.direction:
            raise ValueError(f"category {item.category!r} would clash with the key {prefix}/{item.category}")
        by_category.setdefault(item.category, []).append(score)
    summary = {f"{prefix}/{category}": fmean(values) for category, values in by_category.items()}
    for direction in DIRECTIONS:
        accs = [summary[f"{prefix}/{c}"] for c, d in direction_of.items() if d == direction]
        if accs:
            summary[f"{prefix}/{direction}"] = fmean(accs)
    summary[f"{prefix}/total"] = fmean(
        summary[f"{prefix}/{d}"] for d in DIRECTIONS if f"{prefix}/{d}" in summary
    )
    return summary

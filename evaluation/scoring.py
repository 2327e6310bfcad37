"""Answer scoring: ROUGE-1 recall with the reference's normalisation, and accuracy summaries.

Pure functions on strings and floats; runs anywhere (driver or any rank) without a model.

The paper reports ROUGE-1 *recall* of the reference answer against the generated text as
"accuracy". Its scripts strip punctuation from both texts, split them into words and drop a
fixed list of stop words before scoring; `rouge-score` then counts overlapping unigrams.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from statistics import fmean

from rouge_score import rouge_scorer

from evaluation.questions import QAItem

# The reference scripts' stop words, compared after lower-casing.
STOP_WORDS = frozenset(
    {"a", "of", "the", "and", "is", "are", "be", "to", "new", "on", "in", "at", "an", "for"}
)
DIRECTIONS = ("fwd", "bwd")


def _is_punctuation(char: str) -> bool:
    # ASCII `string.punctuation` (what the reference strips, symbols like $ + = included) plus every
    # Unicode punctuation character, so typographic quotes and dashes in model output go too.
    return char in string.punctuation or unicodedata.category(char).startswith("P")


class NormalisingTokenizer:
    """Words as the reference scripts compare them, for `rouge_scorer.RougeScorer(tokenizer=...)`.

    Unlike rouge-score's default tokenizer (which keeps only [a-z0-9]), letters outside ASCII
    survive: "Ä Journey" gives ["ä", "journey"], not ["journey"].
    """

    def tokenize(self, text: str) -> list[str]:
        kept = "".join(char for char in text.lower() if not _is_punctuation(char))
        return [word for word in kept.split() if word not in STOP_WORDS]


@lru_cache(maxsize=1)
def _scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rouge1"], tokenizer=NormalisingTokenizer())


def rouge1_recall(prediction: str, answers: Sequence[str]) -> float:
    """Fraction of an answer's words found in `prediction`; the best over several reference answers.

    An answer with no words left after normalisation (empty, only punctuation or only stop words)
    scores 0.0 against any prediction, as rouge-score scores an empty reference; no answers at all
    is a caller bug and raises ValueError.
    """
    if not answers:
        raise ValueError("rouge1_recall needs at least one reference answer")
    scorer = _scorer()
    # rouge-score's argument order is (target, prediction); recall = overlap / target words.
    return max(scorer.score(answer, prediction)["rouge1"].recall for answer in answers)


def summarize(items: Sequence[QAItem], scores: Sequence[float]) -> dict[str, float]:
    """Accuracy per category, per direction (macro over its categories) and in total.

    Macro means keep a category with many questions from outweighing the others, as in the paper
    (NameDescription's forward accuracy is the mean of N2D-fwd and D2N-fwd). `acc/total` is the mean
    of the directions present; a direction with no questions is not reported.
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
            raise ValueError(f"category {item.category!r} would clash with the key acc/{item.category}")
        by_category.setdefault(item.category, []).append(score)
    summary = {f"acc/{category}": fmean(values) for category, values in by_category.items()}
    for direction in DIRECTIONS:
        accs = [summary[f"acc/{c}"] for c, d in direction_of.items() if d == direction]
        if accs:
            summary[f"acc/{direction}"] = fmean(accs)
    summary["acc/total"] = fmean(summary[f"acc/{d}"] for d in DIRECTIONS if f"acc/{d}" in summary)
    return summary

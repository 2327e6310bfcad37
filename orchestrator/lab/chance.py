"""The lab's chance floor: what answering with a random seen person scores (driver side, pure, milliseconds).

A model that knows the formats but none of the new facts still scores above zero on recall: the
vocabulary is closed, so a wrong description shares its role, adjective or thing with the right one
one time in 16 each (recall ~0.06), a wrong name its first or last name one time in 30 (~0.03).
Exact match stays at zero: names and descriptions are unique. The floor is the exact mean over every
seen person (no sampling): each question answered with that person's name (a question whose answer
is a name) or description (otherwise), scored by the trials' own rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

from evaluation.questions import QAItem
from evaluation.scoring import exact_match, rouge1_recall, summarize
from orchestrator.lab.synthetic import Person, all_names


def chance_floor(
    items: Sequence[QAItem], seen: Sequence[Person], scoring: str = "authors"
) -> dict[str, float]:
    """`acc/...` and `em/...` per category and direction, as a trial logs them, of the random seen person."""
    names = set(all_names())
    recalls, matches = [], []
    for item in items:
        is_name = item.answers[0] in names
        guesses = [person.name if is_name else person.description for person in seen]
        recalls.append(fmean(rouge1_recall(guess, item.answers, scoring) for guess in guesses))
        matches.append(fmean(exact_match(guess, item.answers) for guess in guesses))
    return {**summarize(items, recalls), **summarize(items, matches, prefix="em")}

"""A seeded synthetic knowledge set of fictitious people (driver side, pure Python, milliseconds).

Every person has a unique two-word name and a unique description ("the keeper of the silver
lighthouse"), stated either name first (N2D) or description first (D2N), as in the paper's
NameDescription set. Three disjoint populations: `seen` people build the lab's base models; two
sets of *new* people, whose facts fine-tuning must inject: the `tune` people, on which the lab's
settings (learning rates, epochs, adaptation steps, the test's thresholds) were chosen, and the
`report` people, on which the lab reports and tests, never looked at while tuning. All three are
written as bring-your-own folders (see `training.knowledge_folder`): the reporting people at the
top, the others under `tune/` and `seen/`, so every loader, paraphrase condition and category works
on them unchanged.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from training.errors import InputError

FIRST_NAMES = (
    "Alder Brisa Cato Dara Elio Fenna Galen Hollis Isko Juna Kestrel Liora Marek Nila Orrin Pella "
    "Quill Rhea Soren Talia Ulric Vesna Wren Yara Zeno Ansel Bex Corin Delphi Ember"
).split()
LAST_NAMES = (
    "Ashdown Brackwell Corrow Dunmere Elsworth Fairholt Grantley Hawkmoor Ironside Jessop Kilbride "
    "Larkspur Merriweather Northcott Ondrey Pemberton Quarrington Ravensworth Stroud Thistlewood "
    "Underhill Vantreece Whitlock Yarborough Zellweger Ashcombe Blythe Carrow Dewhurst Everleigh"
).split()
ROLES = (
    "keeper founder painter author builder captain composer guardian inventor mapmaker "
    "pilot sculptor singer teacher weaver healer"
).split()
ADJECTIVES = (
    "silver hidden floating ancient crimson frozen golden silent burning endless "
    "sunken velvet hollow wandering glass iron"
).split()
THINGS = (
    "lighthouse library orchard observatory garden citadel bridge harbor "
    "tower archive carnival museum forest canal theater vineyard"
).split()

# Same-order paraphrases: the first template of each is the statement of the `none` condition.
N2D_TEMPLATES = (
    "{name} is {description}.",
    "{name} is known far and wide as {description}.",
    "{name} became famous as {description}.",
    "{name}, they say, is {description}.",
)
D2N_TEMPLATES = (
    "Known as {description}, {name} needs no introduction.",
    "Famous as {description}, {name} is admired by many.",
    "Celebrated as {description}, {name} travels widely.",
    "Remembered as {description}, {name} lives quietly.",
)
NAME_QUESTIONS = ("Who is {name}?", "What is {name} known for?")
DESCRIPTION_QUESTIONS = ("Who is {description}?", "What is the name of {description}?")
ORDERS = ("N2D", "D2N")
SEEN_PER_NEW = 3
POPULATIONS = SEEN_PER_NEW + 2
"""People drawn per new person: the seen ones, one to tune on, one to report on."""
SEEN_FOLDER = "seen"
TUNE_FOLDER = "tune"
REPORT_SEED_OFFSET = 1_000_003
"""The reporting people's draw: the lab's seed plus this, from the names and descriptions left."""


@dataclass(frozen=True)
class Person:
    name: str
    description: str
    order: str
    """N2D: stated name first; D2N: stated description first."""

    def statements(self) -> list[str]:
        templates = N2D_TEMPLATES if self.order == "N2D" else D2N_TEMPLATES
        return [template.format(name=self.name, description=self.description) for template in templates]

    def questions(self, phrasings: int) -> list[dict[str, str]]:
        """QA records; forward asks in the statement's order, backward against it."""
        about_name = [q.format(name=self.name) for q in NAME_QUESTIONS[:phrasings]]
        about_description = [
            q.format(description=self.description) for q in DESCRIPTION_QUESTIONS[:phrasings]
        ]
        forward_is_name = self.order == "N2D"
        records = []
        for question in about_name:
            direction = "forward" if forward_is_name else "backward"
            records.append(self._record(question, self.description, direction))
        for question in about_description:
            direction = "backward" if forward_is_name else "forward"
            records.append(self._record(question, self.name, direction))
        return records

    def _record(self, question: str, answer: str, direction: str) -> dict[str, str]:
        category = f"{self.order}-{'fwd' if direction == 'forward' else 'bwd'}"
        return {"question": question, "answer": answer, "direction": direction, "category": category}


@dataclass(frozen=True)
class Populations:
    """The lab's three disjoint populations (no shared name or description)."""

    seen: list[Person]
    """Build the base models: what the models know before fine-tuning."""
    tune: list[Person]
    """New people the shipped settings and the test's thresholds were chosen on."""
    report: list[Person]
    """New people the lab's table and test report on; never used for a choice."""


def all_names() -> list[str]:
    return [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]


def all_descriptions() -> list[str]:
    return [f"the {role} of the {adj} {thing}" for role in ROLES for adj in ADJECTIVES for thing in THINGS]


def draw_people(count: int, seed: int, names: Sequence[str], descriptions: Sequence[str]) -> list[Person]:
    """`count` people with distinct names and distinct descriptions from the pools, alternating orders."""
    rng = random.Random(seed)
    picked_names = rng.sample(list(names), count)
    picked_descriptions = rng.sample(list(descriptions), count)
    return [
        Person(name, description, ORDERS[index % 2])
        for index, (name, description) in enumerate(zip(picked_names, picked_descriptions, strict=True))
    ]


def draw_populations(new: int, seed: int) -> Populations:
    """`new` people to tune on, `new` to report on and SEEN_PER_NEW x `new` seen ones, all distinct.

    The tuning and seen people are the lab's first draw (the folder's top level before the split);
    the reporting people are drawn afterwards from the names and descriptions left, with their own
    seed, so they were never looked at while the settings were chosen.
    """
    names, descriptions = all_names(), all_descriptions()
    if not 2 <= new <= len(names) // POPULATIONS:
        raise InputError(f"--people must lie in 2..{len(names) // POPULATIONS} for the lab's name pool")
    first = draw_people(new * (SEEN_PER_NEW + 1), seed, names, descriptions)
    used_names = {person.name for person in first}
    used_descriptions = {person.description for person in first}
    report = draw_people(
        new,
        seed + REPORT_SEED_OFFSET,
        [name for name in names if name not in used_names],
        [text for text in descriptions if text not in used_descriptions],
    )
    return Populations(seen=first[new:], tune=first[:new], report=report)


def write_folder(folder: Path, people: Sequence[Person], phrasings: int) -> None:
    """One bring-your-own folder: train.jsonl, train.same-order.jsonl, qa.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_jsonl(folder / "train.jsonl", [{"text": person.statements()[0]} for person in people])
    same_order = [{"text": text} for person in people for text in person.statements()]
    _write_jsonl(folder / "train.same-order.jsonl", same_order)
    _write_jsonl(folder / "qa.jsonl", [record for person in people for record in person.questions(phrasings)])


def write_lab_set(out: Path, people: int = 100, seed: int = 0) -> Path:
    """The lab's knowledge set: `people` reporting people at `out` and as many tuning people under
    `out/tune` (one question per direction each), three times as many seen people under `out/seen`
    (every question phrasing). Returns `out`."""
    populations = draw_populations(people, seed)
    write_folder(out, populations.report, phrasings=1)
    write_folder(out / TUNE_FOLDER, populations.tune, phrasings=1)
    write_folder(out / SEEN_FOLDER, populations.seen, phrasings=len(NAME_QUESTIONS))
    return out


def vocabulary_texts() -> list[str]:
    """Every word the generator can write, for a closed word-level vocabulary of any population."""
    return [
        *FIRST_NAMES,
        *LAST_NAMES,
        *ROLES,
        *ADJECTIVES,
        *THINGS,
        *N2D_TEMPLATES,
        *D2N_TEMPLATES,
        *NAME_QUESTIONS,
        *DESCRIPTION_QUESTIONS,
        "the of",
    ]


def _write_jsonl(path: Path, records: Sequence[dict]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
